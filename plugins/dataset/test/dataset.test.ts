import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isCustodyError } from '@custody/core';
import plugin, { describeDataset, describeDatasetFile, parseCsv, parseArff, parseJsonl, inferColumnType, DATASET_PREDICATE_TYPE } from '../src/index.ts';

const creditPath = fileURLToPath(new URL('../../../packages/demo/data/german-credit/credit-g.arff', import.meta.url));

function fails(fn: () => unknown, re: RegExp, file?: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isCustodyError(e), String(e));
    assert.equal(e.code, 'DATASET_INVALID');
    assert.match(e.message, re);
    if (file) assert.equal(e.file, file);
    return true;
  });
}

test('German Credit ARFF: 1000 rows, 21 typed columns, checked against a naive reader', async () => {
  const text = readFileSync(creditPath, 'utf8');
  // Reference: this file has no commas inside quotes, so a plain split is an exact reader.
  const dataLines = text.split('\n').slice(text.split('\n').findIndex((l) => l.trim() === '@data') + 1).filter((l) => l.trim() !== '' && !l.startsWith('%'));
  const ages = dataLines.map((l) => Number(l.split(',')[12]));
  const p = await describeDatasetFile(creditPath);
  assert.equal(p.format, 'arff');
  assert.equal(p.relation, 'german_credit');
  assert.equal(p.rows, 1000);
  assert.equal(p.rows, dataLines.length);
  assert.equal(p.columns.length, 21);
  assert.equal(p.missingValues, 0);
  assert.equal(p.digest.sha256, 'bd94085134e4eb845c96b34c93ed65a223f89d089bacb273ef96f57509ce0bed');
  assert.equal(p.size, 162_270);
  const age = p.columns.find((c) => c.name === 'age')!;
  assert.deepEqual([age.type, age.min, age.max], ['integer', Math.min(...ages), Math.max(...ages)]);
  const ps = p.columns.find((c) => c.name === 'personal_status')!;
  assert.equal(ps.type, 'nominal');
  assert.deepEqual(ps.values, ['male div/sep', 'female div/dep/mar', 'male single', 'male mar/wid', 'female single']);
  assert.equal(ps.distinct, new Set(dataLines.map((l) => l.split(',')[8])).size);
  const cls = p.columns.find((c) => c.name === 'class')!;
  assert.deepEqual(cls.values, ['good', 'bad']);

  // The same rows written as CSV have the same rowsDigest (training saw what fetch-data produced).
  const table = parseArff(text, creditPath);
  const q = (v: string | null) => (v === null ? '' : `"${v.replace(/"/g, '""')}"`);
  const csv = [table.columns.join(','), ...table.rows.map((r) => r.map(q).join(','))].join('\r\n') + '\r\n';
  const fromCsv = describeDataset(Buffer.from(csv), 'credit.csv');
  assert.equal(fromCsv.rows, 1000);
  assert.equal(fromCsv.rowsDigest.sha256, p.rowsDigest.sha256);
  assert.notEqual(fromCsv.digest.sha256, p.digest.sha256);
  // Changing one value changes rowsDigest.
  const changed = describeDataset(Buffer.from(csv.replace('"67"', '"68"')), 'credit.csv');
  assert.notEqual(changed.rowsDigest.sha256, p.rowsDigest.sha256);
});

test('ARFF: quotes, % comments, ? missing, and errors with line numbers', () => {
  const arff = `% a comment
@RELATION 'tiny set'
@attribute 'full name' string
@attribute score numeric % trailing comment
@attribute grade {'A+', "B", C}
@data
% comment in data
'O\\'Brien, Pat', 3.5, 'A+'
Ann,?,C
?,1e3,?
`;
  const t = parseArff(arff, 'tiny.arff');
  assert.equal(t.relation, 'tiny set');
  assert.deepEqual(t.columns, ['full name', 'score', 'grade']);
  assert.deepEqual(t.rows, [["O'Brien, Pat", '3.5', 'A+'], ['Ann', null, 'C'], [null, '1e3', null]]);
  const p = describeDataset(Buffer.from(arff), 'tiny.arff');
  assert.deepEqual(p.columns.map((c) => [c.name, c.type, c.missing]), [['full name', 'string', 1], ['score', 'number', 1], ['grade', 'nominal', 1]]);
  assert.equal(p.missingValues, 3);
  fails(() => parseArff('@relation r\n@attribute a numeric\n@data\n1\nx\n', 'r.arff'), /line 5: .*"x" of numeric attribute "a" is not a number/, 'r.arff');
  fails(() => parseArff('@relation r\n@attribute a {x,y}\n@data\nz\n', 'r.arff'), /line 4: value "z" of "a" is not one of its declared values/);
  fails(() => parseArff('@relation r\n@attribute a numeric\n@attribute b numeric\n@data\n1,2\n1\n', 'r.arff'), /line 6: row has 1 value\(s\), 2 attribute\(s\)/);
  fails(() => parseArff('@relation r\n@attribute a numeric\n', 'r.arff'), /no @data/);
  fails(() => parseArff('@relation r\n@attribute a blob\n@data\n', 'r.arff'), /line 2: .*unsupported type/);
  fails(() => parseArff("@relation r\n@attribute a string\n@data\n'open\n", 'r.arff'), /line 4: unterminated/);
  fails(() => parseArff('@relation r\n@attribute a numeric\n@data\n{0 1}\n', 'r.arff'), /sparse/);
});

