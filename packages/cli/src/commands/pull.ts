import type { Argv, CommandModule } from 'yargs';
import { openRegistryStore, parseRegistryRef, registryOptions, SUBJECT_DIGEST, type RegistryArgs } from './push.ts';

interface Args extends RegistryArgs {
  registry: string;
  subject: string;
  'out-dir': string;
}

/**
 * The file name an attestation was pushed under. It comes from the registry, which is not
 * trusted: only a plain name in the output folder, never a path.
 */
async function safeFileName(name: string | undefined, manifestDigest: string): Promise<string> {
  const { CustodyError } = await import('@custody/core/errors');
  if (name === undefined) throw new CustodyError('REGISTRY_ERROR', `attestation ${manifestDigest} has no file name annotation`);
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('..') || name.includes('\0') || name.startsWith('.')) {
    throw new CustodyError('REGISTRY_ERROR', `attestation ${manifestDigest} is named ${JSON.stringify(name)}: refusing a file name that is a path`);
  }
  return name;
}

async function pullHandler(argv: Args): Promise<void> {
  const [{ mkdir }, { CustodyError }, { ANNOTATIONS, AttestationSink }] = await Promise.all([
    import('node:fs/promises'), import('@custody/core/errors'), import('@custody/store'),
  ]);
  if (typeof argv.subject !== 'string' || !SUBJECT_DIGEST.test(argv.subject)) throw new CustodyError('USAGE', `--subject ${argv.subject}: expected sha256:<64 hex>`);
  const ref = await parseRegistryRef(argv.registry, argv);
  const store = await openRegistryStore(ref);
  const where = `${ref.host}/${ref.repository}`;
  if (!(await store.client.getManifest(ref.repository, argv.subject))) {
    throw new CustodyError('REGISTRY_ERROR', `no image ${argv.subject} in ${where}`);
  }
  const { via } = await store.listReferrers(argv.subject);
  const pulled = await store.pullAttestations(argv.subject);

  // Check every name before writing anything. When one name was pushed more than once (a step
  // re-run and pushed again), the newest push wins; verification decides whether it is any good.
  const byName = new Map<string, { bytes: Buffer; created: string; digest: string; order: number }>();
  const superseded: string[] = [];
  for (const [order, p] of pulled.entries()) {
    const name = await safeFileName(p.annotations[ANNOTATIONS.fileName], p.manifestDigest);
    const entry = { bytes: p.bytes, created: p.annotations[ANNOTATIONS.created] ?? '', digest: p.manifestDigest, order };
    const seen = byName.get(name);
    if (seen && seen.digest !== entry.digest) superseded.push(name);
    if (!seen || entry.created > seen.created || (entry.created === seen.created && entry.order > seen.order)) byName.set(name, entry);
  }
  const outDir = argv['out-dir'];
  await mkdir(outDir, { recursive: true });
  const sink = new AttestationSink(outDir);
  const pulledFiles = [...byName].sort(([a], [b]) => (a < b ? -1 : 1));
  await sink.writeAll(pulledFiles.map(([name, e]) => ({ name, data: e.bytes })));
  for (const [name, e] of pulledFiles) console.log(`pulled ${name} ← ${e.digest}`);
  for (const name of new Set(superseded)) process.stderr.write(`custody: ${name} was pushed more than once; kept the newest\n`);
  console.log(`${byName.size} attestation(s) of ${where}@${argv.subject} (found by ${via === 'referrers-api' ? 'the referrers API' : 'the sha256-<hex> tag'}) in ${outDir}`);
}

export const pullCommand: CommandModule<object, Args> = {
  command: 'pull',
  describe: 'pull the attestations attached to an image in an OCI registry into a folder, under their original file names (for custody verify --link-dir)',
  builder: (y) => (registryOptions(y) as Argv<object>)
    .usage('custody pull --registry HOST:PORT/REPO --subject sha256:HEX [--out-dir D] [--plain-http]')
    .option('subject', { type: 'string', demandOption: true, describe: 'digest of the image the attestations are attached to' })
    .option('out-dir', { alias: 'd', type: 'string', default: '.', describe: 'folder to write the attestations to (created if missing)' }) as unknown as Argv<Args>,
  handler: pullHandler,
};
