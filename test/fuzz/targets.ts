// Property-based fuzzing of every parser reachable from the CLI. Each target takes the text of
// a file (or registry response) and runs it through what the CLI runs it through; the only
// acceptable failure is a CustodyError with an input code (or, for signature checks, the
// verification code the check exists to give). Anything else — TypeError, RangeError, a
// CustodyError of the wrong kind — is an internal error. Inputs are valid seed documents
// mutated structurally (fields replaced by hostile values, deleted, added, nested deeply) and
// textually (truncated, bytes inserted, 1 → 1.0), plus plain random JSON; all from fixed seeds.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { stringify as yamlStringify } from 'yaml';
import {
  CustodyError, compileLayout, encodeCanonical, lintLayout, loadCompatLayout, normalizeLayout, normalizeLink,
  parseLayoutDocument, parsePublicKeyText, parseSignedFile, parseStatement, publicKeyFromPem, requireInTotoPayloadType,
  verifySignedFile, type ErrorCode, type PublicKey,
} from '../../packages/core/src/index.ts';
import { signDsse, signMetablock, signAttestationBundle, serializeBundle, signerFromKeyObject, verifyAttestationBundle, type Signer } from '../../packages/sign/src/index.ts';
import { parseManifestOrIndex, parseReferrersIndex } from '../../packages/store/src/oci/parse.ts';

export interface Target {
  name: string;
  /** Seed documents (JSON values or text) the mutations start from. */
  inputs: fc.Arbitrary<string>;
  run(text: string): void;
  /** Verification codes this target may legitimately end in (a bad signature, say). */
  verificationCodes?: readonly ErrorCode[];
  /** Relative cost of one input: the target gets that many times fewer runs. */
  cost?: number;
}

/** A fixed ed25519 key (PKCS#8 of a constant seed): runs are reproducible. */
function fixedSigner(seedByte: number): Signer {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, seedByte)]);
  const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const pem = createPublicKey(priv).export({ format: 'pem', type: 'spki' }) as string;
  return signerFromKeyObject(priv, publicKeyFromPem(pem));
}

// ---- hostile values and mutations -------------------------------------------------------

const HOSTILE_STRINGS = [
  '', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '../x', '..', '.', '/etc/passwd', 'a\\b', 'dist\\evil.bin',
  'x\u0000y', '\n', '"', "'", '{x}', '{', '}', '\ud800', '💥', 'a'.repeat(300), 'ALLOW *', 'DISALLOW', 'MATCH * WITH PRODUCTS FROM x',
  '2030-01-01T00:00:00Z', '2030-02-30T00:00:00Z', 'sha256:abc', 'application/vnd.in-toto+json', 'ed25519', 'rsa', 'ecdsa',
  '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'deadbeef', 'zz', '1.0', 'null', 'true',
];

function deep(levels: number, kind: 'array' | 'object'): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

const hostileValue = (deepWeight: number): fc.Arbitrary<unknown> => fc.oneof(
  { weight: 3 * 100, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 2 ** 53, -0, 1e308, [], {}, [null], { '': null }) },
  { weight: 4 * 100, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: deepWeight, arbitrary: fc.constantFrom(deep(600, 'array'), deep(600, 'object'), deep(5, 'array')) },
  { weight: 3 * 100, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2 * 100, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1 * 100, arbitrary: fc.array(fc.constantFrom(...HOSTILE_STRINGS), { maxLength: 4 }) },
  { weight: 1 * 100, arbitrary: fc.dictionary(fc.constantFrom(...HOSTILE_STRINGS), fc.constantFrom<unknown>('aa', { sha256: 'ab' }, null, 1), { maxKeys: 3 }) },
);

type Path = (string | number)[];

function paths(v: unknown, prefix: Path = [], out: Path[] = [], depth = 0): Path[] {
  out.push(prefix);
  if (depth > 12 || typeof v !== 'object' || v === null) return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out, depth + 1));
  else for (const k of Object.keys(v)) paths((v as Record<string, unknown>)[k], [...prefix, k], out, depth + 1);
  return out;
}

