/**
 * Plugin predicates leave the engine as in-toto Statements v1, one per predicate. How a
 * Statement is signed and packaged sits behind `AttestationWriter`, so that a later change
 * (Sigstore bundles) swaps one object and nothing else.
 */
import { IN_TOTO_PAYLOAD_TYPE, jcs } from '@custody/core';
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

/** The step's products as Statement subjects, sorted by name. */
export function productsAsSubject(products: Record<string, Record<string, string>>): ResourceDescriptor[] {
  return Object.keys(products)
    .sort()
    .map((name) => ({ name, digest: { ...products[name] } }));
}

export function makeStatement(subject: ResourceDescriptor[], predicateType: string, predicate: Record<string, unknown>): InTotoStatement {
  return { _type: STATEMENT_V1, subject, predicateType, predicate };
}
