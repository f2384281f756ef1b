// Starts a private distribution registry (Debian's docker-registry, the `registry` v2 binary) on
// a free loopback port with a temp config and storage folder — for tests and the offline demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface LocalRegistry {
  /** 'host:port', for image references. */
  host: string;
  port: number;
  /** http://127.0.0.1:PORT (https:// with tls) */
  url: string;
  storageDir: string;
  stop(): Promise<void>;
}

/** True once something answers HTTP(S) on the port (any status: auth may be on). */
function answers(port: number, tls: boolean): Promise<boolean> {
  return new Promise((res) => {
    const req = (tls ? httpsRequest : httpRequest)({ host: '127.0.0.1', port, path: '/v2/', method: 'GET', rejectUnauthorized: false, timeout: 1000 }, (r) => {
      r.resume();
      res(true);
    });
    req.on('error', () => res(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
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

export interface LocalRegistryOptions {
  binary?: string;
  timeoutMs?: number;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certificate: string; key: string };
  /** htpasswd file (bcrypt entries): basic auth. */
  htpasswd?: string;
  /** Token auth: the realm (token server URL), service, issuer, and the PEM bundle its signing certificates chain to. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Listen on this port (default: a free one), e.g. to restart a stopped registry in place. */
  port?: number;
  /** Reuse this storage folder (default: a new temp folder, removed on stop). */
  storageDir?: string;
}

export async function startLocalRegistry(opts: LocalRegistryOptions = {}): Promise<LocalRegistry> {
  const binary = opts.binary ?? REGISTRY_BINARY;
  if (!(await access(binary).then(() => true, () => false))) {
    throw new CustodyError('COMMAND_NOT_FOUND', `${binary} is not installed: apt-get install docker-registry (or run .ci/services.sh)`);
  }
  const work = await mkdtemp(join(tmpdir(), 'custody-registry-'));
  const storageDir = opts.storageDir ?? join(work, 'storage');
  const port = opts.port ?? (await freePort());
  const q = (v: string) => JSON.stringify(v);
  const auth = opts.htpasswd
    ? ['auth:', '  htpasswd:', '    realm: custody-test', `    path: ${q(opts.htpasswd)}`]
    : opts.token
      ? ['auth:', '  token:', `    realm: ${q(opts.token.realm)}`, `    service: ${q(opts.token.service)}`, `    issuer: ${q(opts.token.issuer)}`, `    rootcertbundle: ${q(opts.token.rootCertBundle)}`]
      : [];
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(storageDir)}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: custody-local-registry',
    ...(opts.tls ? ['  tls:', `    certificate: ${q(opts.tls.certificate)}`, `    key: ${q(opts.tls.key)}`] : []),
    ...auth,
    '',
  ].join('\n');
  const configPath = join(work, 'config.yml');
  await writeFile(configPath, config);
  const child: ChildProcess = spawn(binary, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const stop = async () => {
    if (exited === undefined) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
      if (exited === undefined) child.kill('SIGKILL');
    }
    await rm(work, { recursive: true, force: true });
    if (opts.storageDir === undefined) await rm(storageDir, { recursive: true, force: true });
  };
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15000);
  while (true) {
    if (exited !== undefined) {
      await rm(work, { recursive: true, force: true });
      throw new CustodyError('REGISTRY_ERROR', `docker-registry exited with ${exited}: ${stderr.trim()}`);
    }
    const ok = await answers(port, !!opts.tls);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new CustodyError('REGISTRY_ERROR', `docker-registry did not answer on ${url} within ${opts.timeoutMs ?? 15000} ms: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, url, storageDir, stop };
}
