import type { Argv, CommandModule } from 'yargs';

/** `HOST[:PORT]/REPO` as given to --registry, with the connection options. */
export interface RegistryRef {
  host: string;
  repository: string;
  /** https://HOST, or http://HOST with --plain-http (loopback hosts only). */
  baseUrl: string;
  caFile?: string;
  timeoutMs?: number;
}

export interface RegistryArgs {
  'plain-http'?: boolean;
  'ca-file'?: string;
  'registry-timeout'?: number;
}

/** Splits `HOST[:PORT]/REPO`; `what` names the option in messages. */
export async function parseRegistryRef(value: unknown, plainHttp: boolean | RegistryArgs, what = '--registry'): Promise<RegistryRef> {
  const { CustodyError } = await import('@custody/core/errors');
  const args: RegistryArgs = typeof plainHttp === 'boolean' ? { 'plain-http': plainHttp } : plainHttp;
  if (typeof value !== 'string' || value === '') throw new CustodyError('USAGE', `Missing required argument: ${what.replace(/^--/, '')}`);
  if (/^[a-z]+:\/\//i.test(value)) {
    throw new CustodyError('USAGE', `${what} ${value}: give HOST[:PORT]/REPO without a scheme (https is the default; --plain-http for a loopback registry)`);
  }
  const slash = value.indexOf('/');
  const host = slash < 0 ? value : value.slice(0, slash);
  const repository = slash < 0 ? '' : value.slice(slash + 1).replace(/\/+$/, '');
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/.test(host) || repository === '') {
    throw new CustodyError('USAGE', `${what} ${value}: expected HOST[:PORT]/REPO, e.g. 127.0.0.1:5000/ml/credit-model`);
  }
  const { checkRepository, registryBaseUrl } = await import('@custody/store');
  checkRepository(repository);
  const timeout = args['registry-timeout'];
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout))) throw new CustodyError('USAGE', `--registry-timeout ${timeout}: expected seconds > 0`);
  return {
    host, repository, baseUrl: registryBaseUrl(host, args['plain-http'] ?? false),
    ...(args['ca-file'] ? { caFile: args['ca-file'] } : {}),
    ...(timeout ? { timeoutMs: Math.round(timeout * 1000) } : {}),
  };
}

/** Connects to the registry and checks it answers the distribution API (names the registry when not). */
export async function openRegistryStore(ref: RegistryRef) {
  const [{ OciRegistryStore }, { CustodyError }] = await Promise.all([import('@custody/store'), import('@custody/core/errors')]);
  const store = new OciRegistryStore({ registry: ref.baseUrl, repository: ref.repository, caFile: ref.caFile, timeoutMs: ref.timeoutMs });
  if (!(await store.client.ping())) throw new CustodyError('REGISTRY_ERROR', `registry ${store.client.host}: ${ref.baseUrl}/v2/ does not answer as an OCI distribution registry`);
  return store;
}

/** The connection options every registry command takes. */
export function connectionOptions(y: Argv): Argv {
  return y
    .option('plain-http', { type: 'boolean', default: false, describe: 'talk plain HTTP instead of HTTPS (loopback registries only, e.g. a local test registry)' })
    .option('ca-file', { type: 'string', describe: 'PEM file of CA certificates to trust for the registry, on top of the system CAs and NODE_EXTRA_CA_CERTS' })
    .option('registry-timeout', { type: 'number', describe: 'seconds one registry request may take (default 30)' });
}

export function registryOptions(y: Argv): Argv {
  return connectionOptions(y
    .option('registry', { type: 'string', demandOption: true, describe: 'HOST[:PORT]/REPO of the OCI registry repository (no default registry); credentials as docker finds them ($DOCKER_CONFIG/config.json)' }));
}

/**
 * For `run --push` / `pipeline run --store oci://`: the registry repository and the image the
 * attestations attach to, checked BEFORE any work is done (a wrong registry or subject must not
 * cost a training run).
 */
export async function openPushTarget(target: unknown, subject: unknown, args: RegistryArgs, what = '--push') {
  const { CustodyError } = await import('@custody/core/errors');
  if (typeof subject !== 'string' || !SUBJECT_DIGEST.test(subject)) throw new CustodyError('USAGE', `${what} needs --subject sha256:HEX: the image the attestations attach to`);
  const ref = await parseRegistryRef(target, args, what);
  const store = await openRegistryStore(ref);
  const m = await store.client.getManifest(ref.repository, subject);
  if (!m) throw new CustodyError('REGISTRY_ERROR', `no image ${subject} in ${ref.host}/${ref.repository}: push it first (custody push --image-layout DIR)`);
  return { store, subject: m.descriptor, where: `${ref.host}/${ref.repository}` };
}

