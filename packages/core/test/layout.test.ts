// Layout model (what the reference signs), authoring format, lint, graph and the two JSON Schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateKeyPairSync } from 'node:crypto';
import {
  CustodyError, LAYOUT_SCHEMA, compileLayout, isSignedDocument, jsonPointerToPath, layoutGraph, layoutKeyRefs, lintLayout,
  normalizeLayout, parseLayoutDocument, publicKeyFromPem, renderLayoutGraph, resolveExpires, type PublicKey,
} from '@custody/core';

const code = (c: string) => (e: unknown) => e instanceof CustodyError && e.code === c;
const NOW = new Date('2030-01-01T00:00:00Z');
const schemaPath = (n: string) => fileURLToPath(new URL(`../../../schemas/${n}`, import.meta.url));

function edKey(): PublicKey {
  const { publicKey } = generateKeyPairSync('ed25519');
  return publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }) as string);
}

const YAML_DOC = `
expires: 1y
readme: demo
keys:
  bob: keys/bob.pub
steps:
  - name: build
    pubkeys: [bob, keys/carl.pub]
    threshold: 2
    expected_command: make "all targets"
    expected_materials: ["ALLOW src/*", [DISALLOW, "*"]]
    expected_products:
      - CREATE dist/*
      - DISALLOW *
    plugins: [git]
  - name: package
    pubkeys: [bob]
    expected_materials:
      - MATCH * IN dist WITH PRODUCTS IN dist FROM build
inspect:
  - name: check
    run: tar xzf pkg.tgz
`;

test('normalizeLayout is what the reference model re-serializes: defaults in, unknown fields out', () => {
  const body = normalizeLayout({
    _type: 'layout', expires: '2031-01-01T00:00:00Z', extra: 1, keys: {},
    steps: [{ name: 's', plugins: ['x'] }], inspect: [{ name: 'i', run: ['true'], other: 2 }],
  });
  assert.deepEqual(body, {
    _type: 'layout', expires: '2031-01-01T00:00:00Z', readme: '', keys: {},
    steps: [{ _type: 'step', name: 's', threshold: 1, pubkeys: [], expected_command: [], expected_materials: [], expected_products: [] }],
    inspect: [{ _type: 'inspection', name: 'i', run: ['true'], expected_materials: [], expected_products: [] }],
  });
});

test('normalizeLayout rejects what the reference model rejects', () => {
  const base = { _type: 'layout', expires: '2031-01-01T00:00:00Z', keys: {}, inspect: [] };
  assert.throws(() => normalizeLayout({ ...base, steps: [{ name: 'a' }, { name: 'a' }] }), code('SCHEMA_INVALID'));
  assert.throws(() => normalizeLayout({ ...base, steps: [{ name: 'a', expected_products: [['NOPE', '*']] }] }), code('RULE_SYNTAX'));
  assert.throws(() => normalizeLayout({ ...base, expires: '2031-02-30T00:00:00Z', steps: [] }), code('SCHEMA_INVALID'));
  assert.throws(() => normalizeLayout({ ...base, steps: [{ name: 'a', threshold: '1' }] }), code('SCHEMA_INVALID'));
  assert.throws(() => normalizeLayout({ ...base, steps: [{ name: 'a', pubkeys: ['not a keyid'] }] }), code('SCHEMA_INVALID'));
  assert.throws(() => normalizeLayout({ ...base }), code('SCHEMA_INVALID'));
});

test('parseLayoutDocument: YAML or JSON; malformed input is MALFORMED_YAML / MALFORMED_JSON', () => {
  assert.equal((parseLayoutDocument(YAML_DOC, 'l.yaml') as { readme: string }).readme, 'demo');
  assert.deepEqual(parseLayoutDocument('{"steps": []}', 'l.json'), { steps: [] });
  assert.throws(() => parseLayoutDocument('steps: [\n', 'l.yaml'), code('MALFORMED_YAML'));
  assert.throws(() => parseLayoutDocument('a: 1\na: 2\n', 'l.yaml'), code('MALFORMED_YAML'));
  assert.throws(() => parseLayoutDocument('{"steps": ', 'l.json'), code('MALFORMED_JSON'));
  assert.ok(isSignedDocument({ signed: {}, signatures: [] }));
  assert.ok(isSignedDocument({ payload: '', payloadType: 'x', signatures: [] }));
});

