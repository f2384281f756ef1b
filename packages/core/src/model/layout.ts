/**
 * The in-toto v1 layout as the reference's model (in-toto 1.3.1 `models/layout.py`) holds it.
 * `normalizeLayout` returns exactly what `Layout.read(data)` would re-serialize and therefore
 * what a metablock signature covers: `_type` forced, missing fields defaulted, unknown fields
 * on the layout, steps and inspections dropped, the same validation (rule syntax, unique names,
 * keyids, threshold an int, expires an ISO 8601 UTC date).
 */
import { CustodyError } from '../errors.ts';
import { computeKeyid, sameKeyMaterial, type SslibKey } from '../keys.ts';
import { parseRule } from '../rules/parse.ts';
import { stepFileNameProblem } from './link.ts';

export type Rule = string[];

export interface StepBody {
  _type: 'step';
  name: string;
  threshold: number;
  pubkeys: string[];
  expected_command: string[];
  expected_materials: Rule[];
  expected_products: Rule[];
}

export interface InspectionBody {
  _type: 'inspection';
  name: string;
  run: string[];
  expected_materials: Rule[];
  expected_products: Rule[];
}

export interface LayoutBody {
  _type: 'layout';
  steps: StepBody[];
  inspect: InspectionBody[];
  keys: Record<string, SslibKey & Record<string, unknown>>;
  expires: string;
  readme: string;
}

/** custody's own per-step fields; only trusted from DSSE layouts (whose signature covers them). */
export const STEP_EXTENSION_FIELDS = ['expectedPredicates', 'plugins', 'run', 'functionaries', 'traceProfile'] as const;

const KEYID = /^[a-fA-F0-9]+$/;
/** securesystemslib ISO8601_DATETIME_SCHEMA. */
export const ISO8601_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string, fileName?: string): never {
  throw new CustodyError('SCHEMA_INVALID', `invalid layout: ${message}`, { file: fileName });
}

function stringList(v: unknown, where: string, fileName?: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) invalid(`${where} must be a list of strings`, fileName);
  return [...(v as string[])];
}

function ruleList(v: unknown, where: string, fileName?: string): Rule[] {
  if (!Array.isArray(v)) invalid(`${where} must be a list of rules`, fileName);
  return v.map((rule, i) => {
    try {
      return [...parseRule(rule, `${where}[${i}]`).tokens];
    } catch (e) {
      if (e instanceof CustodyError) throw new CustodyError(e.code, `invalid layout: ${e.message}`, { file: fileName });
      throw e;
    }
  });
}

/** The date an `expires` string names; undefined when the reference would reject it. */
export function parseExpires(expires: string): Date | undefined {
  if (!ISO8601_UTC.test(expires)) return undefined;
  const d = new Date(expires);
  if (Number.isNaN(d.getTime())) return undefined;
  // Reject dates JS rolls over (Feb 30th) — dateutil refuses them.
  if (d.toISOString().slice(0, 19) + 'Z' !== expires) return undefined;
  return d;
}

/**
 * `kwargs.get(field, default)`: the default only when the field is absent. A field that is
 * present with `null` (or any other wrong type) is validated as given — and rejected.
 */
function field(obj: Record<string, unknown>, name: string, fallback: unknown): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : fallback;
}

/**
 * Step and inspection names become file names (`<name>.<keyid8>.link`, the sublayout folder
 * `<name>.<keyid8>/`): one that is empty, holds a path separator or is `.`/`..` would read or
 * write outside the link folder. The reference accepts any value; custody refuses these.
 */
export function checkItemName(name: unknown, where: string, fileName?: string): string {
  if (typeof name !== 'string') invalid(`${where}.name must be a string`, fileName);
  const why = stepFileNameProblem(name);
  if (why) invalid(`${where}.name ${JSON.stringify(name)} ${why}`, fileName);
  return name;
}

function threshold(v: unknown, where: string, fileName?: string): number {
  // Python's isinstance(True, int) holds, but a boolean threshold is a mistake, not a count.
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) invalid(`${where}.threshold must be an integer, got ${JSON.stringify(v)}`, fileName);
  return v;
}

function normalizeStep(s: unknown, i: number, fileName?: string): StepBody {
  const where = `steps[${i}]`;
  if (!isPlainObject(s)) invalid(`${where} must be an object`, fileName);
  if (s._type !== undefined && s._type !== 'step') invalid(`${where}._type must be "step"`, fileName);
  const name = checkItemName(s.name, where, fileName);
  const pubkeys = stringList(field(s, 'pubkeys', []), `${where}.pubkeys`, fileName);
  pubkeys.forEach((k, j) => { if (!KEYID.test(k)) invalid(`${where}.pubkeys[${j}] is not a keyid: ${JSON.stringify(k)}`, fileName); });
  return {
    _type: 'step',
    name,
    threshold: threshold(field(s, 'threshold', 1), where, fileName),
    pubkeys,
    expected_command: stringList(field(s, 'expected_command', []), `${where}.expected_command`, fileName),
    expected_materials: ruleList(field(s, 'expected_materials', []), `${where}.expected_materials`, fileName),
    expected_products: ruleList(field(s, 'expected_products', []), `${where}.expected_products`, fileName),
  };
}

