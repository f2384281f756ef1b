// The demo's F32 weights as safetensors, on top of the model plugin's reader and writer (which
// validate the header: offsets without holes or overlaps, sizes that agree with the file).
import { CustodyError } from '@custody/core';
import { encodeSafetensors as encodeTensors, parseSafetensorsBuffer } from '@custody/plugin-model/safetensors';

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
  const list = Object.keys(tensors).sort().map((name) => {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new CustodyError('SAFETENSORS_INVALID', `tensor ${name}: shape [${t.shape.join(',')}] holds ${count} values, data has ${t.data.length}`);
    }
    const bytes = Buffer.alloc(count * 4);
    t.data.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
    return { name, dtype: 'F32', shape: t.shape, data: bytes };
  });
  return encodeTensors(list, Object.keys(metadata).length > 0 ? metadata : undefined);
}

/** Decodes a safetensors file holding F32 tensors (the header is fully validated first). */
export function decodeSafetensors(bytes: Uint8Array, file = 'model.safetensors'): SafetensorsContents {
  const summary = parseSafetensorsBuffer(bytes, file);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataStart = 8 + summary.headerBytes;
  const tensors: Record<string, F32Tensor> = {};
  for (const t of summary.tensors) {
    if (t.dtype !== 'F32') throw new CustodyError('SAFETENSORS_INVALID', `tensor ${t.name}: dtype ${t.dtype} is not F32`, { file });
    const [begin, end] = t.dataOffsets;
    const data = new Float32Array((end - begin) / 4);
    for (let i = 0; i < data.length; i++) data[i] = buf.readFloatLE(dataStart + begin + i * 4);
    tensors[t.name] = { shape: t.shape, data };
  }
  return { tensors, metadata: summary.metadata ?? {} };
}
