/**
 * `custody admission serve --config FILE`: the YAML configuration, its policies, and everything
 * they name (layouts, layout keys, TLS files, the VSA key), read and checked up front. Paths are
 * relative to the config file. A configuration is only ever used whole: loading either returns
 * a complete LoadedConfig (every layout parsed and its signature verified by every layout key)
 * or throws a CustodyError naming the file and the problem.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CustodyError, isCustodyError } from '@custody/core/errors';
import { parseSignedFile, type SignedFile } from '@custody/core/envelope';
import { parsePublicKeyText, type PublicKey } from '@custody/core/keys';
import { verifySupplyChain } from '@custody/core/verify';
import { splitPath, type CustomResourcePath } from './review.ts';

export type PolicyMode = 'enforce' | 'warn' | 'audit';
export type NoMatch = 'deny' | 'allow' | 'warn';

export interface LoadedPolicy {
  name: string;
  images: string[];
  namespaces?: string[];
  mode: PolicyMode;
  plainHttp: boolean;
  /** 'skip' (default): inspections are not run and the response says so; 'require': deny. */
  inspections: 'skip' | 'require';
  /** The layout file as configured. */
  layoutSource: string;
  /**
   * A private copy of the bytes that were loaded and whose signature was checked: what every
   * verification reads, so an edit of the file on disk (a good or a refused reload) never
   * changes what a loaded policy verifies against.
   */
  layoutPath: string;
  layoutBytes: Buffer;
  layout: SignedFile<unknown>;
  /** sha256:<hex> of the layout file's bytes. */
  layoutDigest: string;
  layoutExpires: Date | undefined;
  layoutKeyPaths: string[];
  layoutKeys: PublicKey[];
  params?: Record<string, string>;
  /** sha256 over who is trusted and how: layout keyids, params, inspection handling. */
  trustDigest: string;
  /** Names of the layout's inspections (not run at admission). */
  inspectionNames: string[];
  /** The layout's last step: whose products the image digest must be. */
  lastStep?: string;
}

export interface LoadedConfig {
  file: string;
  listen: { host: string; port: number };
  tls: { certPath: string; keyPath: string; cert: Buffer; key: Buffer };
  noMatch: NoMatch;
  /** The ValidatingWebhookConfiguration's timeoutSeconds. */
  timeoutSeconds: number;
  /** Internal deadline for one review, always below timeoutSeconds. */
  deadlineMs: number;
  cache: { ttlSeconds: number; failureTtlSeconds: number; tagTtlSeconds: number; maxEntries: number };
  excludeNamespaces: string[];
  customResources: CustomResourcePath[];
  vsa?: { keyPath: string; dir: string; reuseSeconds: number; verifierId?: string };
  policies: LoadedPolicy[];
  /** sha256 over the bytes of every file this config was made from (what reload compares). */
  fingerprint: string;
  /** Every file read, so a change to any of them triggers a reload. */
  inputs: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const sha256Hex = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

class ConfigReader {
  readonly inputs = new Map<string, Buffer>();
  constructor(readonly file: string) {}
  fail(message: string, file = this.file): never {
    throw new CustodyError('CONFIG_INVALID', message, { file });
  }
  path(value: unknown, at: string): string {
    if (typeof value !== 'string' || value === '') this.fail(`${at}: expected a file path`);
    return resolve(dirname(this.file), value);
  }
  async read(path: string, what: string): Promise<Buffer> {
    try {
      const bytes = await readFile(path);
      this.inputs.set(path, bytes);
      return bytes;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CustodyError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `${what}: ${code === 'ENOENT' ? 'no such file' : `cannot read: ${code ?? (e as Error).message}`}`, { file: path, cause: e });
    }
  }
  keys(obj: Record<string, unknown>, allowed: string[], at: string): void {
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) this.fail(`${at}: unknown field ${JSON.stringify(k)} (known: ${allowed.join(', ')})`);
  }
  strings(value: unknown, at: string, { optional = false, nonEmpty = true } = {}): string[] | undefined {
    if (value === undefined && optional) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '') || (nonEmpty && value.length === 0)) this.fail(`${at}: expected a list of strings`);
    return value as string[];
  }
  number(value: unknown, at: string, dflt: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
    if (value === undefined) return dflt;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) this.fail(`${at}: expected a number from ${min} to ${max}`);
    return value;
  }
  oneOf<T extends string>(value: unknown, at: string, options: readonly T[], dflt: T): T {
    if (value === undefined) return dflt;
    if (typeof value !== 'string' || !options.includes(value as T)) this.fail(`${at}: expected one of ${options.join(', ')}, got ${JSON.stringify(value)}`);
    return value as T;
  }
}

