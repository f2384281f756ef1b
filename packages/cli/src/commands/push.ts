import type { Argv, CommandModule } from 'yargs';

/** `HOST[:PORT]/REPO` as given to --registry. */
export interface RegistryRef {
  host: string;
  repository: string;
  /** https://HOST, or http://HOST with --plain-http. */
  baseUrl: string;
}

/**
 * Parses --registry. The registry is always named explicitly (no default registry, no scheme
 * guessing): plain HTTP only when the user says --plain-http, even for loopback hosts.
 */
export async function parseRegistryRef(value: unknown, plainHttp: boolean): Promise<RegistryRef> {
  const { CustodyError } = await import('@custody/core/errors');
  if (typeof value !== 'string' || value === '') throw new CustodyError('USAGE', 'Missing required argument: registry');
  if (/^[a-z]+:\/\//i.test(value)) {
    throw new CustodyError('USAGE', `--registry ${value}: give HOST[:PORT]/REPO without a scheme (https is the default; --plain-http for http)`);
  }
  const slash = value.indexOf('/');
  const host = slash < 0 ? value : value.slice(0, slash);
  const repository = slash < 0 ? '' : value.slice(slash + 1).replace(/\/+$/, '');
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/.test(host) || repository === '') {
    throw new CustodyError('USAGE', `--registry ${value}: expected HOST[:PORT]/REPO, e.g. 127.0.0.1:5000/ml/credit-model`);
  }
  const { checkRepository } = await import('@custody/store');
  checkRepository(repository);
  return { host, repository, baseUrl: `${plainHttp ? 'http' : 'https'}://${host}` };
}

/** Connects to the registry and checks it answers the distribution API (names the URL when not). */
export async function openRegistryStore(ref: RegistryRef) {
  const [{ OciRegistryStore }, { CustodyError, isCustodyError }] = await Promise.all([import('@custody/store'), import('@custody/core/errors')]);
  const store = new OciRegistryStore({ registry: ref.baseUrl, repository: ref.repository });
  let ok: boolean;
  try {
    ok = await store.client.ping();
  } catch (e) {
    if (isCustodyError(e) && e.code === 'NETWORK') {
      throw new CustodyError('NETWORK', `registry ${ref.baseUrl} is unreachable: ${e.message.replace(/^GET \S+: /, '')}`, { cause: e });
    }
    throw e;
  }
  if (!ok) throw new CustodyError('REGISTRY_ERROR', `${ref.baseUrl}/v2/ does not answer as an OCI distribution registry`);
  return store;
}

export function registryOptions(y: Argv): Argv {
  return y
    .option('registry', { type: 'string', demandOption: true, describe: 'HOST[:PORT]/REPO of the OCI registry repository (no default registry)' })
    .option('plain-http', { type: 'boolean', default: false, describe: 'talk plain HTTP (default: HTTPS), e.g. to a local test registry' });
}

export const SUBJECT_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Attestation files custody writes into a link folder, and how each is stored in a registry. */
const ATTESTATION_FILE = /^(.+?)\.([0-9a-f]{8})(?:\.[A-Za-z0-9._-]+)?\.(link|sigstore\.json|att\.json)$/;

interface Args {
  registry: string;
  'plain-http': boolean;
  'image-layout'?: string;
  tag?: string;
  subject?: string;
  'link-dir': string;
}

async function pushHandler(argv: Args): Promise<void> {
  const [{ readdir, readFile }, { join }, { CustodyError }, store_] = await Promise.all([
    import('node:fs/promises'), import('node:path'), import('@custody/core/errors'), import('@custody/store'),
  ]);
  const { ATTESTATION_MEDIA_TYPES, ANNOTATIONS } = store_;
  const layout = argv['image-layout'];
  if (!layout === !argv.subject) throw new CustodyError('USAGE', 'give either --image-layout DIR or --subject sha256:HEX');
  if (argv.subject && !SUBJECT_DIGEST.test(argv.subject)) throw new CustodyError('USAGE', `--subject ${argv.subject}: expected sha256:<64 hex>`);
  if (argv.tag && !layout) throw new CustodyError('USAGE', '--tag needs --image-layout');
  const ref = await parseRegistryRef(argv.registry, argv['plain-http']);

  // Read everything local first, so a bad folder fails before anything is uploaded.
  const linkDir = argv['link-dir'];
  let names: string[];
  try {
    names = (await readdir(linkDir)).filter((n) => ATTESTATION_FILE.test(n)).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CustodyError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', code === 'ENOENT' ? 'no such folder' : `cannot read the folder: ${code}`, { file: linkDir, cause: e });
  }
  const files = await Promise.all(names.map(async (name) => {
    const bytes = await readFile(join(linkDir, name));
    const [, step, , ext] = ATTESTATION_FILE.exec(name)!;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new CustodyError('MALFORMED_JSON', 'not a JSON attestation', { file: join(linkDir, name) });
    }
    const envelope = (ext === 'sigstore.json' ? json.dsseEnvelope : json) as { payloadType?: unknown; payload?: unknown } | undefined;
    const mediaType = ext === 'sigstore.json' ? ATTESTATION_MEDIA_TYPES.sigstoreBundle
      : typeof envelope?.payloadType === 'string' ? ATTESTATION_MEDIA_TYPES.dsse : ATTESTATION_MEDIA_TYPES.inTotoMetablock;
    const annotations: Record<string, string> = { [ANNOTATIONS.step]: step, [ANNOTATIONS.fileName]: name };
    if (typeof envelope?.payload === 'string') {
      try {
        const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicateType?: unknown };
        if (typeof statement.predicateType === 'string') annotations[ANNOTATIONS.predicateType] = statement.predicateType;
      } catch {
        // a payload that is not a Statement: stored without the predicate-type annotation
      }
    }
    return { name, bytes, mediaType, annotations };
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
  for (const f of files) {
    const pushed = await store.pushAttestation(subject, { bytes: f.bytes, mediaType: f.mediaType, annotations: { ...f.annotations, [ANNOTATIONS.created]: created } });
    console.log(`pushed ${f.name} (step ${f.annotations[ANNOTATIONS.step]}) → ${pushed.descriptor.digest}, indexed by ${pushed.indexedBy === 'referrers-api' ? 'the referrers API' : `tag ${store_.referrersTag(subject.digest)}`}`);
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
