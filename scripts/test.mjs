// Runs every test file with node:test (TypeScript through tsx). One process per file,
// two at a time on this 2-core target.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = ['packages', 'plugins', 'test'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures') continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p);
    else if (/\.test\.ts$/.test(name)) files.push(relative(root, p));
  }
}
for (const r of roots) walk(join(root, r));
// The suite tests against real peers; name what is missing instead of failing obscurely.
const peers = [
  ['in-toto-verify', 'Debian package in-toto (the python reference 1.3.1)'],
  ['buildah', 'Debian package buildah'],
  ['docker-registry', 'Debian package docker-registry'],
  ['git', 'Debian package git'],
  ['openssl', 'Debian package openssl'],
  ['kubectl', 'Debian package kubernetes-client'],
  ['strace', 'Debian package strace'],
  ['chromium', 'Debian package chromium'],
  ['skopeo', 'Debian package skopeo'],
];
const missing = peers.filter(([cmd]) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0);
if (missing.length) {
  console.error(`The test suite needs: ${missing.map(([c, p]) => `${c} (${p})`).join(', ')}.`);
  console.error('Install them with: sudo apt-get install -y in-toto buildah docker-registry git openssl kubernetes-client strace chromium skopeo  (.ci/run does this)');
  process.exit(1);
}
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...selected], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