function parseListen(r: ConfigReader, value: unknown): { host: string; port: number } {
  if (value === undefined) return { host: '0.0.0.0', port: 8443 };
  const m = typeof value === 'string' ? /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value) : null;
  if (!m || Number(m[2]) > 65535) r.fail(`listen: expected HOST:PORT (e.g. 127.0.0.1:8443), got ${JSON.stringify(value)}`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Verifies the layout's signature with every layout key, as `custody verify` does first. */
async function checkLayoutSignature(r: ConfigReader, policy: string, path: string, layout: SignedFile<unknown>, keys: PublicKey[]): Promise<void> {
  const report = await verifySupplyChain({ layout, layoutKeys: keys, now: new Date(), links: { read: async () => undefined }, layoutFile: path });
  const sig = report.checks.find((c) => c.check === 'layout-signature');
  if (!sig || sig.verdict !== 'pass') r.fail(`policy ${policy}: layout signature does not verify: ${sig?.message ?? report.failure?.message ?? 'not checked'}`, path);
}

let snapshotRoot: Promise<string> | undefined;

/**
 * Copies the loaded layout (and the trusted root it names by a path below its folder, which the
 * layout pins by digest) into this process's private folder, named by the layout's digest.
 */
async function snapshotLayout(path: string, bytes: Buffer, trustedRootPath: unknown): Promise<string> {
  snapshotRoot ??= mkdtemp(join(tmpdir(), 'custody-admission-layouts-')).then((dir) => {
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  });
  const dir = join(await snapshotRoot, createHash('sha256').update(bytes).update(path).digest('hex'));
  await mkdir(dir, { recursive: true });
  const out = join(dir, basename(path));
  await writeFile(out, bytes, { mode: 0o600 });
  if (typeof trustedRootPath === 'string' && !isAbsolute(trustedRootPath) && !normalize(trustedRootPath).startsWith('..')) {
    const target = join(dir, normalize(trustedRootPath));
    await mkdir(dirname(target), { recursive: true });
    // missing: the verification then fails closed on the pinned trust root, as it would have
    await copyFile(resolve(dirname(path), trustedRootPath), target).catch(() => undefined);
  }
  return out;
}

async function loadPolicy(r: ConfigReader, raw: unknown, i: number, names: Set<string>): Promise<LoadedPolicy> {
  const at = `policies[${i}]`;
  if (!isObject(raw)) r.fail(`${at}: expected a mapping`);
  r.keys(raw, ['name', 'images', 'namespaces', 'layout', 'layoutKeys', 'params', 'mode', 'plainHttp', 'inspections'], at);
  if (typeof raw.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(raw.name)) r.fail(`${at}.name: expected a name of letters, digits, '.', '_' and '-'`);
  if (names.has(raw.name)) r.fail(`${at}.name: policy ${raw.name} is defined twice`);
  names.add(raw.name);
  const name = raw.name;
  const images = r.strings(raw.images, `${at}.images`)!;
  const namespaces = r.strings(raw.namespaces, `${at}.namespaces`, { optional: true });
  const mode = r.oneOf(raw.mode, `${at}.mode`, ['enforce', 'warn', 'audit'] as const, 'enforce');
  const inspections = r.oneOf(raw.inspections, `${at}.inspections`, ['skip', 'require'] as const, 'skip');
  if (raw.plainHttp !== undefined && typeof raw.plainHttp !== 'boolean') r.fail(`${at}.plainHttp: expected true or false`);
  let params: Record<string, string> | undefined;
  if (raw.params !== undefined) {
    if (!isObject(raw.params)) r.fail(`${at}.params: expected a mapping of NAME: value`);
    params = {};
    for (const [k, v] of Object.entries(raw.params)) {
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k)) r.fail(`${at}.params: ${JSON.stringify(k)} is not a parameter name`);
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') r.fail(`${at}.params.${k}: expected a string`);
      params[k] = String(v);
    }
  }
  const layoutPath = r.path(raw.layout, `${at}.layout`);
  const keyPaths = r.strings(raw.layoutKeys, `${at}.layoutKeys`)!.map((k, j) => r.path(k, `${at}.layoutKeys[${j}]`));
  const layoutBytes = await r.read(layoutPath, `policy ${name}: layout`);
  const layout = parseSignedFile(layoutBytes.toString('utf8'), layoutPath);
  const layoutKeys: PublicKey[] = [];
  for (const p of keyPaths) {
    const text = (await r.read(p, `policy ${name}: layout key`)).toString('utf8');
    layoutKeys.push(parsePublicKeyText(text, p));
  }
  await checkLayoutSignature(r, name, layoutPath, layout, layoutKeys);
  const body = layout.body as { expires?: unknown; inspect?: { name?: unknown }[]; steps?: { name?: unknown }[]; trustedRoot?: { path?: unknown } };
  const snapshot = await snapshotLayout(layoutPath, layoutBytes, body.trustedRoot?.path);
  const expires = typeof body.expires === 'string' ? new Date(body.expires) : undefined;
  const inspectionNames = Array.isArray(body.inspect) ? body.inspect.map((x) => String(x?.name)) : [];
  const last = Array.isArray(body.steps) ? body.steps.at(-1)?.name : undefined;
  const trustDigest = `sha256:${sha256Hex(JSON.stringify({ keys: layoutKeys.map((k) => k.keyid).sort(), params: params ?? {}, inspections }))}`;
  return {
    name, images, ...(namespaces ? { namespaces } : {}), mode, plainHttp: raw.plainHttp === true, inspections,
    layoutSource: layoutPath, layoutPath: snapshot, layoutBytes, layout, layoutDigest: `sha256:${sha256Hex(layoutBytes)}`,
    layoutExpires: expires && !Number.isNaN(expires.getTime()) ? expires : undefined,
    layoutKeyPaths: keyPaths, layoutKeys, ...(params ? { params } : {}), trustDigest, inspectionNames,
    ...(typeof last === 'string' ? { lastStep: last } : {}),
  };
}