test('compileLayout: key files by name or path, shell words split, relative expiry, extensions listed', () => {
  const doc = parseLayoutDocument(YAML_DOC, 'layout.yaml');
  assert.deepEqual(layoutKeyRefs(doc), ['keys/bob.pub', 'keys/carl.pub']);
  const bob = edKey();
  const carl = edKey();
  const { body, extensions } = compileLayout(doc, new Map([['keys/bob.pub', bob], ['keys/carl.pub', carl]]), { now: NOW, fileName: 'layout.yaml' });
  assert.equal(body.expires, '2031-01-01T00:00:00Z');
  assert.deepEqual(Object.keys(body.keys as object).sort(), [bob.keyid, carl.keyid].sort());
  const steps = body.steps as Record<string, unknown>[];
  assert.deepEqual(steps[0].pubkeys, [bob.keyid, carl.keyid]);
  assert.deepEqual(steps[0].expected_command, ['make', 'all targets']);
  assert.deepEqual(steps[0].expected_materials, [['ALLOW', 'src/*'], ['DISALLOW', '*']]);
  assert.deepEqual(steps[1].expected_materials, [['MATCH', '*', 'IN', 'dist', 'WITH', 'PRODUCTS', 'IN', 'dist', 'FROM', 'build']]);
  assert.deepEqual((body.inspect as Record<string, unknown>[])[0].run, ['tar', 'xzf', 'pkg.tgz']);
  assert.deepEqual(extensions, ['steps[0].plugins']);
  // the legacy body drops the extension; the DSSE body keeps it
  assert.equal('plugins' in normalizeLayout(body).steps[0], false);
  assert.deepEqual(steps[0].plugins, ['git']);
  assert.equal(resolveExpires('30d', NOW), '2030-01-31T00:00:00Z');
  assert.equal(resolveExpires('6m', NOW), '2030-07-01T00:00:00Z');
});

test('lint: schema errors and semantic checks, each with its path in the document', () => {
  const doc = parseLayoutDocument(`
expires: 2001-01-01T00:00:00Z
bogus: 1
steps:
  - name: a
    pubkeys: [k1, missing.pub]
    threshold: 3
    expected_materials:
      - MATCH * WITH PRODUCTS FROM ghost
      - FOO bar
  - name: a
    pubkeys: [k1]
  - name: b
    pubkeys: []
    expected_command: 7
keys:
  k1: k1.pub
`, 'bad.yaml');
  const k1 = edKey();
  const keys = new Map<string, PublicKey | CustodyError>([['k1.pub', k1], ['missing.pub', new CustodyError('FILE_NOT_FOUND', 'no such file')]]);
  const messages = lintLayout(doc, { now: NOW, keys });
  const at = (path: string) => messages.filter((m) => m.path === path).map((m) => `${m.severity}: ${m.message}`);
  assert.deepEqual(at('bogus'), ['error: unknown field']);
  assert.ok(at('steps[2].expected_command').length > 0);
  assert.match(at('steps[0].expected_materials[0]')[0], /error: MATCH … FROM ghost: no step or inspection has that name/);
  assert.match(at('steps[0].expected_materials[1]')[0], /error: rules must start with one of/);
  assert.match(at('steps[1].name')[0], /duplicate name "a"/);
  assert.match(at('steps[0].pubkeys[1]')[0], /key missing.pub: no such file/);
  assert.match(at('steps[0].threshold')[0], /threshold 3 is more than the 1 distinct functionary/);
  assert.match(at('steps[2].pubkeys')[0], /no functionaries/);
  assert.match(at('expires')[0], /already expired/);
  const clean = lintLayout(parseLayoutDocument(YAML_DOC, 'l.yaml'), { now: NOW, keys: new Map([['keys/bob.pub', edKey()], ['keys/carl.pub', edKey()]]) });
  assert.deepEqual(clean.filter((m) => m.severity === 'error'), []);
});

