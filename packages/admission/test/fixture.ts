/**
 * The admission tests' world, built once per test file: keys, a demo-like signed layout (train →
 * build-image, then an inspection of the image), OCI images built with the demo's image writer
 * and recorded with `custody run`, pushed with `custody push` to a real docker-registry on
 * 127.0.0.1, a TLS certificate for the webhook, and a config naming all of it.
 *
 *   ml/credit:v1        attested by custody (the good image)
 *   ml/credit:unsigned  no attestations at all
 *   ml/credit:tampered  its build-image link edited after signing
 *   ml/credit:replay    another image carrying v1's attestations (their subjects are v1's digest)
 *   strict/credit:v1    v1 again, under a policy with `inspections: require`
 *   warn/credit:bad     the tampered image under a warn-mode policy, audit/credit:bad under audit
 *   prod/credit:v1      v1 under a policy limited to namespaces prod-*
 *   models/credit:v1    v1 as an OCI model (KServe storageUri, custom resources)
 *   ml/credit:bundled   attested with `--format sigstore` (links as Statements in Sigstore bundles)
 *   ml/credit:bundled-replay  another image carrying the bundled image's attestations
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { custody, REPO_ROOT } from '../../../test/helpers/cli.ts';
import { ANNOTATIONS, ATTESTATION_MEDIA_TYPES, OciRegistryStore } from '../../store/src/index.ts';
import { startLocalRegistry, type LocalRegistry } from '../../store/test/support/local-registry.ts';
import { generateKeyPair, writeKeyPair } from '../../sign/src/keys.ts';
import { buildImage } from '../../demo/src/oci/image.ts';

const execFileP = promisify(execFile);

export const LAYOUT_YAML = `expires: 1y
readme: demo-like chain for the admission tests
keys:
  ml-engineer: keys/ml.pub
  release-engineer: keys/release.pub
steps:
  - name: train
    pubkeys: [ml-engineer]
    plugins:
      - name: model
        options: { dir: model }
    expected_materials: []
    expected_products: [CREATE model/*, DISALLOW *]
    expectedPredicates:
      - predicateType: "https://custody.dev/attestation/model/v0.1"
        expectedAttributes:
          - rule: "predicate.license.spdxId == 'MIT'"
            debug: "only MIT-licensed models"
  - name: build-image
    pubkeys: [release-engineer]
    expected_command: [custody-demo, build-image, --model, model, --out, image, --builder, custody]
    expected_materials: [MATCH model/* WITH PRODUCTS FROM train, DISALLOW *]
    expected_products: [CREATE image/*, MATCH model/* WITH PRODUCTS FROM train, DISALLOW *]
inspect:
  - name: inspect-image
    run: [custody-demo, extract-image, image, image-rootfs]
    expected_materials: [MATCH image/* WITH PRODUCTS FROM build-image, DISALLOW image/*]
    expected_products: [ALLOW image-rootfs/*, MATCH image/* WITH PRODUCTS FROM build-image, DISALLOW image/*]
`;

export interface Fixture {
  dir: string;
  registry: LocalRegistry;
  host: string;
  digests: { v1: string; unsigned: string; tampered: string; replay: string; bundled: string };
  configFile: string;
  writeConfig(extra?: string, policies?: string): Promise<void>;
  stop(): Promise<void>;
}

async function must(p: ReturnType<typeof custody>, what: string) {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

const env = { ...process.env, PATH: `${join(REPO_ROOT, 'node_modules/.bin')}:${process.env.PATH}` };

/** A model folder, attested and imaged: `custody run` train (model plugin) then build-image. */
async function attestedImage(dir: string, name: string, weights: string, format: 'legacy' | 'sigstore' = 'legacy'): Promise<{ work: string; att: string }> {
  const work = join(dir, name);
  const att = join(dir, `${name}-att`);
  await mkdir(join(work, 'model'), { recursive: true });
  await mkdir(att);
  await writeFile(join(work, 'model', 'README.md'), '---\nlicense: mit\n---\n# credit model\n');
  await writeFile(join(work, 'model', 'config.json'), '{"features":20}\n');
  await writeFile(join(work, 'model', 'model.safetensors'), safetensors(weights));
  await must(custody(['run', '--step', 'train', '--key', join(dir, 'keys/ml'), '--layout', join(dir, 'layout.yaml'), '--products', 'model', '--out-dir', att, '--no-command', '--format', format], { cwd: work, env }), `train ${name}`);
  await must(custody(['run', '--step', 'build-image', '--key', join(dir, 'keys/release'), '--no-attest', '--materials', 'model', '--products', 'image', '--out-dir', att, '--format', format,
    '--', 'custody-demo', 'build-image', '--model', 'model', '--out', 'image', '--builder', 'custody'], { cwd: work, env }), `build-image ${name}`);
  return { work, att };
}

/** A tiny valid safetensors file (one F32 tensor) whose values depend on `seed`. */
function safetensors(seed: string): Buffer {
  const data = Buffer.alloc(8);
  data.writeFloatLE(seed.length, 0);
  data.writeFloatLE(seed.charCodeAt(0), 4);
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, data]);
}

