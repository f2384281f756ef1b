/**
 * A signed SLSA VSA per (subject, policy) decision: written after every verification (PASSED or
 * FAILED), so an audit can see which layout, which trust and which attestation files a
 * decision rested on; and a PASSED one still within `reuseSeconds` is reused instead of
 * verifying again (after a restart, or by the other replica on a shared volume).
 *
 * Reuse trusts nothing a file name says: the bundle's signature must verify with the VSA key,
 * and its signed content must name this digest, this layout's digest and this policy's trust
 * digest (in policy.uri), with a time not in the future.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildVsaStatement, VSA_PREDICATE_TYPE, type VsaPredicate } from '@custody/core/verify';
import type { LoadedConfig, LoadedPolicy } from './config.ts';
import type { VerdictRecord, VsaHooks } from './decide.ts';

const policyUri = (p: LoadedPolicy) => `custody-admission:policy/${encodeURIComponent(p.name)}?layout=${p.layoutDigest}&trust=${p.trustDigest}`;
const fileName = (p: LoadedPolicy, digest: string) => `${digest.slice('sha256:'.length)}.${p.name}.vsa.json`;

export async function fileVsaStore(cfg: NonNullable<LoadedConfig['vsa']>): Promise<VsaHooks> {
  const [{ loadSigner, verifyFunctionaryBundle }, { keyBundle }, { writeFileAtomic }] = await Promise.all([
    import('@custody/sign'), import('@custody/engine/attestation'), import('@custody/store/atomic'),
  ]);
  const signer = await loadSigner(cfg.keyPath);
  await mkdir(cfg.dir, { recursive: true });
  return {
    async reuse(policy, digest, now) {
      let text: string;
      try {
        text = await readFile(join(cfg.dir, fileName(policy, digest)), 'utf8');
      } catch {
        return false;
      }
      let statement;
      try {
        statement = verifyFunctionaryBundle(text, { keys: [signer.publicKey], now, file: fileName(policy, digest) }).statement;
      } catch {
        return false;
      }
      if (statement.predicateType !== VSA_PREDICATE_TYPE) return false;
      const p = statement.predicate as unknown as VsaPredicate;
      const hex = digest.slice('sha256:'.length);
      if (!statement.subject.some((s) => s.digest?.sha256 === hex)) return false;
      if (p.verificationResult !== 'PASSED' || p.policy?.uri !== policyUri(policy) || p.policy.digest?.sha256 !== policy.layoutDigest.slice(7)) return false;
      const at = Date.parse(p.timeVerified);
      if (!(at <= now.getTime() && now.getTime() - at < cfg.reuseSeconds * 1000)) return false;
      return !(policy.layoutExpires && policy.layoutExpires.getTime() <= now.getTime());
    },
    async record(r: VerdictRecord) {
      const statement = buildVsaStatement({
        report: r.report,
        now: r.now,
        ...(cfg.verifierId ? { verifierId: cfg.verifierId } : {}),
        subject: [{ name: r.reference, digest: { sha256: r.subjectDigest.slice('sha256:'.length) } }],
        resourceUri: r.reference.startsWith('oci://') ? r.reference : `oci://${r.reference}`,
        policy: { uri: policyUri(r.policy), bytes: r.policy.layoutBytes },
        inputAttestations: r.inputsRead,
      });
      const data = await keyBundle(statement as never, signer);
      await writeFileAtomic(join(cfg.dir, fileName(r.policy, r.subjectDigest)), data);
    },
  };
}
