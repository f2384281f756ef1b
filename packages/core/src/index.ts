export * from './errors.ts';
export * from './canonical.ts';
