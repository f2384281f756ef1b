/**
 * JSON Schema (draft 2020-12 subset ajv understands as draft-07 keywords) of the layout
 * authoring format — a superset of the in-toto v1 layout body, so the body of a layout the
 * reference wrote validates too. schemas/layout.schema.json is this object, written out
 * (a test keeps them equal).
 */
const rule = {
  description: 'an artifact rule: one string of shell words ("MATCH * WITH PRODUCTS FROM build") or the list of its tokens',
  oneOf: [
    { type: 'string', minLength: 1 },
    { type: 'array', items: { type: 'string' }, minItems: 2 },
  ],
};
const rules = { type: 'array', items: { $ref: '#/$defs/rule' } };
const command = {
  description: 'a command: one string of shell words or the list of its arguments',
  oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
};
const sslibKey = {
  type: 'object',
  required: ['keytype', 'scheme', 'keyval'],
  properties: {
    keytype: { type: 'string' },
    scheme: { type: 'string' },
    keyid: { type: 'string' },
    keyid_hash_algorithms: { type: 'array', items: { type: 'string' } },
    keyval: {
      type: 'object',
      required: ['public'],
      properties: { public: { type: 'string' }, private: { type: 'string', maxLength: 0 } },
    },
  },
};

const identity = {
  description: 'a keyless functionary: OIDC issuer and certificate subject (exact) or subjectPattern (regex, anchored)',
  type: 'object',
  required: ['issuer'],
  additionalProperties: false,
  properties: { issuer: { type: 'string', minLength: 1 }, subject: { type: 'string', minLength: 1 }, subjectPattern: { type: 'string', minLength: 1 } },
  oneOf: [{ required: ['subject'] }, { required: ['subjectPattern'] }],
};
const functionaries = {
  description: 'key names, key files or keyids, and keyless identities',
  type: 'array',
  items: { oneOf: [{ type: 'string', minLength: 1 }, { $ref: '#/$defs/identity' }] },
};

export const LAYOUT_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://custody.dev/schemas/layout.schema.json',
  title: 'custody layout (authoring format; in-toto v1 layout fields plus custody step extensions)',
  type: 'object',
  required: ['steps'],
  additionalProperties: false,
  properties: {
    _type: { const: 'layout' },
    expires: {
      description: 'ISO 8601 UTC date (2030-01-01T00:00:00Z) or a time from signing: 30d, 12w, 6m, 1y',
      type: 'string',
      pattern: '^(\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z|\\d+[dwmy])$',
    },
    readme: { type: 'string' },
    keys: {
      description: 'key names → public key files (relative to the layout file), a list of key files, or (compiled) keyid → securesystemslib public key',
      oneOf: [
        { type: 'array', items: { type: 'string', minLength: 1 } },
        {
          type: 'object',
          additionalProperties: { oneOf: [{ type: 'string', minLength: 1 }, { $ref: '#/$defs/sslibKey' }] },
        },
      ],
    },
    trustedRoot: {
      description: 'custody extension (DSSE layouts only): the Sigstore trusted_root.json for keyless functionaries — { path, sha256 } (layout sign fills sha256 in) or the document inline',
      oneOf: [
        { type: 'object', required: ['path'], additionalProperties: false, properties: { path: { type: 'string', minLength: 1 }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
        { type: 'object', required: ['mediaType'], properties: { mediaType: { type: 'string' } } },
      ],
    },
    steps: { type: 'array', items: { $ref: '#/$defs/step' } },
    inspect: { type: 'array', items: { $ref: '#/$defs/inspection' } },
  },
  $defs: {
    rule,
    rules,
    command,
    sslibKey,
    identity,
    functionaries,
    step: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      properties: {
        _type: { const: 'step' },
        name: { type: 'string', minLength: 1 },
        threshold: { type: 'integer', minimum: 1 },
        pubkeys: {
          description: 'functionaries: key names from `keys`, key file paths, or keyids',
          type: 'array', items: { type: 'string', minLength: 1 },
        },
        expected_command: { $ref: '#/$defs/command' },
        expected_materials: { $ref: '#/$defs/rules' },
        expected_products: { $ref: '#/$defs/rules' },
        expectedPredicates: {
          description: 'custody extension (DSSE layouts only): ITE-10 style predicate expectations',
          type: 'array',
          items: {
            type: 'object',
            required: ['predicateType'],
            properties: {
              predicateType: { type: 'string' },
              expectedAttributes: {
                type: 'array',
                items: {
                  type: 'object', required: ['rule'],
                  properties: { rule: { type: 'string' }, allowIfNoClaim: { type: 'boolean' }, warn: { type: 'boolean' }, debug: { type: 'string' }, atlas: { type: 'string', pattern: '^AML\\.[TM]\\d{4}(\\.\\d{3})?$' } },
                },
              },
              functionaries: { $ref: '#/$defs/functionaries' },
              threshold: { type: 'integer', minimum: 1 },
            },
          },
        },
        plugins: {
          description: 'custody extension (DSSE layouts only): evidence plugins for this step',
          type: 'array',
          items: { oneOf: [{ type: 'string' }, { type: 'object', required: ['name'], properties: { name: { type: 'string' } } }] },
        },
        run: { description: 'custody extension (DSSE layouts only): the command the orchestrator runs', $ref: '#/$defs/command' },
        traceProfile: {
          description: 'custody extension (DSSE layouts only): the approved trace profile (custody trace learn), a file next to the layout; layout sign inlines it',
          oneOf: [{ type: 'string', minLength: 1 }, { type: 'object', required: ['executables'] }],
        },
        functionaries: { description: 'custody extension (DSSE layouts only): more functionaries besides pubkeys — keyless identities', $ref: '#/$defs/functionaries' },
      },
    },
    inspection: {
      type: 'object',
      required: ['name', 'run'],
      additionalProperties: false,
      properties: {
        _type: { const: 'inspection' },
        name: { type: 'string', minLength: 1 },
        run: { $ref: '#/$defs/command' },
        expected_materials: { $ref: '#/$defs/rules' },
        expected_products: { $ref: '#/$defs/rules' },
      },
    },
  },
} as const;
