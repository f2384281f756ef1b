import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, loadSigner, verifyAttestationBundle, type Signer } from '@custody/sign';
import { isCustodyError, parseSignedFile, verifySignedFile, normalizeLink, linkDigest, STEP_ANNOTATION, LINK_ANNOTATION } from '@custody/core';
import { runStep, definePlugin, createStepHooks, PHASES, recordStart, recordStop, collectEvidence, CUSTODY_DEFAULT_EXCLUDES, type CustodyPlugin, type LoadedPlugin, type StepContext } from '../src/index.ts';

async function setup(): Promise<{ dir: string; signer: Signer }> {
  const dir = mkdtempSync(join(tmpdir(), 'custody-lifecycle-'));
  const pair = generateKeyPair('ed25519');
  writeFileSync(join(dir, 'key.pem'), pair.privatePem, { mode: 0o600 });
  writeFileSync(join(dir, 'in.txt'), 'input\n');
  return { dir, signer: await loadSigner(join(dir, 'key.pem')) };
}

const T = 'https://example.test/attestation/probe/v1';
const schema = { type: 'object', required: ['value'], properties: { value: { type: 'string' } }, additionalProperties: false };

function loaded(plugin: CustodyPlugin, options: Record<string, unknown> = {}): LoadedPlugin {
  return { plugin, options, source: 'test' };
}

function probe(name: string, body: (ctx: StepContext) => unknown, phase: (typeof PHASES)[number] = 'postProduct'): CustodyPlugin {
  return definePlugin({
    name,
    apiVersion: 1,
    predicateTypes: [T],
    schemas: { [T]: schema },
    apply(hooks) {
      hooks[phase].tapPromise(name, async (ctx) => {
        await body(ctx);
      });
    },
  });
}

