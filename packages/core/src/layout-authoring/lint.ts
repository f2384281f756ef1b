/**
 * `custody layout lint`: the JSON Schema (ajv) plus what a schema cannot say — rule syntax,
 * MATCH naming a step that does not exist, duplicate names, keys missing, already expired,
 * threshold above the number of functionaries. Every message carries its place in the
 * document (`steps[1].expected_materials[0]`).
 */
import AjvModule from 'ajv';
import { CustodyError } from '../errors.ts';
import { stepFileNameProblem } from '../model/link.ts';
import { computeKeyid, sameKeyMaterial, type PublicKey, type SslibKey } from '../keys.ts';
import { isPlainObject, parseExpires, STEP_EXTENSION_FIELDS } from '../model/layout.ts';
import { parseRule, shlexSplit } from '../rules/parse.ts';
import { resolveExpires, resolvePubkeyRef } from './compile.ts';
import { LAYOUT_SCHEMA } from './schema.ts';
import { lintExpectedPredicates } from '../attestations/lint.ts';
import { validateIdentityPolicy } from '../identity.ts';

export interface LintMessage {
  severity: 'error' | 'warning';
  /** Where in the document, e.g. `steps[1].expected_materials[0]` (empty for the whole document). */
  path: string;
  message: string;
}

export interface LintOptions {
  now: Date;
  /** Key files the document names, as the caller could load them (an error when it could not). */
  keys?: ReadonlyMap<string, PublicKey | CustodyError>;
  /** The document is the body of a signed layout of this format. */
  signedFormat?: 'metablock' | 'dsse';
}

type AjvLike = { compile(schema: unknown): ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; keyword: string; params: Record<string, unknown> }[] | null } };
let validator: ReturnType<AjvLike['compile']> | undefined;

function schemaValidator(): ReturnType<AjvLike['compile']> {
  if (!validator) {
    const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as new (o: object) => AjvLike;
    validator = new Ajv({ allErrors: true, strict: false }).compile(LAYOUT_SCHEMA);
  }
  return validator;
}

/** `/steps/1/expected_materials/0` → `steps[1].expected_materials[0]`. */
export function jsonPointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

