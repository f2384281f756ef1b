import type { CommandModule } from 'yargs';
import { KEYLESS_CLI_OPTIONS } from '@custody/sign';
import type { KeylessArgv } from '@custody/sign';
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

interface SignArgs extends KeylessArgv {
  file: string;
  key?: string[];
  'passphrase-file'?: string;
  output: string;
  format?: 'legacy' | 'dsse' | 'sigstore';
  'drop-extensions': boolean;
  'rekor-entry-type'?: 'dsse' | 'intoto';
  force?: boolean;
}
interface LintArgs { file: string; json: boolean }
interface GraphArgs { file: string; format: 'mermaid' | 'dot' | 'svg' | 'html' }

/**
 * The document in FILE, and — when it is a signed layout — the signed file (`keyless` for a
 * layout in a Sigstore bundle; its signature is not checked here).
 */
async function readLayoutDocument(file: string) {
  const { readLayoutDocument: read } = await import('@custody/engine/verify');
  const { doc, signed, keyless } = await read(file);
  return { doc, signed, keyless };
}

const KEYLESS_ONLY_FLAGS = ['identity-token-file', 'fulcio-url', 'rekor-url', 'tsa-url', 'tlog', 'signing-timeout', 'rekor-entry-type'] as const;

/** `--keyless` against `--key` and the formats: which mode this `layout sign` is (USAGE on a bad mix). */
async function signMode(argv: SignArgs): Promise<'key' | 'keyless'> {
  const { CustodyError } = await import('@custody/core');
  if (!argv.output) throw new CustodyError('USAGE', 'missing -o FILE (the signed layout to write)');
  if (argv.keyless) {
    if (argv.key?.length) throw new CustodyError('USAGE', 'give either --key or --keyless, not both');
    if (argv['passphrase-file'] !== undefined) throw new CustodyError('USAGE', '--passphrase-file belongs to --key, not --keyless');
    if (argv.format !== undefined && argv.format !== 'sigstore') {
      throw new CustodyError('USAGE', `--keyless writes a Sigstore bundle (--format sigstore), not --format ${argv.format}`);
    }
    if (argv.tlog === false) throw new CustodyError('USAGE', '--no-tlog: custody verify requires the Rekor entry of a keyless layout');
    return 'keyless';
  }
  const keylessFlag = KEYLESS_ONLY_FLAGS.find((f) => argv[f] !== undefined);
  if (keylessFlag) throw new CustodyError('USAGE', `--${keylessFlag} needs --keyless`);
  if (argv.format === 'sigstore') throw new CustodyError('USAGE', '--format sigstore is the keyless layout format: add --keyless');
  if (!argv.key?.length) throw new CustodyError('USAGE', 'missing --key KEY (the layout owner\'s private key), or --keyless');
  return 'key';
}

/**
 * The DSSE payload of a new layout: the authoring document compiled (keys loaded, trusted root
 * pinned, expiry resolved) and serialized exactly as `--format dsse` signs it.
 */
async function dssePayloadOf(doc: unknown, file: string): Promise<Buffer> {
  const core = await import('@custody/core');
  const sign = await import('@custody/sign');
  const keys = await loadDocumentKeys(doc, file, false) as Map<string, import('@custody/core').PublicKey>;
  await pinTrustedRoot(doc, file);
  await inlineTraceProfiles(doc, file);
  const compiled = core.compileLayout(doc, keys, { now: new Date(), fileName: file });
  return sign.inTotoDssePayload(compiled.body);
}

/**
 * `layout sign --keyless`: the layout's DSSE payload in a Sigstore bundle v0.3, signed with a
 * Fulcio certificate for the OIDC identity and logged in Rekor (plus a TSA timestamp if asked).
 * A bundle holds one signature, so a keyless layout has exactly one owner.
 */
