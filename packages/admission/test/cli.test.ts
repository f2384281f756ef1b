// `custody admission serve` as a process: bad input is one line on stderr and exit 2; a good
// config serves HTTPS until SIGTERM, then exits 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CUSTODY_BIN, custody } from '../../../test/helpers/cli.ts';

const freePort = () => new Promise<number>((r) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});

describe('custody admission serve (the command)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'custody-admission-cli-'));
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')]);
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('a config error is one line naming the file, exit 2', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'listen: 127.0.0.1:1\ntls: { cert: tls.crt, key: tls.key }\npolicies:\n  - name: p\n    images: ["x/*"]\n    layout: missing.layout\n    layoutKeys: [owner.pub]\n');
    const r = await custody(['admission', 'serve', '--config', join(dir, 'bad.yaml')]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `custody: ${join(dir, 'missing.layout')}: policy p: layout: no such file\n`);
    await writeFile(join(dir, 'unknown.yaml'), 'listen: 127.0.0.1:1\ntls: { cert: tls.crt, key: tls.key }\nnomatch: allow\npolicies: []\n');
    const u = await custody(['admission', 'serve', '--config', join(dir, 'unknown.yaml')]);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /^custody: \S+unknown\.yaml: config: unknown field "nomatch" \(known: listen, tls, noMatch, /);
    assert.equal(u.stderr.split('\n').length, 2);
  });

  it('serves /healthz over HTTPS and stops on SIGTERM with exit 0', async () => {
    const port = await freePort();
    await writeFile(join(dir, 'ok.yaml'), `listen: 127.0.0.1:${port}\ntls: { cert: tls.crt, key: tls.key }\npolicies: []\n`);
    const child = spawn(process.execPath, [CUSTODY_BIN, 'admission', 'serve', '--config', join(dir, 'ok.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 100 && !stderr.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(stderr, new RegExp(`^custody admission: listening on https://127\\.0\\.0\\.1:${port} \\(POST /validate, GET /healthz /readyz /metrics\\), 0 policies\\n`));
    const ca = await readFile(join(dir, 'tls.crt'));
    const body = await new Promise<string>((resolve, reject) => {
      request({ hostname: '127.0.0.1', port, path: '/healthz', ca }, (res) => {
        let t = '';
        res.setEncoding('utf8').on('data', (c) => (t += c)).on('end', () => resolve(t));
      }).on('error', reject).end();
    });
    assert.equal(body, 'ok\n');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