async function manifestDigest(imageDir: string): Promise<string> {
  const index = JSON.parse(await readFile(join(imageDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return index.manifests[0].digest;
}

export async function buildFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'custody-admission-'));
  await mkdir(join(dir, 'keys'));
  const [registry] = await Promise.all([
    startLocalRegistry(),
    ...['owner', 'ml', 'release', 'vsa'].map((k) => writeKeyPair(join(dir, 'keys', k), generateKeyPair('ed25519'))),
    execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=custody-admission.test',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')]),
  ]);
  await writeFile(join(dir, 'layout.yaml'), LAYOUT_YAML);
  await must(custody(['layout', 'sign', join(dir, 'layout.yaml'), '--key', join(dir, 'keys/owner'), '--format', 'dsse', '-o', join(dir, 'root.layout')]), 'layout sign');
  const [good, bad, bundled] = await Promise.all([
    attestedImage(dir, 'good', 'good weights'), attestedImage(dir, 'bad', 'other weights'), attestedImage(dir, 'bundled', 'bundled weights', 'sigstore'),
  ]);
  // The tampered image: its build-image link claims other products after it was signed.
  const badLink = (await readdir(bad.att)).find((n) => n.startsWith('build-image.') && n.endsWith('.link'))!;
  const linkText = await readFile(join(bad.att, badLink), 'utf8');
  const link = JSON.parse(linkText);
  const firstProduct = Object.keys(link.signed.products)[0];
  link.signed.products[firstProduct] = { sha256: '0'.repeat(64) };
  await writeFile(join(bad.att, badLink), JSON.stringify(link, null, 1));
  // Images with no attestations of their own.
  const plain = join(dir, 'plain');
  const replay = join(dir, 'replay');
  const replay2 = join(dir, 'replay2');
  for (const [d, w] of [[plain, 'unsigned weights'], [replay, 'replayed weights'], [replay2, 'replayed bundle weights']] as const) {
    await mkdir(join(d, 'model'), { recursive: true });
    await writeFile(join(d, 'model', 'README.md'), '---\nlicense: mit\n---\n');
    await writeFile(join(d, 'model', 'config.json'), '{}\n');
    await writeFile(join(d, 'model', 'model.safetensors'), safetensors(w));
    await buildImage({ modelDir: join(d, 'model'), out: join(d, 'image'), builder: 'custody' });
  }
  const empty = join(dir, 'no-attestations');
  await mkdir(empty);
  const repo = `${registry.host}/ml/credit`;
  const push = (args: string[], what: string) => must(custody(['push', '--registry', repo, '--plain-http', ...args]), what);
  await push(['--image-layout', join(good.work, 'image'), '--tag', 'v1', '--link-dir', good.att], 'push v1');
  const digests = {
    v1: await manifestDigest(join(good.work, 'image')),
    tampered: await manifestDigest(join(bad.work, 'image')),
    unsigned: await manifestDigest(join(plain, 'image')),
    replay: await manifestDigest(join(replay, 'image')),
    bundled: await manifestDigest(join(bundled.work, 'image')),
  };
  // The other images and repositories in process (faster than more CLI runs), as push does it.
  const copyTo = async (repository: string, imageDir: string, tag: string, att: string) => {
    const store = new OciRegistryStore({ registry: registry.url, repository });
    const subject = await store.pushImageLayout(imageDir, { tag });
    for (const name of (await readdir(att)).sort()) {
      const mediaType = name.endsWith('.sigstore.json') ? ATTESTATION_MEDIA_TYPES.sigstoreBundle : ATTESTATION_MEDIA_TYPES.inTotoMetablock;
      await store.pushAttestation(subject, { bytes: await readFile(join(att, name)), mediaType, annotations: { [ANNOTATIONS.fileName]: name, [ANNOTATIONS.step]: name.split('.')[0] } });
    }
  };
  await copyTo('ml/credit', join(bad.work, 'image'), 'tampered', bad.att);
  await copyTo('ml/credit', join(plain, 'image'), 'unsigned', empty);
  // The replay: v1's attestations attached to another image.
  await copyTo('ml/credit', join(replay, 'image'), 'replay', good.att);
  // links as Statements in Sigstore bundles (custody run --format sigstore), and their replay
  await copyTo('ml/credit', join(bundled.work, 'image'), 'bundled', bundled.att);
  await copyTo('ml/credit', join(replay2, 'image'), 'bundled-replay', bundled.att);
  await copyTo('strict/credit', join(good.work, 'image'), 'v1', good.att);
  await copyTo('prod/credit', join(good.work, 'image'), 'v1', good.att);
  await copyTo('models/credit', join(good.work, 'image'), 'v1', good.att);
  await copyTo('warn/credit', join(bad.work, 'image'), 'bad', bad.att);
  await copyTo('audit/credit', join(bad.work, 'image'), 'bad', bad.att);
  const configFile = join(dir, 'admission.yaml');
  const h = registry.host;
  const policy = (name: string, images: string, more = '') => `  - name: ${name}
    images: ["${images}"]
    layout: root.layout
    layoutKeys: [keys/owner.pub]
    plainHttp: true
${more}`;
  const defaultPolicies = [
    policy('ml-service', `${h}/ml/*`),
    policy('strict', `${h}/strict/*`, '    inspections: require\n'),
    policy('warn-only', `${h}/warn/*`, '    mode: warn\n'),
    policy('audit-only', `${h}/audit/*`, '    mode: audit\n'),
    policy('prod-only', `${h}/prod/*`, '    namespaces: ["prod-*"]\n'),
    policy('models', `${h}/models/*`),
  ].join('');
  const writeConfig = async (extra = '', policies = defaultPolicies) => {
    await writeFile(configFile, `listen: 127.0.0.1:0
tls: { cert: tls.crt, key: tls.key }
noMatch: deny
timeoutSeconds: 10
excludeNamespaces: [kube-system, custody-system]
customResources:
  - group: ml.example.com
    kind: ModelDeployment
    paths: ["spec.model.uri", "spec.shadows[*].uri"]
${extra}policies:
${policies}`);
  };
  await writeConfig();
  return {
    dir, registry, host: h, digests, configFile, writeConfig,
    async stop() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
