export * from './keys.ts';
export * from './metadata.ts';
export * from './files.ts';
export * from './sigstore/index.ts';
export * from './keyless/index.ts';
