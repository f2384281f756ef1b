// The store owns naming and writing: one naming module, one atomic sink (issue 13 item 2),
// and what a killed writer leaves behind (issue 12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';
import { spawnStalledAtRenames, waitForTempFile, waitGone } from '../../../test/helpers/stall.ts';
import {
  AttestationSink, isTempFileName, linkBundleFileName, linkFileName, parseAttestationFileName, statementFileName, stepOfAttestationFileName,
  sweepStaleTempFiles, tempFileNameFor, unfinishedLinkFileName, writeFileAtomic, LocalStore,
} from '../src/index.ts';

const KEY = '2f89b9272acfc8f4a0a0f094d789fdb0ba798b0fe41f2f5f417c12f0085ff498';
const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'custody-names-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('names: the ones users see, built in one place and read back the same', () => {
  assert.equal(linkFileName('package', KEY), 'package.2f89b927.link');
  assert.equal(linkBundleFileName('package', KEY), 'package.2f89b927.link.sigstore.json');
  assert.equal(statementFileName('train', KEY, 'bias', 0, 'bundle'), 'train.2f89b927.bias.sigstore.json');
  assert.equal(statementFileName('train', KEY, 'bias', 1, 'dsse'), 'train.2f89b927.bias-2.att.json');
  assert.equal(unfinishedLinkFileName('train', KEY), '.train.2f89b927.link-unfinished');
  assert.deepEqual(parseAttestationFileName('package.2f89b927.link'), { step: 'package', keyid8: '2f89b927', ext: 'link' });
  assert.deepEqual(parseAttestationFileName('package.2f89b927.link.sigstore.json'), { step: 'package', keyid8: '2f89b927', kind: 'link', ext: 'sigstore.json' });
  assert.deepEqual(parseAttestationFileName('fetch.data.2f89b927.bias-2.att.json'), { step: 'fetch.data', keyid8: '2f89b927', kind: 'bias-2', ext: 'att.json' });
  assert.deepEqual(parseAttestationFileName('build.2f89b927.json'), { step: 'build', keyid8: '2f89b927', ext: 'json' });
  assert.equal(stepOfAttestationFileName('/a/b/train.2f89b927.model.sigstore.json'), 'train');
  // what is not an attestation: dotfiles (temp files, preliminary links), paths, other names
  for (const n of ['.train.2f89b927.link-unfinished', `.${linkFileName('a', KEY)}.123.0badf00d.custody-tmp`, '.a.2f89b927.link', 'a/b.2f89b927.link', 'root.layout', 'model.safetensors', 'a.2F89B927.link']) {
    assert.equal(parseAttestationFileName(n), undefined, n);
  }
});

test('names: a step or plugin name that would make a path is bad input', () => {
  for (const step of ['', '../x', 'a/b', 'a\\b', '.', '..', '.hidden', 'nul\0']) {
    assert.throws(() => linkFileName(step, KEY), code('USAGE'), JSON.stringify(step));
    assert.throws(() => statementFileName(step, KEY, 'bias', 0, 'bundle'), code('USAGE'), JSON.stringify(step));
  }
  for (const plugin of ['../evil', '@acme/x', 'a/b', '']) assert.throws(() => statementFileName('s', KEY, plugin, 0, 'bundle'), code('USAGE'), plugin);
  assert.throws(() => linkFileName('s', 'not-hex'), code('USAGE'));
  assert.throws(() => new AttestationSink('/tmp').pathOf('../x'), code('USAGE'));
});

test('sink: a set lands whole or not at all; temp files are dotfiles no reader lists', async (t) => {
  const dir = tempDir(t);
  const sink = new AttestationSink(dir);
  const written = await sink.writeAll([{ name: linkFileName('s', KEY), data: 'link' }, { name: statementFileName('s', KEY, 'm', 0, 'bundle'), data: 'b' }]);
  assert.deepEqual(written, [join(dir, 's.2f89b927.link'), join(dir, 's.2f89b927.m.sigstore.json')]);
  assert.deepEqual(readdirSync(dir).sort(), ['s.2f89b927.link', 's.2f89b927.m.sigstore.json']);
  // the second file cannot be written (a folder has its name): the first is removed again
  const blocked = statementFileName('t', KEY, 'm', 0, 'bundle');
  (await import('node:fs')).mkdirSync(join(dir, blocked));
  await assert.rejects(sink.writeAll([{ name: linkFileName('t', KEY), data: 'link' }, { name: blocked, data: 'x' }]), code('FILE_UNWRITABLE'));
  assert.equal(existsSync(join(dir, 't.2f89b927.link')), false);
  assert.deepEqual(readdirSync(dir).filter(isTempFileName), []);
  const tmp = tempFileNameFor(join(dir, 'x.2f89b927.link'));
  assert.ok(isTempFileName(tmp) && tmp.startsWith('.x.2f89b927.link.'), tmp);
  assert.equal(parseAttestationFileName(tmp), undefined);
});

