// The HTTP layer under the registry client: node:http/https (not fetch) so that every request
// has a hard deadline, TLS trusts exactly the CAs asked for, and connection errors keep their
// errno codes (ECONNRESET, ECONNREFUSED) for the retry policy above.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { CustodyError } from '@custody/core';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Larger bodies are an error, so a hostile server cannot exhaust memory. */
  maxBodyBytes?: number;
  /** Aborts the request (TransportError code ABORT_ERR). */
  signal?: AbortSignal;
}

export interface TransportOptions {
  /** Deadline for one request, connect to last body byte. Default 30 s. */
  timeoutMs?: number;
  /** PEM file with extra CAs to trust (on top of the system CAs and NODE_EXTRA_CA_CERTS). */
  caFile?: string;
}

/** A transport-level failure: no HTTP answer. `code` is the errno-style reason. */
export class TransportError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const DEFAULT_MAX_BODY = 256 * 1024 * 1024;
const MAX_REDIRECTS = 5;

function extraCaPems(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [readFileSync(file, 'utf8')];
  } catch {
    return []; // node itself warns about an unreadable NODE_EXTRA_CA_CERTS at start-up
  }
}

export class Transport {
  readonly timeoutMs: number;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(o: TransportOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 30_000;
    let ca: string[] | undefined;
    if (o.caFile) {
      let pem: string;
      try {
        pem = readFileSync(o.caFile, 'utf8');
      } catch (e) {
        throw new CustodyError('FILE_UNREADABLE', `cannot read the CA file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: o.caFile, cause: e });
      }
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CustodyError('FILE_UNREADABLE', 'not a PEM certificate file', { file: o.caFile });
      // Giving `ca` replaces node's default list, so rebuild it: system CAs + NODE_EXTRA_CA_CERTS + the file.
      ca = [...rootCertificates, ...extraCaPems(), pem];
    }
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** One request; follows redirects for GET/HEAD (dropping Authorization when the host changes). */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...(req.headers ?? {}) };
    for (let hop = 0; ; hop++) {
      const res = await this.once({ ...req, url, headers });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location || !['GET', 'HEAD'].includes(req.method)) return res;
      if (hop >= MAX_REDIRECTS) throw new TransportError('EREDIRECT', `more than ${MAX_REDIRECTS} redirects from ${req.url.host}`);
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new TransportError('EREDIRECT', `redirect to ${next.protocol} from ${url.host}`);
      if (url.protocol === 'https:' && next.protocol === 'http:') throw new TransportError('EREDIRECT', `redirect from https to plain http (${next.host})`);
      if (next.host !== url.host) {
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      url = next;
    }
  }

  private once(req: HttpRequest & { url: URL; headers: Record<string, string> }): Promise<HttpResponse> {
    const { url } = req;
    const secure = url.protocol === 'https:';
    const mod = secure ? https : http;
    const maxBody = req.maxBodyBytes ?? DEFAULT_MAX_BODY;
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const fail = (e: TransportError) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        r.destroy();
        reject(e);
      };
      const headers: Record<string, string> = { ...req.headers };
      if (req.body && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) headers['content-length'] = String(req.body.length);
      const r = mod.request(url, { method: req.method, headers, agent: secure ? this.httpsAgent : this.httpAgent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBody) fail(new TransportError('ETOOBIG', `${req.method} ${url.pathname}: answer larger than ${maxBody} bytes`));
          else chunks.push(c);
        });
        res.on('error', (e: NodeJS.ErrnoException) => fail(new TransportError(e.code ?? 'ECONNRESET', e.message, { cause: e })));
        res.on('aborted', () => fail(new TransportError('ECONNRESET', 'connection closed mid-answer')));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url });
        });
      });
      const deadline = setTimeout(() => fail(new TransportError('ETIMEDOUT', `no complete answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      if (req.signal) {
        const onAbort = () => fail(new TransportError('ABORT_ERR', 'aborted'));
        if (req.signal.aborted) queueMicrotask(onAbort);
        else req.signal.addEventListener('abort', onAbort, { once: true });
        r.on('close', () => req.signal!.removeEventListener('abort', onAbort));
      }
      r.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code ?? 'ECONNRESET';
        const why = code === 'ECONNREFUSED' ? 'connection refused (ECONNREFUSED)'
          : code === 'ECONNRESET' ? 'connection reset (ECONNRESET)'
          : code === 'ENOTFOUND' ? 'host not found (ENOTFOUND)'
          : /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) ? `TLS: ${e.message} (trust its CA with --ca-file or NODE_EXTRA_CA_CERTS)`
          : code === 'EPROTO' ? `TLS handshake failed (${e.message.split('\n')[0]}); is it plain HTTP?`
          : e.message;
        fail(new TransportError(code, why, { cause: e }));
      });
      r.end(req.body);
    });
  }
}

/** A response header as one string (first value). */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
