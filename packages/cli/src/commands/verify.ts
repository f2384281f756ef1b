import type { CommandModule } from 'yargs';
import { setExitCode } from '../output.ts';

/** Error messages that quote file content (e.g. JSON.parse's) may hold newlines; the CLI prints one line. */
async function oneLineErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const { CustodyError, isCustodyError } = await import('@custody/core');
    if (isCustodyError(e) && /[\r\n]/.test(e.message)) {
      throw new CustodyError(e.code, e.message.replace(/\s*[\r\n]+\s*/g, ' '), { file: e.file, cause: e });
    }
    throw e;
  }
}

interface VerifyArgs {
  layout: string;
  'layout-key'?: string[];
  'link-dir': string;
  param?: string[];
  'param-file'?: string;
  store?: string;
  'trusted-root'?: string;
  'strict-command'?: boolean;
  json: boolean;
  'inspection-timeout': number;
}

/**
 * Reads a file named on the command line. (Not @custody/sign's readTextFile: loading the sign
 * package pulls in sigstore, which costs more than verifying a 10,000-artifact chain.)
 */
async function readText(path: string, maxBytes?: number): Promise<string> {
  const { readFile, stat } = await import('node:fs/promises');
  const { CustodyError } = await import('@custody/core');
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
  const { CustodyError } = await import('@custody/core');
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CustodyError('USAGE', `--param ${JSON.stringify(p)}: expected NAME=VALUE`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

type Core = typeof import('@custody/core');
type Report = import('@custody/core').VerificationReport;

/** The attestation-verifier flow (its YAML layouts, `<step>.<keyid8>.json` folders), reported like any verification. */
async function verifyCompat(
  core: Core, argv: VerifyArgs, loaded: import('@custody/core').LoadedCompatLayout,
  params: Record<string, string> | undefined, layoutKeys: import('@custody/core').PublicKey[],
): Promise<Report> {
  const { readAttestationFolder } = await import('@custody/store');
  const { stepOfAttestationName } = await import('@custody/engine');
  const { join } = await import('node:path');
  const all = await readAttestationFolder(argv['link-dir']);
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
    now: new Date(), params, layoutKeys, signedFile: loaded.signedFile, extraClaims,
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

/** The layout file as a signed in-toto layout, or as an attestation-verifier layout (signed or not). */
async function readLayout(core: Core, path: string) {
  const text = await readText(path);
  let signed: import('@custody/core').SignedFile<unknown>;
  try {
    signed = core.parseSignedFile(text, path);
  } catch (e) {
    // attestation-verifier layouts are YAML and usually unsigned
    let doc: unknown;
    try {
      doc = core.parseLayoutDocument(text, path);
    } catch {
      throw e;
    }
    if (core.isAttestationVerifierLayout(doc)) return { compat: core.loadCompatLayout(text, path) };
    throw e;
  }
  if (core.isAttestationVerifierLayout(signed.body)) return { compat: core.loadCompatLayout(text, path) };
  return { signed };
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify',
  describe: 'verify a supply chain against a signed in-toto layout, or an attestation-verifier layout (exit 0 pass, 1 fail, 2 bad input)',
  builder: (y) => y
    .option('layout', { type: 'string', demandOption: true, describe: 'signed root layout (metablock or DSSE), or an attestation-verifier layout (YAML)' })
    .option('layout-key', { type: 'array', string: true, describe: 'public key of the layout owner; every key given must have signed the layout (required for in-toto layouts)' })
    .option('link-dir', { type: 'string', default: '.', describe: 'folder with <step>.<keyid8>.link files (sublayout links in <step>.<keyid8>/), attestations (*.sigstore.json, *.att.json), or attestation-verifier <step>.<keyid8>.json files' })
    .option('param', { type: 'array', string: true, describe: 'NAME=VALUE substituted for {NAME} in rules, expected commands and inspection runs' })
    .option('param-file', { type: 'string', describe: 'JSON object of parameters (attestation-verifier --substitute-parameters); --param wins' })
    .option('store', { type: 'string', describe: 'attestation store folder to read as well (default: .custody/ next to the layout, when it exists)' })
    .option('trusted-root', { type: 'string', describe: 'Sigstore trusted_root.json for keyless functionaries, when the layout names none' })
    .option('strict-command', { type: 'boolean', default: false, describe: 'a step whose link ran another command than expected_command fails (COMMAND_MISMATCH); in-toto only warns' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (schemas/verify-report.schema.json)' })
    .option('inspection-timeout', { type: 'number', default: 300, describe: 'seconds an inspection may run' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const core = await import('@custody/core');
    // (yargs' demandOption does not stop the handler under this CLI's fail() hook; check here.)
    if (!argv.layout) throw new core.CustodyError('USAGE', 'missing --layout FILE');
    let params = await parseParams(argv.param);
    if (argv['param-file']) params = { ...core.parseParameterFile(await readText(argv['param-file']), argv['param-file']), ...(params ?? {}) };
    if (!(argv['inspection-timeout'] > 0)) throw new core.CustodyError('USAGE', '--inspection-timeout must be a positive number of seconds');
    const layoutKeys = [];
    for (const k of argv['layout-key'] ?? []) layoutKeys.push(core.parsePublicKeyText(await readText(String(k), 1 << 20), String(k)));
    const read = await readLayout(core, argv.layout);
    let report: Report;
    if (read.compat) {
      report = await verifyCompat(core, argv, read.compat, params, layoutKeys);
    } else {
      if (!layoutKeys.length) throw new core.CustodyError('USAGE', 'missing --layout-key KEY (every key given must have signed the layout)');
      const layout = read.signed;
      const { directoryLinkSource, createInspectionRunner, createAttestationCollector, readLinkDirAttestations } = await import('@custody/engine');
      const links = await directoryLinkSource(argv['link-dir']);
      const attestations = createAttestationCollector({
        layoutFile: argv.layout,
        fallbackTrustedRoot: argv['trusted-root'],
        now: new Date(),
        files: async () => {
          const { LocalStore } = await import('@custody/store');
          const store = argv.store ? new LocalStore(argv.store) : LocalStore.forLayout(argv.layout);
          const stored = [...await store.readResolved(undefined, 'sigstore.json'), ...await store.readResolved(undefined, 'json')];
          return [...await readLinkDirAttestations(argv['link-dir']), ...stored.map((e) => ({ step: e.step, name: e.entry.path, text: e.text }))];
        },
      });
      const runner = createInspectionRunner({ workdir: process.cwd(), timeoutMs: argv['inspection-timeout'] * 1000 });
      try {
        report = await core.verifySupplyChain({ layout, layoutKeys, now: new Date(), params, links, runInspection: runner.run, attestations, strictCommand: argv['strict-command'] === true, layoutFile: argv.layout });
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
    else process.stdout.write(core.renderVerificationTree(report, `custody verify ${argv.layout}`));
    if (report.verdict !== 'pass') setExitCode(1);
  }),
};
