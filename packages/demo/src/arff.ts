// ARFF reader for the German Credit file: `%` comments, @relation, @attribute NAME {nominal,...}
// or numeric, @data, then comma-separated rows whose values may be single- or double-quoted.
import { CustodyError } from '@custody/core';

export type ArffAttribute = { name: string; type: 'numeric' } | { name: string; type: 'nominal'; values: string[] };

export interface ArffData {
  relation: string;
  attributes: ArffAttribute[];
  /** One array per row; numeric attributes as numbers, nominal as strings. */
  rows: (string | number)[][];
}

/** Splits a comma-separated ARFF value list, honouring quotes. */
function splitValues(text: string, line: number, file: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
    let value = '';
    const q = text[i];
    if (q === "'" || q === '"') {
      i++;
      while (i < text.length && text[i] !== q) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i++];
      }
      if (i >= text.length) throw new CustodyError('DATASET_INVALID', `line ${line}: unterminated quote`, { file });
      i++;
      while (i < text.length && text[i] !== ',') {
        if (text[i] !== ' ' && text[i] !== '\t') throw new CustodyError('DATASET_INVALID', `line ${line}: text after a quoted value`, { file });
        i++;
      }
    } else {
      while (i < text.length && text[i] !== ',') value += text[i++];
      value = value.trim();
    }
    out.push(value);
    i++; // the comma
  }
  if (text.trimEnd().endsWith(',')) out.push('');
  return out;
}

export function parseArff(text: string, file = 'data.arff'): ArffData {
  const lines = text.split(/\r?\n/);
  let relation = '';
  const attributes: ArffAttribute[] = [];
  const rows: (string | number)[][] = [];
  let inData = false;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    const lineNo = n + 1;
    if (line === '' || line.startsWith('%')) continue;
    if (!inData) {
      const lower = line.toLowerCase();
      if (lower.startsWith('@relation')) relation = line.slice(9).trim().replace(/^'(.*)'$/, '$1');
      else if (lower.startsWith('@attribute')) {
        const m = /^@attribute\s+('([^']*)'|"([^"]*)"|(\S+))\s+(.*)$/i.exec(line);
        if (!m) throw new CustodyError('DATASET_INVALID', `line ${lineNo}: malformed @attribute`, { file });
        const name = m[2] ?? m[3] ?? m[4];
        const type = m[5].trim();
        if (type.startsWith('{')) {
          if (!type.endsWith('}')) throw new CustodyError('DATASET_INVALID', `line ${lineNo}: nominal list without '}'`, { file });
          attributes.push({ name, type: 'nominal', values: splitValues(type.slice(1, -1), lineNo, file) });
        } else if (/^(numeric|real|integer)$/i.test(type)) attributes.push({ name, type: 'numeric' });
        else throw new CustodyError('DATASET_INVALID', `line ${lineNo}: attribute ${name} has unsupported type ${type}`, { file });
      } else if (lower.startsWith('@data')) inData = true;
      else throw new CustodyError('DATASET_INVALID', `line ${lineNo}: unexpected header line`, { file });
      continue;
    }
    const values = splitValues(line, lineNo, file);
    if (values.length !== attributes.length) {
      throw new CustodyError('DATASET_INVALID', `line ${lineNo}: ${values.length} values, expected ${attributes.length}`, { file });
    }
    rows.push(
      values.map((v, i) => {
        const a = attributes[i];
        if (a.type === 'numeric') {
          const x = Number(v);
          if (v === '' || !Number.isFinite(x)) throw new CustodyError('DATASET_INVALID', `line ${lineNo}: ${a.name} value '${v}' is not a number`, { file });
          return x;
        }
        if (!a.values.includes(v)) throw new CustodyError('DATASET_INVALID', `line ${lineNo}: ${a.name} value '${v}' is not one of its nominal values`, { file });
        return v;
      }),
    );
  }
  if (!inData) throw new CustodyError('DATASET_INVALID', 'no @data section', { file });
  return { relation, attributes, rows };
}
