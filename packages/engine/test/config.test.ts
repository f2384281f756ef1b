import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCustodyError } from '@custody/core';
import { loadConfig, stepPluginSpecs, loadPlugin, PluginRegistry, CONFIG_SCHEMA, definePlugin } from '../src/index.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'custody-config-'));
}

test('finds custody.config.json / .yaml / .mjs and package.json "custody", from a sub-folder', async () => {
  const forms: [string, string][] = [
    ['custody.config.json', JSON.stringify({ key: 'k.pem', outDir: 'links', plugins: ['git'] })],
    ['custody.config.yaml', 'key: k.pem\noutDir: links\nplugins:\n  - git\n'],
    ['custody.config.mjs', "export default { key: 'k.pem', outDir: 'links', plugins: ['git'] };\n"],
    ['package.json', JSON.stringify({ name: 'x', custody: { key: 'k.pem', outDir: 'links', plugins: ['git'] } })],
  ];
  for (const [file, text] of forms) {
    const d = tmp();
    try {
      writeFileSync(join(d, file), text);
      if (file !== 'package.json') writeFileSync(join(d, 'package.json'), '{"name":"p"}');
      mkdirSync(join(d, 'sub'));
      const c = await loadConfig(join(d, 'sub'));
      assert.equal(c.filepath, join(d, file), file);
      assert.equal(c.baseDir, d);
      assert.deepEqual(c.config, { key: 'k.pem', outDir: 'links', plugins: ['git'] }, file);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }
});

test('no config → empty; invalid config → CONFIG_INVALID naming the file', async () => {
  const d = tmp();
  try {
    writeFileSync(join(d, 'package.json'), '{"name":"p"}');
    assert.deepEqual((await loadConfig(d)).config, {});
    for (const bad of [{ keys: 'typo' }, { plugins: 'git' }, { plugins: [{ name: 'git', opts: {} }] }, { format: 'xml' }, { exclude: [1] }]) {
      writeFileSync(join(d, 'custody.config.json'), JSON.stringify(bad));
      await assert.rejects(loadConfig(d), (e: unknown) => isCustodyError(e) && e.code === 'CONFIG_INVALID' && e.file === join(d, 'custody.config.json'), JSON.stringify(bad));
    }
    writeFileSync(join(d, 'custody.config.json'), '{ not json');
    await assert.rejects(loadConfig(d), (e: unknown) => isCustodyError(e) && e.code === 'CONFIG_INVALID');
    await assert.rejects(loadConfig(d, 'missing.json'), (e: unknown) => isCustodyError(e) && e.code === 'FILE_NOT_FOUND');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('schemas/config.schema.json is the schema the engine uses', () => {
  const published = JSON.parse(readFileSync(new URL('../../../schemas/config.schema.json', import.meta.url), 'utf8'));
  assert.deepEqual(published, JSON.parse(JSON.stringify(CONFIG_SCHEMA)));
});

test('layout step plugins win over config, options come from config', () => {
  const config = { plugins: ['git', { name: 'environment', options: { env: ['FOO'] } }] };
  assert.deepEqual(stepPluginSpecs(config, undefined, ['x']), [{ use: 'git' }, { use: 'environment', options: { env: ['FOO'] } }]);
  assert.deepEqual(stepPluginSpecs(config, { name: 's', plugins: ['environment'] }, ['x']), [{ use: 'environment', options: { env: ['FOO'] } }]);
  assert.deepEqual(stepPluginSpecs({}, undefined, ['a', 'b']), [{ use: 'a' }, { use: 'b' }]);
});

test('plugins load by built-in name, relative path and package name; wrong apiVersion refused', async () => {
  const d = tmp();
  try {
    const registry = new PluginRegistry().register('builtin-one', async () => definePlugin({ name: 'builtin-one', apiVersion: 1, apply() {} }));
    assert.equal((await loadPlugin({ use: 'builtin-one' }, { registry, baseDir: d })).plugin.name, 'builtin-one');
    writeFileSync(join(d, 'local.mjs'), "export default { name: 'local', apiVersion: 1, apply() {} };\n");
    const local = await loadPlugin({ use: './local.mjs', options: { a: 1 } }, { registry, baseDir: d });
    assert.equal(local.plugin.name, 'local');
    assert.deepEqual(local.options, { a: 1 });
    mkdirSync(join(d, 'node_modules/custody-plugin-pkg/lib'), { recursive: true });
    writeFileSync(join(d, 'node_modules/custody-plugin-pkg/package.json'), JSON.stringify({ name: 'custody-plugin-pkg', type: 'module', exports: { '.': { import: './lib/main.js' } } }));
    writeFileSync(join(d, 'node_modules/custody-plugin-pkg/lib/main.js'), "export const plugin = { name: 'pkg', apiVersion: 1, apply() {} };\n");
    mkdirSync(join(d, 'deeper'));
    assert.equal((await loadPlugin({ use: 'custody-plugin-pkg' }, { registry, baseDir: join(d, 'deeper') })).plugin.name, 'pkg');
    writeFileSync(join(d, 'v2.mjs'), "export default { name: 'future', apiVersion: 2, apply() {} };\n");
    await assert.rejects(loadPlugin({ use: './v2.mjs' }, { registry, baseDir: d }), (e: unknown) => isCustodyError(e) && e.code === 'PLUGIN_API_VERSION' && /plugin 'future'/.test(e.message));
    writeFileSync(join(d, 'notaplugin.mjs'), 'export default 42;\n');
    await assert.rejects(loadPlugin({ use: './notaplugin.mjs' }, { registry, baseDir: d }), (e: unknown) => isCustodyError(e) && e.code === 'PLUGIN_NOT_FOUND');
    await assert.rejects(loadPlugin({ use: './absent.mjs' }, { registry, baseDir: d }), (e: unknown) => isCustodyError(e) && e.code === 'PLUGIN_NOT_FOUND');
    await assert.rejects(loadPlugin({ use: 'no-such-package-xyz' }, { registry, baseDir: d }), (e: unknown) => isCustodyError(e) && e.code === 'PLUGIN_NOT_FOUND');
    writeFileSync(join(d, 'broken.mjs'), 'export default {;\n');
    await assert.rejects(loadPlugin({ use: './broken.mjs' }, { registry, baseDir: d }), (e: unknown) => isCustodyError(e) && e.code === 'PLUGIN_FAILED');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
