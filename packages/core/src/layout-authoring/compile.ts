/**
 * The layout authoring format (YAML or JSON) → the in-toto v1 layout body custody signs.
 *
 *   expires: 2030-01-01T00:00:00Z        # or 30d / 12w / 6m / 1y from signing time
 *   readme: …
 *   keys: { bob: keys/bob.pub }          # names → key files (or a list of files: name = basename)
 *   steps:
 *     - name: clone
 *       pubkeys: [bob]                   # key names, key files, or keyids of compiled keys
 *       threshold: 1
 *       expected_command: git clone …    # shell words or a list
 *       expected_products: [CREATE foo.py, DISALLOW *]   # shell words or token lists
 *       plugins: [git]                   # custody extensions: expectedPredicates, plugins, run
 *   inspect:
 *     - { name: untar, run: tar xzf foo.tar.gz, expected_materials: [...] }
 *
 * The body of an in-toto layout (keys as keyid → key, rules as token lists) is valid input too.
 * Key files are read by the caller (`layoutKeyRefs` says which); this module stays pure.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { CustodyError } from '../errors.ts';
import { MAX_JSON_DEPTH, nestedDeeperThan, parseJson } from '../json.ts';
import type { PublicKey } from '../keys.ts';
import { isPlainObject, normalizeLayout, STEP_EXTENSION_FIELDS, type LayoutBody } from '../model/layout.ts';
import { shlexSplit } from '../rules/parse.ts';

const KEYID64 = /^[0-9a-f]{64}$/;

/** Reads YAML or JSON text; MALFORMED_JSON / MALFORMED_YAML with the position on failure. */
export function parseLayoutDocument(text: string, fileName: string): unknown {
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (trimmed.startsWith('{') || /\.json$/i.test(fileName)) {
    try {
      return parseJson(trimmed, { file: fileName, code: 'MALFORMED_JSON' });
    } catch (e) {
      if (/\.json$/i.test(fileName) || !/\.ya?ml$/i.test(fileName)) throw e;
    }
  }
  // the file as written (less a BOM), so error positions are the editor's
  const yamlText = text.replace(/^\uFEFF/, '');
  try {
    // YAML 1.2 core schema: dates stay strings; duplicate keys are an error.
    // logLevel 'error': warnings (e.g. an ambiguous alias) never reach stderr; errors still throw.
    const doc: unknown = parseYaml(yamlText, { uniqueKeys: true, prettyErrors: false, strict: true, maxAliasCount: 100, logLevel: 'error' });
    if (nestedDeeperThan(doc)) throw new CustodyError('MALFORMED_YAML', `YAML is nested more than ${MAX_JSON_DEPTH} levels deep`, { file: fileName });
    return doc;
  } catch (e) {
    if (e instanceof CustodyError) throw e;
    const at = e instanceof YAMLParseError ? lineColumn(yamlText, e.pos[0]) : undefined;
    const msg = at ? `line ${at.line}, column ${at.column}: ${e instanceof Error ? e.message.split('\n')[0] : ''}` : (e as Error).message.split('\n')[0];
    throw new CustodyError('MALFORMED_YAML', `not valid YAML: ${msg}`, { file: fileName, cause: e });
  }
}

/** 1-based line and column of a character offset (the `yaml` parser reports offsets without prettyErrors). */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - nl };
}

/** Is this document an already signed layout (metablock or DSSE envelope)? */
export function isSignedDocument(doc: unknown): boolean {
  return isPlainObject(doc) && (('signed' in doc && 'signatures' in doc) || ('payload' in doc && 'payloadType' in doc));
}

