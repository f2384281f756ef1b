/**
 * Plugin predicates leave the engine as in-toto Statements v1, one per predicate. How a
 * Statement is signed and packaged sits behind `AttestationWriter`:
 *
 * - DsseAttestationWriter (`--format legacy` / `dsse`): `<step>.<keyid8>.<plugin>.att.json`
 *   DSSE envelopes; the link stays the `.link` file (metablock or DSSE) the reference reads.
 * - SigstoreAttestationWriter (`--format sigstore`): every Statement — the link as link
 *   predicate v0.3 too — in a Sigstore bundle v0.3, `<step>.<keyid8>.<plugin>.sigstore.json`
 *   and `<step>.<keyid8>.link.sigstore.json`, which `custody verify` reads from the link folder
 *   or the store.
 */
import { IN_TOTO_PAYLOAD_TYPE, jcs, linkToStatement } from '@custody/core';
import type { LinkBody, Statement } from '@custody/core';
import { signDsse, type Signer } from '@custody/sign';
import type { ResourceDescriptor } from './types.ts';

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
  /** The file's contents: the signed Statement. */
  serialize(statement: InTotoStatement, signer: Signer): Promise<string>;
  /**
   * When present, the link is written by this writer too (file name and contents) instead of
   * the `<step>.<keyid8>.link` metablock / DSSE file.
   */
  writeLink?(link: LinkBody, signer: Signer): Promise<{ fileName: string; data: string }>;
}

/** Statement JSON (RFC 8785 canonical) in a DSSE envelope signed with the step key. */
export class DsseAttestationWriter implements AttestationWriter {
  fileName(step: string, keyid: string, pluginName: string, index: number): string {
    return `${step}.${keyid.slice(0, 8)}.${pluginName}${index === 0 ? '' : `-${index + 1}`}.att.json`;
  }

  async serialize(statement: InTotoStatement, signer: Signer): Promise<string> {
    const envelope = await signDsse(Buffer.from(jcs(statement), 'utf8'), IN_TOTO_PAYLOAD_TYPE, signer);
    return `${JSON.stringify(envelope, null, 2)}\n`;
  }
}

/** Statements (and the link, as link predicate v0.3) in Sigstore bundles signed with the step key. */
export class SigstoreAttestationWriter implements AttestationWriter {
  fileName(step: string, keyid: string, pluginName: string, index: number): string {
    return `${step}.${keyid.slice(0, 8)}.${pluginName}${index === 0 ? '' : `-${index + 1}`}.sigstore.json`;
  }

  async serialize(statement: InTotoStatement, signer: Signer): Promise<string> {
    // loaded on first use: @sigstore/sign is heavy and legacy runs never need it
    const { signAttestationBundle, serializeBundle } = await import('@custody/sign');
    return serializeBundle(await signAttestationBundle(statement as unknown as Statement, signer));
  }

  async writeLink(link: LinkBody, signer: Signer): Promise<{ fileName: string; data: string }> {
    return { fileName: `${link.name}.${signer.keyid.slice(0, 8)}.link.sigstore.json`, data: await this.serialize(linkToStatement(link) as unknown as InTotoStatement, signer) };
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