test('hooks run in the documented order and plugins see step state', async () => {
  const { dir, signer } = await setup();
  try {
    const seen: string[] = [];
    const order = definePlugin({
      name: 'order',
      apiVersion: 1,
      apply(hooks) {
        for (const phase of PHASES) hooks[phase].tapPromise('order', async (ctx) => {
          seen.push(`${phase}:${Object.keys(ctx.materials).length}:${Object.keys(ctx.products).length}:${ctx.execution ? 'ran' : '-'}`);
        });
      },
    });
    const r = await runStep({ stepName: 'order', workdir: dir, command: ['sh', '-c', 'echo x > out.txt'], materials: ['in.txt'], products: ['.'], exclude: ['key.pem'], signer, plugins: [loaded(order)] });
    assert.deepEqual(seen, ['preMaterial:0:0:-', 'material:1:0:-', 'execute:1:0:ran', 'product:1:2:ran', 'postProduct:1:2:ran', 'sign:1:2:ran', 'store:1:2:ran']);
    assert.deepEqual(Object.keys(r.link.products).sort(), ['in.txt', 'out.txt']);
    assert.equal(r.exitCode, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('each plugin gets its own options and emit; statements have products as subject, in a bundle (default) or DSSE', async () => {
  const { dir, signer } = await setup();
  try {
    const a = probe('alpha', (ctx) => ctx.emit({ predicateType: T, predicate: { value: String(ctx.options.v) } }));
    const b = probe('beta', (ctx) => ctx.emit({ predicateType: T, predicate: { value: String(ctx.options.v) }, subject: [{ name: 'custom', digest: { sha256: 'ab'.repeat(32) } }] }));
    const kid = signer.keyid.slice(0, 8);
    // format → [alpha file, beta file, link file]
    const expected: Record<string, [string, string, string]> = {
      default: [`two.${kid}.alpha.sigstore.json`, `two.${kid}.beta.sigstore.json`, `two.${kid}.link`],
      legacy: [`two.${kid}.alpha.sigstore.json`, `two.${kid}.beta.sigstore.json`, `two.${kid}.link`],
      dsse: [`two.${kid}.alpha.att.json`, `two.${kid}.beta.att.json`, `two.${kid}.link`],
      sigstore: [`two.${kid}.alpha.sigstore.json`, `two.${kid}.beta.sigstore.json`, `two.${kid}.link.sigstore.json`],
    };
    for (const [format, [alphaFile, betaFile, linkFile]] of Object.entries(expected)) {
      const outDir = `out-${format}`;
      const r = await runStep({
        stepName: 'two', workdir: dir, noCommand: true, products: ['in.txt'], signer, outDir,
        ...(format === 'default' ? {} : { format: format as 'legacy' | 'dsse' | 'sigstore' }),
        plugins: [loaded(a, { v: 'A' }), loaded(b, { v: 'B' })],
      });
      assert.deepEqual(r.predicates.map((p) => [p.plugin, p.predicate.predicate.value]), [['alpha', 'A'], ['beta', 'B']]);
      assert.deepEqual(readdirSync(join(dir, outDir)).sort(), [alphaFile, betaFile, linkFile].sort(), format);
      const statementOf = (file: string): { _type: string; subject: unknown; predicateType: string; predicate: unknown } => {
        const text = readFileSync(join(dir, outDir, file), 'utf8');
        if (file.endsWith('.sigstore.json')) return verifyAttestationBundle(text, [signer.publicKey], { file }).statement as never;
        const env = parseSignedFile(text, file);
        assert.equal(env.format, 'dsse');
        assert.ok(verifySignedFile(env, signer.publicKey));
        return env.body as never;
      };
      const st = statementOf(alphaFile);
      assert.equal(st._type, 'https://in-toto.io/Statement/v1');
      assert.equal(st.predicateType, T);
      assert.deepEqual(st.predicate, { value: 'A' });
      // issue 11: every subject is bound (in signed content) to the step and this run's link
      const bound = { [STEP_ANNOTATION]: 'two', [LINK_ANNOTATION]: `sha256:${linkDigest(normalizeLink(r.link))}` };
      assert.deepEqual(st.subject, [{ name: 'in.txt', digest: r.link.products['in.txt'], annotations: bound }]);
      assert.deepEqual(statementOf(betaFile).subject, [{ name: 'custom', digest: { sha256: 'ab'.repeat(32) }, annotations: bound }]);
      const linkText = readFileSync(join(dir, outDir, linkFile), 'utf8');
      if (format === 'sigstore') {
        assert.equal(verifyAttestationBundle(linkText, [signer.publicKey]).statement?.predicateType, 'https://in-toto.io/attestation/link/v0.3');
      } else {
        // the link stays what the reference reads: a metablock, or DSSE with --format dsse
        assert.equal(parseSignedFile(linkText, linkFile).format, format === 'dsse' ? 'dsse' : 'metablock');
      }
      // --no-command: command [] and byproducts {} as the reference writes them
      assert.deepEqual(r.link.command, []);
      assert.deepEqual(r.link.byproducts, {});
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("custody's own excludes apply at the base path only: deeper .custody folders and *.sigstore.json products are recorded", async () => {
  const { dir, signer } = await setup();
  try {
    mkdirSync(join(dir, 'model', 'sub', '.custody'), { recursive: true });
    mkdirSync(join(dir, 'dist'));
    mkdirSync(join(dir, 'out'));
    mkdirSync(join(dir, '.custody'));
    writeFileSync(join(dir, 'model', 'sub', '.custody', 'x.py'), 'print(1)');
    writeFileSync(join(dir, 'dist', 'release.sigstore.json'), '{}');
    writeFileSync(join(dir, 'dist', 'release.att.json'), '{}');
    writeFileSync(join(dir, 'dist', 'old.link'), '{}'); // the reference's *.link* stays unanchored
    writeFileSync(join(dir, 'top.sigstore.json'), '{}');
    writeFileSync(join(dir, 'out', 'prev.sigstore.json'), '{}'); // the out dir's own outputs
    writeFileSync(join(dir, '.custody', 'stored.sigstore.json'), '{}');
    const r = await runStep({ stepName: 'deep', workdir: dir, noCommand: true, materials: ['.'], products: ['.'], signer, outDir: 'out' });
    const expected = ['dist/release.att.json', 'dist/release.sigstore.json', 'in.txt', 'key.pem', 'model/sub/.custody/x.py'];
    assert.deepEqual(Object.keys(r.link.materials).sort(), expected);
    assert.deepEqual(Object.keys(r.link.products).sort(), expected);
    // with a base path, "the base path" is that folder
    const based = await runStep({ stepName: 'based', workdir: dir, basePath: 'model', noCommand: true, materials: ['.'], signer, outDir: 'out' });
    assert.deepEqual(Object.keys(based.link.materials), ['sub/.custody/x.py']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("default excludes: the reference's plus custody's own outputs; --exclude replaces them all", async () => {
  const { dir, signer } = await setup();
  try {
    for (const f of ['a.link', 'b.sigstore.json', 'c.att.json', 'd.pyc', 'keep.txt']) writeFileSync(join(dir, f), f);
    mkdirSync(join(dir, '.custody'));
    writeFileSync(join(dir, '.custody', 'x.json'), '{}');
    assert.deepEqual(CUSTODY_DEFAULT_EXCLUDES, ['*.link*', '.git', '*.pyc', '*~', '/*.sigstore.json', '/*.att.json', '/.custody']);
    const r = await runStep({ stepName: 'ex', workdir: dir, noCommand: true, materials: ['.'], products: ['.'], signer, outDir: 'out' });
    assert.deepEqual(Object.keys(r.link.materials).sort(), ['in.txt', 'keep.txt', 'key.pem']);
    // the step's own outputs (written in `store`) are not among its products either
    assert.deepEqual(Object.keys(r.link.products).sort(), ['in.txt', 'keep.txt', 'key.pem']);
    const given = await runStep({ stepName: 'ex2', workdir: dir, noCommand: true, materials: ['.'], exclude: ['key.pem', 'out'], signer, outDir: 'out' });
    assert.deepEqual(Object.keys(given.link.materials).sort(), ['.custody/x.json', 'a.link', 'b.sigstore.json', 'c.att.json', 'd.pyc', 'in.txt', 'keep.txt']);
    const started = await recordStart({ stepName: 'rec', signer, workdir: dir, materials: ['.'] });
    const prelim = parseSignedFile(readFileSync(started, 'utf8'), 'rec');
    assert.deepEqual(Object.keys((prelim.body as { materials: object }).materials).sort(), ['in.txt', 'keep.txt', 'key.pem']);
    const stopped = await recordStop({ stepName: 'rec', signer, workdir: dir, products: ['.'], outDir: 'out' });
    assert.deepEqual(Object.keys(stopped.link.products).sort(), ['in.txt', 'keep.txt', 'key.pem']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('failures name the plugin, carry a code, and leave no file', async (t) => {
  const { dir, signer } = await setup();
  const cases: [string, CustodyPlugin, string, RegExp][] = [
    ['throws', probe('thrower', () => { throw new Error('boom'); }), 'PLUGIN_FAILED', /plugin 'thrower' failed in postProduct: boom/],
    ['throws in apply', { name: 'bad-apply', apiVersion: 1, apply() { throw new Error('no hooks for me'); } }, 'PLUGIN_FAILED', /bad-apply.*apply/],
    ['invalid predicate', probe('liar', (ctx) => ctx.emit({ predicateType: T, predicate: { value: 42 } })), 'PREDICATE_INVALID', /plugin 'liar'.*\/value must be string/],
    ['extra field', probe('extra', (ctx) => ctx.emit({ predicateType: T, predicate: { value: 'x', secret: 1 } })), 'PREDICATE_INVALID', /additional properties 'secret'/],
    ['undeclared type', probe('nosch', (ctx) => ctx.emit({ predicateType: 'https://other', predicate: {} })), 'PREDICATE_INVALID', /no JSON Schema declared/],
    ['bad subject', probe('subj', (ctx) => ctx.emit({ predicateType: T, predicate: { value: 'x' }, subject: [{}] })), 'PREDICATE_INVALID', /subject/],
  ];
  try {
    for (const [name, plugin, code, message] of cases) {
      await t.test(name, async () => {
        const out = mkdtempSync(join(dir, 'out-'));
        await assert.rejects(
          runStep({ stepName: 's', workdir: dir, command: ['true'], materials: ['in.txt'], products: ['in.txt'], signer, outDir: out, plugins: [loaded(plugin)] }),
          (e: unknown) => isCustodyError(e) && e.code === code && message.test(e.message),
        );
        assert.deepEqual(readdirSync(out), []);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('command exit code, streams and missing command', async () => {
  const { dir, signer } = await setup();
  try {
    const quiet = await runStep({ stepName: 'q', workdir: dir, command: ['sh', '-c', 'echo out; echo err >&2; exit 7'], signer });
    assert.equal(quiet.exitCode, 7);
    assert.deepEqual(quiet.link.byproducts, { stdout: '', stderr: '', 'return-value': 7 });
    const loud = await runStep({ stepName: 'l', workdir: dir, command: ['sh', '-c', 'printf "a\\nb\\n"; echo err >&2'], recordStreams: true, signer });
    assert.deepEqual(loud.link.byproducts, { stdout: 'a\nb\n', stderr: 'err\n', 'return-value': 0 });
    await assert.rejects(runStep({ stepName: 'm', workdir: dir, command: ['definitely-not-a-command-xyz'], signer }), (e: unknown) => isCustodyError(e) && e.code === 'COMMAND_NOT_FOUND');
    assert.ok(!readdirSync(dir).some((f) => f.startsWith('m.')));
    await assert.rejects(runStep({ stepName: 'u', workdir: dir, noCommand: true, signer, outDir: 'in.txt/sub' }), (e: unknown) => isCustodyError(e) && e.code === 'FILE_UNWRITABLE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DSSE link format carries the same link body', async () => {
  const { dir, signer } = await setup();
  try {
    const r = await runStep({ stepName: 'd', workdir: dir, noCommand: true, materials: ['in.txt'], signer, format: 'dsse' });
    const f = parseSignedFile(readFileSync(r.written[0], 'utf8'), 'd');
    assert.equal(f.format, 'dsse');
    assert.ok(verifySignedFile(f, signer.publicKey));
    assert.deepEqual(normalizeLink(f.body), r.link);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record start/stop: materials from start, products at stop, preliminary file removed', async () => {
  const { dir, signer } = await setup();
  try {
    const prelim = await recordStart({ stepName: 'obs', signer, workdir: dir, materials: ['in.txt'] });
    assert.ok(prelim.endsWith(`.obs.${signer.keyid.slice(0, 8)}.link-unfinished`));
    writeFileSync(join(dir, 'made.txt'), 'made');
    const r = await recordStop({ stepName: 'obs', signer, workdir: dir, products: ['made.txt'] });
    assert.deepEqual(Object.keys(r.link.materials), ['in.txt']);
    assert.deepEqual(Object.keys(r.link.products), ['made.txt']);
    assert.deepEqual(r.link.byproducts, {});
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('link-unfinished')));
    await assert.rejects(recordStop({ stepName: 'obs', signer, workdir: dir }), (e: unknown) => isCustodyError(e) && e.code === 'RECORD_NOT_STARTED');
    // a preliminary link signed by another key is refused
    const other = generateKeyPair('ed25519');
    writeFileSync(join(dir, 'other.pem'), other.privatePem);
    const otherSigner = await loadSigner(join(dir, 'other.pem'));
    const p2 = await recordStart({ stepName: 'x', signer: otherSigner, workdir: dir });
    const renamed = join(dir, `.x.${signer.keyid.slice(0, 8)}.link-unfinished`);
    writeFileSync(renamed, readFileSync(p2));
    await assert.rejects(recordStop({ stepName: 'x', signer, workdir: dir }), (e: unknown) => isCustodyError(e) && e.code === 'SIGNATURE_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('evidence runs one plugin without signing or writing', async () => {
  const { dir } = await setup();
  try {
    const p = probe('ev', (ctx) => ctx.emit({ predicateType: T, predicate: { value: Object.keys(ctx.products).join(',') } }));
    const preds = await collectEvidence(loaded(p), { workdir: dir, exclude: ['*.pem'] });
    assert.deepEqual(preds.map((x) => x.predicate.predicate), [{ value: 'in.txt' }]);
    assert.deepEqual(readdirSync(dir).sort(), ['in.txt', 'key.pem']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('createStepHooks has the seven phases', () => {
  assert.deepEqual(Object.keys(createStepHooks()), [...PHASES]);
});