test('CSV: RFC 4180 quoting, CRLF, embedded newlines; ragged rows name the line', () => {
  const csv = 'id,name,amount,ok\r\n1,"Smith, J",10.5,true\r\n2,"say ""hi""\nthere",,false\r\n3,plain,-2,true\r\n\r\n';
  const t = parseCsv(csv, 'a.csv');
  assert.deepEqual(t.rows, [['1', 'Smith, J', '10.5', 'true'], ['2', 'say "hi"\nthere', null, 'false'], ['3', 'plain', '-2', 'true']]);
  assert.deepEqual(t.lines, [2, 3, 5]);
  const p = describeDataset(Buffer.from(csv), 'a.csv', { sourceUrl: 'https://example.com/a.csv', license: 'CC-BY-4.0' });
  assert.deepEqual(p.columns.map((c) => [c.name, c.type, c.missing]), [['id', 'integer', 0], ['name', 'string', 0], ['amount', 'number', 1], ['ok', 'boolean', 0]]);
  assert.deepEqual(p.source, { url: 'https://example.com/a.csv' });
  assert.equal(p.license, 'CC-BY-4.0');
  assert.equal(p.digest.sha256, createHash('sha256').update(csv).digest('hex'));
  // A quoted empty string is a value, not a missing one.
  assert.deepEqual(parseCsv('a\n""\n\n', 'x.csv').rows, [['']]);
  fails(() => parseCsv('a,b\n1,2\n3\n4,5\n', 'r.csv'), /line 3: row has 1 field\(s\), the header has 2/, 'r.csv');
  fails(() => parseCsv('a,b\n1,"2\n3,4\n', 'r.csv'), /line 2: unterminated quoted field/);
  fails(() => parseCsv('a,b\n1,"2"x\n', 'r.csv'), /line 2: unexpected character "x"/);
  fails(() => parseCsv('a,a\n1,2\n', 'r.csv'), /duplicate column/);
  fails(() => parseCsv('', 'r.csv'), /empty CSV/);
  fails(() => describeDataset(Buffer.from([0xff, 0xfe, 0x00]), 'r.csv'), /UTF-8/);
  fails(() => describeDataset(Buffer.from('x'), 'r.parquet'), /unknown dataset format/);
});

test('JSONL: union of keys, null and absent are missing, bad lines named', () => {
  const jsonl = '{"a":1,"b":"x"}\n{"a":2.5,"c":true}\n\n{"a":null,"b":"y","c":false}\n';
  const t = parseJsonl(jsonl, 'd.jsonl');
  assert.deepEqual(t.columns, ['a', 'b', 'c']);
  assert.deepEqual(t.rows, [['1', 'x', null], ['2.5', null, 'true'], [null, 'y', 'false']]);
  const p = describeDataset(Buffer.from(jsonl), 'd.jsonl');
  assert.deepEqual(p.columns.map((c) => [c.type, c.missing]), [['number', 1], ['string', 1], ['boolean', 1]]);
  fails(() => parseJsonl('{"a":1}\n{"a":\n', 'd.jsonl'), /line 2: not valid JSON/);
  fails(() => parseJsonl('[1]\n', 'd.jsonl'), /line 1: each line must be a JSON object/);
  fails(() => parseJsonl('{"a":{"b":1}}\n', 'd.jsonl'), /line 1: field "a" is a nested object/);
  assert.equal(inferColumnType([null, null]), 'empty');
  assert.equal(inferColumnType(['1', '2.0']), 'number');
  assert.equal(inferColumnType(['1', 'x']), 'string');
});

test('plugin through the engine: one schema-valid predicate per file, subject = the file', async () => {
  const { runStep } = await import('@custody/engine');
  const dir = mkdtempSync(join(tmpdir(), 'custody-dataset-'));
  writeFileSync(join(dir, 'credit-g.arff'), readFileSync(creditPath));
  writeFileSync(join(dir, 'small.csv'), 'a,b\n1,2\n');
  const r = await runStep({
    stepName: 'fetch-data', workdir: dir, noCommand: true, products: ['.'],
    plugins: [{ plugin, options: { file: ['credit-g.arff', 'small.csv'], license: 'CC-BY-4.0', sourceUrl: 'https://archive.ics.uci.edu/dataset/144' }, source: 'built-in' }],
  });
  assert.equal(r.predicates.length, 2);
  const [arff, csv] = r.predicates.map((p) => p.predicate);
  assert.equal(arff!.predicateType, DATASET_PREDICATE_TYPE);
  assert.deepEqual(arff!.subject, [{ name: 'credit-g.arff', digest: { sha256: 'bd94085134e4eb845c96b34c93ed65a223f89d089bacb273ef96f57509ce0bed' } }]);
  assert.equal((arff!.predicate as { rows: number }).rows, 1000);
  assert.equal((csv!.predicate as { rows: number }).rows, 1);
  await assert.rejects(runStep({ stepName: 's', workdir: dir, noCommand: true, plugins: [{ plugin, options: {}, source: 'built-in' }] }),
    (e: unknown) => isCustodyError(e) && /file/.test(e.message));
});
