export * from './client.ts';
export * from './attestations.ts';
export * from './local-registry.ts';
