import { CustodyError } from '../errors.ts';

/** path → { hash algorithm → hex digest } */
export type ArtifactMap = Record<string, Record<string, string>>;

/**
 * `obj[key] = value` for keys that are file names (or hash names): any string is a key.
 * Assigning `__proto__` on a plain object would set its prototype and the entry would vanish
 * from the map; it becomes an own property instead. Readers look keys up with `hasOwnProperty`,
 * so `constructor` is only there when recorded.
 */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export interface LinkBody {
  _type: 'link';
  name: string;
  command: string[];
  materials: ArtifactMap;
  products: ArtifactMap;
  byproducts: Record<string, unknown>;
  environment: Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string, fileName?: string): never {
  throw new CustodyError('SCHEMA_INVALID', `invalid link: ${message}`, { file: fileName });
}

/** Same as `/^[a-fA-F0-9]+$/.test(s)`, without a regex call per digest (links hold many). */
function isHex(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

function artifactMap(v: unknown, field: string, fileName?: string): ArtifactMap {
  if (!isPlainObject(v)) invalid(`field \`${field}\` must be an object`, fileName);
  const out: ArtifactMap = {};
  for (const path of Object.keys(v)) {
    const hashes = v[path];
    if (!isPlainObject(hashes)) invalid(`${field}[${JSON.stringify(path)}] must be an object of hex digests`, fileName);
    const copy: Record<string, string> = {};
    for (const alg of Object.keys(hashes)) {
      const digest = hashes[alg];
      if (typeof digest !== 'string' || !isHex(digest)) {
        invalid(`${field}[${JSON.stringify(path)}].${alg} must be a hex digest`, fileName);
      }
      setOwn(copy, alg, digest);
    }
    setOwn(out, path, copy);
  }
  return out;
}

/**
 * The link exactly as the reference's model (`Link(**data)`) holds it and therefore signs it:
 * `_type` forced to "link", missing fields defaulted (`{}` / `[]`), unknown fields dropped,
 * the same type checks. Metablock signatures cover the canonical JSON of this object.
 */
export function normalizeLink(obj: unknown, fileName?: string): LinkBody {
  if (!isPlainObject(obj)) invalid('expected a JSON object', fileName);
  if (obj._type !== undefined && obj._type !== 'link') invalid(`field \`_type\` must be "link", got ${JSON.stringify(obj._type)}`, fileName);
  const { name } = obj;
  if (typeof name !== 'string') invalid('field `name` must be a string', fileName);
  const command = 'command' in obj ? obj.command : [];
  if (!Array.isArray(command)) invalid('field `command` must be a list', fileName);
  const byproducts = 'byproducts' in obj ? obj.byproducts : {};
  if (!isPlainObject(byproducts)) invalid('field `byproducts` must be an object', fileName);
  const environment = 'environment' in obj ? obj.environment : {};
  if (!isPlainObject(environment)) invalid('field `environment` must be an object', fileName);
  return {
    _type: 'link',
    name,
    command: command as string[],
    materials: artifactMap('materials' in obj ? obj.materials : {}, 'materials', fileName),
    products: artifactMap('products' in obj ? obj.products : {}, 'products', fileName),
    byproducts,
    environment,
  };
}

/**
 * Why a step name cannot be part of a file name (empty, starting with a dot, or holding `/`,
 * `\` or NUL: it would read or write elsewhere, or pass for a temp file); undefined when it
 * can. The same rule as @custody/store's naming module.
 */
export function stepFileNameProblem(step: string): string | undefined {
  if (step === '') return 'is empty';
  if (step.includes('/') || step.includes('\\')) return 'contains a path separator (/ or \\)';
  if (step === '.' || step === '..') return 'would name a folder';
  // hidden names are custody's own (`.<step>.<keyid8>.link-unfinished`, temp files)
  if (step.startsWith('.')) return 'starts with a dot';
  if (step.includes('\0')) return 'contains a NUL character';
  return undefined;
}

/** The step name, when it can be part of a file name; USAGE otherwise. */
export function checkStepFileName(step: string): string {
  const why = stepFileNameProblem(step);
  if (why) throw new CustodyError('USAGE', `step name ${JSON.stringify(step)} ${why}: step names become file names`);
  return step;
}

/** `<step>.<keyid[:8]>.link`, the reference's FILENAME_FORMAT. */
export function linkFileName(step: string, keyid: string): string {
  checkStepFileName(step);
  return `${step}.${keyid.slice(0, 8)}.link`;
}
