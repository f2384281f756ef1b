/**
 * Bridge from stored bundles to the pure verifier: verifies each `*.sigstore.json` with the
 * functionaries' keys and returns the claims per step that core's `evaluateAttestationSteps`
 * (and, for link predicates via `statementToLink`, the artifact-rule engine) consume.
 */
import { isCustodyError } from '@custody/core';
import type { PublicKey, VerifiedClaim } from '@custody/core';
import { verifyAttestationBundle } from './bundle.ts';
import type { TrustMaterial, VerifyBundleOptions } from './bundle.ts';

export interface BundleFile {
  step: string;
  /** File name or path, for the report. */
  name: string;
  text: string | Uint8Array;
}

export interface RejectedBundle {
  file: string;
  step: string;
  code: string;
  reason: string;
}

/**
 * Verifies every bundle; a bundle that fails (bad signature, unknown key, wrong payloadType,
 * invalid Statement, malformed) is listed in `rejected` with its error code and contributes no
 * claim — the verifier then reports the missing claim where the layout needs it.
 */
export function claimsFromBundles(
  files: readonly BundleFile[],
  keys: readonly PublicKey[] | TrustMaterial,
  opts: Omit<VerifyBundleOptions, 'file'> = {},
): { claimsByStep: Record<string, VerifiedClaim[]>; rejected: RejectedBundle[] } {
  const claimsByStep: Record<string, VerifiedClaim[]> = {};
  const rejected: RejectedBundle[] = [];
  for (const f of [...files].sort((a, b) => a.step.localeCompare(b.step) || a.name.localeCompare(b.name))) {
    try {
      const v = verifyAttestationBundle(f.text, keys, { ...opts, file: f.name });
      if (!v.statement) continue;
      (claimsByStep[f.step] ??= []).push({ step: f.step, keyid: v.keyid, statement: v.statement, source: f.name });
    } catch (e) {
      if (!isCustodyError(e)) throw e;
      rejected.push({ file: f.name, step: f.step, code: e.code, reason: e.message });
    }
  }
  return { claimsByStep, rejected };
}