async function signKeyless(argv: SignArgs): Promise<void> {
  const core = await import('@custody/core');
  const sign = await import('@custody/sign');
  const { doc, signed } = await readLayoutDocument(argv.file);
  if (signed) {
    throw new core.CustodyError('USAGE', 'already signed: a keyless signature (a Sigstore bundle holds exactly one) is made from the authoring file (layout.yaml)', { file: argv.file });
  }
  const asWritten = structuredClone(doc);
  // compilation errors first (its messages are the precise ones), then everything lint calls an error
  const payload = await dssePayloadOf(doc, argv.file);
  await refuseLintErrors(asWritten, argv.file, undefined, argv.force);
  const signer = sign.createKeylessSigner({ ...sign.keylessOptionsFromArgv(argv), rekorEntryType: argv['rekor-entry-type'] });
  const bundle = await signer.signDsse(payload, core.IN_TOTO_PAYLOAD_TYPE);
  await (await import('@custody/store/atomic')).writeFileAtomic(argv.output, sign.serializeBundle(bundle));
  const id = signer.identity();
  process.stdout.write(`${argv.output}: Sigstore bundle (DSSE) signed keylessly by ${id ? `${id.subject} (issuer ${id.issuer})` : 'a Fulcio certificate'}\n`);
}

/**
 * What `layout lint` says about a document: the schema and cross-field checks, then — when
 * those pass — the compilation `layout sign` does (keys, expiry resolution), so lint and sign
 * can never disagree about what is an error.
 */
async function lintDocument(doc: unknown, file: string, signedFormat: 'metablock' | 'dsse' | undefined): Promise<import('@custody/core').LintMessage[]> {
  const core = await import('@custody/core');
  const keys = signedFormat ? undefined : await loadDocumentKeys(doc, file, true);
  const now = new Date();
  const messages = core.lintLayout(doc, { now, keys, signedFormat });
  if (signedFormat || messages.some((m) => m.severity === 'error')) return messages;
  const loaded = new Map([...keys!].filter((e): e is [string, import('@custody/core').PublicKey] => !core.isCustodyError(e[1])));
  try {
    // on a copy: compileLayout may fill in defaults
    const compiled = core.compileLayout(structuredClone(doc), loaded, { now, fileName: file });
    if (compiled.extensions.length) {
      messages.push({ severity: 'warning', path: '', message: `custody extensions (${[...new Set(compiled.extensions.map((e) => e.replace(/^.*\./, '')))].join(', ')}) are signed only in a DSSE layout: custody layout sign --format dsse` });
    }
  } catch (e) {
    if (!core.isCustodyError(e)) throw e;
    messages.push({ severity: 'error', path: '', message: e.message });
  }
  return messages;
}

/** `layout sign` refuses what `layout lint` calls an error, unless --force. */
async function refuseLintErrors(doc: unknown, file: string, signedFormat: 'metablock' | 'dsse' | undefined, force: boolean | undefined): Promise<void> {
  const core = await import('@custody/core');
  const errors = (await lintDocument(doc, file, signedFormat)).filter((m) => m.severity === 'error');
  if (errors.length === 0 || force) return;
  const first = errors[0];
  throw new core.CustodyError('LAYOUT_LINT', `not signed: ${errors.length} lint error${errors.length === 1 ? '' : 's'}, first ${first.path || '(document)'}: ${first.message} (custody layout lint ${file} lists them; --force signs anyway)`, { file });
}

/** Loads every key file the document names (paths relative to the layout file). */
async function loadDocumentKeys(doc: unknown, file: string, keepErrors: boolean) {
  const core = await import('@custody/core');
  const { loadPublicKey } = await import('@custody/sign');
  const { dirname, resolve } = await import('node:path');
  const out = new Map<string, import('@custody/core').PublicKey | import('@custody/core').CustodyError>();
  for (const ref of core.layoutKeyRefs(doc)) {
    try {
      out.set(ref, await loadPublicKey(resolve(dirname(file), ref)));
    } catch (e) {
      if (!keepErrors || !core.isCustodyError(e)) throw e;
      out.set(ref, e);
    }
  }
  return out;
}

/**
 * `trustedRoot: { path }` → `{ path, sha256 }`: the signature then covers the trust root's
 * content. The file must be a usable trusted root (and match a sha256 the author gave).
 */