/** Pushes attestation files (paths) as one set attached to subject; prints one line. */
export async function pushAttestationFiles(target: Awaited<ReturnType<typeof openPushTarget>>, paths: string[], log: (line: string) => void): Promise<void> {
  const [{ readFile }, { basename }, store_] = await Promise.all([import('node:fs/promises'), import('node:path'), import('@custody/store')]);
  const created = new Date().toISOString();
  const files = await Promise.all(paths.filter((p) => store_.isAttestationFileName(basename(p))).map(async (p) => {
    const input = store_.attestationInput(basename(p), await readFile(p), p);
    return { ...input, annotations: { ...input.annotations, [store_.ANNOTATIONS.created]: created } };
  }));
  if (files.length === 0) return;
  await target.store.pushAttestations(target.subject, files);
  log(`custody: pushed ${files.length} attestation(s) to ${target.where}@${target.subject.digest}`);
}

export const SUBJECT_DIGEST = /^sha256:[0-9a-f]{64}$/;

interface Args extends RegistryArgs {
  registry: string;
  'image-layout'?: string;
  tag?: string;
  subject?: string;
  'link-dir': string;
}

async function pushHandler(argv: Args): Promise<void> {
  const [{ readdir, readFile }, { join }, { CustodyError }, store_] = await Promise.all([
    import('node:fs/promises'), import('node:path'), import('@custody/core/errors'), import('@custody/store'),
  ]);
  const { ANNOTATIONS } = store_;
  const layout = argv['image-layout'];
  if (!layout === !argv.subject) throw new CustodyError('USAGE', 'give either --image-layout DIR or --subject sha256:HEX');
  if (argv.subject && !SUBJECT_DIGEST.test(argv.subject)) throw new CustodyError('USAGE', `--subject ${argv.subject}: expected sha256:<64 hex>`);
  if (argv.tag && !layout) throw new CustodyError('USAGE', '--tag needs --image-layout');
  const ref = await parseRegistryRef(argv.registry, argv);

  // Read everything local first, so a bad folder fails before anything is uploaded.
  const linkDir = argv['link-dir'];
  let names: string[];
  try {
    names = (await readdir(linkDir)).filter((n) => store_.isAttestationFileName(n)).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CustodyError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', code === 'ENOENT' ? 'no such folder' : `cannot read the folder: ${code}`, { file: linkDir, cause: e });
  }
  const files = await Promise.all(names.map(async (name) => {
    const path = join(linkDir, name);
    const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
      throw new CustodyError('FILE_UNREADABLE', `cannot read: ${e.code ?? e.message}`, { file: path, cause: e });
    });
    return { name, ...store_.attestationInput(name, bytes, path) };
  }));

  const store = await openRegistryStore(ref);
  const where = `${ref.host}/${ref.repository}`;
  const subject = layout
    ? await store.pushImageLayout(layout, argv.tag ? { tag: argv.tag } : {})
    : await store.client.getManifest(ref.repository, argv.subject!).then((m) => {
      if (!m) throw new CustodyError('REGISTRY_ERROR', `no image ${argv.subject} in ${where}: push it first (custody push --image-layout DIR)`);
      return m.descriptor;
    });
  if (layout) console.log(`pushed image ${where}@${subject.digest}${argv.tag ? ` (tag ${argv.tag})` : ''}`);
  const created = new Date().toISOString();
  const pushed = await store.pushAttestations(subject, files.map((f) => ({ ...f, annotations: { ...f.annotations, [ANNOTATIONS.created]: created } })));
  for (const [i, f] of files.entries()) {
    console.log(`pushed ${f.name} (step ${f.annotations[ANNOTATIONS.step]}) → ${pushed[i].descriptor.digest}, indexed by ${pushed[i].indexedBy === 'referrers-api' ? 'the referrers API' : `tag ${store_.referrersTag(subject.digest)}`}`);
  }
  console.log(`${files.length} attestation(s) attached to ${where}@${subject.digest}`);
}

export const pushCommand: CommandModule<object, Args> = {
  command: 'push',
  describe: 'push an OCI image layout and the attestations of a link folder to an OCI registry, attached to the image (referrers API, or the sha256-<hex> tag fallback)',
  builder: (y) => (registryOptions(y) as Argv<object>)
    .usage('custody push --registry HOST:PORT/REPO (--image-layout DIR [--tag T] | --subject sha256:HEX) [--link-dir D] [--plain-http]')
    .option('image-layout', { type: 'string', describe: 'OCI image layout folder whose image is pushed and becomes the subject' })
    .option('tag', { type: 'string', describe: 'tag for the pushed image (default: its ref.name in index.json)' })
    .option('subject', { type: 'string', describe: 'digest of an image already in the repository to attach to' })
    .option('link-dir', { alias: 'd', type: 'string', default: '.', describe: 'folder with the attestations (*.link, *.sigstore.json, *.att.json)' }) as unknown as Argv<Args>,
  handler: pushHandler,
};