function clone(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

type Op = { kind: 'replace' | 'delete' | 'add' | 'dup'; at: number; key: string; value: unknown };

const opWith = (deepWeight: number): fc.Arbitrary<Op> => fc.record({
  kind: fc.constantFrom<Op['kind']>('replace', 'replace', 'replace', 'delete', 'add', 'dup'),
  at: fc.nat(),
  key: fc.oneof(fc.constantFrom(...HOSTILE_STRINGS, '_type', 'name', 'keyid', 'threshold', 'readme', 'payloadType', 'signed'), fc.string({ maxLength: 8 })),
  value: hostileValue(deepWeight),
});

function setOwnKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function apply(doc: unknown, ops: Op[]): unknown {
  let root = clone(doc);
  for (const o of ops) {
    const all = paths(root);
    const path = all[o.at % all.length];
    if (path.length === 0) {
      if (o.kind === 'replace') root = clone(o.value);
      continue;
    }
    let parent = root as Record<string | number, unknown>;
    for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
    const last = path[path.length - 1];
    if (o.kind === 'replace') setOwnKey(parent as Record<string, unknown>, String(last), clone(o.value));
    else if (o.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else {
      const target = parent[last];
      if (Array.isArray(target)) target.push(o.kind === 'dup' && target.length ? clone(target[0]) : clone(o.value));
      else if (typeof target === 'object' && target !== null) setOwnKey(target as Record<string, unknown>, o.key, clone(o.value));
    }
  }
  return root;
}

/** Text-level damage: truncation, an inserted character, integers written as floats, a BOM. */
const textOp = fc.record({
  kind: fc.constantFrom('none', 'none', 'none', 'truncate', 'insert', 'float', 'bom', 'dupkey'),
  at: fc.nat(),
  ch: fc.constantFrom('{', '}', '[', ']', '"', '\\', ',', ':', '\n', '\u0000', 'x', '1', '-', '.'),
});

function damage(text: string, t: { kind: string; at: number; ch: string }): string {
  const i = text.length ? t.at % text.length : 0;
  switch (t.kind) {
    case 'truncate': return text.slice(0, i);
    case 'insert': return text.slice(0, i) + t.ch + text.slice(i);
    case 'float': return text.replace(/(:\s*)(\d+)([,}\]\s])/, '$1$2.0$3');
    case 'bom': return `\ufeff${text}`;
    case 'dupkey': return text.replace(/\{"/, '{"_type":"x","');
    default: return text;
  }
}

/** Mutated copies of `seed` (a JSON value) as text, through `serialize`. */
export function mutatedText(seed: unknown, serialize: (doc: unknown) => string = (d) => JSON.stringify(d), deepWeight = 100): fc.Arbitrary<string> {
  const op = opWith(deepWeight);
  return fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.array(op, { minLength: 1, maxLength: 4 }), textOp).map(([ops, t]) => {
      let text: string;
      try { text = serialize(apply(seed, ops)); } catch { text = JSON.stringify(apply(seed, ops)) ?? 'null'; }
      return damage(text, t);
    }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
  );
}

// ---- seeds ------------------------------------------------------------------------------

export interface Seeds {
  owner: Signer;
  bob: Signer;
  layoutBody: Record<string, unknown>;
  linkBody: Record<string, unknown>;
  statement: Record<string, unknown>;
  metablockLayout: unknown;
  dsseLayout: unknown;
  metablockLink: unknown;
  dsseLink: unknown;
  bundle: unknown;
  authoring: Record<string, unknown>;
  compat: string;
}

export async function makeSeeds(): Promise<Seeds> {
  const owner = fixedSigner(1);
  const bob = fixedSigner(2);
  const { keyid: _k, ...bobKey } = bob.publicKey.sslib;
  void _k;
  const layoutBody = {
    _type: 'layout', expires: '2030-01-01T00:00:00Z', readme: 'fuzz', keys: { [bob.keyid]: bobKey },
    steps: [
      { _type: 'step', name: 'build', threshold: 1, pubkeys: [bob.keyid], expected_command: ['make'], expected_materials: [['ALLOW', 'src/*'], ['DISALLOW', '*']], expected_products: [['CREATE', 'out'], ['DISALLOW', '*']] },
      { _type: 'step', name: 'test', threshold: 1, pubkeys: [bob.keyid], expected_command: [], expected_materials: [['MATCH', 'out', 'IN', 'dist', 'WITH', 'PRODUCTS', 'IN', 'dist', 'FROM', 'build']], expected_products: [] },
    ],
    inspect: [{ _type: 'inspection', name: 'check', run: ['true'], expected_materials: [['MATCH', '*', 'WITH', 'PRODUCTS', 'FROM', 'build']], expected_products: [] }],
  };
  const linkBody = {
    _type: 'link', name: 'build', command: ['make'], materials: { 'src/a.c': { sha256: 'ab'.repeat(32) } },
    products: { out: { sha256: 'cd'.repeat(32) }, __proto__x: { sha256: 'ef' } }, byproducts: { stdout: 'ok\n', stderr: '', 'return-value': 0 }, environment: {},
  };
  const statement = {
    _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'out', digest: { sha256: 'cd'.repeat(32) } }],
    predicateType: 'https://in-toto.io/attestation/link/v0.3',
    predicate: { name: 'build', command: ['make'], materials: [{ name: 'src/a.c', digest: { sha256: 'ab'.repeat(32) } }], byproducts: {}, environment: {} },
  };
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const metablockLayout = await signMetablock(layoutBody, owner);
  const dsseLayout = await signDsse(json(layoutBody), 'application/vnd.in-toto+json', owner);
  const metablockLink = await signMetablock(linkBody, bob);
  const dsseLink = await signDsse(json(linkBody), 'application/vnd.in-toto+json', bob);
  const bundle = JSON.parse(serializeBundle(await signAttestationBundle(statement as never, bob)));
  const authoring = {
    expires: '30d', readme: 'fuzz', keys: { bob: 'bob.pub' },
    steps: [
      { name: 'build', pubkeys: ['bob'], threshold: 1, expected_command: 'make all', expected_materials: ['ALLOW src/*', 'DISALLOW *'], expected_products: ['CREATE out', 'DISALLOW *'],
        expectedPredicates: [{ predicateType: 'https://example.com/p/v1', expectedAttributes: [{ rule: 'predicate.x == "{X}"' }] }] },
    ],
    inspect: [{ name: 'check', run: 'true', expected_materials: ['MATCH * WITH PRODUCTS FROM build'] }],
  };
  const compat = `expires: "2100-10-10T12:23:22Z"
functionaries:
  ${bob.keyid}:
    keyType: ed25519
    scheme: ed25519
    keyIDHashAlgorithms: [sha256, sha512]
    keyVal: { public: "${bob.publicKey.sslib.keyval.public}" }
    keyID: "${bob.keyid}"
steps:
  - name: clone
    expectedMaterials: ["DISALLOW *"]
    expectedProducts: ["CREATE foo", "DISALLOW *"]
    expectedPredicates:
      - predicateType: "https://in-toto.io/attestation/link/v0.3"
        expectedAttributes:
          - rule: "predicate.command == ['git', 'clone']"
        functionaries: ["${bob.keyid}"]
subjects:
  - subject: ["foo"]
    expectedInToto:
      - predicateType: "https://in-toto.io/attestation/link/v0.3"
        functionaries: ["${bob.keyid}"]
`;
  return { owner, bob, layoutBody, linkBody, statement, metablockLayout, dsseLayout, metablockLink, dsseLink, bundle, authoring, compat };
}