/** The schema node at a JSON pointer into LAYOUT_SCHEMA (`#/$defs/command/oneOf`). */
function schemaAt(pointer: string): Record<string, unknown> | undefined {
  let node: unknown = LAYOUT_SCHEMA;
  for (const raw of pointer.replace(/^#/, '').split('/').slice(1)) {
    if (!isPlainObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return isPlainObject(node) ? node : undefined;
}

function valueAt(doc: unknown, pointer: string): unknown {
  let node: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    if (!isPlainObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

/** YAML reads `true`, `null`, `3` as a boolean, null or number: where a string belongs, say how to write one. */
function yamlScalarHint(value: unknown): string {
  const scalars = (Array.isArray(value) ? value : [value]).filter((v) => v === null || typeof v === 'boolean' || typeof v === 'number');
  if (scalars.length === 0) return '';
  const v = scalars[0];
  return `; YAML reads ${String(v)} as ${v === null ? 'null' : typeof v === 'boolean' ? 'a boolean' : 'a number'}, not text: quote it ("${String(v)}")`;
}

function schemaMessages(doc: unknown): LintMessage[] {
  const validate = schemaValidator();
  if (validate(doc)) return [];
  const out: LintMessage[] = [];
  const seen = new Set<string>();
  const errors = validate.errors ?? [];
  // A value that fits no branch of a oneOf is one problem, said once in the schema's own words
  // (`run: [true]` is "must be a command …", not one message per branch).
  const described = errors.filter((e) => e.keyword === 'oneOf' && e.params.passingSchemas == null
    && typeof schemaAt(String((e as { schemaPath?: string }).schemaPath).replace(/\/oneOf$/, ''))?.description === 'string');
  for (const e of errors) {
    const schemaPath = String((e as { schemaPath?: string }).schemaPath ?? '');
    let path = jsonPointerToPath(e.instancePath);
    let message = e.message ?? 'is invalid';
    const group = described.find((d) => d !== e && schemaPath.startsWith(`${String((d as { schemaPath?: string }).schemaPath)}/`) && (e.instancePath === d.instancePath || e.instancePath.startsWith(`${d.instancePath}/`)));
    if (group) continue;
    if (described.includes(e)) {
      const description = String(schemaAt(schemaPath.replace(/\/oneOf$/, ''))!.description);
      message = `must be ${description}${yamlScalarHint(valueAt(doc, e.instancePath))}`;
    } else if (e.keyword === 'oneOf') {
      // oneOf reports every branch; the branch errors are enough.
      continue;
    }
    if (e.keyword === 'additionalProperties') {
      const prop = String(e.params.additionalProperty);
      path = path ? `${path}.${prop}` : prop;
      message = 'unknown field';
    }
    const key = `${path}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ severity: 'error', path, message });
  }
  return out;
}

function rulesOf(item: Record<string, unknown>, field: 'expected_materials' | 'expected_products'): { tokens: string[]; index: number }[] {
  const v = item[field];
  if (!Array.isArray(v)) return [];
  const out: { tokens: string[]; index: number }[] = [];
  v.forEach((r, index) => {
    if (typeof r === 'string') {
      try { out.push({ tokens: shlexSplit(r), index }); } catch { out.push({ tokens: [r], index }); }
    } else if (Array.isArray(r)) out.push({ tokens: r as string[], index });
  });
  return out;
}

const KEYID_LIKE = /^[0-9a-fA-F]+$/;

function isSslibShaped(v: unknown): v is SslibKey {
  return isPlainObject(v) && typeof v.keytype === 'string' && typeof v.scheme === 'string'
    && isPlainObject(v.keyval) && typeof v.keyval.public === 'string';
}

export function lintLayout(doc: unknown, opts: LintOptions): LintMessage[] {
  const messages = schemaMessages(doc);
  if (!isPlainObject(doc)) return messages;
  const error = (path: string, message: string) => messages.push({ severity: 'error', path, message });
  const warn = (path: string, message: string) => messages.push({ severity: 'warning', path, message });
  const steps = (Array.isArray(doc.steps) ? doc.steps : []).filter(isPlainObject);
  const inspect = (Array.isArray(doc.inspect) ? doc.inspect : []).filter(isPlainObject);

  // names: unique across steps and inspections
  const names = new Map<string, string>();
  const items: [Record<string, unknown>, string][] = [
    ...(Array.isArray(doc.steps) ? doc.steps : []).map((s, i) => [s, `steps[${i}]`] as [Record<string, unknown>, string]),
    ...(Array.isArray(doc.inspect) ? doc.inspect : []).map((s, i) => [s, `inspect[${i}]`] as [Record<string, unknown>, string]),
  ].filter(([s]) => isPlainObject(s));
  for (const [item, where] of items) {
    if (typeof item.name !== 'string') continue;
    const unsafe = stepFileNameProblem(item.name);
    if (unsafe) error(`${where}.name`, `${JSON.stringify(item.name)} ${unsafe}: names become file names`);
    const first = names.get(item.name);
    if (first) error(`${where}.name`, `duplicate name ${JSON.stringify(item.name)} (first used at ${first}); step and inspection names must be unique`);
    else names.set(item.name, where);
  }
  const stepNames = new Set(steps.map((s) => s.name).filter((n): n is string => typeof n === 'string'));
  const inspectionNames = new Set(inspect.map((s) => s.name).filter((n): n is string => typeof n === 'string'));

  // rules: syntax, MATCH targets
  for (const [item, where] of items) {
    const isInspection = where.startsWith('inspect');
    for (const field of ['expected_materials', 'expected_products'] as const) {
      for (const { tokens, index } of rulesOf(item, field)) {
        const path = `${where}.${field}[${index}]`;
        let rule;
        try {
          rule = parseRule(tokens);
        } catch (e) {
          if (e instanceof CustodyError) { error(path, e.message); continue; }
          throw e;
        }
        if (rule.type !== 'match') continue;
        if (/\{[^{}]*\}/.test(rule.destName)) continue; // a parameter, known at verification
        if (!stepNames.has(rule.destName) && !inspectionNames.has(rule.destName)) {
          error(path, `MATCH … FROM ${rule.destName}: no step or inspection has that name`);
        } else if (!isInspection && inspectionNames.has(rule.destName)) {
          warn(path, `MATCH … FROM ${rule.destName}: step rules run before inspections, so this never matches anything`);
        } else if (rule.destName === item.name) {
          warn(path, `MATCH … FROM ${rule.destName}: the rule matches its own step`);
        }
      }
    }
  }

  // keys and functionaries
  steps.forEach((s, i) => {
    const where = `steps[${(doc.steps as unknown[]).indexOf(s)}]`;
    void i;
    const pubkeys = Array.isArray(s.pubkeys) ? s.pubkeys.filter((p): p is string => typeof p === 'string') : [];
    const identities = Array.isArray(s.functionaries) ? s.functionaries.filter((f) => typeof f !== 'string').map((f) => JSON.stringify(f)) : [];
    if (pubkeys.length === 0 && identities.length === 0) error(`${where}.pubkeys`, 'no functionaries: nobody can perform this step');
    const distinct = new Set<string>();
    pubkeys.forEach((p, j) => {
      const path = `${where}.pubkeys[${j}]`;
      const ref = resolvePubkeyRef(doc, p);
      if (ref.kind === 'keyid') {
        const entry = isPlainObject(doc.keys) ? doc.keys[ref.keyid] : undefined;
        if (!isPlainObject(entry)) error(path, `keyid ${ref.keyid} is not in keys`);
        // one key under two keyids is still one functionary
        distinct.add(isSslibShaped(entry) ? sameKeyMaterial(entry) ?? computeKeyid(entry) : ref.keyid);
        return;
      }
      const loaded = opts.keys?.get(ref.file);
      if (loaded instanceof CustodyError) error(path, `key ${ref.file}: ${loaded.message}`);
      else if (loaded) distinct.add(sameKeyMaterial(loaded.sslib) ?? loaded.keyid);
      else if (opts.keys) error(path, `key ${ref.file} was not found`);
      else distinct.add(ref.file);
    });
    const threshold = typeof s.threshold === 'number' ? s.threshold : 1;
    for (const id of identities) distinct.add(id);
    if (pubkeys.length + identities.length > 0 && threshold > distinct.size) {
      error(`${where}.threshold`, `threshold ${threshold} is more than the ${distinct.size} distinct functionar${distinct.size === 1 ? 'y' : 'ies'} who may sign`);
    }
    if (opts.signedFormat === 'metablock') {
      for (const f of STEP_EXTENSION_FIELDS) {
        if (f in s) warn(`${where}.${f}`, 'custody extension in a legacy (metablock) layout: not covered by the signature, ignored');
      }
    }
  });
  if (isPlainObject(doc.keys)) {
    const materials = new Map<string, string>();
    for (const [name, v] of Object.entries(doc.keys)) {
      if (isSslibShaped(v)) {
        // compiled keys: filed under the keyid of their key material, each key once
        const computed = computeKeyid(v);
        if (KEYID_LIKE.test(name) && computed !== name) error(`keys.${name}`, `holds the key whose keyid is ${computed}: a key is filed under the keyid of its key material`);
        if (v.keyid !== undefined && v.keyid !== computed) error(`keys.${name}.keyid`, `says ${JSON.stringify(v.keyid)}, but the key material's keyid is ${computed}`);
        const material = sameKeyMaterial(v);
        if (material !== undefined) {
          const other = materials.get(material);
          if (other !== undefined) error(`keys.${name}`, `the same key as keys.${other} (one functionary cannot count twice)`);
          else materials.set(material, name);
        }
        continue;
      }
      if (typeof v !== 'string') continue;
      const loaded = opts.keys?.get(v);
      if (loaded instanceof CustodyError) error(`keys.${name}`, `key ${v}: ${loaded.message}`);
    }
  } else if (Array.isArray(doc.keys)) {
    doc.keys.forEach((v, i) => {
      const loaded = typeof v === 'string' ? opts.keys?.get(v) : undefined;
      if (loaded instanceof CustodyError) error(`keys[${i}]`, `key ${v}: ${loaded.message}`);
    });
  }

  // expectedPredicates: every CEL rule compiled (syntax errors with line:column inside the rule)
  if (Array.isArray(doc.steps)) {
    for (const p of lintExpectedPredicates(doc.steps)) error(p.path, p.message);
    doc.steps.forEach((s, i) => {
      if (!isPlainObject(s)) return;
      const lists: [unknown, string][] = [[s.functionaries, `steps[${i}].functionaries`]];
      if (Array.isArray(s.expectedPredicates)) s.expectedPredicates.forEach((ep, j) => { if (isPlainObject(ep)) lists.push([ep.functionaries, `steps[${i}].expectedPredicates[${j}].functionaries`]); });
      for (const [list, where] of lists) {
        if (!Array.isArray(list)) continue;
        list.forEach((f, k) => {
          if (typeof f === 'string') return;
          try { validateIdentityPolicy(f, `${where}[${k}]`); } catch (e) { if (e instanceof CustodyError) error(`${where}[${k}]`, e.message); else throw e; }
        });
        if (list.some((f) => typeof f !== 'string') && doc.trustedRoot === undefined) {
          warn(where, 'keyless functionaries need a trusted root: add trustedRoot to the layout (or give verify --trusted-root)');
        }
      }
    });
  }

  // expiry
  if (doc.expires === undefined) error('expires', 'missing: a layout needs an expiry date');
  else {
    const resolved = resolveExpires(doc.expires, opts.now);
    const date = typeof resolved === 'string' ? parseExpires(resolved) : undefined;
    if (typeof doc.expires === 'string' && !date && /^\d{4}-/.test(doc.expires)) error('expires', `not a valid date: ${doc.expires}`);
    else if (date && date < opts.now) error('expires', `already expired (${resolved})`);
  }
  if (steps.length === 0) warn('steps', 'no steps: the layout constrains nothing');
  return messages;
}
