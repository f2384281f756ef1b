export * from './attestation-verifier.ts';
