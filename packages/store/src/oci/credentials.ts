// Registry credentials found where docker, cosign and oras find them: $DOCKER_CONFIG/config.json
// (else ~/.docker/config.json) — `auths.<host[:port]>` entries (`auth` = base64 user:password,
// `identitytoken`), and credential helpers (`credHelpers.<host>`, else `credsStore`) speaking
// docker's protocol: `docker-credential-<name> get` with the server URL on stdin, answering
// `{"ServerURL","Username","Secret"}` (Username `<token>` means Secret is an identity token).
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CustodyError } from '@custody/core';
import { writeFileAtomic } from '../atomic.ts';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker's `identitytoken`), exchanged at the token server. */
  identityToken?: string;
  /** A bearer token sent as is (docker's `registrytoken`). */
  registryToken?: string;
  /** Where they came from, for messages: 'config.json', 'docker-credential-NAME'. */
  source: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string; email?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(homedir(), '.docker');
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(dockerConfigDir(env), 'config.json');
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** The `auths` key docker uses for a registry host (Docker Hub keeps its historical URL key). */
export function authsKey(host: string): string {
  return ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host) ? DOCKER_HUB_KEY : host;
}

/** docker's ConvertToHostname: strip the scheme and any path from an `auths` key. */
function keyHost(key: string): string {
  let k = key.replace(/^https?:\/\//, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return k;
}

async function readDockerConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CustodyError('FILE_UNREADABLE', `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: path, cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CustodyError('MALFORMED_JSON', 'is not JSON (a docker config.json was expected)', { file: path });
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new CustodyError('CONFIG_INVALID', 'is not a JSON object', { file: path });
  const cfg = json as DockerConfig;
  if (cfg.auths !== undefined && (typeof cfg.auths !== 'object' || cfg.auths === null || Array.isArray(cfg.auths))) throw new CustodyError('CONFIG_INVALID', '"auths" is not an object', { file: path });
  return cfg;
}

function helperName(name: unknown, path: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new CustodyError('CONFIG_INVALID', `credential helper name ${JSON.stringify(name)} is not a plain name`, { file: path });
  }
  return name;
}

/** Runs `docker-credential-<name> <action>` with `input` on stdin. */
function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CustodyError('COMMAND_NOT_FOUND', e.code === 'ENOENT' ? `credential helper ${program} is not on PATH` : `credential helper ${program}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

async function fromHelper(name: string, host: string, env: NodeJS.ProcessEnv): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${name}`;
  const serverUrl = authsKey(host);
  const r = await runHelper(name, 'get', serverUrl, env);
  if (r.code !== 0) {
    // docker's helpers report a missing entry as this exact message (exit 1): not an error, just no credentials
    if (/credentials not found/i.test(r.stdout + r.stderr)) return undefined;
    throw new CustodyError('REGISTRY_AUTH', `credential helper ${program} get ${serverUrl} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  }
  let out: { Username?: unknown; Secret?: unknown };
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new CustodyError('REGISTRY_AUTH', `credential helper ${program} answered something that is not JSON`);
  }
  if (typeof out.Secret !== 'string' || (out.Username !== undefined && typeof out.Username !== 'string')) {
    throw new CustodyError('REGISTRY_AUTH', `credential helper ${program} answered without a string Secret`);
  }
  const source = program;
  if (out.Username === '<token>') return { identityToken: out.Secret, source };
  return { username: (out.Username as string | undefined) ?? '', password: out.Secret, source };
}

function fromAuthsEntry(entry: NonNullable<DockerConfig['auths']>[string], key: string, path: string): RegistryCredentials | undefined {
  if (!entry || typeof entry !== 'object') throw new CustodyError('CONFIG_INVALID', `auths.${key} is not an object`, { file: path });
  const creds: RegistryCredentials = { source: path };
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new CustodyError('CONFIG_INVALID', `auths.${key}.auth is not base64 of user:password`, { file: path });
    creds.username = decoded.slice(0, colon);
    creds.password = decoded.slice(colon + 1);
  } else if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    creds.username = entry.username;
    creds.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') creds.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') creds.registryToken = entry.registrytoken;
  return creds.username !== undefined || creds.identityToken || creds.registryToken ? creds : undefined;
}

/**
 * The credentials docker would use for `host` (`host[:port]`), or undefined (anonymous).
 * Order as in docker's config file store: credHelpers[host], then credsStore, then auths.
 */
export async function findCredentials(host: string, env: NodeJS.ProcessEnv = process.env): Promise<RegistryCredentials | undefined> {
  const path = dockerConfigPath(env);
  const cfg = await readDockerConfig(path);
  if (!cfg) return undefined;
  const key = authsKey(host);
  const helper = cfg.credHelpers?.[key] ?? cfg.credHelpers?.[host];
  if (helper !== undefined) return fromHelper(helperName(helper, path), host, env);
  if (cfg.credsStore !== undefined && cfg.credsStore !== '') {
    const found = await fromHelper(helperName(cfg.credsStore, path), host, env);
    if (found) return found;
  }
  const auths = cfg.auths ?? {};
  if (Object.hasOwn(auths, key)) return fromAuthsEntry(auths[key], key, path);
  for (const k of Object.keys(auths)) if (keyHost(k) === host) return fromAuthsEntry(auths[k], k, path);
  return undefined;
}

/**
 * Saves credentials as `docker login` does: into the credential helper configured for the host
 * (credHelpers, else credsStore), else as `auths.<host>.auth` in config.json — the rest of the
 * file kept, written atomically with mode 0600 (folder 0700 when created).
 */
export async function saveCredentials(host: string, username: string, password: string, env: NodeJS.ProcessEnv = process.env): Promise<{ where: string }> {
  const dir = dockerConfigDir(env);
  const path = join(dir, 'config.json');
  const cfg = (await readDockerConfig(path)) ?? {};
  const key = authsKey(host);
  const helper = cfg.credHelpers?.[key] ?? cfg.credHelpers?.[host] ?? (cfg.credsStore || undefined);
  if (helper !== undefined) {
    const name = helperName(helper, path);
    const r = await runHelper(name, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: password }), env);
    if (r.code !== 0) throw new CustodyError('REGISTRY_AUTH', `credential helper docker-credential-${name} store failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
    // docker keeps an empty auths entry so `docker logout`/listing know the registry
    cfg.auths = { ...(cfg.auths ?? {}), [key]: {} };
  } else {
    const auths = { ...(cfg.auths ?? {}) };
    const previous = Object.hasOwn(auths, key) ? auths[key] : {};
    const { identitytoken: _dropped, ...rest } = previous ?? {};
    auths[key] = { ...rest, auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
    cfg.auths = auths;
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new CustodyError('FILE_UNWRITABLE', `cannot create the folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: dir, cause: e });
  }
  await writeFileAtomic(path, `${JSON.stringify(cfg, null, '\t')}\n`, 0o600);
  return { where: helper !== undefined ? `docker-credential-${helper}` : path };
}
