/**
 * The one verify API: everything `custody verify` does besides arguments and printing. Reads
 * the layout (one reader for every format), the links and attestations (a folder, the local
 * store, or files the caller already fetched, e.g. from a registry), checks a keyless layout's
 * bundle, runs inspections (or says it skipped them), verifies in core, and writes the VSA.
 * `custody verify`, `pipeline run` and the admission server call it in-process.
 *
 * Import-light: only core's subpath modules load up front; sigstore, CEL, YAML and the store
 * load when the inputs need them (CLI start-up time matters).
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CustodyError, isCustodyError } from '@custody/core/errors';
import { parsePublicKeyText, type PublicKey } from '@custody/core/keys';
import { validateIdentityPolicy, type IdentityPolicy } from '@custody/core/identity';
import { renderVerificationTree, verifySupplyChain } from '@custody/core/verify';
import type {
  LayoutKeylessVerification, LinkSource, VerificationReport, VsaInputFile, ResourceDescriptor, Check,
} from '@custody/core';
import type { Signer } from '@custody/sign';
import { readInputText, readLayoutFile, type LayoutFile } from './layout-file.ts';

export { readLayoutFile, readLayoutDocument, readInputText } from './layout-file.ts';
export type { LayoutFile } from './layout-file.ts';
export { renderVerificationTree };
export type { VerificationReport };

/** A file the caller already read (e.g. fetched from a registry): `name` decides its step. */
export interface ProvidedFile {
  /** File name (`<step>.<keyid8>[.<kind>].sigstore.json`, `….att.json`; attestation-verifier: `<step>.<keyid8>.json`). */
  name: string;
  text: string;
  /** Where it came from (a URL or path), shown in the report and listed in the VSA. Default: name. */
  origin?: string;
}

/** The keyless layout owner: OIDC issuer and certificate subject (exact or a pattern). */
export type LayoutIdentity = { issuer: string; subject: string } | { issuer: string; subjectPattern: string };

export interface VerifyVsaRequest {
  /** Where the signed VSA (a Sigstore bundle) is written (temp file + rename). */
  out: string;
  /** The private key that signs it: a loaded signer, or a key file. */
  signer?: Signer;
  keyFile?: string;
  verifierId?: string;
  /** `sha256:HEX` or a file to hash; default: the products of the layout's last step. */
  subjects?: string[];
}

export interface VerifyFromDiskOptions {
  /** The layout file (signed in-toto layout, keyless Sigstore bundle, or attestation-verifier YAML). */
  layout: string;
  /** Public key files of the layout owner; every one must have signed the layout. */
  layoutKeys?: string[];
  /** Layout owner keys already loaded (in addition to `layoutKeys`). */
  layoutPublicKeys?: PublicKey[];
  /** Keyless layout owners (at most one: a keyless layout is one bundle with one signature); needs `trustedRoot`. */
  layoutIdentities?: LayoutIdentity[];
  /** Links and attestation files. Default: `.custody/` when it exists (what `pipeline run` writes), else `.`. */
  linkDir?: string;
  /** Attestation files already read: used INSTEAD of the attestation files of the link dir and the store. */
  attestations?: ProvidedFile[];
  /**
   * Link files already read (`name` relative to the link dir: `<step>.<keyid8>.link`, sublayouts'
   * `<step>.<keyid8>/<sub>.<keyid8>.link`): used INSTEAD of reading links from the link dir.
   */
  links?: ProvidedFile[];
  /** Attestation store folder read as well (default: `.custody/` next to the layout, when it exists). */
  store?: string;
  params?: Record<string, string>;
  /** JSON object of parameters; `params` win. */
  paramFile?: string;
  /** Sigstore trusted_root.json: a keyless layout's signature, and keyless functionaries when the layout names none. */
  trustedRoot?: string;
  /** A link that ran another command than expected_command fails (COMMAND_MISMATCH). */
  strictCommand?: boolean;
  /** Seconds an inspection may run (default 300). */
  inspectionTimeoutSeconds?: number;
  /** false: inspections are not run; the report marks them 'skipped' (never 'pass') and lists them in inspectionsSkipped. */
  runInspections?: boolean;
  /** The verification time (default: now). */
  now?: Date;
  /** Folder relative paths are resolved against, and inspections run in a copy of (default: process.cwd()). */
  cwd?: string;
  /** Also write a SLSA VSA of this verification. */
  vsa?: VerifyVsaRequest;
  /**
   * Artifacts in hand — a file, a folder, or an OCI image-layout folder — that must be exactly
   * what `artifactStep` produced (every file a recorded product with the same digest, none
   * missing, none extra; custody's default excludes aside). Mismatch: ARTIFACT_MISMATCH.
   */
  artifacts?: string[];
  /** `sha256:HEX` digests (an image in a registry) that must be artifacts of `artifactStep`. Mismatch: SUBJECT_MISMATCH. */
  subjects?: string[];
  /** Default: the layout's last step. */
  artifactStep?: string;
  /** Named in `report.proven` (the CLI passes its version). */
  custodyVersion?: string;
  /** Called with the report as soon as it exists, before the VSA is written (the CLI prints it here). */
  onReport?: (report: VerificationReport) => void | Promise<void>;
}