test('sweep: stale temp files of dead writers go, live writers\' and foreign files stay', async (t) => {
  const dir = tempDir(t);
  // a pid that is certainly gone: a child that has exited
  const dead = await new Promise<number>((res) => {
    const c = spawn(process.execPath, ['-e', '0']);
    c.on('exit', () => res(c.pid!));
  });
  const deadTemp = `.a.2f89b927.link.${dead}.0badf00d.custody-tmp`;
  const liveTemp = `.b.2f89b927.link.${process.ppid}.0badf00d.custody-tmp`;
  const oldLiveTemp = `.c.2f89b927.link.${process.ppid}.0badf00d.custody-tmp`;
  for (const n of [deadTemp, liveTemp, oldLiveTemp, '.foreign.tmp', 'keep.txt']) writeFileSync(join(dir, n), 'x');
  const twoDaysAgo = (Date.now() - 2 * 86_400_000) / 1000;
  utimesSync(join(dir, oldLiveTemp), twoDaysAgo, twoDaysAgo);
  assert.deepEqual(sweepStaleTempFiles(dir).sort(), [deadTemp, oldLiveTemp].sort());
  assert.deepEqual(readdirSync(dir).sort(), ['.foreign.tmp', liveTemp, 'keep.txt'].sort());
  // every atomic write sweeps its folder first (once per process)
  const other = tempDir(t);
  writeFileSync(join(other, deadTemp), 'x');
  await writeFileAtomic(join(other, 'f'), 'data');
  assert.deepEqual(readdirSync(other), ['f']);
  assert.equal(readFileSync(join(other, 'f'), 'utf8'), 'data');
});

test('the local store lists no temp file and reads the plain names pipeline run writes as attestations', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, `.train.2f89b927.link.sigstore.json.1.0badf00d.custody-tmp`), '{');
  const store = new LocalStore(dir);
  await store.put('train', KEY, 'bias', '{}');
  assert.deepEqual((await store.list()).map((e) => e.kind), ['bias']);
});

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test(`${signal} while the second file of a set is about to be renamed: never a partial file under a real name`, async (t) => {
    const dir = tempDir(t);
    const atomic = JSON.stringify(new URL('../src/atomic.ts', import.meta.url).href);
    const script = `
      const { AttestationSink } = await import(${atomic});
      await new AttestationSink(${JSON.stringify(dir)}).writeAll([
        { name: 'a.2f89b927.link', data: 'A'.repeat(1000) }, { name: 'b.2f89b927.m.sigstore.json', data: 'B'.repeat(100000) }, { name: 'c.2f89b927.link', data: 'C' },
      ]);`;
    const run = spawnStalledAtRenames(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { delayMs: 2000 });
    const { pid } = await waitForTempFile(dir, (n) => n.startsWith('.b.'));
    process.kill(pid, signal);
    await run.exited;
    await waitGone(pid);
    const names = readdirSync(dir).sort();
    if (signal === 'SIGTERM') {
      // the temp file is removed and the set's first file too: nothing of the set is left
      assert.deepEqual(names, [], run.stderr());
    } else {
      // kill -9: whole files under real names only; the temp file stays, skipped by readers…
      for (const n of names.filter((x) => !isTempFileName(x))) assert.equal(readFileSync(join(dir, n), 'utf8'), n.startsWith('a.') ? 'A'.repeat(1000) : 'B'.repeat(100000), n);
      assert.ok(!names.includes('c.2f89b927.link'));
      assert.equal(names.filter(isTempFileName).length, 1, names.join(', '));
      assert.deepEqual(names.filter((n) => parseAttestationFileName(n)), names.filter((n) => !isTempFileName(n)));
      // …and removed by the next write into the folder (the writer is gone)
      await new AttestationSink(dir).writeAll([{ name: 'd.2f89b927.link', data: 'D' }]);
      assert.deepEqual(readdirSync(dir).filter(isTempFileName), []);
    }
  });
}