async function pinTrustedRoot(doc: unknown, file: string): Promise<void> {
  const core = await import('@custody/core');
  if (!core.isPlainObject(doc) || !core.isPlainObject(doc.trustedRoot) || typeof doc.trustedRoot.path !== 'string') return;
  const { readFile } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const { dirname, resolve } = await import('node:path');
  const { trustMaterialFromJSON } = await import('@custody/sign');
  const path = resolve(dirname(file), doc.trustedRoot.path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new core.CustodyError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `trustedRoot: cannot read ${doc.trustedRoot.path}`, { file, cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new core.CustodyError('MALFORMED_JSON', `trusted root is not JSON: ${(e as Error).message}`, { file: path, cause: e });
  }
  trustMaterialFromJSON(json, path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (doc.trustedRoot.sha256 !== undefined && doc.trustedRoot.sha256 !== sha256) {
    throw new core.CustodyError('TRUSTED_ROOT_INVALID', `trustedRoot.sha256 is ${String(doc.trustedRoot.sha256)}, but ${doc.trustedRoot.path} has ${sha256}`, { file });
  }
  doc.trustedRoot = { path: doc.trustedRoot.path, sha256 };
}

/**
 * `traceProfile: FILE` (a profile `custody trace learn` wrote, reviewed and committed beside the
 * layout) → the profile itself, so the layout's signature covers what the trace is compared to.
 */
async function inlineTraceProfiles(doc: unknown, file: string): Promise<void> {
  const core = await import('@custody/core');
  if (!core.isPlainObject(doc) || !Array.isArray(doc.steps)) return;
  const { readFile } = await import('node:fs/promises');
  const { dirname, resolve } = await import('node:path');
  for (const [i, step] of doc.steps.entries()) {
    if (!core.isPlainObject(step) || typeof step.traceProfile !== 'string') continue;
    const path = resolve(dirname(file), step.traceProfile);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new core.CustodyError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `steps[${i}].traceProfile: cannot read ${step.traceProfile}`, { file, cause: e });
    }
    step.traceProfile = core.parseTraceProfile(core.parseLayoutDocument(text, path), path);
  }
}