export interface VerifyFromDiskResult {
  report: VerificationReport;
  /** Every link and attestation file the verification read (what a VSA lists as inputAttestations). */
  inputsRead: VsaInputFile[];
  /** The layout as read. */
  layoutFormat: 'in-toto' | 'attestation-verifier';
  /** The layout's last step, when it has steps. */
  lastStep?: string;
}

const LAYOUT_SIGNATURE_FAILURES = new Set(['SIGNATURE_INVALID', 'CERTIFICATE_INVALID', 'TLOG_INVALID', 'IDENTITY_MISMATCH', 'KEYID_MISMATCH', 'VERIFICATION_FAILED']);

function pathToUri(path: string): string {
  return encodeURI(path.replace(/\\/g, '/'));
}

function inputFile(name: string, uri: string, text: string, step: string | undefined): VsaInputFile {
  // The verifier read the file as UTF-8 text; its bytes are that text's encoding.
  return { name, uri: pathToUri(uri), bytes: Buffer.from(text, 'utf8'), ...(step ? { step } : {}) };
}

/** `.custody/` (what `pipeline run` writes) when it is a folder, else `.`. */
export function defaultLinkDir(cwd?: string): string {
  const dir = cwd ? resolve(cwd, '.custody') : '.custody';
  try {
    if (existsSync(dir) && statSync(dir).isDirectory()) return dir;
  } catch {
    // unreadable: fall back to '.'
  }
  return cwd ? resolve(cwd) : '.';
}

function identityPolicies(o: VerifyFromDiskOptions): IdentityPolicy[] {
  const ids = o.layoutIdentities ?? [];
  if (ids.length === 0) return [];
  if (ids.length > 1) {
    throw new CustodyError('USAGE', 'give one keyless layout owner (--layout-issuer once, with one --layout-subject or --layout-subject-pattern): a keyless layout is a Sigstore bundle with exactly one signature');
  }
  if (!o.trustedRoot) throw new CustodyError('USAGE', 'a keyless layout owner needs --trusted-root FILE (the layout\'s own trustedRoot cannot vouch for the layout\'s signature)');
  return [validateIdentityPolicy(ids[0], '--layout-issuer/--layout-subject')];
}

/**
 * The edge of keyless layout verification: the bundle's certificate chain to the trusted root,
 * SCT, tlog entry, signing time and signature over the payload, and the signer's identity. A
 * verification failure becomes data for core (LAYOUT_SIGNATURE there); bad input throws.
 */