test('lint accepts the body of a layout the reference wrote, and warns about unsigned extensions in metablocks', () => {
  const k = edKey();
  const body = {
    _type: 'layout', expires: '2031-01-01T00:00:00Z', readme: '', keys: { [k.keyid]: k.sslib },
    steps: [{ _type: 'step', name: 's', threshold: 1, pubkeys: [k.keyid], expected_command: [], expected_materials: [], expected_products: [['CREATE', 'x']], plugins: ['git'] }],
    inspect: [],
  };
  const messages = lintLayout(body, { now: NOW, signedFormat: 'metablock' });
  assert.deepEqual(messages.filter((m) => m.severity === 'error'), []);
  assert.deepEqual(messages.map((m) => m.path), ['steps[0].plugins']);
  assert.equal(jsonPointerToPath('/steps/1/expected_materials/0'), 'steps[1].expected_materials[0]');
});

test('graph: one edge per pair of steps, a line per MATCH rule with its IN prefixes; functionaries and plugins on the nodes', () => {
  const g = layoutGraph(parseLayoutDocument(YAML_DOC, 'l.yaml'));
  assert.deepEqual(g.nodes.map((n) => `${n.kind}:${n.name}`), ['step:build', 'step:package', 'inspection:check']);
  assert.deepEqual(g.edges, [{ from: 'n0', to: 'n1', label: '* IN dist (products IN dist → materials)', rules: ['* IN dist (products IN dist → materials)'] }]);
  assert.deepEqual([g.nodes[0].functionaries, g.nodes[0].threshold, g.nodes[0].plugins], [['bob', 'keys/carl.pub'], 2, ['git']]);
  assert.match(renderLayoutGraph(parseLayoutDocument(YAML_DOC, 'l.yaml'), 'mermaid'), /^flowchart LR\n {2}n0\["build<br\/>2 of 2: bob, keys\/carl\.pub<br\/>plugins: git"\]/);
  assert.match(renderLayoutGraph(parseLayoutDocument(YAML_DOC, 'l.yaml'), 'dot'), /n0 -> n1 \[label="\* IN dist \(products IN dist → materials\)"\];/);
  // the same MATCH in materials and products, and twice over: one edge, no repeated line
  const twice = layoutGraph(parseLayoutDocument(`${YAML_DOC.replace('inspect:', `  - name: ship
    pubkeys: [bob]
    expected_materials: [MATCH dist/* WITH PRODUCTS FROM build, MATCH dist/* WITH PRODUCTS FROM build]
    expected_products: [MATCH dist/* WITH PRODUCTS FROM build]
    expectedPredicates:
      - predicateType: https://example.com/p
        expectedAttributes: [{ rule: "predicate.ok == true" }]
inspect:`)}`, 'l.yaml'));
  const ship = twice.edges.filter((e) => e.to === 'n2');
  assert.deepEqual(ship, [{ from: 'n0', to: 'n2', label: 'dist/* (products → materials)\ndist/* (products → products)', rules: ['dist/* (products → materials)', 'dist/* (products → products)'] }]);
  assert.deepEqual(twice.nodes[2].predicateRules, [{ predicateType: 'https://example.com/p', rule: 'predicate.ok == true' }]);
  assert.match(twice.nodes[2].label, /\nrule: predicate\.ok == true$/);
});

test('schemas/layout.schema.json is LAYOUT_SCHEMA', () => {
  assert.deepEqual(JSON.parse(readFileSync(schemaPath('layout.schema.json'), 'utf8')), JSON.parse(JSON.stringify(LAYOUT_SCHEMA)));
});
