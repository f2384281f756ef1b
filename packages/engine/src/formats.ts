/**
 * What `custody run --format`, `record stop --format`, `pipeline run --format` and the config's
 * `format` accept (see attestation.ts for what each writes). Its own module: the config loader
 * needs the names without loading the signing code.
 */
export const OUTPUT_FORMATS = ['legacy', 'dsse', 'sigstore'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
