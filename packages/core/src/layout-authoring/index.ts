export * from './schema.ts';
export * from './compile.ts';
export * from './lint.ts';
export * from './graph.ts';
