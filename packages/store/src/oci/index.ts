export * from './client.ts';
export * from './attestations.ts';
export * from './credentials.ts';
export * from './auth.ts';
export { Transport, TransportError, type HttpResponse, type TransportOptions } from './http.ts';
export * from './files.ts';
export * from './parse.ts';
