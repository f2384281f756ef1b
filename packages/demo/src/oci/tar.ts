// Deterministic ustar writer (fixed mtime/uid/gid, no user names) and a reader that understands
// what image builders write: ustar, PAX extended headers ('x'/'g') and GNU long names ('L'/'K').
import { CustodyError } from '@custody/core';

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntryInput {
  /** Relative path with '/' separators; directories may end with '/'. */
  path: string;
  type: 'file' | 'directory';
  data?: Uint8Array;
  mode?: number;
}

export interface TarEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  size: number;
  linkname: string;
  data: Buffer;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(fields: { name: string; prefix?: string; mode: number; size: number; typeflag: string; mtime: number }): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(fields.name, 0, 100, 'utf8');
  h.write(octal(fields.mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(fields.size, 12), 124, 'ascii');
  h.write(octal(fields.mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(fields.typeflag, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  if (fields.prefix) h.write(fields.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function padded(data: Uint8Array): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return pad ? [Buffer.from(data), Buffer.alloc(pad)] : [Buffer.from(data)];
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Writes entries in the given order with mtime (default 0), uid/gid 0, empty user/group names. */
export function writeTar(entries: TarEntryInput[], opts: { mtime?: number } = {}): Buffer {
  const mtime = opts.mtime ?? 0;
  const parts: Buffer[] = [];
  for (const e of entries) {
    let path = e.path.replace(/^\.?\/+/, '');
    if (e.type === 'directory' && !path.endsWith('/')) path += '/';
    const data = e.type === 'file' ? Buffer.from(e.data ?? new Uint8Array()) : Buffer.alloc(0);
    const mode = e.mode ?? (e.type === 'directory' ? 0o755 : 0o644);
    const typeflag = e.type === 'directory' ? '5' : '0';
    let name = path;
    let prefix = '';
    if (Buffer.byteLength(path) > 100) {
      const cut = path.lastIndexOf('/', path.length - 2);
      if (cut > 0 && cut <= 155 && Buffer.byteLength(path.slice(cut + 1)) <= 100 && Buffer.byteLength(path.slice(0, cut)) <= 155) {
        prefix = path.slice(0, cut);
        name = path.slice(cut + 1);
      } else {
        const pax = Buffer.from(paxRecord('path', path), 'utf8');
        parts.push(header({ name: 'PaxHeader', mode: 0o644, size: pax.length, typeflag: 'x', mtime }), ...padded(pax));
        name = path.slice(0, 100);
      }
    }
    parts.push(header({ name, prefix, mode, size: data.length, typeflag, mtime }));
    if (data.length) parts.push(...padded(data));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

function cString(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function parseNumber(buf: Buffer, start: number, len: number): number {
  if (buf[start] & 0x80) {
    // base-256 (GNU) for large values
    let v = 0;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + buf[i];
    return v;
  }
  const s = cString(buf, start, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(data.subarray(i, sp).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Reads every entry of an uncompressed tar archive. */
export function readTar(tar: Uint8Array, file = 'layer.tar'): TarEntry[] {
  const buf = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength);
  const entries: TarEntry[] = [];
  let pos = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (pos + BLOCK <= buf.length) {
    const h = buf.subarray(pos, pos + BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (sum !== parseNumber(h, 148, 8)) throw new CustodyError('OCI_LAYOUT_INVALID', `tar header checksum mismatch at offset ${pos}`, { file });
    const typeflag = String.fromCharCode(h[156] || 0x30);
    let size = parseNumber(h, 124, 12);
    if (pax.size !== undefined) size = Number(pax.size);
    const dataStart = pos + BLOCK;
    if (dataStart + size > buf.length) throw new CustodyError('OCI_LAYOUT_INVALID', `tar entry at offset ${pos} runs past the end`, { file });
    const data = buf.subarray(dataStart, dataStart + size);
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x') {
      pax = parsePax(data);
      continue;
    }
    if (typeflag === 'g') continue;
    if (typeflag === 'L') {
      longName = cString(data, 0, data.length);
      continue;
    }
    if (typeflag === 'K') {
      longLink = cString(data, 0, data.length);
      continue;
    }
    const prefix = h.subarray(257, 263).toString('ascii') === 'ustar\0' ? cString(h, 345, 155) : '';
    let path = pax.path ?? longName ?? (prefix ? `${prefix}/${cString(h, 0, 100)}` : cString(h, 0, 100));
    const linkname = pax.linkpath ?? longLink ?? cString(h, 157, 100);
    path = path.replace(/^\.\/+/, '').replace(/^\/+/, '');
    const type: TarEntryType =
      typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : typeflag === '2' ? 'symlink' : typeflag === '1' ? 'hardlink' : 'other';
    entries.push({ path, type, mode: parseNumber(h, 100, 8) & 0o7777, size, linkname, data: Buffer.from(data) });
    pax = {};
    longName = longLink = undefined;
  }
  return entries;
}
