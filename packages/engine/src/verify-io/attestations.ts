/**
 * The attestation side of `custody verify`'s I/O: find the attestation files of a layout's steps
 * (in the link folder and in the local store) and verify each one against the keys and
 * identities the verified layout lists for its step. Sigstore bundles (`*.sigstore.json`) go
 * through @custody/sign (key hint → layout key, or certificate → trusted root + identity); DSSE
 * Statements (`*.att.json`) are checked with the step's keys. A file that does not verify is
 * rejected with its error code and reason, never thrown: it simply proves nothing.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  CustodyError, IN_TOTO_PAYLOAD_TYPE, isCustodyError, parseSignedFile, validateStatement, verifySignedFile,
} from '@custody/core';
import type {
  AttestationCollector, AttestationRejection, AttestationRequest, CollectedAttestations, TrustedRootRef, VerifiedClaim,
} from '@custody/core';
import { isStatementFileName, stepOfAttestationFileName } from '@custody/store/names';
// sigstore (~1.6 MB bundled) loads only when there is a Sigstore bundle or trust root to read.
const sign = () => import('@custody/sign');
import type { TrustMaterial } from '@custody/sign';

export interface AttestationFile {
  step: string;
  /** Path or name shown in the report. */
  name: string;
  text: string;
}

/**
 * `<step>.<id8>[.<kind>].sigstore.json` and `<step>.<id8>[.<kind>].att.json` (names from
 * @custody/store/names), where id8 is the first 8 hex digits of the signer's keyid (for keyless
 * signers: of SHA-256 of its functionary id).
 */
export function stepOfAttestationName(name: string): string | undefined {
  const base = name.replace(/^.*\//, '');
  return isStatementFileName(base) ? stepOfAttestationFileName(base) : undefined;
}

/** Attestation files directly in `dir` (a missing folder holds none), sorted by name; named as `join(display, name)`. */
export async function readLinkDirAttestations(dir: string, display = dir): Promise<AttestationFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new CustodyError('FILE_UNREADABLE', `cannot read the folder: ${code ?? (e as Error).message}`, { file: display, cause: e });
  }
  const out: AttestationFile[] = [];
  for (const name of names.sort()) {
    const step = stepOfAttestationName(name);
    if (!step || name.startsWith('.')) continue;
    const path = join(dir, name);
    const shown = join(display, name);
    try {
      out.push({ step, name: shown, text: await readFile(path, 'utf8') });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') continue;
      throw new CustodyError('FILE_UNREADABLE', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: shown, cause: e });
    }
  }
  return out;
}

export interface AttestationCollectorOptions {
  /** Where the files come from (link folder, store); called once per verification. */
  files: () => Promise<AttestationFile[]>;
  /** The layout file: a layout's `trustedRoot.path` is relative to its folder. */
  layoutFile: string;
  /** Used when the layout names no trusted root (`--trusted-root`). */
  fallbackTrustedRoot?: string;
  now: Date;
}

/** SHA-256 pinned trust root from the layout, or the command line's, or none. */
async function resolveTrustedRoot(ref: TrustedRootRef | undefined, opts: AttestationCollectorOptions): Promise<TrustMaterial | undefined> {
  if (ref?.inline) return (await sign()).trustMaterialFromJSON(ref.inline, `${opts.layoutFile} (trustedRoot)`);
  if (ref?.path) {
    const path = resolve(dirname(resolve(opts.layoutFile)), ref.path);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
      throw new CustodyError(code, `cannot read the layout's trusted root: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: path, cause: e });
    }
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== ref.sha256) {
      throw new CustodyError('TRUSTED_ROOT_INVALID', `trusted root has SHA-256 ${digest}, but the layout pins ${ref.sha256}`, { file: path });
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      throw new CustodyError('MALFORMED_JSON', `trusted root is not JSON: ${(e as Error).message}`, { file: path, cause: e });
    }
    return (await sign()).trustMaterialFromJSON(json, path);
  }
  if (opts.fallbackTrustedRoot) return (await sign()).loadTrustedRoot(opts.fallbackTrustedRoot);
  return undefined;
}

function rejection(file: AttestationFile, e: unknown): AttestationRejection {
  if (!isCustodyError(e)) throw e;
  return { file: file.name, step: file.step, code: e.code, reason: e.message };
}

/** Verifies the attestation files against each step's keys and identities. */
export function createAttestationCollector(opts: AttestationCollectorOptions): AttestationCollector {
  return async (request: AttestationRequest): Promise<CollectedAttestations> => {
    const files = await opts.files();
    const claimsByStep: Record<string, VerifiedClaim[]> = {};
    const rejected: AttestationRejection[] = [];
    const steps = new Map(request.steps.map((s) => [s.name, s]));
    let trust: Promise<TrustMaterial | undefined> | undefined;
    const trustedRoot = () => (trust ??= resolveTrustedRoot(request.trustedRoot, opts));
    const add = (c: VerifiedClaim) => (claimsByStep[c.step] ??= []).push(c);
    for (const f of files) {
      const step = steps.get(f.step);
      if (!step) continue; // another layout's attestation
      if (f.name.endsWith('.sigstore.json')) {
        try {
          const certificate = /"(x509CertificateChain|certificate)"\s*:/.test(f.text);
          const v = (await sign()).verifyFunctionaryBundle(f.text, {
            keys: step.keys, identities: step.identities, trustedRoot: certificate ? await trustedRoot() : undefined, now: opts.now, file: f.name,
          });
          add({ step: f.step, keyid: v.functionary, ...(v.identity ? { identity: v.identity } : {}), statement: v.statement, source: f.name });
        } catch (e) {
          // an unreadable or mismatched trust root is bad input for the whole run
          if (isCustodyError(e) && ['TRUSTED_ROOT_INVALID', 'FILE_NOT_FOUND', 'FILE_UNREADABLE', 'MALFORMED_JSON'].includes(e.code) && e.file !== f.name) throw e;
          rejected.push(rejection(f, e));
        }
        continue;
      }
      try {
        const signed = parseSignedFile(f.text, f.name);
        if (signed.format !== 'dsse') throw new CustodyError('ENVELOPE_MALFORMED', 'not a DSSE envelope', { file: f.name });
        if (signed.envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
          throw new CustodyError('PAYLOAD_TYPE', `payloadType is ${JSON.stringify(signed.envelope.payloadType)}, expected ${IN_TOTO_PAYLOAD_TYPE}`, { file: f.name });
        }
        const signers = step.keys.filter((k) => verifySignedFile(signed, k));
        if (signers.length === 0) {
          const by = signed.envelope.signatures.map((s) => s.keyid.slice(0, 8) || '(no keyid)').join(', ') || 'nobody';
          throw new CustodyError('SIGNATURE_INVALID', `no valid signature by a functionary of step ${f.step} (signed by ${by})`, { file: f.name });
        }
        const statement = validateStatement(signed.body, { file: f.name });
        for (const k of signers) add({ step: f.step, keyid: k.keyid, statement, source: f.name });
      } catch (e) {
        rejected.push(rejection(f, e));
      }
    }
    return { claimsByStep, rejected };
  };
}
