#!/usr/bin/env node
// Inference server shipped inside the demo image. Plain JavaScript, no dependencies: reads
// config.json and model.safetensors from MODEL_DIR and serves
//   GET  /healthz  → {status, model, weights_sha256}
//   POST /predict  → body: one record or an array of records (German Credit attribute names)
//                    answer: {predictions:[{score, prediction, label}]}
// Listens on HOST (default 127.0.0.1) and PORT (default 8080; 0 picks a free port) and prints
// "listening on http://HOST:PORT" once ready.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const modelDir = process.env.MODEL_DIR || join(fileURLToPath(new URL('.', import.meta.url)), 'model');

function readSafetensors(bytes) {
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8'));
  const start = 8 + headerLen;
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`tensor ${name}: dtype ${info.dtype} not supported`);
    const [begin, end] = info.data_offsets;
    if (start + end > bytes.length) throw new Error(`tensor ${name}: data past the end of the file`);
    const data = new Float32Array((end - begin) / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(start + begin + i * 4);
    tensors[name] = data;
  }
  return tensors;
}

const weightsBytes = readFileSync(join(modelDir, 'model.safetensors'));
const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
const tensors = readSafetensors(weightsBytes);
const weight = tensors['linear.weight'];
const bias = tensors['linear.bias'][0];
const mean = tensors['scaler.mean'];
const scale = tensors['scaler.scale'];
const weightsSha256 = createHash('sha256').update(weightsBytes).digest('hex');
const negativeLabel = config.negative_label ?? 'negative';

export function predict(record) {
  let z = bias;
  let j = 0;
  let k = 0;
  for (const a of config.attributes) {
    const v = record[a.name];
    if (a.type === 'numeric') {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${a.name} must be a number`);
      z += weight[j++] * ((v - mean[k]) / scale[k]);
      k++;
    } else {
      if (!a.values.includes(v)) throw new Error(`${a.name} must be one of ${a.values.join(', ')}`);
      for (const value of a.values) z += v === value ? weight[j] : 0, j++;
    }
  }
  const score = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
  const prediction = score >= (config.threshold ?? 0.5) ? 1 : 0;
  return { score, prediction, label: prediction ? config.positive_label : negativeLabel };
}

const server = createServer((req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body) + '\n');
  };
  if (req.method === 'GET' && req.url === '/healthz') return reply(200, { status: 'ok', model: config._name_or_path, weights_sha256: weightsSha256 });
  if (req.method !== 'POST' || req.url !== '/predict') return reply(404, { error: 'not found' });
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 1 << 20) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const records = Array.isArray(body) ? body : [body];
      reply(200, { predictions: records.map(predict) });
    } catch (e) {
      reply(400, { error: e.message });
    }
  });
});

server.listen(Number(process.env.PORT ?? 8080), process.env.HOST || '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
