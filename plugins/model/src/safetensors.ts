// safetensors header reader: 8-byte little-endian header length, a JSON header naming every
// tensor (dtype, shape, data_offsets relative to the data buffer) and an optional
// "__metadata__" string map. We read only the header; the data buffer is checked by size.
import { open } from 'node:fs/promises';
import { CustodyError } from '@custody/core';

/** Largest header accepted; the safetensors reference refuses anything above 100 MB too. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** Bits per element for each dtype the format defines. */
export const SAFETENSORS_DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16,
  I32: 32, U32: 32, F32: 32,
  I64: 64, U64: 64, F64: 64,
  F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  shape: number[];
  dataOffsets: [number, number];
  parameters: number;
}

export interface SafetensorsSummary {
  headerBytes: number;
  tensorCount: number;
  parameterCount: number;
  /** dtype → number of tensors with it. */
  dtypes: Record<string, number>;
  metadata: Record<string, string>;
  tensors: SafetensorsTensor[];
}

function invalid(file: string, problem: string): CustodyError {
  return new CustodyError('SAFETENSORS_INVALID', `invalid safetensors file: ${problem}`, { file });
}

/**
 * Validates a header (already decoded JSON) against the size of the data buffer that follows it.
 * Pure: used by `readSafetensorsHeader` and directly by tests.
 */
export function checkSafetensorsHeader(header: unknown, dataBytes: number, file: string, headerBytes = 0): SafetensorsSummary {
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw invalid(file, 'header is not a JSON object');
  }
  const tensors: SafetensorsTensor[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw invalid(file, `__metadata__.${k} is not a string`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(file, `tensor "${name}" entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_BITS)) {
      throw invalid(file, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalid(file, `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw invalid(file, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const parameters = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(parameters)) throw invalid(file, `tensor "${name}" shape overflows`);
    const bits = parameters * SAFETENSORS_DTYPE_BITS[dtype]!;
    if (bits % 8 !== 0) throw invalid(file, `tensor "${name}" (${dtype}) does not fill whole bytes`);
    const expected = bits / 8;
    const [begin, end] = offsets as [number, number];
    if (end - begin !== expected) {
      throw invalid(file, `tensor "${name}" is ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected}`);
    }
    tensors.push({ name, dtype, shape: shape as number[], dataOffsets: [begin, end], parameters });
  }
  // The data buffer must be covered exactly once: no overlap, no hole, nothing left over.
  const byOffset = [...tensors].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  let previous = '';
  for (const t of byOffset) {
    const [begin, end] = t.dataOffsets;
    if (begin < cursor) throw invalid(file, `tensor "${t.name}" overlaps tensor "${previous}" (offset ${begin} < ${cursor})`);
    if (begin > cursor) throw invalid(file, `hole in data buffer between byte ${cursor} and ${begin} (before tensor "${t.name}")`);
    cursor = end;
    previous = t.name;
  }
  if (cursor !== dataBytes) {
    throw invalid(file, `header describes ${cursor} data bytes but the file holds ${dataBytes}`);
  }
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const dtypes: Record<string, number> = {};
  let parameterCount = 0;
  for (const t of tensors) {
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    parameterCount += t.parameters;
  }
  return { headerBytes, tensorCount: tensors.length, parameterCount, dtypes, metadata, tensors };
}

/** Parses a complete safetensors file held in memory. */
export function parseSafetensorsBuffer(buf: Uint8Array, file: string): SafetensorsSummary {
  if (buf.length < 8) throw invalid(file, `truncated: ${buf.length} bytes, the 8-byte header length is missing`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) throw invalid(file, `header length ${n} exceeds the 100 MB limit`);
  const headerBytes = Number(n);
  if (8 + headerBytes > buf.length) throw invalid(file, `truncated: header needs ${headerBytes} bytes, file has ${buf.length - 8} after the length`);
  return decodeHeader(buf.subarray(8, 8 + headerBytes), buf.length - 8 - headerBytes, file, headerBytes);
}

function decodeHeader(bytes: Uint8Array, dataBytes: number, file: string, headerBytes: number): SafetensorsSummary {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw invalid(file, 'header does not start with "{"');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw invalid(file, `header is not valid JSON (${(e as Error).message})`);
  }
  return checkSafetensorsHeader(header, dataBytes, file, headerBytes);
}

/** Reads and validates the header of a safetensors file on disk without reading its tensors. */
export async function readSafetensorsHeader(path: string, displayName = path): Promise<SafetensorsSummary> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < 8) throw invalid(displayName, `truncated: ${size} bytes, the 8-byte header length is missing`);
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) throw invalid(displayName, `header length ${n} exceeds the 100 MB limit`);
    const headerBytes = Number(n);
    if (8 + headerBytes > size) throw invalid(displayName, `truncated: header needs ${headerBytes} bytes, file has ${size - 8} after the length`);
    const header = Buffer.alloc(headerBytes);
    await fh.read(header, 0, headerBytes, 8);
    return decodeHeader(header, size - 8 - headerBytes, displayName, headerBytes);
  } finally {
    await fh.close();
  }
}

/**
 * Writes a safetensors byte string (for fixtures and the demo trainer). Tensors are laid out in
 * the given order; `data` must already be little-endian bytes of the right length.
 */
export function encodeSafetensors(
  tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[],
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  // Pad to 8 bytes like the reference writer, so the data buffer stays aligned.
  while (Buffer.byteLength(json) % 8 !== 0) json += ' ';
  const headerBuf = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBuf.length));
  return Buffer.concat([len, headerBuf, ...tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
}
