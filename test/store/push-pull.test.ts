// `custody push` / `custody pull` end to end against a real distribution registry (Debian's
// docker-registry on a free loopback port): two steps recorded with `custody run`, pushed with an
// OCI image layout, pulled into a fresh folder on "another machine", verified there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANNOTATIONS, ATTESTATION_MEDIA_TYPES, OciRegistryStore, referrersTag } from '../../packages/store/src/index.ts';
import { custody, runCommand } from '../helpers/cli.ts';
import { makePki, writeHtpasswd } from './fixtures/registry-auth.ts';
import { stat } from 'node:fs/promises';
import { startLocalRegistry, type LocalRegistry } from '../../packages/store/test/support/local-registry.ts';

const LAYOUT_YAML = `expires: 1y
keys: { owner: owner.pub, alice: alice.pub }
steps:
  - name: build
    pubkeys: [alice]
    expected_command: [sh, -c, "echo hello > out.txt"]
    expected_materials: []
    expected_products: [CREATE out.txt, DISALLOW *]
  - name: package
    pubkeys: [alice]
    expected_command: [tar, cf, out.tar, out.txt]
    expected_materials: [MATCH out.txt WITH PRODUCTS FROM build, DISALLOW *]
    expected_products: [MATCH out.txt WITH PRODUCTS FROM build, CREATE out.tar, CREATE image/*, DISALLOW *]
inspect: []
`;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A minimal OCI image layout (one tiny layer) written by hand; returns the image manifest digest. */
async function writeImageLayout(dir: string, seed: string): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Buffer) => {
    await writeFile(join(blobs, sha256(bytes)), bytes);
    return { digest: `sha256:${sha256(bytes)}`, size: bytes.length };
  };
  const config = await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { seed } } })));
  const layer = await put(Buffer.from(`model weights ${seed}`));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  }));
  const m = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': seed } }],
  }));
  return m.digest;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

