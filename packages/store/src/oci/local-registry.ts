// Starts a private distribution registry (Debian's docker-registry, the `registry` v2 binary) on
// a free loopback port with a temp config and storage folder — for tests and the offline demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface LocalRegistry {
  /** 'host:port', for image references. */
  host: string;
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  storageDir: string;
  stop(): Promise<void>;
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

export async function startLocalRegistry(opts: { binary?: string; timeoutMs?: number } = {}): Promise<LocalRegistry> {
  const binary = opts.binary ?? REGISTRY_BINARY;
  if (!(await access(binary).then(() => true, () => false))) {
    throw new CustodyError('COMMAND_NOT_FOUND', `${binary} is not installed: apt-get install docker-registry (or run .ci/services.sh)`);
  }
  const work = await mkdtemp(join(tmpdir(), 'custody-registry-'));
  const storageDir = join(work, 'storage');
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: custody-local-registry',
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
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15000);
  while (true) {
    if (exited !== undefined) {
      await rm(work, { recursive: true, force: true });
      throw new CustodyError('REGISTRY_ERROR', `docker-registry exited with ${exited}: ${stderr.trim()}`);
    }
    const ok = await fetch(`${url}/v2/`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new CustodyError('REGISTRY_ERROR', `docker-registry did not answer on ${url} within ${opts.timeoutMs ?? 15000} ms: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, url, storageDir, stop };
}
