// The README's main job: a small supply chain recorded and verified end to end, offline.
// Until the ML pipeline demo lands this records a two-step chain (write-code → package)
// with two functionaries, signs a layout, and verifies it with `custody verify`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'packages/cli/bin/custody.mjs');
const dir = join(root, '.custody-demo');
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'work/src'), { recursive: true });

function custody(args, cwd = dir, { allowFail = false } = {}) {
  process.stdout.write(`\n$ custody ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, stdio: 'inherit' });
  if (r.status !== 0 && !allowFail) process.exit(r.status ?? 1);
  return r.status;
}

custody(['keygen', 'owner']);
custody(['keygen', 'alice']);
custody(['keygen', '--type', 'ecdsa-p256', 'bob']);
writeFileSync(join(dir, 'work/src/app.py'), 'print("hello from custody")\n');
writeFileSync(join(dir, 'layout.yaml'), `# Two steps: alice writes the code, bob packages exactly that code.
expires: 2030-01-01T00:00:00Z
readme: custody demo supply chain
keys: [alice.pub, bob.pub]
steps:
  - name: write-code
    pubkeys: [alice.pub]
    expected_command: []
    expected_products:
      - [CREATE, src/app.py]
      - [DISALLOW, '*']
  - name: package
    pubkeys: [bob.pub]
    expected_command: [tar, czf, app.tar.gz, src]
    expected_materials:
      - [MATCH, src/*, WITH, PRODUCTS, FROM, write-code]
      - [DISALLOW, '*']
    expected_products:
      - [CREATE, app.tar.gz]
      - [ALLOW, src/*]
      - [DISALLOW, '*']
`);
const work = join(dir, 'work');
custody(['run', '--step', 'write-code', '--key', '../alice', '--products', 'src', '--out-dir', '../links', '--no-command'], work);
custody(['run', '--step', 'package', '--key', '../bob', '--materials', 'src', '--products', 'src', 'app.tar.gz', '--out-dir', '../links', '--', 'tar', '--mtime=2020-01-01', '-czf', 'app.tar.gz', 'src'], work);
custody(['layout', 'sign', '--key', 'owner', 'layout.yaml', '-o', 'root.layout']);
const status = custody(['verify', '--layout', 'root.layout', '--layout-key', 'owner.pub', '--link-dir', 'links']);
process.exit(status ?? 1);
