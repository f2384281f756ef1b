import type { CommandModule } from 'yargs';
import { setExitCode, streamStyle } from '../output.ts';

/** Error messages that quote file content (e.g. JSON.parse's) may hold newlines; the CLI prints one line. */
async function oneLineErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const { CustodyError, isCustodyError } = await import('@custody/core/errors');
    if (isCustodyError(e) && /[\r\n]/.test(e.message)) {
      throw new CustodyError(e.code, e.message.replace(/\s*[\r\n]+\s*/g, ' '), { file: e.file, cause: e });
    }
    throw e;
  }
}

interface VerifyArgs {
  layout: string;
  'layout-key'?: string[];
  'layout-issuer'?: string[];
  'layout-subject'?: string[];
  'layout-subject-pattern'?: string[];
  'link-dir': string;
  param?: string[];
  'param-file'?: string;
  store?: string;
  'trusted-root'?: string;
  'strict-command'?: boolean;
  json: boolean;
  'inspection-timeout': number;
  vsa?: string;
  'vsa-key'?: string;
  'vsa-verifier-id'?: string;
  'vsa-subject'?: string[];
  verbose?: boolean;
  quiet?: boolean;
}

/**
 * Reads a file named on the command line. (Not @custody/sign's readTextFile: loading the sign
 * package pulls in sigstore, which costs more than verifying a 10,000-artifact chain.)
 */
async function readText(path: string, maxBytes?: number): Promise<string> {
  const { readFile, stat } = await import('node:fs/promises');
  const { CustodyError } = await import('@custody/core/errors');
  try {
    if (maxBytes !== undefined && (await stat(path)).size > maxBytes) throw new CustodyError('KEY_INVALID', 'not a key: file too large', { file: path });
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof CustodyError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CustodyError('FILE_NOT_FOUND', 'no such file', { file: path, cause: e });
    throw new CustodyError('FILE_UNREADABLE', code === 'EISDIR' ? 'is a directory, not a file' : `cannot read: ${code ?? (e as Error).message}`, { file: path, cause: e });
  }
}

