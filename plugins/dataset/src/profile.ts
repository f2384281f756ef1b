// Dataset predicate: digest, row count, columns with inferred types and missing counts, and a
// digest of the rows themselves so that two formats of the same data can be compared.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { CustodyError } from '@custody/core';
import { detectFormat, parseTable, type DatasetFormat, type ParsedTable } from './parse.ts';

export const DATASET_PREDICATE_TYPE = 'https://custody.dev/attestation/dataset/v0.1';

export type ColumnType = 'integer' | 'number' | 'boolean' | 'string' | 'nominal' | 'date' | 'empty';

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  missing: number;
  distinct: number;
  min?: number;
  max?: number;
  /** Declared values of an ARFF nominal attribute. */
  values?: string[];
}

export interface DatasetPredicate {
  name: string;
  format: DatasetFormat;
  digest: { sha256: string };
  size: number;
  rows: number;
  columns: ColumnProfile[];
  missingValues: number;
  /** sha256 over one JSON array per row (values as written, null when missing), newline-joined. */
  rowsDigest: { sha256: string };
  relation?: string;
  source?: { url: string };
  license?: string;
}

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function inferColumnType(values: (string | null)[]): ColumnType {
  let sawAny = false;
  let allInt = true;
  let allNum = true;
  let allBool = true;
  for (const v of values) {
    if (v === null) continue;
    sawAny = true;
    const t = v.trim();
    if (allInt && !INTEGER.test(t)) allInt = false;
    if (allNum && !NUMBER.test(t)) allNum = false;
    if (allBool && t !== 'true' && t !== 'false') allBool = false;
    if (!allInt && !allNum && !allBool) return 'string';
  }
  if (!sawAny) return 'empty';
  return allInt ? 'integer' : allNum ? 'number' : allBool ? 'boolean' : 'string';
}

export function profileTable(t: ParsedTable): { columns: ColumnProfile[]; missingValues: number; rowsDigest: string } {
  const columns = t.columns.map((name, j) => {
    const values = t.rows.map((r) => r[j]!);
    const attr = t.attributes?.[j];
    let type: ColumnType = inferColumnType(values);
    if (attr?.type === 'nominal') type = 'nominal';
    else if (attr?.type === 'date') type = 'date';
    else if (attr?.type === 'string' && type !== 'empty') type = 'string';
    const present = values.filter((v): v is string => v !== null);
    const col: ColumnProfile = { name, type, missing: values.length - present.length, distinct: new Set(present).size };
    if ((type === 'integer' || type === 'number') && present.length > 0) {
      let min = Infinity;
      let max = -Infinity;
      for (const v of present) {
        const x = Number(v);
        if (x < min) min = x;
        if (x > max) max = x;
      }
      col.min = min;
      col.max = max;
    }
    if (attr?.values) col.values = attr.values;
    return col;
  });
  const h = createHash('sha256');
  t.rows.forEach((r, i) => h.update((i === 0 ? '' : '\n') + JSON.stringify(r)));
  return { columns, missingValues: columns.reduce((a, c) => a + c.missing, 0), rowsDigest: h.digest('hex') };
}

export interface DatasetOptions {
  format?: DatasetFormat;
  name?: string;
  sourceUrl?: string;
  license?: string;
  delimiter?: string;
  missingValues?: string[];
}

export function describeDataset(bytes: Buffer, fileName: string, opts: DatasetOptions = {}): DatasetPredicate {
  const format = opts.format ?? detectFormat(fileName);
  if (!format) throw new CustodyError('DATASET_INVALID', 'unknown dataset format (use .csv, .arff, .jsonl or set format)', { file: fileName });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CustodyError('DATASET_INVALID', 'file is not UTF-8 text', { file: fileName });
  }
  const table = parseTable(text, fileName, format, opts);
  const { columns, missingValues, rowsDigest } = profileTable(table);
  return {
    name: opts.name ?? basename(fileName),
    format,
    digest: { sha256: createHash('sha256').update(bytes).digest('hex') },
    size: bytes.length,
    rows: table.rows.length,
    columns,
    missingValues,
    rowsDigest: { sha256: rowsDigest },
    ...(table.relation !== undefined ? { relation: table.relation } : {}),
    ...(opts.sourceUrl ? { source: { url: opts.sourceUrl } } : {}),
    ...(opts.license ? { license: opts.license } : {}),
  };
}

export async function describeDatasetFile(path: string, opts: DatasetOptions = {}): Promise<DatasetPredicate> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
    throw new CustodyError(code, `cannot read dataset: ${(e as Error).message}`, { file: path, cause: e });
  }
  return describeDataset(bytes, path, { ...opts, name: opts.name ?? basename(path) });
}
