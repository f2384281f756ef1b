/**
 * `custody admission serve`: the HTTPS endpoint the API server calls. POST /validate answers
 * AdmissionReviews (always HTTP 200 with the review's uid once a body was read, so a deny is a
 * deny and not a webhook failure); /healthz says the process is up; /readyz says a complete
 * configuration is loaded (every layout signature verified); /metrics is Prometheus text.
 * The configuration and every file it names are polled; a change loads a whole new
 * configuration, and a bad one keeps the old and says why.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isCustodyError } from '@custody/core/errors';
import { currentFingerprint, loadConfig, type LoadedConfig } from './config.ts';
import { AdmissionController, deny, type VsaHooks } from './decide.ts';
import { AdmissionMetrics } from './metrics.ts';
import { ociRegistryAccess, type RegistryAccess } from './registry.ts';
import { envelope } from './review.ts';
import { engineVerify, type VerifyFunction } from './verify.ts';
import { fileVsaStore } from './vsa.ts';

/** The largest review body read: Kubernetes objects are limited to ~1.5 MiB in etcd. */
const MAX_BODY = 3 * 1024 * 1024;

export interface ServeOptions {
  configFile: string;
  /** Overrides (tests): the final verify, registry access, clock, log sink. */
  verify?: VerifyFunction;
  registry?: RegistryAccess;
  now?: () => Date;
  log?: (entry: Record<string, unknown>) => void;
  /** How often the config and its files are checked for changes (ms); 0 turns polling off. */
  reloadIntervalMs?: number;
  /** Listen here instead of the config's `listen` (tests: port 0). */
  listen?: { host: string; port: number };
}

export interface AdmissionServer {
  server: Server;
  /** https://host:port */
  url: string;
  port: number;
  metrics: AdmissionMetrics;
  controller: AdmissionController;
  config(): LoadedConfig;
  /** Checks the files now; resolves true when a new config was loaded, false when none changed, throws when the new one is bad (the old stays). */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve('too-large');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startAdmissionServer(opts: ServeOptions): Promise<AdmissionServer> {
  const log = opts.log ?? ((e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(e)}\n`));
  let config = await loadConfig(opts.configFile);
  const metrics = new AdmissionMetrics();
  let vsa: VsaHooks | undefined = config.vsa ? await fileVsaStore(config.vsa) : undefined;
  const vsaProxy: VsaHooks = {
    reuse: (p, d, n) => (vsa ? vsa.reuse(p, d, n) : Promise.resolve(false)),
    record: (r) => (vsa ? vsa.record(r) : Promise.resolve()),
  };
  const controller = new AdmissionController(config, {
    registry: opts.registry ?? ociRegistryAccess(),
    verify: opts.verify ?? engineVerify,
    metrics,
    now: opts.now,
    log,
    vsa: vsaProxy,
  });
  let lastFailure: string | undefined;

  const server = createServer({ cert: config.tls.cert, key: config.tls.key }, (req, res) => {
    handle(req, res).catch((e) => {
      log({ level: 'error', msg: 'request failed', error: (e as Error)?.stack ?? String(e) });
      if (!res.headersSent) send(res, 500, 'internal error\n');
    });
  });
  // The API server keeps connections open; a client that trickles a request does not hold one long.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n');
    if (req.method === 'GET' && path === '/readyz') {
      // Loaded means every policy's layout was read and its signature verified (loadConfig).
      return send(res, 200, `ready: ${config.policies.length} polic${config.policies.length === 1 ? 'y' : 'ies'} loaded${lastFailure ? `; the last reload failed: ${lastFailure}` : ''}\n`);
    }
    if (req.method === 'GET' && path === '/metrics') return send(res, 200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
    if (path === '/validate') {
      if (req.method !== 'POST') return send(res, 405, 'POST an AdmissionReview\n');
      const body = await readBody(req);
      let parsed: unknown;
      let answer;
      if (body === 'too-large') {
        answer = envelope(deny('', `custody: ADMISSION_REVIEW_INVALID: the review is larger than ${MAX_BODY} bytes`));
      } else {
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          parsed = undefined;
        }
        answer = parsed === undefined
          ? envelope(deny('', 'custody: ADMISSION_REVIEW_INVALID: the body is not JSON'))
          : await controller.review(parsed);
        if (parsed === undefined) {
          metrics.requests.inc({ kind: 'unknown' });
          metrics.decisions.inc({ result: 'denied', reason: 'ADMISSION_REVIEW_INVALID' });
        }
      }
      return send(res, 200, JSON.stringify(answer), 'application/json');
    }
    return send(res, 404, 'not found\n');
  }

  async function reload(): Promise<boolean> {
    const fp = await currentFingerprint(config.inputs);
    if (fp === config.fingerprint && !lastFailure) return false;
    let next: LoadedConfig;
    try {
      next = await loadConfig(opts.configFile);
    } catch (e) {
      const why = isCustodyError(e) ? `${e.file ? `${e.file}: ` : ''}${e.message}` : String((e as Error)?.message ?? e);
      if (why !== lastFailure) {
        metrics.reloads.inc({ result: 'failure' });
        log({ level: 'error', msg: 'config reload failed; keeping the previous configuration', error: why });
      }
      lastFailure = why;
      throw e;
    }
    const changed = next.fingerprint !== config.fingerprint;
    lastFailure = undefined;
    if (!changed) return false;
    if (next.tls.cert.compare(config.tls.cert) !== 0 || next.tls.key.compare(config.tls.key) !== 0) server.setSecureContext({ cert: next.tls.cert, key: next.tls.key });
    if (next.listen.host !== config.listen.host || next.listen.port !== config.listen.port) {
      log({ level: 'warn', msg: 'listen changed: restart the server to apply it' });
    }
    vsa = next.vsa ? await fileVsaStore(next.vsa) : undefined;
    config = next;
    controller.config = next;
    metrics.reloads.inc({ result: 'success' });
    log({ level: 'info', msg: 'configuration reloaded', policies: next.policies.map((p) => p.name) });
    return true;
  }

  // Load the verifier and sigstore now, so the first review pays for a verification, not for
  // loading modules (a cold cache, not a cold process).
  if (!opts.verify) await Promise.all([import('@custody/engine/verify'), import('@custody/sign')]);
  const listen = opts.listen ?? config.listen;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  const interval = opts.reloadIntervalMs ?? 2000;
  let polling = false;
  const timer = interval > 0 ? setInterval(() => {
    if (polling) return;
    polling = true;
    reload().catch(() => undefined).finally(() => { polling = false; });
  }, interval) : undefined;
  timer?.unref();
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    server, url: `https://${host}:${port}`, port, metrics, controller,
    config: () => config,
    reload,
    async close() {
      if (timer) clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
