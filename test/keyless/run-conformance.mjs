// Runs sigstore-conformance's bundle-verify cases against the built `custody verify-bundle`,
// invoking it exactly as the suite's client does (test/client.py build_verify_args): once with
// the artifact path and once with its sha256 digest. Needs a checkout of the suite's
// test/assets/bundle-verify and, for cases without their own trusted_root.json, the public-good
// trusted root (the suite always passes one explicitly in our setup: no network).
//
//   node test/keyless/run-conformance.mjs ASSETS/bundle-verify PUBLIC_GOOD_TRUSTED_ROOT.json
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [assets, publicRoot] = process.argv.slice(2);
if (!assets || !publicRoot) {
  console.error('usage: node test/keyless/run-conformance.mjs ASSETS/bundle-verify PUBLIC_GOOD_TRUSTED_ROOT.json');
  process.exit(2);
}
const bin = fileURLToPath(new URL('../../packages/cli/bin/custody.mjs', import.meta.url));
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

let pass = 0;
const failures = [];
for (const name of readdirSync(assets).sort()) {
  const dir = join(assets, name);
  if (!statSync(dir).isDirectory()) continue;
  const read = (f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : undefined);
  const artifact = existsSync(join(dir, 'artifact')) ? join(dir, 'artifact') : join(assets, 'a.txt');
  const args = ['verify-bundle', '--bundle', join(dir, 'bundle.sigstore.json')];
  if (existsSync(join(dir, 'key.pub'))) args.push('--key', join(dir, 'key.pub'));
  else args.push('--certificate-identity', read('identity') ?? IDENTITY, '--certificate-oidc-issuer', read('issuer') ?? ISSUER);
  args.push('--trusted-root', existsSync(join(dir, 'trusted_root.json')) ? join(dir, 'trusted_root.json') : publicRoot);
  const expectFail = name.endsWith('_fail');
  for (const mode of ['path', 'digest']) {
    const input = mode === 'path' ? artifact : `sha256:${createHash('sha256').update(readFileSync(artifact)).digest('hex')}`;
    const r = spawnSync(process.execPath, [bin, ...args, input], { encoding: 'utf8' });
    const ok = expectFail ? r.status !== 0 : r.status === 0;
    if (ok) pass++;
    else failures.push(`${name} [${mode}] exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  }
}
console.log(`${pass} passed, ${failures.length} failed`);
for (const f of failures) console.log(`  FAIL ${f}`);
process.exit(failures.length ? 1 : 0);
