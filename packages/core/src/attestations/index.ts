export * from './artifact-rules.ts';
export * from './evaluate.ts';
export * from './lint.ts';
export * from './render.ts';