/** A DSSE envelope whose (mutated) body is re-encoded into the payload, envelope mutated too. */
function dsseText(env: unknown, body: unknown): fc.Arbitrary<string> {
  return fc.oneof(
    mutatedText(body, (b) => JSON.stringify({ ...(env as object), payload: Buffer.from(JSON.stringify(b) ?? 'null').toString('base64') })),
    mutatedText(env),
  );
}

function metablockText(mb: unknown, body: unknown): fc.Arbitrary<string> {
  return fc.oneof(
    mutatedText(body, (b) => JSON.stringify({ signatures: (mb as { signatures: unknown }).signatures, signed: b })),
    mutatedText(mb),
  );
}

export function targets(s: Seeds): Target[] {
  const now = new Date('2026-01-01T00:00:00Z');
  const keys = new Map<string, PublicKey>([['bob.pub', s.bob.publicKey]]);
  const layoutOf = (text: string) => {
    const signed = parseSignedFile(text, 'root.layout');
    requireInTotoPayloadType(signed, 'root.layout');
    const body = normalizeLayout(signed.body, 'root.layout');
    encodeCanonical(body);
    verifySignedFile(signed, s.owner.publicKey, (b) => normalizeLayout(b, 'root.layout'));
    // what normalization returns is a fixed point
    if (encodeCanonical(normalizeLayout(body, 'x')) !== encodeCanonical(body)) throw new Error('normalizeLayout is not idempotent');
  };
  const linkOf = (text: string) => {
    const signed = parseSignedFile(text, 'build.link');
    requireInTotoPayloadType(signed, 'build.link');
    const body = normalizeLink(signed.body, 'build.link');
    verifySignedFile(signed, s.bob.publicKey, (b) => normalizeLink(b, 'build.link'));
    if (encodeCanonical(normalizeLink(body, 'x')) !== encodeCanonical(body)) throw new Error('normalizeLink is not idempotent');
  };
  return [
    { name: 'layout (metablock)', inputs: metablockText(s.metablockLayout, s.layoutBody), run: layoutOf, verificationCodes: ['PAYLOAD_TYPE'] },
    { name: 'layout (DSSE)', inputs: dsseText(s.dsseLayout, s.layoutBody), run: layoutOf, verificationCodes: ['PAYLOAD_TYPE'] },
    { name: 'link (metablock)', inputs: metablockText(s.metablockLink, s.linkBody), run: linkOf, verificationCodes: ['PAYLOAD_TYPE'] },
    { name: 'link (DSSE)', inputs: dsseText(s.dsseLink, s.linkBody), run: linkOf, verificationCodes: ['PAYLOAD_TYPE'] },
    {
      name: 'layout (YAML authoring)',
      inputs: fc.oneof(mutatedText(s.authoring, (d) => yamlStringify(d), 3), mutatedText(s.authoring, undefined, 3)),
      cost: 4,
      run: (text) => {
        const doc = parseLayoutDocument(text, 'layout.yaml');
        lintLayout(doc, { now, keys });
        const compiled = compileLayout(doc, keys, { now, fileName: 'layout.yaml' });
        encodeCanonical(normalizeLayout(compiled.body, 'layout.yaml'));
      },
    },
    {
      name: 'layout (attestation-verifier)',
      inputs: fc.oneof(mutatedText(parseLayoutDocument(s.compat, 'l.yml'), (d) => yamlStringify(d), 3), fc.tuple(textOp).map(([t]) => damage(s.compat, t))),
      cost: 4,
      run: (text) => { loadCompatLayout(text, 'layout.yml'); },
    },
    { name: 'in-toto Statement', inputs: mutatedText(s.statement), run: (text) => { parseStatement(text, { file: 'x.att.json' }); }, verificationCodes: ['STATEMENT_INVALID'] },
    {
      name: 'Sigstore bundle',
      inputs: mutatedText(s.bundle),
      run: (text) => { verifyAttestationBundle(text, [s.bob.publicKey], { file: 'x.sigstore.json' }); },
      verificationCodes: ['SIGNATURE_INVALID', 'KEYID_MISMATCH', 'PAYLOAD_TYPE', 'STATEMENT_INVALID'],
    },
    {
      name: 'key file',
      inputs: fc.oneof(
        mutatedText(s.bob.publicKey.sslib),
        fc.tuple(textOp).map(([t]) => damage(s.bob.publicKey.keyObject.export({ format: 'pem', type: 'spki' }) as string, t)),
      ),
      run: (text) => { parsePublicKeyText(text, 'k.pub'); },
    },
    {
      name: 'OCI manifest',
      inputs: mutatedText({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: `sha256:${'44'.repeat(32)}`, size: 2 },
        layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', digest: `sha256:${'ab'.repeat(32)}`, size: 1234, annotations: { 'dev.custody.step': 'build' } }],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'cd'.repeat(32)}`, size: 500 },
      }),
      run: (text) => { parseManifestOrIndex(text, 'manifest x in repo'); },
    },
    {
      name: 'OCI referrers index',
      inputs: mutatedText({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'ab'.repeat(32)}`, size: 700, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json', annotations: { a: 'b' } }],
      }),
      run: (text) => { parseReferrersIndex(text, 'referrers of x in repo'); },
    },
  ];
}

export interface TargetResult { name: string; inputs: number; accepted: number; rejected: Record<string, number>; internal: { input: string; error: string }[] }

/** Runs `runs` inputs of one target from `seed`; never throws. */
export function fuzzTarget(t: Target, runs: number, seed: number): TargetResult {
  const result: TargetResult = { name: t.name, inputs: 0, accepted: 0, rejected: {}, internal: [] };
  const inputs = fc.sample(t.inputs, { numRuns: runs, seed });
  for (const input of inputs) {
    result.inputs++;
    try {
      t.run(input);
      result.accepted++;
    } catch (e) {
      const allowed = e instanceof CustodyError && (e.kind === 'input' || (t.verificationCodes ?? []).includes(e.code));
      if (allowed) result.rejected[e.code] = (result.rejected[e.code] ?? 0) + 1;
      else if (result.internal.length < 5) result.internal.push({ input: input.slice(0, 400), error: e instanceof CustodyError ? `CustodyError ${e.code} (${e.kind}): ${e.message}` : String((e as Error)?.stack ?? e).split('\n').slice(0, 4).join(' | ') });
      else result.internal.push({ input: '', error: '' });
    }
  }
  return result;
}