async function verifyLayoutBundle(trustedRootFile: string, layoutFile: string, bundle: unknown, policies: IdentityPolicy[], now: Date): Promise<LayoutKeylessVerification> {
  const sign = await import('@custody/sign');
  const trustedRoot = await sign.loadTrustedRoot(trustedRootFile);
  try {
    const v = sign.verifyKeylessBundle(bundle, { trustedRoot, identity: policies, now, file: layoutFile, rawPayload: true });
    return { policies, signer: v.identity };
  } catch (e) {
    if (isCustodyError(e) && LAYOUT_SIGNATURE_FAILURES.has(e.code)) return { policies, failure: { code: e.code, reason: e.message } };
    throw e;
  }
}

interface PreparedVsa {
  out: string;
  signer: Signer;
  verifierId?: string;
  subject?: ResourceDescriptor[];
}

/** The VSA's key and subjects load before verifying, so a bad key fails before any work. */
async function prepareVsa(req: VerifyVsaRequest, at: (p: string) => string): Promise<PreparedVsa> {
  if (!req.out) throw new CustodyError('USAGE', '--vsa needs a file name');
  if (!req.signer && !req.keyFile) throw new CustodyError('USAGE', '--vsa needs --vsa-key KEY (the private key that signs the VSA)');
  if (req.verifierId !== undefined && !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(req.verifierId)) {
    throw new CustodyError('USAGE', `--vsa-verifier-id ${JSON.stringify(req.verifierId)}: expected a URI`);
  }
  const signer = req.signer ?? await (await import('@custody/sign')).loadSigner(at(req.keyFile!));
  let subject: ResourceDescriptor[] | undefined;
  if (req.subjects?.length) {
    const [{ createHash }, { readFile }, { digestSubject }] = await Promise.all([import('node:crypto'), import('node:fs/promises'), import('@custody/core/verify')]);
    subject = [];
    for (const arg of req.subjects.map(String)) {
      const d = digestSubject(arg);
      if (d) { subject.push(d); continue; }
      if (/^sha256:/i.test(arg)) throw new CustodyError('USAGE', `--vsa-subject ${JSON.stringify(arg)}: expected sha256: and 64 hex digits, or a file`);
      let bytes: Buffer;
      try {
        bytes = await readFile(at(arg));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new CustodyError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', code === 'ENOENT' ? 'no such file (--vsa-subject)' : `cannot read: ${code ?? (e as Error).message}`, { file: arg, cause: e });
      }
      subject.push({ name: arg.replace(/\\/g, '/'), digest: { sha256: createHash('sha256').update(bytes).digest('hex') } });
    }
  }
  return { out: req.out, signer, verifierId: req.verifierId, subject };
}

