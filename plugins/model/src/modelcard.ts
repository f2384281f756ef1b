// Model card front matter: README.md may start with a YAML block between "---" lines
// (the Hugging Face model card metadata).
import { parseDocument } from 'yaml';
import { CustodyError } from '@custody/core';

export interface ModelCard {
  license?: string;
  licenseName?: string;
  licenseLink?: string;
  datasets: string[];
  baseModel: string[];
  tags: string[];
  pipelineTag?: string;
  libraryName?: string;
  language: string[];
  /** The `model-index` entries as written (evaluation results). */
  modelIndex?: unknown[];
  /** Everything in the front matter, as JSON. */
  raw: Record<string, unknown>;
}

/** Returns the YAML text between the opening and closing "---" lines, or undefined when absent. */
export function extractFrontMatter(text: string): { yaml: string; firstLine: number } | undefined {
  const t = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = t.split(/\r?\n/);
  if (lines[0]?.trimEnd() !== '---') return undefined;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trimEnd() === '---') return { yaml: lines.slice(1, i).join('\n'), firstLine: 2 };
  }
  return { yaml: '\u0000unterminated', firstLine: 2 };
}

function stringList(v: unknown, key: string, file: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw new CustodyError('MODEL_CARD_INVALID', `model card front matter: "${key}" must be a string or a list of strings`, { file });
}

function optionalString(v: unknown, key: string, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  throw new CustodyError('MODEL_CARD_INVALID', `model card front matter: "${key}" must be a string`, { file });
}

/** Parses README.md text; returns undefined when it has no front matter. */
export function parseModelCard(text: string, file = 'README.md'): ModelCard | undefined {
  const fm = extractFrontMatter(text);
  if (!fm) return undefined;
  if (fm.yaml === '\u0000unterminated') {
    throw new CustodyError('MODEL_CARD_INVALID', 'model card front matter: opening "---" has no closing "---" line', { file });
  }
  const doc = parseDocument(fm.yaml, { prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = (e.linePos?.[0]?.line ?? 0) + fm.firstLine - 1;
    throw new CustodyError('MODEL_CARD_INVALID', `model card front matter is not valid YAML (line ${line}): ${e.message.split('\n')[0]}`, { file, cause: e });
  }
  const raw = (doc.toJS() ?? {}) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CustodyError('MODEL_CARD_INVALID', 'model card front matter must be a YAML mapping', { file });
  }
  const r = raw as Record<string, unknown>;
  const modelIndex = r['model-index'];
  if (modelIndex !== undefined && !Array.isArray(modelIndex)) {
    throw new CustodyError('MODEL_CARD_INVALID', 'model card front matter: "model-index" must be a list', { file });
  }
  // YAML dates etc. become JSON-safe values for the predicate.
  const jsonSafe = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
  return {
    license: optionalString(r.license, 'license', file),
    licenseName: optionalString(r.license_name, 'license_name', file),
    licenseLink: optionalString(r.license_link, 'license_link', file),
    datasets: stringList(r.datasets, 'datasets', file),
    baseModel: stringList(r.base_model, 'base_model', file),
    tags: stringList(r.tags, 'tags', file),
    pipelineTag: optionalString(r.pipeline_tag, 'pipeline_tag', file),
    libraryName: optionalString(r.library_name, 'library_name', file),
    language: stringList(r.language, 'language', file),
    modelIndex: modelIndex === undefined ? undefined : (jsonSafe['model-index'] as unknown[]),
    raw: jsonSafe,
  };
}
