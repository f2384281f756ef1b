/**
 * sbom: a CycloneDX 1.6 SBOM of what an OCI image (image-layout folder or oci:// reference) or
 * a folder contains — OS packages (dpkg, apk), Python distributions and requirements pins,
 * node_modules packages, with purls, versions and licenses, and the model folder as a
 * machine-learning-model component linked to the ML-BOM by bom-ref. Validated by the CycloneDX
 * library's own JSON schema validator before it is emitted (predicateType
 * https://cyclonedx.org/bom). For an image the Statement's subject is the image manifest: named
 * by its blob path in the layout (an artifact the step's link records) with its sha256.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { CustodyError } from '@custody/core';
import { definePlugin, type ResourceDescriptor } from '@custody/engine';
import { assertValidSbom, buildSbom, mlBomLink, SBOM_PREDICATE_TYPE, type MlBomLink } from './bom.ts';
import { readTarget, type Tree } from './source.ts';

export * from './bom.ts';
export * from './catalog.ts';
export * from './source.ts';

/** The envelope the engine checks on emit; the full 1.6 schema is checked by assertValidSbom. */
export const SBOM_PREDICATE_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['bomFormat', 'specVersion', 'metadata', 'components'],
  properties: { bomFormat: { const: 'CycloneDX' }, specVersion: { const: '1.6' }, metadata: { type: 'object' }, components: { type: 'array' } },
} as const;

/**
 * A JSON document as given: the object itself, an in-toto Statement (its predicate), a DSSE
 * envelope or a Sigstore bundle (the Statement in the payload, not verified here — this is
 * content to link to, the verifier checks the ML-BOM's own attestation), or `custody evidence
 * --json` output (a list of predicates).
 */
export function unwrapPredicate(doc: unknown, predicateType: string | undefined, file: string): unknown {
  const o = doc as Record<string, unknown>;
  if (Array.isArray(doc)) {
    const hit = doc.find((x) => (x as { predicateType?: string })?.predicateType === predicateType) as { predicate?: unknown } | undefined;
    if (hit) return hit.predicate;
    throw new CustodyError('MALFORMED_JSON', `no ${predicateType} predicate in the list`, { file });
  }
  const env = (o?.dsseEnvelope ?? (typeof o?.payload === 'string' && typeof o?.payloadType === 'string' ? o : undefined)) as { payload?: string } | undefined;
  if (env && typeof env.payload === 'string') {
    let stmt: unknown;
    try {
      stmt = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
    } catch (e) {
      throw new CustodyError('MALFORMED_JSON', `envelope payload is not JSON: ${(e as Error).message}`, { file });
    }
    return unwrapPredicate(stmt, predicateType, file);
  }
  if (typeof o?._type === 'string' && o._type.startsWith('https://in-toto.io/Statement/')) {
    if (predicateType && o.predicateType !== predicateType) throw new CustodyError('MALFORMED_JSON', `the Statement's predicateType is ${String(o.predicateType)}, not ${predicateType}`, { file });
    return o.predicate;
  }
  return doc;
}

export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CustodyError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `cannot read ${what}: ${(e as Error).message}`, { file: path });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CustodyError('MALFORMED_JSON', `${what} is not JSON: ${(e as Error).message}`, { file: path });
  }
}

export interface SbomOptions {
  /** image-layout folder, oci://host/repo[:tag|@digest], or a folder. */
  target: string;
  workdir: string;
  ref?: string;
  model?: string;
  mlBom?: string;
  timestamp: Date;
}

/** Reads the target, builds and validates the SBOM; also returns the subject and the tree. */
export async function sbomOf(o: SbomOptions): Promise<{ bom: Record<string, unknown>; subject?: ResourceDescriptor[]; tree: Tree; modelMismatches: string[] }> {
  const at = (p: string) => (isAbsolute(p) ? p : join(o.workdir, p));
  const tree = await readTarget(o.target, { workdir: o.workdir, ref: o.ref, hashUnder: o.model ? [o.model] : [] });
  let link: MlBomLink | undefined;
  if (o.mlBom) link = mlBomLink(unwrapPredicate(await readJsonFile(at(o.mlBom), 'ML-BOM'), SBOM_PREDICATE_TYPE, at(o.mlBom)), at(o.mlBom));
  const { bom, modelMismatches } = buildSbom({ tree, name: o.target, modelPath: o.model, mlBom: link, timestamp: o.timestamp });
  await assertValidSbom(bom);
  const img = tree.image;
  const subject = img
    ? [{ name: img.manifestBlobPath ?? `${img.source}@${img.manifestDigest}`, digest: { sha256: img.manifestDigest.slice(7) }, mediaType: 'application/vnd.oci.image.manifest.v1+json' }]
    : undefined;
  return { bom, subject, tree, modelMismatches };
}

export default definePlugin({
  name: 'sbom',
  apiVersion: 1,
  description: 'CycloneDX 1.6 SBOM of an OCI image or folder: OS, Python and npm packages with purls and licenses, the model linked to its ML-BOM',
  predicateTypes: [SBOM_PREDICATE_TYPE],
  schemas: { [SBOM_PREDICATE_TYPE]: SBOM_PREDICATE_SCHEMA },
  cliOptions: {
    image: { type: 'string', describe: 'OCI image-layout folder or oci://HOST/REPO[:TAG|@DIGEST] to catalogue' },
    dir: { type: 'string', describe: 'a folder to catalogue instead of an image' },
    ref: { type: 'string', describe: 'the tag to read when the image layout holds several' },
    model: { type: 'string', describe: 'the model folder inside the image (e.g. app/model): a machine-learning-model component' },
    mlBom: { type: 'string', describe: 'the ML-BOM (CycloneDX JSON, or a Statement/bundle carrying it) to link the model to by bom-ref' },
  },
  apply(hooks) {
    hooks.postProduct.tapPromise('sbom', async (ctx) => {
      const o = ctx.options as Record<string, unknown>;
      const str = (k: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);
      if (str('image') && str('dir')) throw new CustodyError('USAGE', 'sbom: give image or dir, not both');
      const target = str('image') ?? str('dir');
      if (!target) throw new CustodyError('USAGE', 'sbom: the image option (an OCI image-layout folder or oci:// reference) or the dir option is required');
      const { bom, subject, modelMismatches } = await sbomOf({
        target, workdir: ctx.workdir, ref: str('ref'), model: str('model'), mlBom: str('mlBom'),
        timestamp: ctx.execution?.finishedAt ?? new Date(),
      });
      for (const m of modelMismatches) ctx.logger.warn(`sbom: model file ${m}`);
      const count = (bom.components as unknown[]).length;
      ctx.logger.info(`sbom: ${count} components`);
      ctx.emit({ predicateType: SBOM_PREDICATE_TYPE, predicate: bom, ...(subject ? { subject } : {}) });
    });
  },
});