function normalizeInspection(s: unknown, i: number, fileName?: string): InspectionBody {
  const where = `inspect[${i}]`;
  if (!isPlainObject(s)) invalid(`${where} must be an object`, fileName);
  if (s._type !== undefined && s._type !== 'inspection') invalid(`${where}._type must be "inspection"`, fileName);
  const name = checkItemName(s.name, where, fileName);
  return {
    _type: 'inspection',
    name,
    run: stringList(field(s, 'run', []), `${where}.run`, fileName),
    expected_materials: ruleList(field(s, 'expected_materials', []), `${where}.expected_materials`, fileName),
    expected_products: ruleList(field(s, 'expected_products', []), `${where}.expected_products`, fileName),
  };
}

/** securesystemslib HASHALGORITHMS_SCHEMA. */
const HASH_ALGORITHMS = new Set(['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'blake2s', 'blake2b', 'blake2b-256']);

/**
 * securesystemslib ANY_PUBKEY_DICT_SCHEMA (keyid → public key), plus what the reference leaves
 * to the layout's author (its own TODO): each entry is filed under the keyid computed from its
 * key material — never an embedded `keyid` field or a made-up dict key — and no key material
 * appears twice, so one key can never count as two functionaries towards a threshold.
 */
function checkKeys(keys: unknown, fileName?: string): LayoutBody['keys'] {
  if (!isPlainObject(keys)) invalid('keys must be an object of keyid → public key', fileName);
  const material = new Map<string, string>();
  for (const [keyid, key] of Object.entries(keys)) {
    if (!KEYID.test(keyid)) invalid(`keys: ${JSON.stringify(keyid)} is not a keyid`, fileName);
    if (!isPlainObject(key) || typeof key.keytype !== 'string' || typeof key.scheme !== 'string'
      || !isPlainObject(key.keyval) || typeof key.keyval.public !== 'string') {
      invalid(`keys.${keyid} must be a public key (keytype, scheme, keyval.public)`, fileName);
    }
    if (field(key.keyval, 'private', '') !== '') invalid(`keys.${keyid} contains a private key`, fileName);
    const algs = field(key, 'keyid_hash_algorithms', []);
    if (!Array.isArray(algs) || algs.some((a) => typeof a !== 'string' || !HASH_ALGORITHMS.has(a))) {
      invalid(`keys.${keyid}.keyid_hash_algorithms must be a list of hash algorithm names`, fileName);
    }
    const expires = field(key, 'expires', '2000-01-01T00:00:00Z');
    if (typeof expires !== 'string' || !ISO8601_UTC.test(expires)) invalid(`keys.${keyid}.expires must be a date like 2030-01-01T00:00:00Z`, fileName);
    const computed = computeKeyid(key as unknown as SslibKey);
    if (computed !== keyid) {
      invalid(`keys.${keyid} holds the key whose keyid is ${computed}: a key is filed under the keyid of its key material`, fileName);
    }
    if (key.keyid !== undefined && key.keyid !== computed) {
      invalid(`keys.${keyid} says its keyid is ${JSON.stringify(key.keyid)}, but its key material's keyid is ${computed}`, fileName);
    }
    const same = sameKeyMaterial(key as unknown as SslibKey);
    if (same !== undefined) {
      const other = material.get(same);
      if (other !== undefined) invalid(`keys.${keyid} and keys.${other} are the same key (one functionary cannot count twice)`, fileName);
      material.set(same, keyid);
    }
  }
  return keys as LayoutBody['keys'];
}

/** The layout as the reference's model holds (and signs) it. SCHEMA_INVALID / RULE_SYNTAX on bad input. */
export function normalizeLayout(obj: unknown, fileName?: string): LayoutBody {
  if (!isPlainObject(obj)) invalid('expected a JSON object', fileName);
  if (obj._type !== undefined && obj._type !== 'layout') invalid(`_type must be "layout", got ${JSON.stringify(obj._type)}`, fileName);
  if (!Array.isArray(obj.steps)) invalid('steps must be a list', fileName);
  if (!Array.isArray(obj.inspect)) invalid('inspect must be a list', fileName);
  const steps = obj.steps.map((s, i) => normalizeStep(s, i, fileName));
  const inspect = obj.inspect.map((s, i) => normalizeInspection(s, i, fileName));
  const seen = new Set<string>();
  for (const item of [...steps, ...inspect]) {
    if (seen.has(item.name)) invalid(`there is already a step or inspection named ${JSON.stringify(item.name)}; names must be unique`, fileName);
    seen.add(item.name);
  }
  // A missing or empty `expires` makes the reference's model invent one (a month from now), which
  // no signature covers: refuse it.
  if (typeof obj.expires !== 'string' || !parseExpires(obj.expires)) {
    invalid(`expires must be a date like 2030-01-01T00:00:00Z, got ${JSON.stringify(obj.expires)}`, fileName);
  }
  const readme = field(obj, 'readme', '');
  if (typeof readme !== 'string') invalid(`readme must be a string, got ${JSON.stringify(readme)}`, fileName);
  return { _type: 'layout', steps, inspect, keys: checkKeys(field(obj, 'keys', {}), fileName), expires: obj.expires, readme };
}

/** Unknown (extension) fields per step of a raw layout body, e.g. `{ 2: ['plugins'] }`. */
export function stepExtensionFields(obj: unknown): Record<number, string[]> {
  const known = new Set(['_type', 'name', 'threshold', 'pubkeys', 'expected_command', 'expected_materials', 'expected_products']);
  const out: Record<number, string[]> = {};
  if (!isPlainObject(obj) || !Array.isArray(obj.steps)) return out;
  obj.steps.forEach((s, i) => {
    if (!isPlainObject(s)) return;
    const extra = Object.keys(s).filter((k) => !known.has(k));
    if (extra.length) out[i] = extra;
  });
  return out;
}
