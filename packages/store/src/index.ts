export * from './local.ts';
export * from './oci/index.ts';
