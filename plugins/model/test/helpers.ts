// Test model repositories written byte by byte (independent of the code under test).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function tmp(prefix = 'custody-model-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function sha256(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

export function write(root: string, rel: string, data: string | Uint8Array): string {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
  return p;
}

/** A safetensors file from a header object and a data buffer, exactly as the format lays it out. */
export function rawSafetensors(header: unknown, data: Uint8Array, opts: { declaredLength?: number } = {}): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(opts.declaredLength ?? json.length));
  return Buffer.concat([len, json, Buffer.from(data)]);
}

/** A two-tensor F32/I64 model: weight [2,3] (24 bytes) then bias [3] as I64 (24 bytes). */
export function tinySafetensors(): Buffer {
  const weight = new Float32Array([0.5, -1, 2, 3.25, 0, 1]);
  const bias = new BigInt64Array([1n, 2n, 3n]);
  return rawSafetensors(
    {
      __metadata__: { format: 'pt' },
      'linear.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      'linear.bias': { dtype: 'I64', shape: [3], data_offsets: [24, 48] },
    },
    Buffer.concat([Buffer.from(weight.buffer), Buffer.from(bias.buffer)]),
  );
}

export function lfsPointer(content: Uint8Array): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`;
}

export const MIT_TEXT = `MIT License

Copyright (c) 2026 Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
`;

export function modelRepo(opts: { frontMatter?: string; license?: string } = {}): string {
  const root = tmp();
  const fm = opts.frontMatter ?? `license: mit
datasets:
  - german-credit
base_model: none/tiny-base
tags: [tabular-classification, credit]
library_name: custody-demo
model-index:
  - name: credit-risk
    results:
      - task: { type: tabular-classification }
        metrics:
          - { type: accuracy, value: 0.74 }
`;
  write(root, 'README.md', `---\n${fm}---\n\n# Credit risk model\n`);
  write(root, 'config.json', JSON.stringify({ model_type: 'logistic', architectures: ['LogisticRegression'] }));
  write(root, 'model.safetensors', tinySafetensors());
  if (opts.license) write(root, 'LICENSE', opts.license);
  return root;
}
