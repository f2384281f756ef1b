// The engine's verify API in-process: default link folder (.custody/ when it exists), inspections
// run or skipped (a skipped inspection is never a pass), attestation files given by the caller
// instead of read from disk, and bad input as a CustodyError naming the file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustodyError, linkFileName, normalizeLink, normalizeLayout } from '@custody/core';
import { generateKeyPair, loadSigner, serializeMetablock, signMetablock, writeKeyPair, type Signer } from '@custody/sign';
import { verifyFromDisk } from '../src/verify/index.ts';

let dir = '';
let owner: Signer;
let bob: Signer;
const h = (c: string) => ({ sha256: c.repeat(64) });

async function layoutWith(inspect: unknown[]): Promise<string> {
  const body = normalizeLayout({
    _type: 'layout', expires: '2100-01-01T00:00:00Z', readme: '', keys: { [bob.keyid]: bob.publicKey.sslib },
    steps: [{ _type: 'step', name: 'build', threshold: 1, pubkeys: [bob.keyid], expected_command: ['make'], expected_materials: [], expected_products: [['ALLOW', '*']] }],
    inspect,
  }, 'root.layout');
  return serializeMetablock(await signMetablock<unknown>(body, owner));
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custody-verify-api-'));
  for (const who of ['owner', 'bob']) await writeKeyPair(join(dir, who), generateKeyPair('ed25519'));
  owner = await loadSigner(join(dir, 'owner'));
  bob = await loadSigner(join(dir, 'bob'));
  await writeFile(join(dir, 'root.layout'), await layoutWith([
    { _type: 'inspection', name: 'check', run: ['sh', '-c', 'exit 0'], expected_materials: [], expected_products: [['ALLOW', '*']] },
  ]));
  await writeFile(join(dir, 'failing.layout'), await layoutWith([
    { _type: 'inspection', name: 'check', run: ['sh', '-c', 'exit 7'], expected_materials: [], expected_products: [] },
  ]));
  const link = normalizeLink({ _type: 'link', name: 'build', command: ['make'], materials: {}, products: { 'a.bin': h('2') }, byproducts: {}, environment: {} });
  await mkdir(join(dir, '.custody'));
  await writeFile(join(dir, '.custody', linkFileName('build', bob.keyid)), serializeMetablock(await signMetablock<unknown>(link, bob)));
});
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('reads links from .custody/ by default and runs inspections in a copy of cwd', async () => {
  const r = await verifyFromDisk({ layout: 'root.layout', layoutKeys: ['owner.pub'], cwd: dir });
  assert.equal(r.report.verdict, 'pass', JSON.stringify(r.report.failure));
  assert.equal(r.report.inspectionsSkipped, undefined);
  assert.equal(r.report.checks.find((c) => c.check === 'inspection')?.verdict, 'pass');
  assert.deepEqual(r.inputsRead.map((f) => f.step), ['build']);
  assert.equal(r.lastStep, 'build');
});

test('runInspections: false reports every inspection and its rules as skipped, never passed', async () => {
  // this layout's inspection would fail: skipping it must not turn into a pass of that inspection
  const r = await verifyFromDisk({ layout: 'failing.layout', layoutKeys: ['owner.pub'], cwd: dir, runInspections: false });
  assert.equal(r.report.verdict, 'pass');
  assert.deepEqual(r.report.inspectionsSkipped, ['check']);
  const ofInspection = r.report.checks.filter((c) => c.step === 'check');
  assert.deepEqual(ofInspection.map((c) => [c.check, c.verdict]), [['inspection', 'skipped'], ['inspection-rules', 'skipped']]);
  const ran = await verifyFromDisk({ layout: 'failing.layout', layoutKeys: ['owner.pub'], cwd: dir });
  assert.equal(ran.report.failure?.code, 'INSPECTION_FAILED');
});

test('attestation files given by the caller replace the folder and the store', async () => {
  const r = await verifyFromDisk({
    layout: 'root.layout', layoutKeys: ['owner.pub'], cwd: dir, runInspections: false,
    attestations: [{ name: `build.${bob.keyid.slice(0, 8)}.test.sigstore.json`, text: '{"not":"a bundle"}', origin: 'oci://reg/x@sha256:1' }],
  });
  assert.equal(r.report.verdict, 'pass');
  assert.ok(r.report.warnings.some((w) => w.startsWith('ignored oci://reg/x@sha256:1: ')), r.report.warnings.join('\n'));
  assert.ok(r.inputsRead.some((f) => f.name === 'oci://reg/x@sha256:1'));
});

test('bad input is a CustodyError naming the file', async () => {
  await assert.rejects(verifyFromDisk({ layout: 'missing.layout', layoutKeys: ['owner.pub'], cwd: dir }),
    (e: unknown) => e instanceof CustodyError && e.code === 'FILE_NOT_FOUND' && e.file === 'missing.layout');
  await assert.rejects(verifyFromDisk({ layout: 'root.layout', cwd: dir }),
    (e: unknown) => e instanceof CustodyError && e.code === 'USAGE' && /missing --layout-key/.test(e.message));
  await assert.rejects(verifyFromDisk({ layout: 'root.layout', layoutKeys: ['owner.pub'], cwd: dir, linkDir: 'nope' }),
    (e: unknown) => e instanceof CustodyError && e.code === 'FILE_NOT_FOUND' && e.file === 'nope');
});
