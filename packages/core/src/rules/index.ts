export * from './parse.ts';
export * from './engine.ts';
