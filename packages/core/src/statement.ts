/**
 * in-toto Statement v1 and ResourceDescriptor: the model every custody attestation uses, plus
 * the conversions between the legacy link body and the link predicate v0.3, and the
 * materials/products view that artifact rules need (link predicate, SLSA provenance, subject).
 * Pure: parsing and validation only.
 */
import { CustodyError } from './errors.ts';
import { jcs } from './canonical.ts';
import { setOwn } from './model/link.ts';
import { parseJson } from './json.ts';

export const STATEMENT_TYPE_V1 = 'https://in-toto.io/Statement/v1';
/** Older statements (the npm example of attestation-verifier) still say v0.1. */
export const STATEMENT_TYPE_V01 = 'https://in-toto.io/Statement/v0.1';
export const LINK_PREDICATE_TYPE = 'https://in-toto.io/attestation/link/v0.3';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  content?: string;
  downloadLocation?: string;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

export interface Statement<P = Record<string, unknown>> {
  _type: string;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate?: P;
}

/** Same shape as LinkBody's artifact maps (kept local so this module needs no other model). */
export type ArtifactDigests = Record<string, Record<string, string>>;

export type LinkPredicateV03 = {
  name: string;
  command: string[];
  materials: ResourceDescriptor[];
  byproducts: Record<string, unknown>;
  environment: Record<string, unknown>;
};

export interface StatementOptions {
  file?: string;
  /**
   * Accept what attestation-verifier's Go code accepts: `type` instead of `_type` (protojson
   * reads the proto field name) and Statement v0.1. Off for custody's own bundles.
   */
  lenient?: boolean;
}

const DESCRIPTOR_FIELDS = new Set(['name', 'uri', 'digest', 'content', 'downloadLocation', 'mediaType', 'annotations']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string, file?: string): CustodyError {
  return new CustodyError('STATEMENT_INVALID', message, { file });
}

/** Validates one ResourceDescriptor; `where` names it in messages (e.g. `subject[0]`). */
export function validateResourceDescriptor(value: unknown, where: string, file?: string): ResourceDescriptor {
  if (!isRecord(value)) throw invalid(`${where} must be an object`, file);
  for (const k of Object.keys(value)) {
    if (!DESCRIPTOR_FIELDS.has(k)) throw invalid(`${where} has unknown field "${k}"`, file);
  }
  for (const k of ['name', 'uri', 'content', 'downloadLocation', 'mediaType'] as const) {
    if (value[k] !== undefined && typeof value[k] !== 'string') throw invalid(`${where}.${k} must be a string`, file);
  }
  if (value.digest !== undefined) {
    if (!isRecord(value.digest)) throw invalid(`${where}.digest must be an object`, file);
    for (const [alg, hex] of Object.entries(value.digest)) {
      if (typeof hex !== 'string' || hex.length === 0) throw invalid(`${where}.digest.${alg} must be a non-empty string`, file);
    }
  }
  if (value.annotations !== undefined && !isRecord(value.annotations)) throw invalid(`${where}.annotations must be an object`, file);
  if (value.uri === undefined && value.digest === undefined && value.content === undefined) {
    throw invalid(`${where} needs at least one of uri, digest, content`, file);
  }
  return value as ResourceDescriptor;
}

/**
 * Validates an in-toto Statement (v1 by default). Throws STATEMENT_INVALID naming the field.
 * Returns a normalized copy (`_type` set even when the lenient input said `type`).
 */
export function validateStatement(value: unknown, opts: StatementOptions = {}): Statement {
  const { file, lenient = false } = opts;
  if (!isRecord(value)) throw invalid('statement must be a JSON object', file);
  let type = value._type;
  if (type === undefined && lenient) type = value.type;
  const accepted = lenient ? [STATEMENT_TYPE_V1, STATEMENT_TYPE_V01] : [STATEMENT_TYPE_V1];
  if (typeof type !== 'string' || !accepted.includes(type)) {
    throw invalid(`statement _type must be ${accepted.join(' or ')}, got ${JSON.stringify(type ?? null)}`, file);
  }
  for (const k of Object.keys(value)) {
    const known = k === '_type' || k === 'subject' || k === 'predicateType' || k === 'predicate' || (lenient && k === 'type');
    if (!known) throw invalid(`statement has unknown field "${k}"`, file);
  }
  if (typeof value.predicateType !== 'string' || value.predicateType === '') {
    throw invalid('statement predicateType must be a non-empty string', file);
  }
  if (!Array.isArray(value.subject)) throw invalid('statement subject must be an array', file);
  const subject = value.subject.map((s, i) => {
    const d = validateResourceDescriptor(s, `subject[${i}]`, file);
    if (d.digest === undefined || Object.keys(d.digest).length === 0) throw invalid(`subject[${i}] must have a digest`, file);
    return d;
  });
  if (value.predicate !== undefined && !isRecord(value.predicate)) throw invalid('statement predicate must be an object', file);
  const out: Statement = { _type: type, subject, predicateType: value.predicateType };
  if (value.predicate !== undefined) out.predicate = value.predicate as Record<string, unknown>;
  return out;
}

/** Parses the JSON payload bytes of a DSSE envelope as a Statement. */
export function parseStatement(bytes: Uint8Array | string, opts: StatementOptions = {}): Statement {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  const value = parseJson(text, { file: opts.file, code: 'STATEMENT_INVALID', what: 'payload' });
  return validateStatement(value, opts);
}

