/**
 * Plugin predicates leave the engine as in-toto Statements v1, one per predicate. How a
 * Statement is signed and packaged sits behind `AttestationWriter`; `--format` picks one:
 *
 * - `legacy` (default): SigstoreAttestationWriter without the link — the link stays the
 *   reference's metablock `<step>.<keyid8>.link` (in-toto-verify reads it), every plugin
 *   Statement is a Sigstore bundle v0.3 `<step>.<keyid8>.<plugin>.sigstore.json`.
 * - `dsse` (in-toto 1.4 style): DsseAttestationWriter — a DSSE `<step>.<keyid8>.link` and
 *   `<step>.<keyid8>.<plugin>.att.json` DSSE envelopes.
 * - `sigstore`: SigstoreAttestationWriter with the link — the link too is a Statement (link
 *   predicate v0.3) in a bundle, `<step>.<keyid8>.link.sigstore.json`; keyless signing needs it.
 *
 * `custody verify` reads all of them from the link folder or the store.
 */
import { createHash } from 'node:crypto';
import { CustodyError, IN_TOTO_PAYLOAD_TYPE, jcs, keylessFunctionaryId, linkToStatement, pae, validateStatement } from '@custody/core';
import type { LinkBody, Statement } from '@custody/core';
import { signDsse, type Signer } from '@custody/sign';
import { linkBundleFileName, statementFileName } from '@custody/store/names';
import type { ResourceDescriptor } from './types.ts';
import type { OutputFormat } from './formats.ts';

export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

export interface InTotoStatement {
  _type: typeof STATEMENT_V1;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

export interface AttestationWriter {
  /** File name for the n-th (0-based) predicate a plugin emitted in a step. */
  fileName(step: string, keyid: string, pluginName: string, index: number): string;
  /** The file's contents: the signed Statement (`signer` is undefined only for selfSigning writers). */
  serialize(statement: InTotoStatement, signer: Signer | undefined): Promise<string>;
  /**
   * When present, the link is written by this writer too (file name and contents) instead of
   * the `<step>.<keyid8>.link` metablock / DSSE file. Called before any `serialize`.
   */
  writeLink?(link: LinkBody, signer: Signer | undefined): Promise<{ fileName: string; data: string }>;
  /**
   * A writer that signs by itself (keyless): the step needs no key signer. After `writeLink`,
   * the 64-hex stand-in for a keyid its file names use.
   */
  readonly selfSigning?: { fileKeyid(): string };
}

/** A signer of Statements into Sigstore bundles that is no key of its own (keyless, Fulcio). */
export interface StatementBundleSigner {
  signStatement(statement: Statement): Promise<unknown>;
  /** The certificate identity, once the first signature was made. */
  identity(): { issuer: string; subject: string } | undefined;
}

/** Statement JSON (RFC 8785 canonical) in a DSSE envelope signed with the step key. */
export class DsseAttestationWriter implements AttestationWriter {
  fileName(step: string, keyid: string, pluginName: string, index: number): string {
    return statementFileName(step, keyid, pluginName, index, 'dsse');
  }

  async serialize(statement: InTotoStatement, signer: Signer): Promise<string> {
    const envelope = await signDsse(Buffer.from(jcs(statement), 'utf8'), IN_TOTO_PAYLOAD_TYPE, signer);
    return `${JSON.stringify(envelope, null, 2)}\n`;
  }
}

/**
 * Statements (and the link, as link predicate v0.3) in Sigstore bundles, signed with the step
 * key — or, given a keyless signer, with its Fulcio certificate; then files are named by
 * SHA-256 of the functionary id (`oidc:<issuer>#<subject>`), as `custody verify` expects.
 */
export class SigstoreAttestationWriter implements AttestationWriter {
  readonly selfSigning?: { fileKeyid(): string };
  /** Absent with `{ link: false }`: the link is then the `.link` file (`--format legacy`). */
  readonly writeLink?: (link: LinkBody, signer: Signer | undefined) => Promise<{ fileName: string; data: string }>;

  constructor(private readonly keyless?: StatementBundleSigner, opts: { link?: boolean } = {}) {
    const bundleLink = opts.link ?? true;
    // a keyless signer has no key to sign a metablock link with
    if (keyless && !bundleLink) throw new CustodyError('USAGE', 'keyless signing puts the link in a bundle too: use --format sigstore');
    if (bundleLink) this.writeLink = (link, signer) => this.bundleLink(link, signer);
    if (keyless) {
      this.selfSigning = {
        fileKeyid: () => {
          const id = keyless.identity();
          if (!id) throw new CustodyError('USAGE', 'keyless signer has no identity before its first signature');
          return createHash('sha256').update(keylessFunctionaryId(id)).digest('hex');
        },
      };
    }
  }

  fileName(step: string, keyid: string, pluginName: string, index: number): string {
    return statementFileName(step, keyid, pluginName, index, 'bundle');
  }

  async serialize(statement: InTotoStatement, signer: Signer | undefined): Promise<string> {
    if (this.keyless) {
      // loaded on first use: @sigstore/sign (Fulcio, Rekor clients) is heavy
      const { serializeBundle } = await import('@custody/sign');
      return serializeBundle(await this.keyless.signStatement(statement as unknown as Statement) as Parameters<typeof serializeBundle>[0]);
    }
    if (!signer) throw new CustodyError('USAGE', 'no signer for the attestation');
    return keyBundle(statement, signer);
  }

  private async bundleLink(link: LinkBody, signer: Signer | undefined): Promise<{ fileName: string; data: string }> {
    const data = await this.serialize(linkToStatement(link) as unknown as InTotoStatement, signer);
    const keyid = this.selfSigning ? this.selfSigning.fileKeyid() : signer!.keyid;
    return { fileName: linkBundleFileName(link.name, keyid), data };
  }
}

const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/**
 * A key-signed Sigstore bundle v0.3 of a Statement, as @sigstore/sign's DSSEBundleBuilder
 * writes it for a public key without witnesses (signAttestationBundle; a test keeps them
 * byte-equal), built here so that default runs need not load sigstore-js: the public key is
 * named by its hint (the custody keyid), the DSSE signature is over PAE of the payload.
 */
export async function keyBundle(statement: InTotoStatement, signer: Signer): Promise<string> {
  const payload = Buffer.from(JSON.stringify(validateStatement(statement)), 'utf8');
  const sig = await signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload));
  const bundle = {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: signer.keyid }, timestampVerificationData: {} },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: sig.toString('base64'), keyid: signer.keyid }],
    },
  };
  return `${JSON.stringify(bundle)}\n`;
}

/** The writer of a format (`keyless`: a Fulcio signer; `sigstore` only). */
export function attestationWriterFor(format: OutputFormat, keyless?: StatementBundleSigner): AttestationWriter {
  if (keyless && format !== 'sigstore') throw new CustodyError('USAGE', '--keyless signs Sigstore bundles: add --format sigstore');
  switch (format) {
    case 'dsse':
      return new DsseAttestationWriter();
    case 'sigstore':
      return new SigstoreAttestationWriter(keyless);
    default:
      return new SigstoreAttestationWriter(undefined, { link: false });
  }
}

/** The step's products as Statement subjects, sorted by name. */
export function productsAsSubject(products: Record<string, Record<string, string>>): ResourceDescriptor[] {
  return Object.keys(products)
    .sort()
    .map((name) => ({ name, digest: { ...products[name] } }));
}

export function makeStatement(subject: ResourceDescriptor[], predicateType: string, predicate: Record<string, unknown>): InTotoStatement {
  return { _type: STATEMENT_V1, subject, predicateType, predicate };
}
