// The German Credit ARFF as the trainer wants it — numbers for numeric attributes, strings for
// nominal ones, no missing values — on top of the dataset plugin's ARFF reader.
import { CustodyError } from '@custody/core';
import { parseArff as parseArffTable } from '@custody/plugin-dataset/parse';

export type ArffAttribute = { name: string; type: 'numeric' } | { name: string; type: 'nominal'; values: string[] };

export interface ArffData {
  relation: string;
  attributes: ArffAttribute[];
  /** One array per row; numeric attributes as numbers, nominal as strings. */
  rows: (string | number)[][];
}

export function parseArff(text: string, file = 'data.arff'): ArffData {
  const table = parseArffTable(text, file);
  const attributes: ArffAttribute[] = (table.attributes ?? []).map((a) => {
    if (a.type === 'numeric') return { name: a.name, type: 'numeric' };
    if (a.type === 'nominal') return { name: a.name, type: 'nominal', values: a.values ?? [] };
    throw new CustodyError('DATASET_INVALID', `attribute ${a.name} has type ${a.type}; the trainer takes numeric and nominal attributes only`, { file });
  });
  const rows = table.rows.map((row, r) =>
    row.map((v, i) => {
      const a = attributes[i];
      if (v === null) throw new CustodyError('DATASET_INVALID', `line ${table.lines[r]}: ${a.name} is missing; the trainer needs complete rows`, { file });
      return a.type === 'numeric' ? Number(v) : v;
    }),
  );
  return { relation: table.relation ?? '', attributes, rows };
}
