// Minimal safetensors writer/reader for the demo's F32 weights.
// Format: 8-byte little-endian header length N, N bytes of JSON header
// ({name: {dtype, shape, data_offsets:[begin,end]}, __metadata__?: {str: str}}), then the data.
// Offsets are relative to the start of the data section; tensors are laid out without holes.
import { CustodyError } from '@custody/core';

export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContents {
  tensors: Record<string, F32Tensor>;
  metadata: Record<string, string>;
}

/** Encodes tensors in name order (deterministic bytes for equal input). */
export function encodeSafetensors(tensors: Record<string, F32Tensor>, metadata: Record<string, string> = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new CustodyError('SAFETENSORS_INVALID', `tensor ${name}: shape [${t.shape.join(',')}] holds ${count} values, data has ${t.data.length}`);
    }
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let headerJson = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned (what the reference writer does).
  while ((8 + Buffer.byteLength(headerJson)) % 8 !== 0) headerJson += ' ';
  const headerBytes = Buffer.from(headerJson, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const data = tensors[name].data;
    for (let i = 0; i < data.length; i++, pos += 4) out.writeFloatLE(data[i], pos);
  }
  return out;
}

/** Decodes a safetensors file holding F32 tensors; checks offsets are contiguous and fit the file. */
export function decodeSafetensors(bytes: Uint8Array, file = 'model.safetensors'): SafetensorsContents {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (msg: string): never => {
    throw new CustodyError('SAFETENSORS_INVALID', msg, { file });
  };
  if (buf.length < 8) fail(`file is ${buf.length} bytes, shorter than the 8-byte header length`);
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen > BigInt(buf.length - 8)) fail(`header length ${headerLen} exceeds the file size ${buf.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + Number(headerLen)).toString('utf8'));
  } catch (e) {
    return fail(`header is not JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + Number(headerLen);
  const dataLen = buf.length - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const entries = Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .map(([name, v]) => {
      const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (info.dtype !== 'F32') fail(`tensor ${name}: dtype ${String(info.dtype)} is not F32`);
      if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name}: bad shape`);
      const offs = info.data_offsets as number[];
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
        fail(`tensor ${name}: bad data_offsets`);
      }
      return { name, shape: info.shape as number[], begin: offs[0], end: offs[1] };
    })
    .sort((a, b) => a.begin - b.begin);
  let expected = 0;
  const tensors: Record<string, F32Tensor> = {};
  for (const e of entries) {
    if (e.begin !== expected) fail(`tensor ${e.name}: data starts at ${e.begin}, expected ${expected} (overlap or hole)`);
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (e.end - e.begin !== count * 4) fail(`tensor ${e.name}: ${e.end - e.begin} bytes for ${count} F32 values`);
    if (e.end > dataLen) fail(`tensor ${e.name}: data ends at ${e.end}, past the data section (${dataLen} bytes)`);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = buf.readFloatLE(dataStart + e.begin + i * 4);
    tensors[e.name] = { shape: e.shape, data };
    expected = e.end;
  }
  if (expected !== dataLen) fail(`data section is ${dataLen} bytes, tensors cover ${expected}`);
  return { tensors, metadata };
}
