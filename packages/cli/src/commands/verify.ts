import type { CommandModule } from 'yargs';
import { setExitCode, streamStyle } from '../output.ts';
import { VERSION } from '../version.ts';

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
  'link-dir'?: string;
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
  html?: string;
  sarif?: string;
  registry?: string;
  'plain-http'?: boolean;
  'ca-file'?: string;
  'registry-timeout'?: number;
  artifact?: string[];
  'artifact-step'?: string;
  subject?: string[];
}

/**
 * `--registry HOST[:PORT]/REPO --subject sha256:HEX`: the attestation files attached to the image,
 * read straight from the registry (no pull step, nothing written), split into links and the
 * other attestations the verify API takes pre-read.
 */
async function registryInputs(argv: VerifyArgs) {
  const { CustodyError } = await import('@custody/core/errors');
  if (argv.registry === undefined) return undefined;
  const subject = argv.subject?.length === 1 ? String(argv.subject[0]) : undefined;
  if (subject === undefined || !/^sha256:[0-9a-f]{64}$/.test(subject)) {
    throw new CustodyError('USAGE', '--registry needs --subject sha256:HEX (the image digest whose attestations are verified)');
  }
  const { parseRegistryRef, openRegistryStore } = await import('./push.ts');
  const ref = await parseRegistryRef(argv.registry, argv);
  const store = await openRegistryStore(ref);
  try {
    if (!(await store.client.getManifest(ref.repository, subject))) throw new CustodyError('REGISTRY_ERROR', `no image ${subject} in ${ref.host}/${ref.repository}`);
    const { fetchAttestationFiles } = await import('@custody/store');
    const { files } = await fetchAttestationFiles(store, subject);
    const asText = (f: (typeof files)[number]) => ({ name: f.name, text: f.bytes.toString('utf8'), origin: f.origin });
    return {
      links: files.filter((f) => f.name.endsWith('.link')).map(asText),
      attestations: files.filter((f) => !f.name.endsWith('.link')).map(asText),
    };
  } finally {
    store.close();
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

/**
 * The keyless layout owner `--layout-issuer I (--layout-subject S | --layout-subject-pattern RE)`,
 * or none (the engine checks there is one, and a trusted root).
 */
async function layoutIdentities(argv: VerifyArgs): Promise<import('@custody/engine/verify').LayoutIdentity[]> {
  const issuers = (argv['layout-issuer'] ?? []).map(String);
  const subjects = (argv['layout-subject'] ?? []).map(String);
  const patterns = (argv['layout-subject-pattern'] ?? []).map(String);
  if (issuers.length + subjects.length + patterns.length === 0) return [];
  const { CustodyError } = await import('@custody/core/errors');
  const usage = (m: string): never => { throw new CustodyError('USAGE', m); };
  if (issuers.length === 0) usage('--layout-subject/--layout-subject-pattern need --layout-issuer (the OIDC issuer of the layout owner)');
  if (subjects.length + patterns.length === 0) usage('--layout-issuer needs --layout-subject S or --layout-subject-pattern RE');
  const out: import('@custody/engine/verify').LayoutIdentity[] = [];
  for (const issuer of issuers) {
    for (const subject of subjects) out.push({ issuer, subject });
    for (const subjectPattern of patterns) out.push({ issuer, subjectPattern });
  }
  return out;
}

/** `--vsa` and its options as the engine's VSA request (their misuse is bad input before any work). */
async function vsaRequest(argv: VerifyArgs): Promise<import('@custody/engine/verify').VerifyVsaRequest | undefined> {
  const { CustodyError } = await import('@custody/core/errors');
  if (argv.vsa === undefined) {
    for (const o of ['vsa-key', 'vsa-verifier-id', 'vsa-subject'] as const) {
      if (argv[o] !== undefined) throw new CustodyError('USAGE', `--${o} needs --vsa OUT.json`);
    }
    return undefined;
  }
  return { out: argv.vsa, keyFile: argv['vsa-key'], verifierId: argv['vsa-verifier-id'], subjects: argv['vsa-subject']?.map(String) };
}

/** The report for a person: the tree (compact, or --verbose), or --quiet's verdict line alone. */
async function printTree(report: import('@custody/core').VerificationReport, title: string, argv: { verbose?: boolean; quiet?: boolean }): Promise<void> {
  const { renderVerdictLine, renderVerificationTree } = await import('@custody/core/verify');
  const style = streamStyle(process.stdout);
  if (argv.quiet) process.stdout.write(`${renderVerdictLine(report, style)}\n`);
  else process.stdout.write(renderVerificationTree(report, title, { ...style, verbose: argv.verbose === true }));
}

/**
 * `--html FILE` and `--sarif FILE`: the report for a release manager (one self-contained page
 * with the layout drawn) and for code-scanning dashboards. Written temp file + rename.
 */
async function writeReports(report: import('@custody/core').VerificationReport, argv: VerifyArgs): Promise<void> {
  if (!argv.html && !argv.sarif) return;
  const [{ renderHtmlReport, renderSarif, layoutSvg }, { writeFileAtomic }, { readLayoutFile }, { VERSION }, { CustodyError, isCustodyError }] = await Promise.all([
    import('@custody/engine/report'), import('@custody/store/atomic'), import('@custody/engine/verify'), import('../version.ts'), import('@custody/core/errors'),
  ]);
  const write = async (file: string, text: string, what: string): Promise<void> => {
    try {
      await writeFileAtomic(file, text);
    } catch (e) {
      if (isCustodyError(e)) throw e;
      throw new CustodyError('FILE_UNWRITABLE', `cannot write the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file, cause: e });
    }
  };
  if (argv.sarif) await write(argv.sarif, `${JSON.stringify(renderSarif(report, { layoutFile: argv.layout, toolVersion: VERSION }), null, 2)}\n`, 'SARIF report');
  if (argv.html) {
    // the layout as the verification read it (its signature is the report's to judge)
    const layout = await readLayoutFile(argv.layout);
    const body = layout.kind === 'in-toto' ? layout.signed.body : layout.compat.layout;
    const graphSvg = await layoutSvg(body, report);
    await write(argv.html, renderHtmlReport(report, { layoutFile: argv.layout, graphSvg, now: new Date(), toolVersion: VERSION }), 'HTML report');
  }
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
    .option('link-dir', { type: 'string', describe: '(default: .custody/ when it exists — what pipeline run writes —, else .) folder with <step>.<keyid8>.link files (sublayout links in <step>.<keyid8>/), attestations (*.sigstore.json, *.att.json), or attestation-verifier <step>.<keyid8>.json files' })
    .option('param', { type: 'array', string: true, nargs: 1, describe: 'NAME=VALUE substituted for {NAME} in rules, expected commands and inspection runs' })
    .option('param-file', { type: 'string', describe: 'JSON object of parameters (attestation-verifier --substitute-parameters); --param wins' })
    .option('store', { type: 'string', describe: 'attestation store folder to read as well (default: .custody/ next to the layout, when it exists)' })
    .option('trusted-root', { type: 'string', describe: 'Sigstore trusted_root.json: verifies a keyless layout\'s signature (required then), and keyless functionaries when the layout names none' })
    .option('strict-command', { type: 'boolean', default: false, describe: 'a step whose link ran another command than expected_command fails (COMMAND_MISMATCH); in-toto only warns' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (schemas/verify-report.schema.json)' })
    .option('verbose', { type: 'boolean', describe: 'the tree in full: every step, rule, signer and consumed artifact (default: a passing step is one line)' })
    .option('quiet', { type: 'boolean', describe: 'print only the verdict line (PASSED, or FAILED CODE at check (step): reason)' })
    .option('html', { type: 'string', describe: 'also write the report as one self-contained HTML page (verdict, failures first, what was proven about which artifact, the layout as a graph, every step\'s rules and values)' })
    .option('sarif', { type: 'string', describe: 'also write the report as SARIF 2.1.0 (one result per failed or warned check) for code-scanning dashboards' })
    .option('artifact', { type: 'array', string: true, nargs: 1, describe: 'a file, folder or OCI image-layout folder that must be exactly what --artifact-step produced: every file a recorded product with the same digest, none missing, none extra (repeatable; ARTIFACT_MISMATCH otherwise)' })
    .option('artifact-step', { type: 'string', describe: 'the step --artifact and --subject are products of (default: the layout\'s last step)' })
    .option('subject', { type: 'array', string: true, nargs: 1, describe: 'sha256:HEX that must be an artifact of --artifact-step, e.g. an image digest in a registry (repeatable; SUBJECT_MISMATCH otherwise); with --registry also: the image whose attestations are read' })
    .option('inspection-timeout', { type: 'number', default: 300, describe: 'seconds an inspection may run' })
    .option('vsa', { type: 'string', describe: 'also write a SLSA Verification Summary Attestation v1 (PASSED or FAILED) to this file: a Sigstore bundle signed with --vsa-key' })
    .option('vsa-key', { type: 'string', describe: 'private key that signs the VSA (custody verify-bundle OUT.json --key KEY.pub checks it)' })
    .option('vsa-verifier-id', { type: 'string', describe: `URI of the verifier named in the VSA (default ${'https://custody.dev/verifier'})` })
    .option('vsa-subject', { type: 'array', string: true, nargs: 1, describe: 'VSA subject: sha256:HEX or a FILE to hash (repeatable); default: the products of the layout\'s last step, from its link' })
    .option('registry', { type: 'string', describe: 'read the links and attestations attached to --subject straight from this OCI registry repository, HOST[:PORT]/REPO (instead of --link-dir and the store); credentials as docker finds them' })
    .option('plain-http', { type: 'boolean', default: false, describe: 'with --registry: plain HTTP instead of HTTPS (loopback registries only)' })
    .option('ca-file', { type: 'string', describe: 'with --registry: PEM file of CA certificates to trust, on top of the system CAs and NODE_EXTRA_CA_CERTS' })
    .option('registry-timeout', { type: 'number', describe: 'with --registry: seconds one registry request may take (default 30)' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const { CustodyError } = await import('@custody/core/errors');
    // (yargs' demandOption does not stop the handler under this CLI's fail() hook; check here.)
    if (!argv.layout) throw new CustodyError('USAGE', 'missing --layout FILE');
    const params = await parseParams(argv.param);
    const identities = await layoutIdentities(argv);
    const vsa = await vsaRequest(argv);
    const fromRegistry = await registryInputs(argv);
    const { verifyFromDisk } = await import('@custody/engine/verify');
    await verifyFromDisk({
      layout: argv.layout,
      layoutKeys: (argv['layout-key'] ?? []).map(String),
      layoutIdentities: identities,
      linkDir: argv['link-dir'],
      ...(fromRegistry ?? {}),
      params,
      paramFile: argv['param-file'],
      store: argv.store,
      trustedRoot: argv['trusted-root'],
      strictCommand: argv['strict-command'] === true,
      inspectionTimeoutSeconds: argv['inspection-timeout'],
      vsa,
      artifacts: argv.artifact?.map(String),
      artifactStep: argv['artifact-step'],
      // with --registry too: --subject names the image whose attestations are read AND must be what
      // --artifact-step produced, so attestations replayed onto another image never verify it
      subjects: argv.subject?.map(String),
      custodyVersion: VERSION,
      onReport: async (report) => {
        if (argv.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else await printTree(report, `custody verify ${argv.layout}`, argv);
        await writeReports(report, argv);
        if (report.verdict !== 'pass') setExitCode(1);
      },
    });
  }),
};
