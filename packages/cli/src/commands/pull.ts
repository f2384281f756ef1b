import type { Argv, CommandModule } from 'yargs';
import { openRegistryStore, parseRegistryRef, registryOptions, SUBJECT_DIGEST, type RegistryArgs } from './push.ts';

interface Args extends RegistryArgs {
  registry: string;
  subject: string;
  'out-dir': string;
}

async function pullHandler(argv: Args): Promise<void> {
  const [{ mkdir, readFile, lstat }, { join }, { CustodyError }, store_] = await Promise.all([
    import('node:fs/promises'), import('node:path'), import('@custody/core/errors'), import('@custody/store'),
  ]);
  if (typeof argv.subject !== 'string' || !SUBJECT_DIGEST.test(argv.subject)) throw new CustodyError('USAGE', `--subject ${argv.subject}: expected sha256:<64 hex>`);
  const ref = await parseRegistryRef(argv.registry, argv);
  const store = await openRegistryStore(ref);
  const where = `${ref.host}/${ref.repository}`;
  if (!(await store.client.getManifest(ref.repository, argv.subject))) {
    throw new CustodyError('REGISTRY_ERROR', `no image ${argv.subject} in ${where}`);
  }
  // Every name and content is checked before anything is written.
  const { files, superseded, via } = await store_.fetchAttestationFiles(store, argv.subject);
  const outDir = argv['out-dir'];
  // Never over a trust anchor: an existing layout or key under an attestation's name stays as it is.
  for (const f of files) {
    const target = join(outDir, f.name);
    const st = await lstat(target).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) throw new CustodyError('FILE_UNWRITABLE', 'is a folder; refusing to pull over it', { file: target });
    if (st.isFile() && store_.isTrustAnchorFile(await readFile(target))) {
      throw new CustodyError('FILE_UNWRITABLE', 'is a layout or a key (a trust anchor): refusing to pull an attestation over it', { file: target });
    }
  }
  await mkdir(outDir, { recursive: true });
  // one set: all files land, or none (the sink removes a half-written set)
  await new store_.AttestationSink(outDir).writeAll(files.map((f) => ({ name: f.name, data: f.bytes })));
  for (const f of files) console.log(`pulled ${f.name} ← ${f.manifestDigest}`);
  for (const name of superseded) process.stderr.write(`custody: ${name} was pushed more than once; kept the newest\n`);
  console.log(`${files.length} attestation(s) of ${where}@${argv.subject} (found by ${via === 'referrers-api' ? 'the referrers API' : 'the sha256-<hex> tag'}) in ${outDir}`);
}

export const pullCommand: CommandModule<object, Args> = {
  command: 'pull',
  describe: 'pull the attestations attached to an image in an OCI registry into a folder (default .custody/, which custody verify reads), under their original file names',
  builder: (y) => (registryOptions(y) as Argv<object>)
    .usage('custody pull --registry HOST:PORT/REPO --subject sha256:HEX [--out-dir D] [--plain-http]')
    .option('subject', { type: 'string', demandOption: true, describe: 'digest of the image the attestations are attached to' })
    .option('out-dir', { alias: 'd', type: 'string', default: '.custody', describe: 'folder to write the attestation files to (created if missing); only attestation file names, never over a layout or key; custody verify reads .custody/ by default' }) as unknown as Argv<Args>,
  handler: pullHandler,
};