const signCommand: CommandModule<object, SignArgs> = {
  command: 'sign <file>',
  describe: 'sign a layout (YAML/JSON authoring format, or an already signed layout to add a signature)',
  builder: (y) => y
    .positional('file', { type: 'string', demandOption: true, describe: 'layout.yaml / layout.json, or a signed layout' })
    .option('key', { type: 'array', string: true, nargs: 1, describe: 'private key of a layout owner (repeat for several); or --keyless' })
    .option('passphrase-file', { type: 'string', describe: 'passphrase for encrypted private keys' })
    .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'signed layout to write (e.g. root.layout; a keyless layout is a Sigstore bundle, whatever the name)' })
    .option('format', { choices: ['legacy', 'dsse', 'sigstore'] as const, describe: 'legacy in-toto metablock (default with --key), DSSE envelope, or Sigstore bundle (with --keyless, its default); a signed input keeps its format' })
    .option('drop-extensions', { type: 'boolean', default: false, describe: 'legacy format: drop custody step extensions (plugins, run, expectedPredicates) instead of refusing' })
    .option('force', { type: 'boolean', describe: 'sign even when `custody layout lint` reports errors (an expired or unsatisfiable layout, for a test)' })
    .options({
      ...KEYLESS_CLI_OPTIONS,
      keyless: { type: 'boolean', describe: 'sign with a short-lived Fulcio certificate for an OIDC identity (Rekor entry; the DSSE layout in a Sigstore bundle) instead of --key' },
      tlog: { type: 'boolean', describe: 'write a Rekor entry (always for a layout: verify requires it; --no-tlog is refused)' },
    })
    .option('rekor-entry-type', { choices: ['dsse', 'intoto'] as const, hidden: true, describe: 'Rekor entry kind for the DSSE bundle (intoto: test logs)' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const core = await import('@custody/core');
    if (await signMode(argv) === 'keyless') return signKeyless(argv);
    const sign = await import('@custody/sign');
    if (!argv.key?.length) throw new core.CustodyError('USAGE', 'missing --key KEY (the layout owner\'s private key)');
    const passphrase = argv['passphrase-file'] ? await sign.readPassphraseFile(argv['passphrase-file']) : undefined;
    const signers = [];
    for (const k of argv.key) signers.push(await sign.loadSigner(String(k), { passphrase }));
    const { doc, signed, keyless } = await readLayoutDocument(argv.file);
    let output: string;
    let format: 'legacy' | 'dsse';
    if (keyless) {
      throw new core.CustodyError('USAGE', 'signed keylessly: a Sigstore bundle holds exactly one signature, so no key can be added (sign the authoring file instead)', { file: argv.file });
    }
    const asWritten = structuredClone(doc);
    if (signed) {
      await refuseLintErrors(asWritten, argv.file, signed.format, argv.force);
      format = signed.format === 'metablock' ? 'legacy' : 'dsse';
      if (argv.format && argv.format !== format) {
        throw new core.CustodyError('USAGE', `already signed as ${format}; cannot add a ${argv.format} signature (sign the authoring file instead)`, { file: argv.file });
      }
      if (signed.format === 'metablock') {
        const body = core.normalizeLayout(signed.body, argv.file);
        let mb: import('@custody/core').Metablock<unknown> = { signatures: signed.metablock.signatures, signed: body };
        for (const s of signers) mb = await sign.signMetablock<unknown>(body, s, mb);
        output = sign.serializeMetablock(mb);
      } else {
        core.requireInTotoPayloadType(signed, argv.file);
        core.normalizeLayout(signed.body, argv.file);
        let env = signed.envelope;
        for (const s of signers) env = await sign.signDsse(signed.payloadBytes, env.payloadType, s, env);
        output = sign.serializeDsse(env);
      }
    } else {
      format = argv.format === 'dsse' ? 'dsse' : 'legacy';
      const keys = await loadDocumentKeys(doc, argv.file, false) as Map<string, import('@custody/core').PublicKey>;
      await pinTrustedRoot(doc, argv.file);
      await inlineTraceProfiles(doc, argv.file);
      const compiled = core.compileLayout(doc, keys, { now: new Date(), fileName: argv.file });
      // compilation errors first (its messages are the precise ones), then everything lint calls an error
      await refuseLintErrors(asWritten, argv.file, undefined, argv.force);
      if (format === 'legacy') {
        if (compiled.extensions.length && !argv['drop-extensions']) {
          throw new core.CustodyError('USAGE', `custody extensions (${compiled.extensions.join(', ')}) would not be covered by a legacy signature: in-toto drops unknown step fields; sign with --format dsse, or pass --drop-extensions`, { file: argv.file });
        }
        const body = core.normalizeLayout(compiled.body, argv.file);
        let mb: import('@custody/core').Metablock<unknown> | undefined;
        for (const s of signers) mb = await sign.signMetablock<unknown>(body, s, mb);
        output = sign.serializeMetablock(mb!);
      } else {
        const payload = sign.inTotoDssePayload(compiled.body);
        let env: import('@custody/core').DsseEnvelope | undefined;
        for (const s of signers) env = await sign.signDsse(payload, core.IN_TOTO_PAYLOAD_TYPE, s, env);
        output = sign.serializeDsse(env!);
      }
    }
    await (await import('@custody/store/atomic')).writeFileAtomic(argv.output, output);
    process.stdout.write(`${argv.output}: ${format === 'legacy' ? 'in-toto metablock' : 'DSSE envelope'} signed by ${signers.map((s) => s.keyid.slice(0, 8)).join(', ')}\n`);
  }),
};

