// The ml-pipeline layout draft: its rules parse, its CEL compiles, its MATCH rules name real
// steps, and its `run` commands — executed in order in one folder — produce what the rules expect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { compileRule, parseRuleString } from '@custody/core';
import { createHub } from '../src/hub.ts';

const LAYOUT = fileURLToPath(new URL('../../../layouts/ml-pipeline.yaml', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/custody-demo.mjs', import.meta.url));

interface Step { name: string; run: string[]; expected_command: string[]; expected_materials: string[]; expected_products: string[]; expectedPredicates?: { expectedAttributes: { rule: string }[] }[] }

async function loadLayout() {
  return parseYaml(await readFile(LAYOUT, 'utf8')) as { steps: Step[]; inspect: { name: string; run: string[]; expected_materials: string[]; expected_products: string[] }[]; keys: Record<string, string> };
}

test('ml-pipeline layout: rules parse, CEL compiles, MATCH names earlier steps', async () => {
  const layout = await loadLayout();
  assert.deepEqual(layout.steps.map((s) => s.name), ['fetch-model', 'fetch-data', 'train', 'bias-test', 'build-image']);
  const names = new Set(layout.steps.map((s) => s.name));
  for (const item of [...layout.steps, ...layout.inspect]) {
    for (const rule of [...item.expected_materials, ...item.expected_products]) {
      const tokens = parseRuleString(rule, `${item.name}: ${rule}`);
      if (tokens[0] === 'MATCH') assert.ok(names.has(tokens[tokens.length - 1]), `${item.name}: ${rule} names a step`);
    }
  }
  for (const s of layout.steps) {
    assert.deepEqual(s.run, s.expected_command, `${s.name}: expected_command is the run command`);
    for (const p of s.expectedPredicates ?? []) for (const a of p.expectedAttributes) compileRule(a.rule, `${s.name}: ${a.rule}`);
    if (s.run.length) assert.equal(s.run[0], 'custody-demo');
  }
});

function run(cmd: string[], cwd: string): Promise<void> {
  return new Promise((res, rej) =>
    execFile(process.execPath, [BIN, ...cmd.slice(1)], { cwd }, (err, _out, stderr) => (err ? rej(new Error(`${cmd.join(' ')}: ${stderr}`)) : res())),
  );
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(relative(base, p));
  }
  return out.sort();
}

test('ml-pipeline layout: the run commands, in order, create exactly the products the rules name', async (t) => {
  const layout = await loadLayout();
  const dir = await mkdtemp(join(tmpdir(), 'custody-pipeline-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const hub = await createHub({ dir: join(dir, 'hub') });
  const work = join(dir, 'work');
  await mkdir(work);
  const params: Record<string, string> = { HUB_URL: hub.url, MODEL_REVISION: hub.revision };
  for (const step of layout.steps) {
    if (!step.run.length) continue;
    const before = new Set(await listFiles(work));
    const started = performance.now();
    await run(step.run.map((a) => a.replace(/\{(\w+)\}/g, (_, k: string) => params[k])), work);
    t.diagnostic(`${step.name}: ${(performance.now() - started).toFixed(0)} ms`);
    const created = (await listFiles(work)).filter((f) => !before.has(f));
    const expectedCreates = step.expected_products.filter((r) => r.startsWith('CREATE ')).map((r) => r.slice(7));
    for (const f of created) {
      assert.ok(expectedCreates.some((p) => new RegExp(`^${p.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`).test(f)), `${step.name} created ${f}, which no CREATE rule names`);
    }
    for (const p of expectedCreates.filter((p) => !p.includes('*'))) assert.ok(created.includes(p), `${step.name} did not create ${p}`);
  }
  const inspection = layout.inspect[0];
  await run(inspection.run, work);
  for (const f of ['model.safetensors', 'config.json', 'README.md']) {
    assert.deepEqual(await readFile(join(work, 'image-rootfs/app/model', f)), await readFile(join(work, 'model', f)), `${f} in the image is train's ${f}`);
  }
  assert.ok((await stat(join(work, 'image-rootfs/app/server.mjs'))).isFile());
});