export async function loadConfig(file: string): Promise<LoadedConfig> {
  const path = resolve(file);
  const r: ConfigReader = new ConfigReader(path);
  const text = (await r.read(path, 'config')).toString('utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false, maxAliasCount: 100 });
  } catch (e) {
    throw new CustodyError('MALFORMED_YAML', `not YAML: ${(e as Error).message.split('\n')[0]}`, { file: path, cause: e });
  }
  if (!isObject(doc)) r.fail('expected a mapping with listen, tls and policies');
  r.keys(doc, ['listen', 'tls', 'noMatch', 'timeoutSeconds', 'deadlineMs', 'cache', 'excludeNamespaces', 'customResources', 'vsa', 'policies'], 'config');
  const listen = parseListen(r, doc.listen);
  if (!isObject(doc.tls)) r.fail('tls: expected { cert: FILE, key: FILE } (the API server only calls webhooks over HTTPS)');
  r.keys(doc.tls, ['cert', 'key'], 'tls');
  const certPath = r.path(doc.tls.cert, 'tls.cert');
  const keyPath = r.path(doc.tls.key, 'tls.key');
  const cert = await r.read(certPath, 'TLS certificate');
  const key = await r.read(keyPath, 'TLS key');
  const noMatch = r.oneOf(doc.noMatch, 'noMatch', ['deny', 'allow', 'warn'] as const, 'deny');
  const timeoutSeconds = r.number(doc.timeoutSeconds, 'timeoutSeconds', 10, { min: 1, max: 30 });
  // Leave the API server time to receive the answer: a deadline at its timeout is a timeout.
  const deadlineMs = r.number(doc.deadlineMs, 'deadlineMs', Math.max(500, timeoutSeconds * 1000 - 2000), { min: 1, max: timeoutSeconds * 1000 - 1 });
  let cache = { ttlSeconds: 300, failureTtlSeconds: 10, tagTtlSeconds: 5, maxEntries: 10_000 };
  if (doc.cache !== undefined) {
    if (!isObject(doc.cache)) r.fail('cache: expected a mapping');
    r.keys(doc.cache, ['ttlSeconds', 'failureTtlSeconds', 'tagTtlSeconds', 'maxEntries'], 'cache');
    cache = {
      ttlSeconds: r.number(doc.cache.ttlSeconds, 'cache.ttlSeconds', cache.ttlSeconds, { max: 86_400 }),
      failureTtlSeconds: r.number(doc.cache.failureTtlSeconds, 'cache.failureTtlSeconds', cache.failureTtlSeconds, { max: 300 }),
      tagTtlSeconds: r.number(doc.cache.tagTtlSeconds, 'cache.tagTtlSeconds', cache.tagTtlSeconds, { max: 300 }),
      maxEntries: r.number(doc.cache.maxEntries, 'cache.maxEntries', cache.maxEntries, { min: 1, max: 1_000_000 }),
    };
  }
  const excludeNamespaces = r.strings(doc.excludeNamespaces, 'excludeNamespaces', { optional: true, nonEmpty: false }) ?? ['kube-system'];
  const customResources: CustomResourcePath[] = [];
  if (doc.customResources !== undefined) {
    if (!Array.isArray(doc.customResources)) r.fail('customResources: expected a list');
    doc.customResources.forEach((c, i) => {
      const at = `customResources[${i}]`;
      if (!isObject(c)) r.fail(`${at}: expected a mapping`);
      r.keys(c, ['group', 'kind', 'paths', 'type'], at);
      if (typeof c.group !== 'string' || typeof c.kind !== 'string' || c.kind === '') r.fail(`${at}: expected group and kind`);
      const paths = r.strings(c.paths, `${at}.paths`)!;
      for (const p of paths) {
        try {
          splitPath(p);
        } catch (e) {
          if (isCustodyError(e)) r.fail(`${at}.paths: ${e.message}`);
          throw e;
        }
      }
      customResources.push({ group: c.group, kind: c.kind, paths, type: r.oneOf(c.type, `${at}.type`, ['image', 'model'] as const, 'model') });
    });
  }
  let vsa: LoadedConfig['vsa'];
  if (doc.vsa !== undefined) {
    if (!isObject(doc.vsa)) r.fail('vsa: expected { key: FILE, dir: FOLDER }');
    r.keys(doc.vsa, ['key', 'dir', 'reuseSeconds', 'verifierId'], 'vsa');
    const vkey = r.path(doc.vsa.key, 'vsa.key');
    await r.read(vkey, 'VSA signing key');
    if (doc.vsa.verifierId !== undefined && (typeof doc.vsa.verifierId !== 'string' || !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(doc.vsa.verifierId))) r.fail('vsa.verifierId: expected a URI');
    vsa = { keyPath: vkey, dir: r.path(doc.vsa.dir, 'vsa.dir'), reuseSeconds: r.number(doc.vsa.reuseSeconds, 'vsa.reuseSeconds', 3600, { max: 30 * 86_400 }), ...(typeof doc.vsa.verifierId === 'string' ? { verifierId: doc.vsa.verifierId } : {}) };
  }
  if (!Array.isArray(doc.policies)) r.fail('policies: expected a list');
  const names = new Set<string>();
  const policies: LoadedPolicy[] = [];
  for (let i = 0; i < doc.policies.length; i++) policies.push(await loadPolicy(r, doc.policies[i], i, names));
  const fingerprint = sha256Hex([...r.inputs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, b]) => `${p}\0${sha256Hex(b)}`).join('\n'));
  return {
    file: path, listen, tls: { certPath, keyPath, cert, key }, noMatch, timeoutSeconds, deadlineMs, cache, excludeNamespaces,
    customResources, ...(vsa ? { vsa } : {}), policies, fingerprint, inputs: [...r.inputs.keys()],
  };
}

/** The fingerprint of the files a loaded config was made from, as they are now (cheap: no parsing). */
export async function currentFingerprint(inputs: string[]): Promise<string> {
  const parts: [string, string][] = [];
  for (const p of inputs) {
    const b = await readFile(p).catch(() => Buffer.from('\0missing'));
    parts.push([p, sha256Hex(b)]);
  }
  return sha256Hex(parts.sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, h]) => `${p}\0${h}`).join('\n'));
}