const lintCommand: CommandModule<object, LintArgs> = {
  command: 'lint <file>',
  describe: 'check a layout: JSON Schema plus rule syntax, MATCH targets, names, keys, expiry, thresholds (exit 1 on errors)',
  builder: (y) => y
    .positional('file', { type: 'string', demandOption: true })
    .option('json', { type: 'boolean', default: false, describe: 'print the messages as JSON' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const core = await import('@custody/core');
    const { doc, signed } = await readLayoutDocument(argv.file);
    const messages = await lintDocument(doc, argv.file, signed?.format);
    const errors = messages.filter((m) => m.severity === 'error').length;
    if (argv.json) process.stdout.write(`${JSON.stringify({ file: argv.file, errors, messages }, null, 2)}\n`);
    else {
      for (const m of messages) process.stdout.write(`${argv.file}: ${m.severity} ${m.path || '(document)'}: ${m.message}\n`);
      process.stdout.write(errors ? `${errors} error(s)\n` : `${argv.file}: ok${messages.length ? ` (${messages.length} warning(s))` : ''}\n`);
    }
    if (errors) setExitCode(1);
  }),
};

const graphCommand: CommandModule<object, GraphArgs> = {
  command: 'graph <file>',
  describe: 'draw the supply chain (steps with functionaries, plugins and predicate rules; MATCH edges; inspections) as Mermaid, Graphviz dot, SVG or an HTML page',
  builder: (y) => y
    .positional('file', { type: 'string', demandOption: true })
    .option('format', { choices: ['mermaid', 'dot', 'svg', 'html'] as const, default: 'mermaid' as const, describe: 'svg and html are drawn in-process (Graphviz as WebAssembly); html is one self-contained page' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const core = await import('@custody/core');
    const { doc } = await readLayoutDocument(argv.file);
    if (argv.format === 'svg' || argv.format === 'html') {
      const report = await import('@custody/engine/report');
      process.stdout.write(argv.format === 'svg' ? `${await report.layoutSvg(doc)}\n` : await report.layoutGraphHtml(doc, `layout ${argv.file}`));
      return;
    }
    process.stdout.write(core.renderLayoutGraph(doc, argv.format));
  }),
};

interface InitArgs { dir: string; force: boolean }

const initCommand: CommandModule<object, InitArgs> = {
  command: 'init',
  describe: 'scaffold a commented layout for fetch-model → train → evaluate → build-image, with a key per role (keys/)',
  builder: (y) => y
    .option('dir', { type: 'string', default: '.', describe: 'folder to write layout.yaml and keys/ into (must exist)' })
    .option('force', { type: 'boolean', default: false, describe: 'replace an existing layout.yaml (existing keys are always kept)' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const { join } = await import('node:path');
    const { stat } = await import('node:fs/promises');
    const core = await import('@custody/core');
    const sign = await import('@custody/sign');
    const { INIT_KEYS, INIT_LAYOUT } = await import('../templates/ml-pipeline-layout.ts');
    const exists = async (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
    const st = await stat(argv.dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new core.CustodyError('USAGE', 'not a folder (--dir)', { file: argv.dir });
    const layoutFile = join(argv.dir, 'layout.yaml');
    if (!argv.force && await exists(layoutFile)) throw new core.CustodyError('USAGE', 'already exists; --force replaces it', { file: layoutFile });
    const made: string[] = [];
    for (const name of INIT_KEYS) {
      const base = join(argv.dir, 'keys', name);
      // a key someone already has stays: replacing it would orphan what it signed
      if (await exists(`${base}.pub`)) continue;
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(argv.dir, 'keys'), { recursive: true });
      await sign.writeKeyPair(base, sign.generateKeyPair('ed25519'), { overwrite: false });
      made.push(name);
    }
    await (await import('@custody/store/atomic')).writeFileAtomic(layoutFile, INIT_LAYOUT);
    process.stdout.write(`${layoutFile}: fetch-model → train → evaluate → build-image\n`);
    process.stdout.write(`keys: ${made.length ? `made ${made.map((n) => `keys/${n}`).join(', ')}` : 'kept the existing ones'} (keys/owner signs the layout)\n`);
    process.stdout.write(`next: edit the commands, then custody layout lint ${layoutFile}\n`);
  }),
};

export const layoutCommand: CommandModule<object, object> = {
  command: 'layout <command>',
  describe: 'author layouts: init, lint, sign, graph',
  builder: (y) => y.command(initCommand).command(signCommand).command(lintCommand).command(graphCommand).demandCommand(1, 'name a layout command: init, sign, lint or graph') as any,
  handler: () => undefined,
};
