import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCustodyError } from '@custody/core';
import { decodeSafetensors, encodeSafetensors } from '../src/safetensors.ts';

const code = (c: string) => (e: unknown) => isCustodyError(e) && e.code === c;

test('safetensors: layout is 8-byte LE header length, JSON header, contiguous F32 data', () => {
  const bytes = encodeSafetensors(
    { b: { shape: [2], data: Float32Array.of(1.5, -2) }, a: { shape: [1, 3], data: Float32Array.of(0.25, 0.5, 0.75) } },
    { format: 'pt' },
  );
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0, 'data section is 8-byte aligned');
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
  assert.deepEqual(header.__metadata__, { format: 'pt' });
  // names are sorted: a first, then b
  assert.deepEqual(header.a, { dtype: 'F32', shape: [1, 3], data_offsets: [0, 12] });
  assert.deepEqual(header.b, { dtype: 'F32', shape: [2], data_offsets: [12, 20] });
  assert.equal(bytes.length, 8 + n + 20);
  const data = bytes.subarray(8 + n);
  assert.equal(data.readFloatLE(0), 0.25);
  assert.equal(data.readFloatLE(12), 1.5);
  assert.equal(data.readFloatLE(16), -2);
});

test('safetensors: round trip keeps names, shapes, values and metadata', () => {
  const w = new Float32Array(63).map((_, i) => Math.fround(Math.sin(i)));
  const bytes = encodeSafetensors({ 'linear.weight': { shape: [1, 63], data: w }, 'linear.bias': { shape: [1], data: Float32Array.of(0.125) } }, { producer: 'x' });
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { producer: 'x' });
  assert.deepEqual(back.tensors['linear.weight'].shape, [1, 63]);
  assert.deepEqual([...back.tensors['linear.weight'].data], [...w]);
  assert.deepEqual([...back.tensors['linear.bias'].data], [0.125]);
  assert.deepEqual(encodeSafetensors({ 'linear.weight': { shape: [1, 63], data: w }, 'linear.bias': { shape: [1], data: Float32Array.of(0.125) } }, { producer: 'x' }), bytes);
});

function withHeader(header: object, dataBytes: number): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const b = Buffer.alloc(8 + h.length + dataBytes);
  b.writeBigUInt64LE(BigInt(h.length), 0);
  h.copy(b, 8);
  return b;
}

test('safetensors: bad files are rejected with SAFETENSORS_INVALID', () => {
  const good = encodeSafetensors({ a: { shape: [4], data: new Float32Array(4) } });
  assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 1)), code('SAFETENSORS_INVALID'), 'truncated data');
  assert.throws(() => decodeSafetensors(good.subarray(0, 5)), code('SAFETENSORS_INVALID'), 'shorter than 8 bytes');
  assert.throws(() => decodeSafetensors(withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12)), code('SAFETENSORS_INVALID'), 'overlap');
  assert.throws(() => decodeSafetensors(withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8)), code('SAFETENSORS_INVALID'), 'hole');
  assert.throws(() => decodeSafetensors(withHeader({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)), code('SAFETENSORS_INVALID'), 'size disagrees with shape');
  const lying = Buffer.from(good);
  lying.writeBigUInt64LE(BigInt(good.length), 0);
  assert.throws(() => decodeSafetensors(lying), code('SAFETENSORS_INVALID'), 'header length past the end');
  assert.throws(() => encodeSafetensors({ a: { shape: [2, 2], data: new Float32Array(3) } }), code('SAFETENSORS_INVALID'));
});
