export * from './names.ts';
export * from './atomic.ts';
export * from './cleanup.ts';
export * from './local.ts';
export * from './oci/index.ts';
