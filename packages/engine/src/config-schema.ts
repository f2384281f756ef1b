/** JSON Schema of `custody.config.*` (also published as schemas/config.schema.json). */
export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://custody.dev/schemas/config.schema.json',
  title: 'custody configuration',
  description: 'custody.config.{json,yaml,mjs} or the "custody" key of package.json. Relative paths are relative to the file that holds the configuration.',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    key: { type: 'string', minLength: 1, description: 'Default signing key (private key file) for custody run / record.' },
    passphraseFile: { type: 'string', minLength: 1, description: 'File holding the passphrase of an encrypted key.' },
    outDir: { type: 'string', minLength: 1, description: 'Where links and attestations are written (default: the current folder).' },
    format: {
      enum: ['legacy', 'dsse', 'sigstore'],
      description: 'Output of run / record stop / pipeline run. legacy (default): the reference metablock .link + plugin attestations as Sigstore bundles (*.sigstore.json); dsse: DSSE .link + DSSE *.att.json (in-toto 1.4); sigstore: the link too as a Statement in a Sigstore bundle.',
    },
    exclude: { type: 'array', items: { type: 'string' }, description: 'Exclude patterns (gitwildmatch); replace the defaults like --exclude.' },
    functionaries: {
      type: 'object',
      description: 'For `custody pipeline run`: which private key file signs each step (step name → key file).',
      additionalProperties: { type: 'string', minLength: 1 },
    },
    plugins: {
      type: 'array',
      description: 'Evidence plugins run for every step: a built-in name, an npm package name, or a path relative to this file.',
      items: {
        oneOf: [
          { type: 'string', minLength: 1 },
          {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', minLength: 1 },
              options: { type: 'object' },
            },
          },
        ],
      },
    },
  },
} as const;
