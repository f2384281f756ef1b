// Readers for tabular datasets: CSV (RFC 4180), ARFF (Weka) and JSON Lines. Each yields a header
// and rows of raw string values (null = missing), with line numbers for error messages.
import { CustodyError } from '@custody/core';

export type DatasetFormat = 'csv' | 'arff' | 'jsonl';

export interface ArffAttribute { name: string; type: 'numeric' | 'string' | 'date' | 'nominal'; values?: string[] }

export interface ParsedTable {
  format: DatasetFormat;
  columns: string[];
  rows: (string | null)[][];
  /** 1-based line where each row starts. */
  lines: number[];
  relation?: string;
  attributes?: ArffAttribute[];
}

function bad(file: string, line: number | undefined, problem: string): CustodyError {
  return new CustodyError('DATASET_INVALID', line === undefined ? problem : `line ${line}: ${problem}`, { file });
}

export function detectFormat(fileName: string): DatasetFormat | undefined {
  const n = fileName.toLowerCase();
  if (n.endsWith('.csv')) return 'csv';
  if (n.endsWith('.arff')) return 'arff';
  if (n.endsWith('.jsonl') || n.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

/** Splits CSV text into records of fields, honoring quotes ("" escapes, newlines inside quotes). */
export function parseCsvRecords(text: string, file: string, delimiter = ','): { fields: string[]; quoted: boolean[]; line: number }[] {
  const out: { fields: string[]; quoted: boolean[]; line: number }[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < text.length) {
    const startLine = line;
    const fields: string[] = [];
    const quoted: boolean[] = [];
    for (;;) {
      let value = '';
      let wasQuoted = false;
      if (text[i] === '"') {
        wasQuoted = true;
        i++;
        for (;;) {
          if (i >= text.length) throw bad(file, startLine, 'unterminated quoted field');
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          value += c;
          i++;
        }
        if (i < text.length && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') {
          throw bad(file, line, `unexpected character ${JSON.stringify(text[i])} after a closing quote`);
        }
      } else {
        while (i < text.length && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') throw bad(file, line, 'quote inside an unquoted field');
          value += text[i];
          i++;
        }
      }
      fields.push(value);
      quoted.push(wasQuoted);
      if (text[i] === delimiter) {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    // A blank line is not a record.
    if (!(fields.length === 1 && fields[0] === '' && !quoted[0])) out.push({ fields, quoted, line: startLine });
  }
  return out;
}

export function parseCsv(text: string, file: string, opts: { delimiter?: string; missingValues?: string[] } = {}): ParsedTable {
  const records = parseCsvRecords(text, file, opts.delimiter ?? ',');
  if (records.length === 0) throw bad(file, undefined, 'empty CSV file (no header row)');
  const header = records[0]!;
  const columns = header.fields.map((f) => f.trim());
  const seen = new Set<string>();
  for (const c of columns) {
    if (c === '') throw bad(file, header.line, 'empty column name in header');
    if (seen.has(c)) throw bad(file, header.line, `duplicate column name "${c}"`);
    seen.add(c);
  }
  const missing = new Set(opts.missingValues ?? ['']);
  const rows: (string | null)[][] = [];
  const lines: number[] = [];
  for (const r of records.slice(1)) {
    if (r.fields.length !== columns.length) {
      throw bad(file, r.line, `row has ${r.fields.length} field(s), the header has ${columns.length}`);
    }
    rows.push(r.fields.map((f, j) => (!r.quoted[j] && missing.has(f) ? null : f)));
    lines.push(r.line);
  }
  return { format: 'csv', columns, rows, lines };
}

/** Splits one ARFF data line or nominal list on commas, honoring '...' and "..." quoting. */
function splitArff(s: string, file: string, line: number): { value: string; quoted: boolean }[] {
  const out: { value: string; quoted: boolean }[] = [];
  let i = 0;
  for (;;) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    let value = '';
    let quoted = false;
    const q = s[i];
    if (q === "'" || q === '"') {
      quoted = true;
      i++;
      for (;;) {
        if (i >= s.length) throw bad(file, line, 'unterminated quoted value');
        const c = s[i]!;
        if (c === '\\' && i + 1 < s.length) {
          value += s[i + 1];
          i += 2;
          continue;
        }
        if (c === q) {
          i++;
          break;
        }
        value += c;
        i++;
      }
      while (s[i] === ' ' || s[i] === '\t') i++;
      if (i < s.length && s[i] !== ',') throw bad(file, line, `unexpected ${JSON.stringify(s[i])} after a quoted value`);
    } else {
      while (i < s.length && s[i] !== ',') value += s[i++];
      value = value.trim();
    }
    out.push({ value, quoted });
    if (s[i] === ',') {
      i++;
      continue;
    }
    return out;
  }
}

function readArffName(rest: string, file: string, line: number): { name: string; after: string } {
  const r = rest.trimStart();
  const q = r[0];
  if (q === "'" || q === '"') {
    const end = r.indexOf(q, 1);
    if (end < 0) throw bad(file, line, 'unterminated quoted attribute name');
    return { name: r.slice(1, end), after: r.slice(end + 1).trim() };
  }
  const m = /^(\S+)\s*(.*)$/.exec(r);
  if (!m) throw bad(file, line, 'attribute without a name');
  return { name: m[1]!, after: m[2]!.trim() };
}

export function parseArff(text: string, file: string): ParsedTable {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const attributes: ArffAttribute[] = [];
  let relation: string | undefined;
  let inData = false;
  const rows: (string | null)[][] = [];
  const rowLines: number[] = [];
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const raw = lines[n]!;
    const t = raw.trim();
    if (t === '' || t.startsWith('%')) continue;
    if (!inData) {
      const lower = t.toLowerCase();
      if (lower.startsWith('@relation')) {
        relation = readArffName(t.slice(9), file, lineNo).name;
      } else if (lower.startsWith('@attribute')) {
        const { name, after } = readArffName(t.slice(10), file, lineNo);
        const typeText = after.replace(/\s+%.*$/, '');
        const tl = typeText.toLowerCase();
        if (typeText.startsWith('{')) {
          if (!typeText.endsWith('}')) throw bad(file, lineNo, `nominal attribute "${name}" has no closing "}"`);
          const values = splitArff(typeText.slice(1, -1), file, lineNo).map((v) => v.value);
          attributes.push({ name, type: 'nominal', values });
        } else if (['numeric', 'real', 'integer'].includes(tl)) {
          attributes.push({ name, type: 'numeric' });
        } else if (tl === 'string') {
          attributes.push({ name, type: 'string' });
        } else if (tl.startsWith('date')) {
          attributes.push({ name, type: 'date' });
        } else {
          throw bad(file, lineNo, `attribute "${name}" has unsupported type "${typeText}"`);
        }
      } else if (lower === '@data') {
        if (attributes.length === 0) throw bad(file, lineNo, '@data before any @attribute');
        inData = true;
      } else {
        throw bad(file, lineNo, `unexpected header line ${JSON.stringify(t.slice(0, 40))}`);
      }
      continue;
    }
    if (t.startsWith('{')) throw bad(file, lineNo, 'sparse ARFF rows are not supported');
    const values = splitArff(t, file, lineNo);
    if (values.length !== attributes.length) {
      throw bad(file, lineNo, `row has ${values.length} value(s), ${attributes.length} attribute(s) are declared`);
    }
    const row = values.map((v, j) => {
      if (!v.quoted && v.value === '?') return null;
      const a = attributes[j]!;
      if (a.type === 'nominal' && !a.values!.includes(v.value)) {
        throw bad(file, lineNo, `value ${JSON.stringify(v.value)} of "${a.name}" is not one of its declared values`);
      }
      if (a.type === 'numeric' && !Number.isFinite(Number(v.value))) {
        throw bad(file, lineNo, `value ${JSON.stringify(v.value)} of numeric attribute "${a.name}" is not a number`);
      }
      return v.value;
    });
    rows.push(row);
    rowLines.push(lineNo);
  }
  if (!inData) throw bad(file, undefined, 'no @data section');
  return { format: 'arff', columns: attributes.map((a) => a.name), rows, lines: rowLines, relation, attributes };
}

export function parseJsonl(text: string, file: string): ParsedTable {
  const columns: string[] = [];
  const index = new Map<string, number>();
  const objects: { obj: Record<string, unknown>; line: number }[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const t = lines[n]!.trim();
    if (t === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw bad(file, n + 1, `not valid JSON (${(e as Error).message})`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(file, n + 1, 'each line must be a JSON object');
    for (const k of Object.keys(v)) {
      if (!index.has(k)) {
        index.set(k, columns.length);
        columns.push(k);
      }
    }
    objects.push({ obj: v as Record<string, unknown>, line: n + 1 });
  }
  const rows = objects.map(({ obj, line }) =>
    columns.map((c) => {
      const x = obj[c];
      if (x === undefined || x === null) return null;
      if (typeof x === 'object') throw bad(file, line, `field "${c}" is a nested ${Array.isArray(x) ? 'array' : 'object'}, not a scalar`);
      return String(x);
    }),
  );
  return { format: 'jsonl', columns, rows, lines: objects.map((o) => o.line) };
}

export function parseTable(text: string, file: string, format: DatasetFormat, opts: { delimiter?: string; missingValues?: string[] } = {}): ParsedTable {
  if (format === 'csv') return parseCsv(text, file, opts);
  if (format === 'arff') return parseArff(text, file);
  return parseJsonl(text, file);
}