/** `{path: {sha256: hex}}` → sorted `[{name: path, digest}]`. */
export function artifactMapToDescriptors(map: ArtifactDigests): ResourceDescriptor[] {
  return Object.keys(map).sort().map((name) => ({ name, digest: { ...map[name] } }));
}

/** The inverse; descriptors without a name are keyed by their uri. Later entries win. */
export function descriptorsToArtifactMap(list: readonly ResourceDescriptor[]): ArtifactDigests {
  const out: ArtifactDigests = {};
  for (const d of list) {
    const key = d.name ?? d.uri;
    if (key === undefined) continue;
    // a file named __proto__ is an artifact like any other
    setOwn(out, key, { ...(d.digest ?? {}) });
  }
  return out;
}

/** Minimal shape of a legacy link body (structurally compatible with model/link.ts LinkBody). */
export interface LinkLike {
  name: string;
  command: string[];
  materials: ArtifactDigests;
  products: ArtifactDigests;
  byproducts: Record<string, unknown>;
  environment: Record<string, unknown>;
}

/**
 * Link → Statement with predicate link v0.3: materials go into the predicate, products become
 * the subject (as the link predicate spec defines).
 */
export function linkToStatement(link: LinkLike): Statement<LinkPredicateV03> {
  return {
    _type: STATEMENT_TYPE_V1,
    subject: artifactMapToDescriptors(link.products),
    predicateType: LINK_PREDICATE_TYPE,
    predicate: {
      name: link.name,
      command: [...link.command],
      materials: artifactMapToDescriptors(link.materials),
      byproducts: { ...link.byproducts },
      environment: { ...link.environment },
    },
  };
}

/** Statement with predicate link v0.3 → legacy link body (`_type: 'link'`). */
export function statementToLink(st: Statement, file?: string): LinkLike & { _type: 'link' } {
  if (st.predicateType !== LINK_PREDICATE_TYPE) {
    throw invalid(`expected predicateType ${LINK_PREDICATE_TYPE}, got ${st.predicateType}`, file);
  }
  const p = (st.predicate ?? {}) as Record<string, unknown>;
  if (typeof p.name !== 'string') throw invalid('link predicate name must be a string', file);
  const command = p.command ?? [];
  if (!Array.isArray(command) || command.some((c) => typeof c !== 'string')) throw invalid('link predicate command must be a list of strings', file);
  const materials = p.materials ?? [];
  if (!Array.isArray(materials)) throw invalid('link predicate materials must be a list', file);
  for (const k of ['byproducts', 'environment'] as const) {
    if (p[k] !== undefined && !isRecord(p[k])) throw invalid(`link predicate ${k} must be an object`, file);
  }
  return {
    _type: 'link',
    name: p.name,
    command: command as string[],
    materials: descriptorsToArtifactMap(materials.map((m, i) => validateResourceDescriptor(m, `predicate.materials[${i}]`, file))),
    products: descriptorsToArtifactMap(st.subject),
    byproducts: (p.byproducts ?? {}) as Record<string, unknown>,
    environment: (p.environment ?? {}) as Record<string, unknown>,
  };
}

export type ArtifactSource = 'link' | 'slsa-provenance-v1' | 'slsa-provenance-v0.2' | 'subject';

export interface StatementArtifacts {
  materials: ResourceDescriptor[];
  products: ResourceDescriptor[];
  source: ArtifactSource;
}

/**
 * Materials and products of a statement, as attestation-verifier reads them: link predicate
 * (predicate.materials / subject), SLSA provenance v1 (buildDefinition.resolvedDependencies /
 * subject), SLSA v0.2 (materials named by uri / subject), and any other predicate type
 * (subject as materials, no products).
 */
export function statementArtifacts(st: Statement): StatementArtifacts {
  const p = (st.predicate ?? {}) as Record<string, unknown>;
  const list = (v: unknown): ResourceDescriptor[] =>
    Array.isArray(v) ? v.filter(isRecord).map((d) => d as ResourceDescriptor) : [];
  switch (st.predicateType) {
    case LINK_PREDICATE_TYPE:
      return { materials: list(p.materials), products: st.subject, source: 'link' };
    case SLSA_PROVENANCE_V1: {
      const def = isRecord(p.buildDefinition) ? p.buildDefinition : {};
      return { materials: list(def.resolvedDependencies), products: st.subject, source: 'slsa-provenance-v1' };
    }
    case SLSA_PROVENANCE_V02:
      return {
        materials: list(p.materials).map((m) => ({ name: m.uri, uri: m.uri, digest: m.digest })),
        products: st.subject,
        source: 'slsa-provenance-v0.2',
      };
    default:
      return { materials: st.subject, products: [], source: 'subject' };
  }
}

/**
 * The digest that names a step's link as a Statement subject (run-level evidence such as a
 * runtime trace): sha256 of the RFC 8785 canonical JSON of the link body
 * (`_type, name, command, materials, products, byproducts, environment`). It is the same
 * whether the link was written as a metablock, a DSSE envelope or a bundle, because it is
 * computed over the body, not the file. `sha256` is passed in to keep this module free of I/O
 * and platform crypto.
 */
export function linkSubject(link: LinkLike, sha256: (text: string) => string): ResourceDescriptor {
  const { name, command, materials, products, byproducts, environment } = link;
  return { name: `${name}.link`, digest: { sha256: sha256(jcs({ _type: 'link', name, command, materials, products, byproducts, environment })) } };
}
