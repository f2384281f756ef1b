export * from './bundle.ts';
export * from './claims.ts';