/** `k=v` pairs → params; a pair without `=` is bad input. */
async function parseParams(pairs: string[] | undefined): Promise<Record<string, string> | undefined> {
  if (!pairs || pairs.length === 0) return undefined;
  const { CustodyError } = await import('@custody/core/errors');
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CustodyError('USAGE', `--param ${JSON.stringify(p)}: expected NAME=VALUE`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

type Core = typeof import('@custody/core');

/**
 * What verifying an in-toto layout needs, from subpath modules: the core index also loads CEL,
 * YAML and the layout compiler, which cost more start-up than verifying 30,000 artifacts.
 * The attestation-verifier paths load the whole of core.
 */
async function leanCore() {
  const [errors, envelope, keys, identity, verify] = await Promise.all([
    import('@custody/core/errors'), import('@custody/core/envelope'), import('@custody/core/keys'),
    import('@custody/core/identity'), import('@custody/core/verify'),
  ]);
  return { ...errors, ...envelope, ...keys, ...identity, ...verify };
}
type LeanCore = Awaited<ReturnType<typeof leanCore>>;
type Report = import('@custody/core').VerificationReport;

/** The attestation-verifier flow (its YAML layouts, `<step>.<keyid8>.json` folders), reported like any verification. */
async function verifyCompat(
  core: Core, argv: VerifyArgs, loaded: import('@custody/core').LoadedCompatLayout,
  params: Record<string, string> | undefined, layoutKeys: import('@custody/core').PublicKey[],
  read?: VsaInputFile[], now: Date = new Date(),
): Promise<Report> {
  const { readAttestationFolder } = await import('@custody/store');
  const { stepOfAttestationName } = await import('@custody/engine');
  const { join } = await import('node:path');
  const all = await readAttestationFolder(argv['link-dir']);
  read?.push(...all.map((f) => inputFile(join(argv['link-dir'], f.name), join(argv['link-dir'], f.name), f.text, core.stepOfAttestationFile(f.name))));
  const envelopes = all.filter((f) => !f.name.endsWith('.sigstore.json'));
  const bundles = all.filter((f) => f.name.endsWith('.sigstore.json'));
  let extraClaims: Record<string, import('@custody/core').VerifiedClaim[]> = {};
  const bundleWarnings: string[] = [];
  if (bundles.length) {
    const { claimsFromBundles } = await import('@custody/sign');
    const keys = Object.values(loaded.layout.keys).map((k) => core.publicKeyFromSslib(k));
    const files = bundles.flatMap((b) => {
      const step = stepOfAttestationName(b.name);
      return step ? [{ step, name: b.name, text: b.text }] : [];
    });
    const r = claimsFromBundles(files, keys);
    extraClaims = r.claimsByStep;
    for (const x of r.rejected) bundleWarnings.push(`ignored ${x.file}: ${x.code}: ${x.reason}`);
  }
  const r = core.verifyCompatLayout(loaded.layout, envelopes, {
    now, params, layoutKeys, signedFile: loaded.signedFile, extraClaims,
  });
  const checks: import('@custody/core').Check[] = [];
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
  const rejectedCode = (reason: string): string => (/signature/.test(reason) ? 'SIGNATURE_INVALID'
    : /payloadType/.test(reason) ? 'PAYLOAD_TYPE' : /statement|predicate|subject/i.test(reason) ? 'STATEMENT_INVALID' : 'ENVELOPE_MALFORMED');
  for (const step of r.steps) {
    const rejected = r.rejected
      .filter((x) => core.stepOfAttestationFile(x.file) === step.step)
      .map((x) => ({ file: join(argv['link-dir'], x.file), step: step.step, code: rejectedCode(x.reason), reason: x.reason }));
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
 * The keyless layout owner `--layout-issuer I (--layout-subject S | --layout-subject-pattern RE)`,
 * or none. One identity: a keyless layout is one Sigstore bundle, which holds one signature.
 */
async function layoutIdentityPolicies(core: LeanCore, argv: VerifyArgs): Promise<import('@custody/core').IdentityPolicy[]> {
  const issuers = argv['layout-issuer'] ?? [];
  const subjects = argv['layout-subject'] ?? [];
  const patterns = argv['layout-subject-pattern'] ?? [];
  if (issuers.length + subjects.length + patterns.length === 0) return [];
  const usage = (m: string): never => { throw new core.CustodyError('USAGE', m); };
  if (issuers.length === 0) usage('--layout-subject/--layout-subject-pattern need --layout-issuer (the OIDC issuer of the layout owner)');
  if (subjects.length + patterns.length === 0) usage('--layout-issuer needs --layout-subject S or --layout-subject-pattern RE');
  if (issuers.length > 1 || subjects.length + patterns.length > 1) {
    usage('give one keyless layout owner (--layout-issuer once, with one --layout-subject or --layout-subject-pattern): a keyless layout is a Sigstore bundle with exactly one signature');
  }
  if (!argv['trusted-root']) usage('a keyless layout owner needs --trusted-root FILE (the layout\'s own trustedRoot cannot vouch for the layout\'s signature)');
  const policy = subjects.length ? { issuer: String(issuers[0]), subject: String(subjects[0]) } : { issuer: String(issuers[0]), subjectPattern: String(patterns[0]) };
  return [core.validateIdentityPolicy(policy, '--layout-issuer/--layout-subject')];
}

const LAYOUT_SIGNATURE_FAILURES = new Set(['SIGNATURE_INVALID', 'CERTIFICATE_INVALID', 'TLOG_INVALID', 'IDENTITY_MISMATCH', 'KEYID_MISMATCH', 'VERIFICATION_FAILED']);

/**
 * The edge of keyless layout verification: the bundle's certificate chain to `--trusted-root`,
 * SCT, tlog entry, signing time and signature over the payload, and the signer's identity. A
 * verification failure becomes data for core (LAYOUT_SIGNATURE there); bad input throws.
 */
async function verifyLayoutBundle(
  core: LeanCore, argv: VerifyArgs, bundle: unknown, policies: import('@custody/core').IdentityPolicy[],
): Promise<import('@custody/core').LayoutKeylessVerification> {
  const sign = await import('@custody/sign');
  const trustedRoot = await sign.loadTrustedRoot(argv['trusted-root']!);
  try {
    const v = sign.verifyKeylessBundle(bundle, { trustedRoot, identity: policies, now: new Date(), file: argv.layout, rawPayload: true });
    return { policies, signer: v.identity };
  } catch (e) {
    if (core.isCustodyError(e) && LAYOUT_SIGNATURE_FAILURES.has(e.code)) return { policies, failure: { code: e.code, reason: e.message } };
    throw e;
  }
}

/** The layout file as a signed in-toto layout (keyless: a Sigstore bundle), or as an attestation-verifier layout (signed or not). */
async function readLayout(core: LeanCore, path: string) {
  const text = await readText(path);
  let signed: import('@custody/core').SignedFile<unknown>;
  if (/^\s*\{/.test(text)) {
    let json: unknown;
    try {
      json = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch {
      json = undefined; // parseSignedFile names the JSON error
    }
    if (core.isSigstoreBundleDocument(json)) return { signed: core.signedFileFromBundle(json, path), bundle: json };
  }
  try {
    signed = core.parseSignedFile(text, path);
  } catch (e) {
    const full = await import('@custody/core');
    // attestation-verifier layouts are YAML and usually unsigned
    let doc: unknown;
    try {
      doc = full.parseLayoutDocument(text, path);
    } catch {
      throw e;
    }
    if (full.isAttestationVerifierLayout(doc)) return { compat: full.loadCompatLayout(text, path) };
    // An authoring file given where a signed layout belongs: say so instead of a JSON error.
    if (doc && typeof doc === 'object' && !Array.isArray(doc) && ('steps' in doc || 'keys' in doc)) {
      throw new core.CustodyError('USAGE', 'this is an unsigned layout; sign it first: custody layout sign --key OWNER ' + path + ' -o root.layout', { file: path });
    }
    throw e;
  }
  // An in-toto layout has `_type`, so it is no attestation-verifier layout: no need to load that code.
  const body = signed.body as { _type?: unknown } | null;
  if (body !== null && typeof body === 'object' && body._type === undefined) {
    const full = await import('@custody/core');
    if (full.isAttestationVerifierLayout(signed.body)) return { compat: full.loadCompatLayout(text, path) };
  }
  return { signed };
}

type VsaInputFile = import('@custody/core').VsaInputFile;

function inputFile(name: string, path: string, text: string, step: string | undefined): VsaInputFile {
  // The verifier read the file as UTF-8 text; its bytes are that text's encoding.
  return { name, uri: pathToUri(path), bytes: Buffer.from(text, 'utf8'), ...(step ? { step } : {}) };
}

function pathToUri(path: string): string {
  return encodeURI(path.replace(/\\/g, '/'));
}

/** What `--vsa` needs before verifying: the key loads first, so a bad key fails before any work. */
async function vsaRequest(core: LeanCore, argv: VerifyArgs) {
  const given = argv.vsa !== undefined;
  if (!given) {
    for (const o of ['vsa-key', 'vsa-verifier-id', 'vsa-subject'] as const) {
      if (argv[o] !== undefined) throw new core.CustodyError('USAGE', `--${o} needs --vsa OUT.json`);
    }
    return undefined;
  }
  if (!argv.vsa) throw new core.CustodyError('USAGE', '--vsa needs a file name');
  if (!argv['vsa-key']) throw new core.CustodyError('USAGE', '--vsa needs --vsa-key KEY (the private key that signs the VSA)');
  const verifierId = argv['vsa-verifier-id'];
  if (verifierId !== undefined && !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(verifierId)) {
    throw new core.CustodyError('USAGE', `--vsa-verifier-id ${JSON.stringify(verifierId)}: expected a URI`);
  }
  const { loadSigner } = await import('@custody/sign');
  const signer = await loadSigner(argv['vsa-key']);
  let subject: import('@custody/core').ResourceDescriptor[] | undefined;
  if (argv['vsa-subject']?.length) {
    const { createHash } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    subject = [];
    for (const arg of argv['vsa-subject'].map(String)) {
      const d = core.digestSubject(arg);
      if (d) { subject.push(d); continue; }
      if (/^sha256:/i.test(arg)) throw new core.CustodyError('USAGE', `--vsa-subject ${JSON.stringify(arg)}: expected sha256: and 64 hex digits, or a file`);
      let bytes: Buffer;
      try {
        bytes = await readFile(arg);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new core.CustodyError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', code === 'ENOENT' ? 'no such file (--vsa-subject)' : `cannot read: ${code ?? (e as Error).message}`, { file: arg, cause: e });
      }
      subject.push({ name: arg.replace(/\\/g, '/'), digest: { sha256: createHash('sha256').update(bytes).digest('hex') } });
    }
  }
  return { out: argv.vsa, signer, verifierId, subject, read: [] as VsaInputFile[] };
}
type VsaRequest = NonNullable<Awaited<ReturnType<typeof vsaRequest>>>;

/** Signs the VSA of this verification into a Sigstore bundle with the VSA key and writes it (temp + rename). */
async function writeVsa(core: LeanCore, argv: VerifyArgs, req: VsaRequest, report: Report, now: Date, lastStep: string | undefined) {
  const { readFile } = await import('node:fs/promises');
  const [{ keyBundle }, { writeFileAtomic }] = await Promise.all([import('@custody/engine/attestation'), import('@custody/sign')]);
  const subject = req.subject ?? (lastStep !== undefined ? core.lastStepSubject(lastStep, report, req.read) : undefined);
  if (!subject?.length) {
    throw new core.CustodyError('USAGE', lastStep === undefined
      ? 'no VSA written: the layout has no steps; name the subject with --vsa-subject sha256:HEX|FILE'
      : `no VSA written: no link of the last step '${lastStep}' names products; name the subject with --vsa-subject sha256:HEX|FILE`, { file: argv.vsa });
  }
  const statement = core.buildVsaStatement({
    report, now, verifierId: req.verifierId, subject,
    policy: { uri: pathToUri(argv.layout), bytes: await readFile(argv.layout) },
    inputAttestations: req.read,
  });
  const data = await keyBundle(statement as unknown as import('@custody/engine').InTotoStatement, req.signer);
  try {
    await writeFileAtomic(req.out, data);
  } catch (e) {
    if (core.isCustodyError(e)) throw e;
    throw new core.CustodyError('FILE_UNWRITABLE', `cannot write the VSA: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: req.out, cause: e });
  }
}

/** The report for a person: the tree (compact, or --verbose), or --quiet's verdict line alone. */
function printTree(core: LeanCore, report: Report, title: string, argv: { verbose?: boolean; quiet?: boolean }): void {
  const style = streamStyle(process.stdout);
  if (argv.quiet) process.stdout.write(`${core.renderVerdictLine(report, style)}\n`);
  else process.stdout.write(core.renderVerificationTree(report, title, { ...style, verbose: argv.verbose === true }));
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify',
  describe: 'verify a supply chain against a signed in-toto layout, or an attestation-verifier layout (exit 0 pass, 1 fail, 2 bad input)',
  builder: (y) => y
    .option('layout', { type: 'string', demandOption: true, describe: 'signed root layout (metablock or DSSE), or an attestation-verifier layout (YAML)' })
    .option('layout-key', { type: 'array', string: true, nargs: 1, describe: 'public key of the layout owner; every key given must have signed the layout (in-toto layouts need a key or a keyless owner)' })
    .option('layout-issuer', { type: 'array', string: true, nargs: 1, describe: 'keyless layout owner: OIDC issuer of the certificate that signed the layout (a Sigstore bundle); with --layout-subject or --layout-subject-pattern and --trusted-root' })
    .option('layout-subject', { type: 'array', string: true, nargs: 1, describe: 'keyless layout owner: certificate subject (SAN: email or URI), compared exactly' })
    .option('layout-subject-pattern', { type: 'array', string: true, nargs: 1, describe: 'keyless layout owner: certificate subject as a regular expression (anchored at both ends)' })
    .option('link-dir', { type: 'string', default: '.', describe: 'folder with <step>.<keyid8>.link files (sublayout links in <step>.<keyid8>/), attestations (*.sigstore.json, *.att.json), or attestation-verifier <step>.<keyid8>.json files' })
    .option('param', { type: 'array', string: true, nargs: 1, describe: 'NAME=VALUE substituted for {NAME} in rules, expected commands and inspection runs' })
    .option('param-file', { type: 'string', describe: 'JSON object of parameters (attestation-verifier --substitute-parameters); --param wins' })
    .option('store', { type: 'string', describe: 'attestation store folder to read as well (default: .custody/ next to the layout, when it exists)' })
    .option('trusted-root', { type: 'string', describe: 'Sigstore trusted_root.json: verifies a keyless layout\'s signature (required then), and keyless functionaries when the layout names none' })
    .option('strict-command', { type: 'boolean', default: false, describe: 'a step whose link ran another command than expected_command fails (COMMAND_MISMATCH); in-toto only warns' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (schemas/verify-report.schema.json)' })
    .option('verbose', { type: 'boolean', describe: 'the tree in full: every step, rule, signer and consumed artifact (default: a passing step is one line)' })
    .option('quiet', { type: 'boolean', describe: 'print only the verdict line (PASSED, or FAILED CODE at check (step): reason)' })
    .option('inspection-timeout', { type: 'number', default: 300, describe: 'seconds an inspection may run' })
    .option('vsa', { type: 'string', describe: 'also write a SLSA Verification Summary Attestation v1 (PASSED or FAILED) to this file: a Sigstore bundle signed with --vsa-key' })
    .option('vsa-key', { type: 'string', describe: 'private key that signs the VSA (custody verify-bundle OUT.json --key KEY.pub checks it)' })
    .option('vsa-verifier-id', { type: 'string', describe: `URI of the verifier named in the VSA (default ${'https://custody.dev/verifier'})` })
    .option('vsa-subject', { type: 'array', string: true, nargs: 1, describe: 'VSA subject: sha256:HEX or a FILE to hash (repeatable); default: the products of the layout\'s last step, from its link' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const core = await leanCore();
    // (yargs' demandOption does not stop the handler under this CLI's fail() hook; check here.)
    if (!argv.layout) throw new core.CustodyError('USAGE', 'missing --layout FILE');
    let params = await parseParams(argv.param);
    if (argv['param-file']) params = { ...(await import('@custody/core')).parseParameterFile(await readText(argv['param-file']), argv['param-file']), ...(params ?? {}) };
    if (!(argv['inspection-timeout'] > 0)) throw new core.CustodyError('USAGE', '--inspection-timeout must be a positive number of seconds');
    const layoutKeys = [];
    for (const k of argv['layout-key'] ?? []) layoutKeys.push(core.parsePublicKeyText(await readText(String(k), 1 << 20), String(k)));
    const policies = await layoutIdentityPolicies(core, argv);
    const vsa = await vsaRequest(core, argv);
    const read = await readLayout(core, argv.layout);
    const now = new Date();
    let lastStep: string | undefined;
    let report: Report;
    if (read.compat) {
      if (policies.length) throw new core.CustodyError('USAGE', 'attestation-verifier layouts are signed with keys: use --layout-key, not --layout-issuer', { file: argv.layout });
      lastStep = read.compat.layout.steps.at(-1)?.name;
      report = await verifyCompat(await import('@custody/core'), argv, read.compat, params, layoutKeys, vsa?.read, now);
    } else {
      if (!layoutKeys.length && !policies.length) {
        throw new core.CustodyError('USAGE', read.bundle
          ? 'missing --layout-issuer I --layout-subject S (and --trusted-root F): the layout is signed keylessly'
          : 'missing --layout-key KEY (every key given must have signed the layout)');
      }
      const layout = read.signed;
      let layoutIdentities: import('@custody/core').LayoutKeylessVerification | undefined;
      if (policies.length) layoutIdentities = read.bundle ? await verifyLayoutBundle(core, argv, read.bundle, policies) : { policies };
      const [{ directoryLinkSource, createInspectionRunner }, { createAttestationCollector, readLinkDirAttestations }] = await Promise.all([
        import('@custody/engine/verify-io'), import('@custody/engine/verify-io/attestations'),
      ]);
      const dirLinks = await directoryLinkSource(argv['link-dir']);
      const links: import('@custody/core').LinkSource = !vsa ? dirLinks : {
        // the VSA lists every link file the verification read
        async read(relPath: string) {
          const text = await dirLinks.read(relPath);
          if (text !== undefined) {
            const { join } = await import('node:path');
            const step = /^([^/]+)\.[0-9a-f]{8}\.link$/.exec(relPath)?.[1];
            vsa.read.push(inputFile(relPath, join(argv['link-dir'], relPath), text, step));
          }
          return text;
        },
      };
      const steps = (layout.body as { steps?: { name?: unknown }[] } | null)?.steps;
      const last = Array.isArray(steps) ? steps.at(-1)?.name : undefined;
      lastStep = typeof last === 'string' ? last : undefined;
      const attestations = createAttestationCollector({
        layoutFile: argv.layout,
        fallbackTrustedRoot: argv['trusted-root'],
        now,
        files: async () => {
          const { LocalStore } = await import('@custody/store');
          const store = argv.store ? new LocalStore(argv.store) : LocalStore.forLayout(argv.layout);
          const stored = [...await store.readResolved(undefined, 'sigstore.json'), ...await store.readResolved(undefined, 'json')];
          const files = [...await readLinkDirAttestations(argv['link-dir']), ...stored.map((e) => ({ step: e.step, name: e.entry.path, text: e.text }))];
          vsa?.read.push(...files.map((f) => inputFile(f.name, f.name, f.text, f.step)));
          return files;
        },
      });
      const runner = createInspectionRunner({ workdir: process.cwd(), timeoutMs: argv['inspection-timeout'] * 1000 });
      try {
        report = await core.verifySupplyChain({ layout, layoutKeys, layoutIdentities, now, params, links, runInspection: runner.run, attestations, strictCommand: argv['strict-command'] === true, layoutFile: argv.layout });
      } catch (e) {
        // Link files are named relative to the link dir in core; name them as the user would.
        if (core.isCustodyError(e) && e.file && /\.link$/.test(e.file) && argv['link-dir'] !== '.') {
          const { join } = await import('node:path');
          throw new core.CustodyError(e.code, e.message, { file: join(argv['link-dir'], e.file), cause: e });
        }
        throw e;
      } finally {
        await runner.dispose();
      }
    }
    if (argv.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printTree(core, report, `custody verify ${argv.layout}`, argv);
    if (report.verdict !== 'pass') setExitCode(1);
    if (vsa) await writeVsa(core, argv, vsa, report, now, lastStep);
  }),
};