/** Signs the VSA of this verification into a Sigstore bundle with the VSA key and writes it (temp + rename). */
async function writeVsa(
  req: PreparedVsa, layoutFile: string, report: VerificationReport, now: Date, lastStep: string | undefined,
  inputs: VsaInputFile[], at: (p: string) => string,
): Promise<void> {
  const [{ buildVsaStatement, lastStepSubject }, { keyBundle }, { writeFileAtomic }] = await Promise.all([
    import('@custody/core/verify'), import('../attestation.ts'), import('@custody/store/atomic'),
  ]);
  const subject = req.subject ?? (lastStep !== undefined ? lastStepSubject(lastStep, report, inputs) : undefined);
  if (!subject?.length) {
    throw new CustodyError('USAGE', lastStep === undefined
      ? 'no VSA written: the layout has no steps; name the subject with --vsa-subject sha256:HEX|FILE'
      : `no VSA written: no link of the last step '${lastStep}' names products; name the subject with --vsa-subject sha256:HEX|FILE`, { file: req.out });
  }
  const { readFile } = await import('node:fs/promises');
  const statement = buildVsaStatement({
    report, now, verifierId: req.verifierId, subject,
    policy: { uri: pathToUri(layoutFile), bytes: await readFile(at(layoutFile)) },
    inputAttestations: inputs,
  });
  const data = await keyBundle(statement as unknown as import('../attestation.ts').InTotoStatement, req.signer);
  try {
    await writeFileAtomic(at(req.out), data);
  } catch (e) {
    if (isCustodyError(e)) throw e;
    throw new CustodyError('FILE_UNWRITABLE', `cannot write the VSA: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: req.out, cause: e });
  }
}

/** Hashes an artifact in hand: one file, or every file of a folder (custody's default excludes), and an OCI layout's manifest digest. */
async function artifactInHand(path: string, abs: string): Promise<import('@custody/core').ArtifactInHand> {
  const [{ stat, readFile }, { basename, dirname }, { recordArtifacts }, { stepExcludes }] = await Promise.all([
    import('node:fs/promises'), import('node:path'), import('../hashing/artifacts.ts'), import('../builtin/excludes.ts'),
  ]);
  let st;
  try {
    st = await stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CustodyError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', code === 'ENOENT' ? 'no such file or folder (--artifact)' : `cannot read: ${code}`, { file: path, cause: e });
  }
  const segments = resolve(abs).split('/').filter(Boolean);
  if (!st.isDirectory()) {
    const files = await recordArtifacts([basename(abs)], { basePath: dirname(resolve(abs)), exclude: [] });
    const d = Object.values(files)[0];
    if (!d) throw new CustodyError('FILE_UNREADABLE', 'not a regular file (--artifact)', { file: path });
    return { path, kind: 'file', segments, files: { '': d } };
  }
  const files = await recordArtifacts(['.'], { basePath: resolve(abs), exclude: stepExcludes(undefined) });
  let manifestDigest: string | undefined;
  if (Object.prototype.hasOwnProperty.call(files, 'oci-layout') && Object.prototype.hasOwnProperty.call(files, 'index.json')) {
    try {
      const index = JSON.parse(await readFile(join(abs, 'index.json'), 'utf8')) as { manifests?: { digest?: unknown }[] };
      const d = index.manifests?.[0]?.digest;
      if (typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d)) manifestDigest = d;
    } catch {
      manifestDigest = undefined; // compared file by file all the same
    }
    if (!manifestDigest) throw new CustodyError('OCI_LAYOUT_INVALID', 'index.json names no sha256 image manifest', { file: join(path, 'index.json') });
  }
  return { path, kind: manifestDigest ? 'oci-layout' : 'folder', segments, files, ...(manifestDigest ? { manifestDigest } : {}) };
}

/** The step an attestation file belongs to, by its name (`<step>.<keyid8>[.<kind>].sigstore.json` / `.att.json`). */
async function stepOfName(name: string): Promise<string | undefined> {
  const { stepOfAttestationName } = await import('../verify-io/attestations.ts');
  return stepOfAttestationName(name);
}

/** The attestation-verifier flow (its YAML layouts, `<step>.<keyid8>.json` folders), reported like any verification. */
async function verifyCompat(
  o: VerifyFromDiskOptions, linkDir: string, at: (p: string) => string, layout: Extract<LayoutFile, { kind: 'attestation-verifier' }>,
  params: Record<string, string> | undefined, layoutKeys: PublicKey[], inputs: VsaInputFile[], now: Date,
): Promise<VerificationReport> {
  const core = await import('@custody/core');
  const loaded = layout.compat;
  let all: { name: string; text: string; shown: string }[];
  if (o.attestations) {
    all = o.attestations.map((f) => ({ name: f.name, text: f.text, shown: f.origin ?? f.name }));
  } else {
    const { readAttestationFolder } = await import('@custody/store');
    all = (await readAttestationFolder(at(linkDir))).map((f) => ({ ...f, shown: join(linkDir, f.name) }));
  }
  inputs.push(...all.map((f) => inputFile(f.shown, f.shown, f.text, core.stepOfAttestationFile(f.name))));
  const shownOf = new Map(all.map((f) => [f.name, f.shown]));
  const envelopes = all.filter((f) => !f.name.endsWith('.sigstore.json'));
  const bundles = all.filter((f) => f.name.endsWith('.sigstore.json'));
  let extraClaims: Record<string, import('@custody/core').VerifiedClaim[]> = {};
  const bundleWarnings: string[] = [];
  if (bundles.length) {
    const { claimsFromBundles } = await import('@custody/sign');
    const keys = Object.values(loaded.layout.keys).map((k) => core.publicKeyFromSslib(k));
    const files: { step: string; name: string; text: string }[] = [];
    for (const b of bundles) {
      const step = await stepOfName(b.name);
      if (step) files.push({ step, name: b.name, text: b.text });
    }
    const r = claimsFromBundles(files, keys);
    extraClaims = r.claimsByStep;
    for (const x of r.rejected) bundleWarnings.push(`ignored ${x.file}: ${x.code}: ${x.reason}`);
  }
  const r = core.verifyCompatLayout(loaded.layout, envelopes, {
    now, params, layoutKeys, signedFile: loaded.signedFile, extraClaims,
  });
  const checks: Check[] = [];
  const f = r.failure;
  const keyids = layoutKeys.map((k) => k.keyid);
  if (f?.check === 'layout-signature') {
    checks.push({ check: 'layout-signature', verdict: 'fail', keyids, message: f.message });
  } else {
    checks.push({
      check: 'layout-signature', verdict: 'pass', keyids,
      message: r.layoutSigned ? `signed by ${keyids.map((k) => k.slice(0, 8)).join(', ')}` : 'layout is NOT signed: its integrity and author are not checked',
    });
    checks.push(f?.check === 'layout-expiry'
      ? { check: 'layout-expiry', verdict: 'fail', expires: loaded.layout.expires, message: f.message }
      : { check: 'layout-expiry', verdict: 'pass', expires: loaded.layout.expires, message: `expires ${loaded.layout.expires}` });
  }
  for (const step of r.steps) {
    const rejected = r.rejected
      .filter((x) => core.stepOfAttestationFile(x.file) === step.step)
      .map((x) => ({ file: shownOf.get(x.file) ?? join(linkDir, x.file), step: step.step, code: x.code, reason: x.reason }));
    const failed = step.predicates.find((p) => p.verdict === 'fail');
    checks.push({
      check: 'predicate-rules', verdict: step.verdict, step: step.step, predicates: step.predicates,
      ...(rejected.length ? { rejected } : {}),
      message: step.message ?? failed?.message ?? `${step.predicates.length} expected predicate(s): artifact and predicate rules passed`,
    });
  }
  return {
    verdict: r.verdict,
    failure: f ? { code: f.code, check: f.check, ...(f.step !== undefined ? { step: f.step } : {}), message: f.message } : null,
    warnings: [...r.warnings, ...bundleWarnings],
    checks,
    layoutSigned: r.layoutSigned,
    layoutFormat: 'attestation-verifier',
  };
}

/**
 * Verifies a supply chain from files: bad input throws a CustodyError (exit 2 in the CLI); a
 * verification failure is a report with verdict 'fail'. With `vsa`, the VSA is written after
 * the verification (PASSED or FAILED).
 */
export async function verifyFromDisk(o: VerifyFromDiskOptions): Promise<VerifyFromDiskResult> {
  const at = (p: string): string => (o.cwd ? resolve(o.cwd, p) : p);
  if (!o.layout) throw new CustodyError('USAGE', 'missing --layout FILE');
  let params = o.params && Object.keys(o.params).length ? { ...o.params } : o.params;
  if (o.paramFile) {
    const { parseParameterFile } = await import('@custody/core');
    params = { ...parseParameterFile(await readInputText(at(o.paramFile), { display: o.paramFile }), o.paramFile), ...(params ?? {}) };
  }
  const timeout = o.inspectionTimeoutSeconds ?? 300;
  if (!(timeout > 0)) throw new CustodyError('USAGE', '--inspection-timeout must be a positive number of seconds');
  const layoutKeys: PublicKey[] = [];
  for (const k of o.layoutKeys ?? []) {
    const text = await readInputText(at(k), { display: k, maxBytes: 1 << 20, tooLarge: () => new CustodyError('KEY_INVALID', 'not a key: file too large', { file: k }) });
    layoutKeys.push(parsePublicKeyText(text, k));
  }
  layoutKeys.push(...(o.layoutPublicKeys ?? []));
  const policies = identityPolicies(o);
  const vsa = o.vsa ? await prepareVsa(o.vsa, at) : undefined;
  const subjects = (o.subjects ?? []).map((x) => {
    const m = /^sha256:([0-9a-fA-F]{64})$/.exec(x);
    if (!m) throw new CustodyError('USAGE', `--subject ${JSON.stringify(x)}: expected sha256: and 64 hex digits`);
    return m[1].toLowerCase();
  });
  const layout = await readLayoutFile(at(o.layout), o.layout);
  const now = o.now ?? new Date();
  const linkDir = o.linkDir ?? defaultLinkDir(o.cwd);
  const inputs: VsaInputFile[] = [];
  let lastStep: string | undefined;
  let report: VerificationReport;
  if (layout.kind === 'attestation-verifier') {
    if (policies.length) throw new CustodyError('USAGE', 'attestation-verifier layouts are signed with keys: use --layout-key, not --layout-issuer', { file: o.layout });
    if (o.artifacts?.length || subjects.length || o.artifactStep !== undefined) {
      throw new CustodyError('USAGE', '--artifact, --subject and --artifact-step need an in-toto layout (attestation-verifier layouts bind artifacts with their own rules)', { file: o.layout });
    }
    lastStep = layout.compat.layout.steps.at(-1)?.name;
    report = await verifyCompat(o, linkDir, at, layout, params, layoutKeys, inputs, now);
    if (o.runInspections === false && layout.compat.layout.inspections.length) {
      report.inspectionsSkipped = layout.compat.layout.inspections.map((i) => String((i as { name?: unknown }).name ?? ''));
    }
  } else {
    if (!layoutKeys.length && !policies.length) {
      throw new CustodyError('USAGE', layout.bundle
        ? 'missing --layout-issuer I --layout-subject S (and --trusted-root F): the layout is signed keylessly'
        : 'missing --layout-key KEY (every key given must have signed the layout)');
    }
    let layoutIdentities: LayoutKeylessVerification | undefined;
    if (policies.length) layoutIdentities = layout.bundle ? await verifyLayoutBundle(at(o.trustedRoot!), o.layout, layout.bundle, policies, now) : { policies };
    const [{ directoryLinkSource, createInspectionRunner }, { createAttestationCollector, readLinkDirAttestations }] = await Promise.all([
      import('../verify-io/index.ts'), import('../verify-io/attestations.ts'),
    ]);
    const given = o.links ? new Map(o.links.map((f) => [f.name, f])) : undefined;
    const dirLinks: LinkSource = given
      ? { read: async (relPath: string) => given.get(relPath)?.text }
      : await directoryLinkSource(at(linkDir), linkDir);
    const links: LinkSource = {
      // the VSA lists every link file the verification read
      async read(relPath: string) {
        const text = await dirLinks.read(relPath);
        if (text !== undefined) {
          const step = /^([^/]+)\.[0-9a-f]{8}\.link$/.exec(relPath)?.[1];
          inputs.push(inputFile(relPath, given?.get(relPath)?.origin ?? join(linkDir, relPath), text, step));
        }
        return text;
      },
    };
    const steps = (layout.signed.body as { steps?: { name?: unknown }[] } | null)?.steps;
    const last = Array.isArray(steps) ? steps.at(-1)?.name : undefined;
    lastStep = typeof last === 'string' ? last : undefined;
    const attestations = createAttestationCollector({
      layoutFile: at(o.layout),
      fallbackTrustedRoot: o.trustedRoot !== undefined ? at(o.trustedRoot) : undefined,
      now,
      files: async () => {
        let files: { step: string; name: string; text: string }[];
        if (o.attestations) {
          files = [];
          for (const f of o.attestations) {
            const step = await stepOfName(f.name);
            if (step) files.push({ step, name: f.origin ?? f.name, text: f.text });
          }
        } else {
          const { LocalStore } = await import('@custody/store');
          const store = o.store ? new LocalStore(at(o.store)) : LocalStore.forLayout(at(o.layout));
          // Every stored candidate, not the newest per name: binding decides which is evidence
          // for the verified run, never write time or name order.
          const entries = (await store.list()).filter((e) => e.ext === 'sigstore.json' || e.ext === 'json');
          const stored = await Promise.all(entries.map(async (e) => ({ step: e.step, name: e.path, text: (await store.read(e)).toString('utf8') })));
          files = [...await readLinkDirAttestations(at(linkDir), linkDir), ...stored];
        }
        inputs.push(...files.map((f) => inputFile(f.name, f.name, f.text, f.step)));
        return files;
      },
    });
    const inHand = [];
    for (const a of o.artifacts ?? []) inHand.push(await artifactInHand(a, at(a)));
    const runner = createInspectionRunner({ workdir: o.cwd ?? process.cwd(), timeoutMs: timeout * 1000 });
    try {
      report = await verifySupplyChain({
        layout: layout.signed, layoutKeys, layoutIdentities, now, params, links, runInspection: runner.run, attestations,
        skipInspections: o.runInspections === false, strictCommand: o.strictCommand === true, layoutFile: o.layout,
        artifacts: inHand, subjects, artifactStep: o.artifactStep,
      });
    } catch (e) {
      // Link files are named relative to the link dir in core; name them as the user would.
      if (isCustodyError(e) && e.file && /\.link$/.test(e.file) && linkDir !== '.') {
        throw new CustodyError(e.code, e.message, { file: join(linkDir, e.file), cause: e });
      }
      throw e;
    } finally {
      await runner.dispose();
    }
  }
  if (report.verdict === 'pass') {
    // The report's last word: what was proven, about which artifact, with which layout and verifier.
    const [{ createHash }, { readFile }] = await Promise.all([import('node:crypto'), import('node:fs/promises')]);
    const layoutDigest = createHash('sha256').update(await readFile(at(o.layout))).digest('hex');
    report.proven = {
      ...(report.proven ?? { step: lastStep ?? '', artifacts: [], subjects: [] }),
      layout: { file: o.layout, digest: { sha256: layoutDigest } },
      ...(o.custodyVersion ? { custodyVersion: o.custodyVersion } : {}),
    };
  }
  await o.onReport?.(report);
  if (vsa) await writeVsa(vsa, o.layout, report, now, lastStep, inputs, at);
  return { report, inputsRead: inputs, layoutFormat: layout.kind, ...(lastStep !== undefined ? { lastStep } : {}) };
}

/**
 * `pipeline run`'s final verification, in-process: the outcome `custody verify --json` would
 * have had (exit 0 pass, 1 fail, 2 bad input with its one-line message).
 */
export async function verifyPipelineRun(req: import('../pipeline/run.ts').PipelineVerifyRequest): Promise<import('../pipeline/run.ts').PipelineVerifyOutcome> {
  try {
    const { report } = await verifyFromDisk({
      layout: req.layoutFile,
      layoutKeys: req.layoutKeyFiles,
      linkDir: req.linkDir,
      params: Object.keys(req.params).length ? req.params : undefined,
      strictCommand: req.strictCommand,
      cwd: req.workdir,
    });
    return { exitCode: report.verdict === 'pass' ? 0 : 1, report: report as NonNullable<import('../pipeline/run.ts').PipelineVerifyOutcome['report']> };
  } catch (e) {
    const oneLine = (m: string) => m.replace(/\s*[\r\n]+\s*/g, ' ').trim();
    if (isCustodyError(e)) return { exitCode: e.exitCode, error: `custody: ${e.file ? `${e.file}: ` : ''}${oneLine(e.message)}` };
    return { exitCode: 2, error: `custody: ${oneLine(e instanceof Error ? e.message : String(e))}` };
  }
}
