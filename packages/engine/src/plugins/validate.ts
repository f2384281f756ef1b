/**
 * Every predicate a plugin emits is checked against the JSON Schema the plugin declares for
 * its predicate type, before anything is signed. ajv is loaded on first use so that
 * commands which never validate do not pay for it.
 */
import { CustodyError } from '@custody/core';
import type { CustodyPlugin, Predicate } from '../types.ts';

type ValidateFn = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; params?: Record<string, unknown> }[] | null };

let ajvInstance: Promise<{ compile(schema: object): ValidateFn }> | undefined;
const compiled = new WeakMap<object, ValidateFn>();

async function getAjv(): Promise<{ compile(schema: object): ValidateFn }> {
  ajvInstance ??= (async () => {
    const [{ default: Ajv }, { default: addFormats }] = await Promise.all([import('ajv'), import('ajv-formats')]);
    // strict off: plugin authors write plain JSON Schema, possibly with annotations ajv does not know.
    const ajv = new (Ajv as unknown as new (o: object) => { compile(s: object): ValidateFn })({ strict: false, allErrors: true });
    (addFormats as unknown as (a: unknown) => void)(ajv);
    return ajv;
  })();
  return ajvInstance;
}

function describeErrors(errors: NonNullable<ValidateFn['errors']>): string {
  return errors
    .slice(0, 3)
    .map((e) => {
      const extra = e.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : '';
      return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

/** Throws PREDICATE_INVALID naming the plugin and the first schema errors. */
export async function validatePredicate(plugin: CustodyPlugin, p: Predicate): Promise<void> {
  const fail = (why: string): never => {
    throw new CustodyError('PREDICATE_INVALID', `plugin '${plugin.name}': ${why}`);
  };
  if (!p || typeof p !== 'object') fail('emitted something that is not a predicate object');
  if (typeof p.predicateType !== 'string' || p.predicateType === '') fail('predicateType must be a non-empty string');
  if (!p.predicate || typeof p.predicate !== 'object' || Array.isArray(p.predicate)) fail(`predicate of type ${p.predicateType} must be a JSON object`);
  if (p.subject !== undefined) {
    if (!Array.isArray(p.subject)) fail('subject must be an array of resource descriptors');
    for (const s of p.subject!) {
      const digest = s?.digest;
      const digestOk = !!digest && typeof digest === 'object' && Object.keys(digest).length > 0 && Object.values(digest).every((v) => typeof v === 'string' && /^[0-9a-fA-F]+$/.test(v));
      // Verifiers match subjects by digest (and core's Statement model requires one).
      if (!s || typeof s !== 'object' || !digestOk) fail('each subject needs a digest: { algorithm: hex }');
    }
  }
  const schema = plugin.schemas?.[p.predicateType];
  if (!schema) fail(`no JSON Schema declared for predicate type ${p.predicateType}`);
  let validate = compiled.get(schema!);
  if (!validate) {
    try {
      validate = (await getAjv()).compile(schema!);
    } catch (e) {
      fail(`its schema for ${p.predicateType} does not compile: ${(e as Error).message}`);
    }
    compiled.set(schema!, validate!);
  }
  // Round-trip through JSON first: what is signed is the JSON, not the live object.
  const asJson = JSON.parse(JSON.stringify(p.predicate));
  if (!validate!(asJson)) fail(`predicate ${p.predicateType} does not match its schema: ${describeErrors(validate!.errors ?? [])}`);
}
