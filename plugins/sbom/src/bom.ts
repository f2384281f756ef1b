// The SBOM itself: CycloneDX 1.6 built with the CycloneDX JavaScript library's models and JSON
// normalizer, validated by the library's own JSON schema validator (JsonStrictValidator over
// the schemas the library ships). The image (or folder) is metadata.component; each package is
// a `library` (or `operating-system`-supplied) component with its purl, version and licenses;
// the model folder, when named, is a `machine-learning-model` component whose bom-ref is the
// one the ML-BOM (plugins/cyclonedx) gives it, with a BOM-Link to that ML-BOM when it is known.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { Enums, Models, Serialize, Spec, SPDX, Validation } from '@cyclonedx/cyclonedx-library';
import { CustodyError } from '@custody/core';
import { catalog, type CatalogPackage, type Catalog } from './catalog.ts';
import type { Tree } from './source.ts';

export const SBOM_PREDICATE_TYPE = 'https://cyclonedx.org/bom';

export interface MlBomLink {
  /** urn:uuid:… of the ML-BOM. */
  serialNumber: string;
  version: number;
  /** The machine-learning-model component of the ML-BOM. */
  model: { bomRef: string; name: string; version?: string; files: Map<string, string> /* path → sha256 */; licenses: { id?: string; name?: string }[] };
}

export interface SbomInput {
  tree: Tree;
  /** What the SBOM describes when the tree is a folder (its path as given). */
  name: string;
  /** A folder inside the tree holding the model (e.g. app/model). */
  modelPath?: string;
  mlBom?: MlBomLink;
  /** Passed in so the builder stays deterministic. */
  timestamp: Date;
  tool?: { name: string; version: string };
}

export interface SbomResult {
  bom: Record<string, unknown>;
  catalog: Catalog;
  /** Model files found under modelPath whose hash differs from the ML-BOM's (empty when none or no ML-BOM). */
  modelMismatches: string[];
}

function licenseRepository(p: CatalogPackage): Models.LicenseRepository {
  const repo = new Models.LicenseRepository();
  if (p.license.expression) {
    repo.add(SPDX.isSupportedSpdxId(p.license.expression) ? new Models.SpdxLicense(p.license.expression) : new Models.LicenseExpression(p.license.expression));
    return repo;
  }
  for (const n of p.license.names) repo.add(SPDX.isSupportedSpdxId(n) ? new Models.SpdxLicense(n) : new Models.NamedLicense(n));
  return repo;
}

