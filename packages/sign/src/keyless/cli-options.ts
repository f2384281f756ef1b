/**
 * The keyless flags `custody run`, `layout sign` and `model sign` share, as yargs option
 * definitions, and their translation into KeylessSignerOptions.
 */
import type { KeylessSignerOptions } from './signer.ts';

export const KEYLESS_CLI_OPTIONS = {
  keyless: { type: 'boolean', describe: 'sign with a short-lived Fulcio certificate for an OIDC identity instead of a key' },
  'identity-token-file': { type: 'string', describe: 'file holding the OIDC identity token (default: SIGSTORE_ID_TOKEN, then GitHub Actions)' },
  'fulcio-url': { type: 'string', describe: 'Fulcio URL (default https://fulcio.sigstore.dev)' },
  'rekor-url': { type: 'string', describe: 'Rekor URL (default https://rekor.sigstore.dev)' },
  'tsa-url': { type: 'string', describe: 'RFC 3161 timestamp authority URL (adds a signed timestamp)' },
  tlog: { type: 'boolean', describe: 'write a Rekor entry (default; --no-tlog skips it and then needs --tsa-url)' },
  'signing-timeout': { type: 'number', describe: 'timeout of each request to Fulcio, Rekor, the TSA or the CI token endpoint, in seconds (default 30)' },
} as const;

export interface KeylessArgv {
  keyless?: boolean;
  'identity-token-file'?: string;
  'fulcio-url'?: string;
  'rekor-url'?: string;
  'tsa-url'?: string;
  tlog?: boolean;
  'signing-timeout'?: number;
}

/** Options for createKeylessSigner from parsed CLI flags (undefined flags keep the defaults). */
export function keylessOptionsFromArgv(argv: KeylessArgv): KeylessSignerOptions {
  return {
    identityTokenFile: argv['identity-token-file'],
    fulcioURL: argv['fulcio-url'],
    rekorURL: argv['rekor-url'],
    tsaURL: argv['tsa-url'],
    tlog: argv.tlog === false ? false : undefined,
    timeoutMs: argv['signing-timeout'] !== undefined ? Math.round(argv['signing-timeout'] * 1000) : undefined,
  };
}