/** Map of key name → file, from the `keys` field when it names files. */
function namedKeyFiles(doc: Record<string, unknown>): Map<string, string> {
  const out = new Map<string, string>();
  const keys = doc.keys;
  if (Array.isArray(keys)) {
    for (const f of keys) if (typeof f === 'string') out.set(f.replace(/^.*\//, '').replace(/\.pub$/, '').replace(/\.(pem|json)$/, ''), f);
  } else if (isPlainObject(keys)) {
    for (const [name, v] of Object.entries(keys)) if (typeof v === 'string') out.set(name, v);
  }
  return out;
}

function compiledKeyids(doc: Record<string, unknown>): Set<string> {
  const keys = doc.keys;
  return new Set(isPlainObject(keys) ? Object.entries(keys).filter(([, v]) => isPlainObject(v)).map(([k]) => k) : []);
}

/** A pubkeys entry: a key name, a compiled keyid, or a key file. */
export type PubkeyRef = { kind: 'name'; name: string; file: string } | { kind: 'keyid'; keyid: string } | { kind: 'file'; file: string };

export function resolvePubkeyRef(doc: Record<string, unknown>, entry: string): PubkeyRef {
  const named = namedKeyFiles(doc);
  if (named.has(entry)) return { kind: 'name', name: entry, file: named.get(entry)! };
  if (KEYID64.test(entry) && compiledKeyids(doc).has(entry)) return { kind: 'keyid', keyid: entry };
  if (KEYID64.test(entry)) return { kind: 'keyid', keyid: entry };
  return { kind: 'file', file: entry };
}

/** Key entries (strings) of a step: pubkeys, functionaries and expectedPredicates[].functionaries. */
function stepKeyEntries(step: Record<string, unknown>): string[] {
  const lists: unknown[] = [step.pubkeys, step.functionaries];
  if (Array.isArray(step.expectedPredicates)) for (const ep of step.expectedPredicates) if (isPlainObject(ep)) lists.push(ep.functionaries);
  return lists.flatMap((l) => (Array.isArray(l) ? l.filter((x): x is string => typeof x === 'string' && !x.startsWith('oidc:')) : []));
}

/** Every key file the document names (in `keys` and in steps' `pubkeys`), in order, once. */
export function layoutKeyRefs(doc: unknown): string[] {
  if (!isPlainObject(doc)) return [];
  const files = new Set<string>(namedKeyFiles(doc).values());
  for (const step of Array.isArray(doc.steps) ? doc.steps : []) {
    if (!isPlainObject(step)) continue;
    for (const p of stepKeyEntries(step)) {
      const ref = resolvePubkeyRef(doc, p);
      if (ref.kind !== 'keyid') files.add(ref.file);
    }
  }
  return [...files];
}

/** `30d`, `12w`, `6m`, `1y` from `now`, as `YYYY-MM-DDTHH:MM:SSZ`; ISO dates pass through. */
export function resolveExpires(expires: unknown, now: Date): unknown {
  if (typeof expires !== 'string') return expires;
  const m = /^(\d+)([dwmy])$/.exec(expires);
  if (!m) return expires;
  const n = Number(m[1]);
  const d = new Date(now.getTime());
  if (m[2] === 'd') d.setUTCDate(d.getUTCDate() + n);
  else if (m[2] === 'w') d.setUTCDate(d.getUTCDate() + 7 * n);
  else if (m[2] === 'm') d.setUTCMonth(d.getUTCMonth() + n);
  else d.setUTCFullYear(d.getUTCFullYear() + n);
  return `${d.toISOString().slice(0, 19)}Z`;
}

function toCommand(v: unknown, where: string): unknown {
  return typeof v === 'string' ? shlexSplit(v, where) : v;
}

function toRules(v: unknown, where: string): unknown {
  if (!Array.isArray(v)) return v;
  return v.map((r, i) => (typeof r === 'string' ? shlexSplit(r, `${where}[${i}]`) : r));
}

export interface CompiledLayout {
  /** The layout body with custody extension fields kept on steps. */
  body: Record<string, unknown>;
  /** `steps[i].field` for every extension field present. */
  extensions: string[];
}

/**
 * Compiles an authoring document into a layout body: key files replaced by the sslib keys
 * (`keys` maps each ref the document names → its PublicKey), strings split into tokens,
 * relative expiry resolved. The result is validated like the reference's model would
 * (SCHEMA_INVALID / RULE_SYNTAX).
 */
export function compileLayout(doc: unknown, keys: ReadonlyMap<string, PublicKey>, opts: { now: Date; fileName: string }): CompiledLayout {
  const { fileName } = opts;
  if (!isPlainObject(doc)) throw new CustodyError('SCHEMA_INVALID', 'a layout must be a mapping (steps, inspect, keys, expires, readme)', { file: fileName });
  const outKeys: Record<string, unknown> = {};
  if (isPlainObject(doc.keys)) {
    for (const [k, v] of Object.entries(doc.keys)) if (isPlainObject(v)) outKeys[k] = v;
  }
  const keyFor = (file: string, where: string): PublicKey => {
    const key = keys.get(file);
    if (!key) throw new CustodyError('KEY_INVALID', `${where}: key file ${file} was not loaded`, { file: fileName });
    outKeys[key.keyid] = { ...key.sslib, keyid: key.keyid };
    return key;
  };
  for (const file of namedKeyFiles(doc).values()) keyFor(file, 'keys');
  const extensions: string[] = [];
  const steps = (Array.isArray(doc.steps) ? doc.steps : []).map((s, i) => {
    if (!isPlainObject(s)) return s;
    const where = `steps[${i}]`;
    const out: Record<string, unknown> = { _type: 'step', ...s };
    out.threshold = s.threshold ?? 1;
    // key names / files / keyids → keyids; identity objects ({issuer, subject}) stay as they are
    const keyid = (p: unknown, at: string): unknown => {
      if (typeof p !== 'string') return p;
      const ref = resolvePubkeyRef(doc, p);
      if (ref.kind === 'keyid') {
        if (!(ref.keyid in outKeys) && ![...keys.values()].some((k) => k.keyid === ref.keyid)) {
          throw new CustodyError('SCHEMA_INVALID', `${at}: keyid ${ref.keyid} is not in keys`, { file: fileName });
        }
        return ref.keyid;
      }
      return keyFor(ref.file, at).keyid;
    };
    out.pubkeys = (Array.isArray(s.pubkeys) ? s.pubkeys : []).map((p, j) => keyid(p, `${where}.pubkeys[${j}]`));
    if (Array.isArray(s.functionaries)) out.functionaries = s.functionaries.map((p, j) => keyid(p, `${where}.functionaries[${j}]`));
    if (Array.isArray(s.expectedPredicates)) {
      out.expectedPredicates = s.expectedPredicates.map((ep, j) => (isPlainObject(ep) && Array.isArray(ep.functionaries)
        ? { ...ep, functionaries: ep.functionaries.map((p, k) => keyid(p, `${where}.expectedPredicates[${j}].functionaries[${k}]`)) }
        : ep));
    }
    out.expected_command = toCommand(s.expected_command ?? [], `${where}.expected_command`);
    out.expected_materials = toRules(s.expected_materials ?? [], `${where}.expected_materials`);
    out.expected_products = toRules(s.expected_products ?? [], `${where}.expected_products`);
    if ('run' in s) out.run = toCommand(s.run, `${where}.run`);
    for (const f of STEP_EXTENSION_FIELDS) if (f in s) extensions.push(`${where}.${f}`);
    return out;
  });
  const inspect = (Array.isArray(doc.inspect) ? doc.inspect : []).map((s, i) => {
    if (!isPlainObject(s)) return s;
    const where = `inspect[${i}]`;
    return {
      _type: 'inspection',
      ...s,
      run: toCommand(s.run ?? [], `${where}.run`),
      expected_materials: toRules(s.expected_materials ?? [], `${where}.expected_materials`),
      expected_products: toRules(s.expected_products ?? [], `${where}.expected_products`),
    };
  });
  const body: Record<string, unknown> = {
    _type: 'layout',
    expires: resolveExpires(doc.expires, opts.now),
    readme: doc.readme ?? '',
    keys: outKeys,
    steps,
    inspect,
  };
  // the Sigstore trust root for keyless functionaries (pinned by sha256; the CLI fills it in)
  if (doc.trustedRoot !== undefined) {
    body.trustedRoot = doc.trustedRoot;
    extensions.push('trustedRoot');
  }
  if (body.expires === undefined) throw new CustodyError('SCHEMA_INVALID', 'expires is required (a date like 2030-01-01T00:00:00Z, or 30d / 6m / 1y)', { file: fileName });
  normalizeLayout(body, fileName); // validates like the reference's model
  return { body, extensions };
}

/** The body as the reference's model re-serializes it (what a metablock signature covers). */
export function legacyLayoutBody(body: Record<string, unknown>, fileName?: string): LayoutBody {
  return normalizeLayout(body, fileName);
}