/** A stable urn:uuid for the BOM, from what it describes (RFC 4122 layout, version 8: custom). */
function serialFor(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const ECOSYSTEM_PROPERTY: Record<CatalogPackage['ecosystem'], string> = { deb: 'dpkg', apk: 'apk', pypi: 'python', npm: 'npm' };

export function buildSbom(input: SbomInput): SbomResult {
  const cat = catalog(input.tree);
  const image = input.tree.image;
  const tool = input.tool ?? { name: 'custody', version: '0.1.0' };
  const rootRef = image ? `image:${image.manifestDigest}` : `folder:${input.name}`;
  const root = new Models.Component(image ? Enums.ComponentType.Container : Enums.ComponentType.Application, image ? image.source : input.name, {
    bomRef: rootRef,
    ...(image ? { version: image.manifestDigest } : {}),
  });
  if (image) {
    root.hashes.set(Enums.HashAlgorithm['SHA-256'], image.manifestDigest.slice(7));
    const props: [string, string][] = [
      ['custody:image:config', image.configDigest],
      ...(image.os ? [['custody:image:os', image.os] as [string, string]] : []),
      ...(image.architecture ? [['custody:image:architecture', image.architecture] as [string, string]] : []),
      ...image.layers.map((l) => ['custody:image:layer', `${l.digest} diff_id ${l.diffId}`] as [string, string]),
      ...(image.reference ? [['custody:image:reference', image.reference] as [string, string]] : []),
    ];
    for (const [k, v] of props) root.properties.add(new Models.Property(k, v));
    const lic = image.labels?.['org.opencontainers.image.licenses'];
    if (lic) root.licenses.add(SPDX.isSupportedSpdxId(lic) ? new Models.SpdxLicense(lic) : new Models.LicenseExpression(lic));
  }
  if (cat.distro) root.properties.add(new Models.Property('custody:os', `${cat.distro.id}${cat.distro.versionId ? ` ${cat.distro.versionId}` : ''}`));

  const bom = new Models.Bom({ serialNumber: serialFor(`${rootRef} ${input.timestamp.toISOString()}`), version: 1 });
  bom.metadata.timestamp = input.timestamp;
  bom.metadata.component = root;
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, tool.name, { version: tool.version }));

  const purlCount = new Map<string, number>();
  for (const p of cat.packages) purlCount.set(p.purl, (purlCount.get(p.purl) ?? 0) + 1);
  for (const p of cat.packages) {
    const c = new Models.Component(Enums.ComponentType.Library, p.name, {
      bomRef: purlCount.get(p.purl)! > 1 ? `${p.purl}#${p.foundIn}` : p.purl,
      version: p.version,
      purl: p.purl,
      licenses: licenseRepository(p),
    });
    if (p.ecosystem === 'npm' && p.name.startsWith('@')) {
      c.group = p.name.slice(0, p.name.indexOf('/'));
      c.name = p.name.slice(p.name.indexOf('/') + 1);
    }
    c.properties.add(new Models.Property('custody:package:type', ECOSYSTEM_PROPERTY[p.ecosystem]));
    c.properties.add(new Models.Property('custody:package:foundIn', p.foundIn));
    if (p.foundInSha256) c.properties.add(new Models.Property('custody:package:foundInSha256', p.foundInSha256));
    if (p.arch) c.properties.add(new Models.Property('custody:package:arch', p.arch));
    if (p.sourceName) c.properties.add(new Models.Property('custody:package:source', p.sourceName));
    if (p.pinned !== undefined) c.properties.add(new Models.Property('custody:python:pinned', String(p.pinned)));
    if (p.pinnedBy) c.properties.add(new Models.Property('custody:python:pinnedBy', p.pinnedBy));
    bom.components.add(c);
    root.dependencies.add(c.bomRef);
  }

  const modelMismatches: string[] = [];
  if (input.modelPath) {
    const prefix = input.modelPath.replace(/^\/+|\/+$/g, '');
    const files = [...input.tree.files.values()].filter((f) => f.type === 'file' && f.path.startsWith(`${prefix}/`));
    if (files.length === 0) throw new CustodyError('USAGE', `no model files under '${prefix}' in ${image ? `image ${image.manifestDigest}` : input.name}`);
    const modelName = input.mlBom?.model.name ?? posix.basename(prefix);
    // the ML-BOM's scheme (plugins/cyclonedx): model:<name>, files model:<name>/<path>
    const modelRef = input.mlBom?.model.bomRef ?? `model:${modelName}`;
    const model = new Models.Component(Enums.ComponentType.MachineLearningModel, modelName, {
      bomRef: modelRef,
      ...(input.mlBom?.model.version ? { version: input.mlBom.model.version } : {}),
    });
    for (const l of input.mlBom?.model.licenses ?? []) {
      if (l.id && SPDX.isSupportedSpdxId(l.id)) model.licenses.add(new Models.SpdxLicense(l.id));
      else if (l.name ?? l.id) model.licenses.add(new Models.NamedLicense((l.name ?? l.id)!));
    }
    if (input.mlBom) {
      model.externalReferences.add(new Models.ExternalReference(
        new Models.BomLinkElement(`urn:cdx:${input.mlBom.serialNumber.replace(/^urn:uuid:/, '')}/${input.mlBom.version}#${encodeURIComponent(modelRef)}`),
        Enums.ExternalReferenceType.BOM,
        { comment: 'the ML-BOM describing this model (model card, datasets, metrics)' },
      ));
    }
    model.properties.add(new Models.Property('custody:model:path', prefix));
    for (const f of files) {
      const rel = f.path.slice(prefix.length + 1);
      const fc = new Models.Component(Enums.ComponentType.File, rel, { bomRef: `${modelRef}/${rel}` });
      if (f.sha256) fc.hashes.set(Enums.HashAlgorithm['SHA-256'], f.sha256);
      fc.properties.add(new Models.Property('custody:file:size', String(f.size)));
      model.components.add(fc);
      const expected = input.mlBom?.model.files.get(rel);
      if (input.mlBom && expected !== f.sha256) modelMismatches.push(expected ? `${rel}: sha256 ${f.sha256} is not the ML-BOM's ${expected}` : `${rel}: not in the ML-BOM`);
    }
    if (input.mlBom) model.properties.add(new Models.Property('custody:model:matchesMlBom', String(modelMismatches.length === 0)));
    bom.components.add(model);
    root.dependencies.add(model.bomRef);
  }

  const normalizer = new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6).makeForBom();
  const json = JSON.parse(JSON.stringify(normalizer.normalize(bom, { sortLists: true }))) as Record<string, unknown>;
  return { bom: json, catalog: cat, modelMismatches };
}

