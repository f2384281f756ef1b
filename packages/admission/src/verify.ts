/**
 * The final verify of one image against one policy, as the admission decision sees it: a
 * function from (policy, image digest, pulled attestation files, now) to the verification
 * report. The server takes it injected (tests give their own); `engineVerify` is the real one.
 */
import { CustodyError } from '@custody/core/errors';
import type { VerificationReport } from '@custody/core';
import type { LoadedPolicy } from './config.ts';
import type { PulledFile } from './registry.ts';

export interface VerifyRequest {
  policy: LoadedPolicy;
  /** sha256:<hex> of the image (or OCI model) manifest: the subject the evidence must be about. */
  subjectDigest: string;
  attestations: PulledFile[];
  now: Date;
}

export interface VerifyInputRead {
  name: string;
  uri: string;
  step?: string;
  bytes: Uint8Array;
}

export interface VerifyResult {
  report: VerificationReport;
  /** The files the verification read (the VSA's inputAttestations). */
  inputsRead: VerifyInputRead[];
  /** The layout's inspections that were not run (a webhook has no working folder for them). */
  inspectionsSkipped: string[];
}

export type VerifyFunction = (req: VerifyRequest) => Promise<VerifyResult>;

const LINK_NAME = /^(.+?)\.([0-9a-f]{8})\.link$/;

/**
 * The verify of `custody verify`, in process, over files pulled from a registry: the layout's
 * links and attestations come from `attestations`; inspections are not run. When the layout has
 * inspections, the verifier reaches them only after every step check passed, so stopping there
 * means "everything but the inspections passed" — which is reported as a skip, never a pass.
 * Then the image digest must be a product of the layout's last step.
 */
export const engineVerify: VerifyFunction = async (req) => {
  const [{ verifySupplyChain }, { createAttestationCollector, stepOfAttestationName }] = await Promise.all([
    import('@custody/core/verify'), import('@custody/engine/verify-io/attestations'),
  ]);
  const links = new Map<string, PulledFile>();
  const bundles: { step: string; name: string; text: string; origin: string }[] = [];
  const inputsRead: VerifyInputRead[] = [];
  for (const f of req.attestations) {
    const link = LINK_NAME.exec(f.name);
    if (link) {
      // Two different files pushed under one link name: neither is preferred (push order is
      // attacker-controlled); the step sees none, so the verification fails closed.
      const prior = links.get(f.name);
      if (prior && prior.text !== f.text) links.set(f.name, { ...f, text: '' });
      else links.set(f.name, f);
      continue;
    }
    const step = stepOfAttestationName(f.name);
    if (step) bundles.push({ step, name: f.name, text: f.text, origin: f.origin });
  }
  const read = (f: PulledFile, step?: string) => inputsRead.push({ name: f.name, uri: f.origin, bytes: Buffer.from(f.text, 'utf8'), ...(step ? { step } : {}) });
  const skipped: string[] = [];
  // The verifier runs inspections only after every step check passed. The runner answers the
  // first one with a non-zero exit (the verifier then stops there with its report so far), and
  // that stop is turned into "passed except the inspections, which were not run".
  let reachedInspections = false;
  let report = await verifySupplyChain({
    layout: req.policy.layout,
    layoutKeys: req.policy.layoutKeys,
    now: req.now,
    params: req.policy.params,
    layoutFile: req.policy.layoutPath,
    links: {
      async read(rel) {
        const f = links.get(rel);
        if (!f || f.text === '') return undefined;
        read(f, LINK_NAME.exec(rel)?.[1]);
        return f.text;
      },
    },
    attestations: createAttestationCollector({
      layoutFile: req.policy.layoutPath,
      now: req.now,
      files: async () => {
        for (const b of bundles) read(b, b.step);
        return bundles;
      },
    }),
    runInspection: async () => {
      reachedInspections = true;
      return { exitCode: 125, materials: {}, products: {}, stdout: '', stderr: 'not run at admission' };
    },
  });
  if (reachedInspections && report.verdict === 'fail' && report.failure?.check === 'inspection') {
    skipped.push(...req.policy.inspectionNames);
    report = { ...report, verdict: 'pass', failure: null, checks: report.checks.filter((c) => c.check !== 'inspection') };
  }
  if (report.verdict === 'pass') {
    const mismatch = subjectMismatch(req, report, links);
    if (mismatch) {
      report = { ...report, verdict: 'fail', failure: { code: 'SUBJECT_MISMATCH' as never, check: 'artifact-rules', ...(req.policy.lastStep ? { step: req.policy.lastStep } : {}), message: mismatch } };
    }
  }
  return { report, inputsRead, inspectionsSkipped: skipped };
};

/**
 * The evidence must be about this image: the layout's last step (the one that built it) must
 * have recorded the image manifest `blobs/sha256/<hex>` with that digest among its products.
 * Attestations copied from another image name that image's manifest, never this one.
 */
function subjectMismatch(req: VerifyRequest, report: VerificationReport, links: Map<string, PulledFile>): string | undefined {
  const step = req.policy.lastStep;
  if (!step) return 'the layout has no steps, so nothing says which image it is about';
  // Only the links the verification counted (valid signature by a functionary of the step).
  const counted = new Set<string>();
  for (const c of report.checks) {
    if (c.check === 'threshold' && c.step === step) for (const s of c.signers ?? []) if (s.valid) counted.add(s.file);
  }
  const hex = req.subjectDigest.slice('sha256:'.length);
  const blob = new RegExp(`(^|/)blobs/sha256/${hex}$`);
  for (const name of counted) {
    const f = links.get(name);
    if (!f || f.text === '') continue;
    for (const [path, sha256] of linkProducts(f.text)) if (blob.test(path) && sha256 === hex) return undefined;
  }
  return `no counted link of step ${step} records the image manifest ${req.subjectDigest.slice(0, 19)} among its products: the evidence is about another artifact`;
}

/** [path, sha256] of a link's products: a metablock link, or a DSSE link Statement (subject). */
function linkProducts(text: string): [string, string | undefined][] {
  try {
    const doc = JSON.parse(text) as { signed?: { products?: Record<string, { sha256?: string }> }; payload?: string };
    if (doc.signed) return Object.entries(doc.signed.products ?? {}).map(([p, d]) => [p, d?.sha256]);
    if (typeof doc.payload === 'string') {
      const body = JSON.parse(Buffer.from(doc.payload, 'base64').toString('utf8')) as { products?: Record<string, { sha256?: string }>; subject?: { name?: string; digest?: { sha256?: string } }[] };
      if (body.products) return Object.entries(body.products).map(([p, d]) => [p, d?.sha256]);
      return (body.subject ?? []).map((s) => [String(s.name), s.digest?.sha256]);
    }
  } catch {
    // unreadable: it records nothing
  }
  return [];
}

export { CustodyError };