describe('custody push / pull through an OCI registry', () => {
  let registry: LocalRegistry;
  let dir: string;
  let links: string;
  let subject: string;
  let repo: string;
  const verifyArgs = (linkDir: string) => ['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--link-dir', linkDir, '--json'];

  before(async () => {
    registry = await startLocalRegistry();
    repo = `${registry.host}/custody/credit-model`;
    dir = await mkdtemp(join(tmpdir(), 'custody-push-pull-'));
    for (const who of ['owner', 'alice']) {
      const k = await custody(['keygen', join(dir, who)]);
      assert.equal(k.code, 0, k.stderr);
    }
    await writeFile(join(dir, 'layout.yaml'), LAYOUT_YAML);
    const signed = await custody(['layout', 'sign', join(dir, 'layout.yaml'), '--key', join(dir, 'owner'), '-o', join(dir, 'root.layout')]);
    assert.equal(signed.code, 0, signed.stderr);
    const work = join(dir, 'work');
    links = join(dir, 'links');
    await mkdir(work);
    // the image the package step ships: its manifest digest is a recorded product, the subject verify checks
    subject = await writeImageLayout(join(work, 'image'), 'v1');
    for (const [step, io, cmd] of [
      ['build', ['-p', 'out.txt'], ['sh', '-c', 'echo hello > out.txt']],
      ['package', ['-m', 'out.txt', '-p', 'out.txt', 'out.tar', 'image'], ['tar', 'cf', 'out.tar', 'out.txt']],
    ] as const) {
      const r = await custody(['run', '--step', step, '--key', join(dir, 'alice'), '-d', links, ...io, '--', ...cmd], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(await writeImageLayout(join(dir, 'image'), 'v1'), subject);
  });
  after(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('push: the image, then every attestation of the link folder as a referrer of it', async () => {
    const local = await readdir(links);
    assert.ok(local.some((n) => n.endsWith('.link')) && local.some((n) => n.endsWith('.sigstore.json')), local.join(' '));
    const r = await custody(['push', '--registry', repo, '--image-layout', join(dir, 'image'), '--link-dir', links, '--plain-http']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`pushed image ${repo}@${subject}`));
    for (const name of local) assert.match(r.stdout, new RegExp(`pushed ${name.replace(/\./g, '\\.')} \\(step (build|package)\\)`));
    // registry 2.8 has no referrers API: each one is listed in the sha256-<hex> tag index
    assert.match(r.stdout, new RegExp(`indexed by tag ${referrersTag(subject)}`));
    assert.match(r.stdout, new RegExp(`${local.length} attestation\\(s\\) attached`));

    // What landed: artifact manifests annotated with step and file name, subject = the image.
    const store = new OciRegistryStore({ registry: registry.url, repository: 'custody/credit-model' });
    const pulled = await store.pullAttestations(subject);
    assert.deepEqual(pulled.map((p) => p.annotations[ANNOTATIONS.fileName]).sort(), [...local].sort());
    const link = pulled.find((p) => p.annotations[ANNOTATIONS.fileName]!.startsWith('build.') && p.annotations[ANNOTATIONS.fileName]!.endsWith('.link'))!;
    assert.equal(link.annotations[ANNOTATIONS.step], 'build');
    assert.equal(link.mediaType, ATTESTATION_MEDIA_TYPES.inTotoMetablock);
    const bundle = pulled.find((p) => p.annotations[ANNOTATIONS.fileName]!.endsWith('.sigstore.json'))!;
    assert.equal(bundle.mediaType, ATTESTATION_MEDIA_TYPES.sigstoreBundle);
    assert.match(bundle.annotations[ANNOTATIONS.predicateType] ?? '', /^https:\/\//);
  });

  it('pull into a fresh folder: original names and bytes, and custody verify passes there', async () => {
    const out = join(dir, 'pulled');
    const r = await custody(['pull', '--registry', repo, '--subject', subject, '--out-dir', out, '--plain-http']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /found by the sha256-<hex> tag/);
    const names = (await readdir(links)).sort();
    assert.deepEqual((await readdir(out)).sort(), names);
    for (const n of names) assert.deepEqual(await readFile(join(out, n)), await readFile(join(links, n)), n);
    const v = await custody(verifyArgs(out));
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal(JSON.parse(v.stdout).verdict, 'pass');

    // verify straight from the registry: no pull step, nothing written to an empty folder
    const empty = join(dir, 'empty-cwd');
    await mkdir(empty);
    const direct = await custody(['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--registry', repo, '--subject', subject, '--plain-http', '--json'], { cwd: empty });
    assert.equal(direct.code, 0, direct.stdout + direct.stderr);
    assert.equal(JSON.parse(direct.stdout).verdict, 'pass');
    assert.deepEqual(await readdir(empty), []);
    const noSubject = await custody(['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--registry', repo, '--plain-http']);
    assert.equal(noSubject.code, 2);
    assert.match(noSubject.stderr, /^custody: --registry needs --subject sha256:HEX/);

    // pull's default folder is .custody/, which verify reads by default
    const machine = join(dir, 'machine-b');
    await mkdir(machine);
    const p = await custody(['pull', '--registry', repo, '--subject', subject, '--plain-http'], { cwd: machine });
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual((await readdir(join(machine, '.custody'))).sort(), names);
  });

  it('push --subject attaches to an image already there; a tampered link pushed in its place makes verify fail', async () => {
    const tampered = join(dir, 'tampered');
    await mkdir(tampered);
    const name = (await readdir(links)).find((n) => n.startsWith('build.') && n.endsWith('.link'))!;
    const link = JSON.parse(await readFile(join(links, name), 'utf8'));
    link.signed.products['out.txt'].sha256 = 'f'.repeat(64);
    await writeFile(join(tampered, name), JSON.stringify(link));
    const p = await custody(['push', '--registry', repo, '--subject', subject, '--link-dir', tampered, '--plain-http']);
    assert.equal(p.code, 0, p.stderr);
    assert.doesNotMatch(p.stdout, /pushed image/);

    const out = join(dir, 'pulled-tampered');
    const r = await custody(['pull', '--registry', repo, '--subject', subject, '--out-dir', out, '--plain-http']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${name.replace(/\./g, '\\.')} was pushed more than once; kept the newest`));
    assert.deepEqual(JSON.parse(await readFile(join(out, name), 'utf8')), link);
    const direct = await custody(['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--registry', repo, '--subject', subject, '--plain-http', '--json']);
    assert.equal(direct.code, 1, direct.stdout + direct.stderr);
    assert.equal(JSON.parse(direct.stdout).failure.code, 'THRESHOLD');
    const v = await custody(verifyArgs(out));
    assert.equal(v.code, 1, v.stdout + v.stderr);
    const report = JSON.parse(v.stdout);
    assert.equal(report.verdict, 'fail');
    // the tampered link's signature no longer verifies, so build has no valid link from alice
    assert.deepEqual([report.failure.code, report.failure.check, report.failure.step], ['THRESHOLD', 'threshold', 'build']);
  });

  it('pull refuses annotated file names that are paths, and writes nothing', async () => {
    const store = new OciRegistryStore({ registry: registry.url, repository: 'custody/evil' });
    for (const [i, bad] of ['../escaped.link', 'sub/dir.link', '..'].entries()) {
      // one image per name, so each pull meets exactly one bad name
      const image = join(dir, `image-evil-${i}`);
      const evilSubject = await writeImageLayout(image, `evil${i}`);
      const descriptor = await store.pushImageLayout(image);
      assert.equal(descriptor.digest, evilSubject);
      const att = await store.pushAttestation(descriptor, {
        bytes: Buffer.from(`{"n":${i}}`), mediaType: ATTESTATION_MEDIA_TYPES.inTotoMetablock,
        annotations: { [ANNOTATIONS.step]: 'build', [ANNOTATIONS.fileName]: bad },
      });
      await mkdir(join(dir, `evil-${i}`));
      const out = join(dir, `evil-${i}`, 'out');
      const r = await custody(['pull', '--registry', `${registry.host}/custody/evil`, '--subject', evilSubject, '--out-dir', out, '--plain-http']);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`attestation ${att.descriptor.digest} is named .*refusing a file name that is a path`));
      assert.deepEqual(await readdir(join(dir, `evil-${i}`)), [], 'nothing written, not even the out folder');
    }
  });

  it('steps on two machines push as they run (run --push), verify reads the registry; skopeo copy --all to a second registry keeps verify passing', async () => {
    const image = join(dir, 'image-mm');
    const mm = await writeImageLayout(image, 'mm');
    const store = new OciRegistryStore({ registry: registry.url, repository: 'custody/multi' });
    await store.pushImageLayout(image);
    const mRepo = `${registry.host}/custody/multi`;
    // a wrong subject fails before the command runs
    const wrong = await custody(['run', '--step', 'build', '--key', join(dir, 'alice'), '-d', join(dir, 'nowhere'), '-p', 'out.txt', '--push', mRepo, '--subject', `sha256:${'1'.repeat(64)}`, '--plain-http', '--', 'sh', '-c', 'echo hello > out.txt'], { cwd: join(dir, 'work') });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^custody: no image sha256:1{64} in .*custody\/multi: push it first/);
    await assert.rejects(stat(join(dir, 'nowhere')), /ENOENT/);
    for (const [machine, step, io, cmd] of [
      ['a', 'build', ['-p', 'out.txt'], ['sh', '-c', 'echo hello > out.txt']],
      ['b', 'package', ['-m', 'out.txt', '-p', 'out.txt', 'out.tar', 'image'], ['tar', 'cf', 'out.tar', 'out.txt']],
    ] as const) {
      const work = join(dir, `machine-${machine}-work`);
      await mkdir(work, { recursive: true });
      if (machine === 'b') {
        await writeFile(join(work, 'out.txt'), 'hello\n'); // what build made, fetched by machine b
        assert.equal(await writeImageLayout(join(work, 'image'), 'mm'), mm); // the image it ships
      }
      const r = await custody(['run', '--step', step, '--key', join(dir, 'alice'), '-d', join(work, 'out'), ...io, '--push', mRepo, '--subject', mm, '--plain-http', '--', ...cmd], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`pushed \\d+ attestation\\(s\\) to ${mRepo}@${mm}`));
    }
    const verifyRegistry = (host: string) => custody(['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--registry', `${host}/custody/multi`, '--subject', mm, '--plain-http', '--json']);
    const v = await verifyRegistry(registry.host);
    assert.equal(v.code, 0, v.stdout + v.stderr);

    // the same attestations replayed onto another image in the repository never verify it
    const otherImage = join(dir, 'image-other');
    const other = await writeImageLayout(otherImage, 'other');
    const replay = join(dir, 'replay');
    await mkdir(replay);
    for (const m of ['a', 'b']) {
      const out = join(dir, `machine-${m}-work`, 'out');
      for (const f of await readdir(out)) if (!f.startsWith('.')) await writeFile(join(replay, f), await readFile(join(out, f)));
    }
    const pushed = await custody(['push', '--registry', mRepo, '--image-layout', otherImage, '--link-dir', replay, '--plain-http']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const replayed = await custody(['verify', '--layout', join(dir, 'root.layout'), '--layout-key', join(dir, 'owner.pub'), '--registry', mRepo, '--subject', other, '--plain-http', '--json']);
    assert.equal(replayed.code, 1, replayed.stdout + replayed.stderr);
    assert.equal(JSON.parse(replayed.stdout).failure.code, 'SUBJECT_MISMATCH');

    // skopeo (Debian) copies the image and its sha256-<hex> referrers index with every referrer
    const second = await startLocalRegistry();
    try {
      const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
      // the image with --preserve-digests (skopeo would otherwise compress its tar layer: a new digest)
      for (const [from, to, keep] of [[`@${mm}`, ':mm', ['--preserve-digests']], [`:${referrersTag(mm)}`, `:${referrersTag(mm)}`, []]] as const) {
        const c = await runCommand('skopeo', ['copy', '--all', ...keep, ...tls, `docker://${mRepo}${from}`, `docker://${second.host}/custody/multi${to}`]);
        assert.equal(c.code, 0, c.stderr);
      }
      const copied = await verifyRegistry(second.host);
      assert.equal(copied.code, 0, copied.stdout + copied.stderr);
      assert.equal(JSON.parse(copied.stdout).verdict, 'pass');
      // and an empty copy (the image alone) fails: the attestations are what the verdict rests on
      const bare = await startLocalRegistry();
      try {
        const c = await runCommand('skopeo', ['copy', '--all', '--preserve-digests', ...tls, `docker://${mRepo}@${mm}`, `docker://${bare.host}/custody/multi:mm`]);
        assert.equal(c.code, 0, c.stderr);
        const none = await verifyRegistry(bare.host);
        assert.equal(none.code, 1, none.stdout + none.stderr);
        assert.equal(JSON.parse(none.stdout).failure.code, 'LINK_NOT_FOUND');
      } finally {
        await bare.stop();
      }
    } finally {
      await second.stop();
    }
  });

  it('pull writes attestation files only: never a layout, a key or another name, never over a trust anchor', async () => {
    const store = new OciRegistryStore({ registry: registry.url, repository: 'custody/anchors' });
    const layoutBytes = await readFile(join(dir, 'root.layout'));
    const cases: [string, Buffer, RegExp][] = [
      ['root.layout', layoutBytes, /is named "root\.layout": not an attestation file name \(<step>\.<keyid8>….link\|\.sigstore\.json\|\.att\.json\)/],
      ['owner.pub', await readFile(join(dir, 'owner.pub')), /is named "owner\.pub": not an attestation file name \(<step>\.<keyid8>….link\|\.sigstore\.json\|\.att\.json\)/],
      ['build.0123abcd.link', layoutBytes, /\(build\.0123abcd\.link\) is a layout or a key, not evidence: refusing it/],
    ];
    for (const [i, [name, bytes, re]] of cases.entries()) {
      const image = join(dir, `image-anchor-${i}`);
      const s = await writeImageLayout(image, `anchor${i}`);
      const d = await store.pushImageLayout(image);
      await store.pushAttestation(d, { bytes, mediaType: ATTESTATION_MEDIA_TYPES.inTotoMetablock, annotations: { [ANNOTATIONS.step]: 'build', [ANNOTATIONS.fileName]: name } });
      const out = join(dir, `anchor-${i}`);
      const r = await custody(['pull', '--registry', `${registry.host}/custody/anchors`, '--subject', s, '--out-dir', out, '--plain-http']);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr.trim(), new RegExp(`^custody: registry ${registry.host}: attestation sha256:[0-9a-f]{64} ${re.source}$`));
      await assert.rejects(stat(out), /ENOENT/, 'nothing written');
    }
    // An existing layout in the out folder under a pushed attestation's name stays as it is.
    const folder = join(dir, 'anchor-existing');
    await mkdir(folder);
    const name = (await readdir(links)).find((n) => n.endsWith('.link'))!;
    await writeFile(join(folder, name), layoutBytes);
    const r = await custody(['pull', '--registry', repo, '--subject', subject, '--out-dir', folder, '--plain-http']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.stderr, `custody: ${join(folder, name)}: is a layout or a key (a trust anchor): refusing to pull an attestation over it\n`);
    assert.deepEqual(await readFile(join(folder, name)), layoutBytes);
    assert.deepEqual(await readdir(folder), [name]);
  });

  it('unknown subject, unreachable registry, https by default, a scheme in --registry: exit 2, one line', async () => {
    const unknown = `sha256:${'0'.repeat(64)}`;
    const u = await custody(['pull', '--registry', repo, '--subject', unknown, '--plain-http', '--out-dir', join(dir, 'none')]);
    assert.equal(u.code, 2);
    assert.equal(u.stderr, `custody: no image ${unknown} in ${repo}\n`);
    const us = await custody(['push', '--registry', repo, '--subject', unknown, '--link-dir', links, '--plain-http']);
    assert.equal(us.code, 2);
    assert.match(us.stderr, new RegExp(`^custody: no image ${unknown} in ${repo}: push it first`));

    const port = await freePort();
    for (const cmd of [['pull', '--subject', subject], ['push', '--subject', subject, '--link-dir', links]]) {
      const r = await custody([...cmd, '--registry', `127.0.0.1:${port}/custody/x`, '--plain-http']);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^custody: registry 127\\.0\\.0\\.1:${port}: connect: connection refused`));
    }
    const tls = await custody(['pull', '--registry', repo, '--subject', subject, '--out-dir', join(dir, 'none')]);
    assert.equal(tls.code, 2);
    assert.match(tls.stderr, new RegExp(`^custody: registry ${registry.host}: connect: TLS handshake failed .*is it plain HTTP\\?`), 'https unless --plain-http');

    const scheme = await custody(['pull', '--registry', `http://${repo}`, '--subject', subject]);
    assert.equal(scheme.code, 2);
    assert.match(scheme.stderr, /give HOST\[:PORT\]\/REPO without a scheme/);
    const both = await custody(['push', '--registry', repo, '--subject', subject, '--image-layout', join(dir, 'image')]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give either --image-layout DIR or --subject sha256:HEX/);
  });

  it('a TLS registry with htpasswd auth: login writes config.json as docker does; push, pull, verify with it; wrong, missing credentials and an untrusted CA fail in one line', async () => {
    const pkiDir = join(dir, 'pki');
    await mkdir(pkiDir);
    const pki = await makePki(pkiDir);
    await writeHtpasswd(join(pkiDir, 'htpasswd'), { alice: 'correct horse' });
    const secure = await startLocalRegistry({ tls: { certificate: pki.serverCert, key: pki.serverKey }, htpasswd: join(pkiDir, 'htpasswd') });
    try {
      const sRepo = `${secure.host}/custody/secure`;
      const dockerDir = join(dir, 'docker-config');
      const env = { ...process.env, DOCKER_CONFIG: dockerDir, NODE_EXTRA_CA_CERTS: pki.caPem };
      const untrusted: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: dockerDir };
      delete untrusted.NODE_EXTRA_CA_CERTS;

      // No credentials yet: the registry's 401, named, and how to fix it.
      const anon = await custody(['push', '--registry', sRepo, '--image-layout', join(dir, 'image'), '--link-dir', links], { env });
      assert.equal(anon.code, 2, anon.stderr);
      assert.equal(anon.stderr.trim().split('\n').length, 1, anon.stderr);
      assert.match(anon.stderr.trim(), new RegExp(`^custody: registry ${secure.host}: check blob custody/secure@sha256:[0-9a-f]{64}: HTTP 401 Unauthorized \\(no credentials for ${secure.host}: custody registry login ${secure.host}\\)$`));

      const bad = await custody(['registry', 'login', secure.host, '-u', 'alice'], { env, input: 'wrong\n' });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, new RegExp(`^custody: registry ${secure.host}: log in: HTTP 401 .*credentials from the login were not accepted`));
      await assert.rejects(stat(join(dockerDir, 'config.json')), /ENOENT/, 'a refused login saves nothing');

      const login = await custody(['registry', 'login', secure.host, '--username', 'alice'], { env, input: 'correct horse\n' });
      assert.equal(login.code, 0, login.stderr);
      const st = await stat(join(dockerDir, 'config.json'));
      assert.equal(st.mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(await readFile(join(dockerDir, 'config.json'), 'utf8')), { auths: { [secure.host]: { auth: Buffer.from('alice:correct horse').toString('base64') } } });

      // The CA is not trusted without NODE_EXTRA_CA_CERTS or --ca-file.
      const tlsFail = await custody(['pull', '--registry', sRepo, '--subject', subject, '--out-dir', join(dir, 'x')], { env: untrusted });
      assert.equal(tlsFail.code, 2);
      assert.match(tlsFail.stderr, new RegExp(`^custody: registry ${secure.host}: connect: TLS: .*(self.signed|unable to verify|local issuer).*--ca-file`, 'i'));

      const push = await custody(['push', '--registry', sRepo, '--image-layout', join(dir, 'image'), '--link-dir', links], { env });
      assert.equal(push.code, 0, push.stderr);
      const out = join(dir, 'pulled-secure');
      const pull = await custody(['pull', '--registry', sRepo, '--subject', subject, '--out-dir', out, '--ca-file', pki.caPem], { env: untrusted });
      assert.equal(pull.code, 0, pull.stderr);
      assert.deepEqual((await readdir(out)).sort(), (await readdir(links)).sort());
      const v = await custody(verifyArgs(out));
      assert.equal(v.code, 0, v.stdout + v.stderr);

      // A wrong password in config.json: the 401 names where the credentials came from.
      await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [`https://${secure.host}`]: { auth: Buffer.from('alice:nope').toString('base64') } } }));
      const wrong = await custody(['pull', '--registry', sRepo, '--subject', subject, '--out-dir', join(dir, 'y')], { env });
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, new RegExp(`^custody: registry ${secure.host}: get manifest custody/secure:sha256:[0-9a-f]{64}: HTTP 401 .*credentials from .*config\\.json were not accepted`));

      // A credential helper (credHelpers) answers instead of auths.
      const bin = join(dir, 'bin');
      await mkdir(bin);
      await writeFile(join(bin, 'docker-credential-custodytest'), `#!/bin/sh\nread url\nif [ "$1" = get ] && [ "$url" = "${secure.host}" ]; then printf '{"ServerURL":"%s","Username":"alice","Secret":"correct horse"}' "$url"; else echo "credentials not found in native keychain"; exit 1; fi\n`, { mode: 0o755 });
      await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [secure.host]: { auth: Buffer.from('alice:nope').toString('base64') } }, credHelpers: { [secure.host]: 'custodytest' } }));
      const helped = await custody(['pull', '--registry', sRepo, '--subject', subject, '--out-dir', join(dir, 'pulled-helper')], { env: { ...env, PATH: `${bin}:${process.env.PATH}` } });
      assert.equal(helped.code, 0, helped.stderr);
      assert.deepEqual((await readdir(join(dir, 'pulled-helper'))).sort(), (await readdir(links)).sort());
    } finally {
      await secure.stop();
    }
  });
});
