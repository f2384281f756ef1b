export * from './identity-token.ts';
export * from './signer.ts';
export * from './verify.ts';
export * from './cli-options.ts';