let validator: Validation.JsonStrictValidator | undefined;

/** Schema errors by the CycloneDX library's own validator; null when the BOM is valid 1.6. */
export async function sbomSchemaErrors(bom: unknown): Promise<unknown> {
  validator ??= new Validation.JsonStrictValidator(Spec.Version.v1dot6);
  return validator.validate(JSON.stringify(bom));
}

export async function assertValidSbom(bom: unknown, file?: string): Promise<void> {
  const errors = await sbomSchemaErrors(bom);
  if (errors !== null && errors !== undefined) {
    const list = Array.isArray(errors) ? errors : [errors];
    const text = list.slice(0, 3).map((e) => {
      const o = e as { instancePath?: string; message?: string };
      return `${o.instancePath || '/'} ${o.message ?? JSON.stringify(e)}`;
    }).join('; ');
    throw new CustodyError('BOM_INVALID', `CycloneDX 1.6 schema validation failed (CycloneDX library validator): ${text}${list.length > 3 ? ` (+${list.length - 3} more)` : ''}`, { file });
  }
}

/** Reads the model component of an ML-BOM (a CycloneDX document) for linking. */
export function mlBomLink(doc: unknown, file?: string): MlBomLink {
  const bom = doc as { bomFormat?: string; serialNumber?: string; version?: number; components?: unknown[] };
  if (bom?.bomFormat !== 'CycloneDX' || !Array.isArray(bom.components)) throw new CustodyError('BOM_INVALID', 'not a CycloneDX document (bomFormat, components)', { file });
  if (typeof bom.serialNumber !== 'string' || !/^urn:uuid:[0-9a-f-]{36}$/i.test(bom.serialNumber)) throw new CustodyError('BOM_INVALID', 'the ML-BOM has no urn:uuid serialNumber to link to', { file });
  const model = bom.components.find((c) => (c as { type?: string })?.type === 'machine-learning-model') as
    | { 'bom-ref'?: string; name?: string; version?: string; licenses?: { license?: { id?: string; name?: string } }[]; components?: { name?: string; hashes?: { alg?: string; content?: string }[] }[] }
    | undefined;
  if (!model || typeof model['bom-ref'] !== 'string' || typeof model.name !== 'string') throw new CustodyError('BOM_INVALID', 'the ML-BOM has no machine-learning-model component with a bom-ref', { file });
  const files = new Map<string, string>();
  for (const f of model.components ?? []) {
    const h = f.hashes?.find((x) => x.alg === 'SHA-256');
    if (typeof f.name === 'string' && typeof h?.content === 'string') files.set(f.name, h.content);
  }
  return {
    serialNumber: bom.serialNumber,
    version: typeof bom.version === 'number' ? bom.version : 1,
    model: { bomRef: model['bom-ref'], name: model.name, version: model.version, files, licenses: (model.licenses ?? []).map((l) => l.license ?? {}) },
  };
}
