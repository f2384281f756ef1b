/**
 * The final verify of one image against one policy, as the admission decision sees it: a
 * function from (policy, image digest, pulled attestation files, now) to the verification
 * report. The server takes it injected (tests give their own); `engineVerify` is the real one.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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
 * The engine's verify (`verifyFromDisk`, what `custody verify` runs), in process, over files
 * pulled from a registry: links and attestations are given (nothing is read from a link folder
 * or store), inspections are not run (reported as skipped, never passed). Then the image digest
 * must be what the layout's last step produced.
 */
export const engineVerify: VerifyFunction = async (req) => {
  const { verifyFromDisk } = await import('@custody/engine/verify');
  const links = new Map<string, PulledFile>();
  const attestations: PulledFile[] = [];
  for (const f of req.attestations) {
    if (!LINK_NAME.test(f.name)) {
      attestations.push(f);
      continue;
    }
    // Two different files pushed under one link name: neither is preferred (push order is
    // attacker-controlled); the step sees none, so the verification fails closed.
    const prior = links.get(f.name);
    links.set(f.name, prior && prior.text !== f.text ? { ...f, text: '' } : f);
  }
  const given = [...links.values()].filter((f) => f.text !== '');
  const r = await verifyFromDisk({
    layout: req.policy.layoutPath,
    layoutPublicKeys: req.policy.layoutKeys,
    ...(req.policy.params ? { params: req.policy.params } : {}),
    links: given,
    attestations,
    runInspections: false,
    now: req.now,
  });
  // The verdict is cached under the loaded layout's digest: it must be about those bytes (the
  // private copy; this only fails if something else wrote to it).
  const bytes = await readFile(req.policy.layoutPath).catch(() => Buffer.alloc(0));
  if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== req.policy.layoutDigest) {
    throw new CustodyError('CONFIG_INVALID', 'the loaded copy of the layout changed during the verification', { file: req.policy.layoutPath });
  }
  let report = r.report;
  if (report.verdict === 'pass') {
    const mismatch = subjectMismatch(req, report, req.attestations);
    if (mismatch) {
      report = { ...report, verdict: 'fail', failure: { code: 'SUBJECT_MISMATCH', check: 'artifact-rules', ...(req.policy.lastStep ? { step: req.policy.lastStep } : {}), message: mismatch } };
    }
  }
  return { report, inputsRead: r.inputsRead, inspectionsSkipped: report.inspectionsSkipped ?? [] };
};

/**
 * The evidence must be about this image: the layout's last step (the one that built it) must
 * have recorded the image manifest `blobs/sha256/<hex>` with that digest among its products.
 * Attestations copied from another image name that image's manifest, never this one.
 */
function subjectMismatch(req: VerifyRequest, report: VerificationReport, files: PulledFile[]): string | undefined {
  const step = req.policy.lastStep;
  if (!step) return 'the layout has no steps, so nothing says which image it is about';
  // Only the links the verification counted (valid signature by a functionary of the step):
  // metablock or DSSE `.link` files (named by file name), or link Statements in Sigstore
  // bundles (named by origin).
  const counted = new Set<string>();
  for (const c of report.checks) {
    if (c.check === 'threshold' && c.step === step) for (const s of c.signers ?? []) if (s.valid) counted.add(s.file);
  }
  const hex = req.subjectDigest.slice('sha256:'.length);
  const blob = new RegExp(`(^|/)blobs/sha256/${hex}$`);
  for (const f of files) {
    if (!counted.has(f.name) && !counted.has(f.origin)) continue;
    for (const [path, sha256] of linkProducts(f.text)) if (blob.test(path) && sha256 === hex) return undefined;
  }
  return `no counted link of step ${step} records the image manifest ${req.subjectDigest.slice(0, 19)} among its products: the evidence is about another artifact`;
}

/** [path, sha256] of a link's products: a metablock link, a DSSE link Statement, or one in a Sigstore bundle. */
function linkProducts(text: string): [string, string | undefined][] {
  try {
    const doc = JSON.parse(text) as { signed?: { products?: Record<string, { sha256?: string }> }; payload?: string; dsseEnvelope?: { payload?: string } };
    if (doc.signed) return Object.entries(doc.signed.products ?? {}).map(([p, d]) => [p, d?.sha256]);
    const payload = doc.payload ?? doc.dsseEnvelope?.payload;
    if (typeof payload === 'string') {
      const body = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { products?: Record<string, { sha256?: string }>; subject?: { name?: string; digest?: { sha256?: string } }[] };
      if (body.products) return Object.entries(body.products).map(([p, d]) => [p, d?.sha256]);
      return (body.subject ?? []).map((s) => [String(s.name), s.digest?.sha256]);
    }
  } catch {
    // unreadable: it records nothing
  }
  return [];
}
