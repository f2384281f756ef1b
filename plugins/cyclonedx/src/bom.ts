// CycloneDX 1.6 ML-BOM: the model as a `machine-learning-model` component with a modelCard,
// datasets as `data` components, hashes, licenses and dependencies. Built as plain JSON (the
// CycloneDX library has no modelCard model) and validated against the official schema.
import { randomUUID } from 'node:crypto';
import { isSpdxLicenseId } from './validate.ts';

export const CYCLONEDX_PREDICATE_TYPE = 'https://cyclonedx.org/bom';

/** What the BOM needs from the model predicate (structurally the model plugin's predicate). */
export interface BomModelInput {
  name: string;
  source?: { uri: string; revision?: string; commit: string };
  files: { path: string; size: number; sha256: string; safetensors?: { parameterCount: number } }[];
  totals: { parameterCount: number; tensorCount: number; dtypes: Record<string, number> };
  license: { spdxId: string; name?: string; file?: string };
  modelCard: null | { pipelineTag?: string; datasets: string[]; baseModel: string[]; modelIndex?: unknown[]; tags: string[] };
  config: null | { modelType?: string; architectures?: string[] };
}

export interface BomDatasetInput {
  name: string;
  format: string;
  digest: { sha256: string };
  rows: number;
  columns: { name: string; type: string }[];
  source?: { url: string };
  license?: string;
}

export interface BomFairnessInput {
  attribute: string;
  privileged: string;
  demographicParityDifference: { value: number | null };
  demographicParityRatio: { value: number | null };
  equalizedOddsDifference: { value: number | null };
  equalOpportunityDifference: { value: number | null };
  disparateImpact: { value: number | null };
  groups: { privileged: { selectionRate: { value: number | null } }; unprivileged: { selectionRate: { value: number | null } } };
}

export interface MlBomInput {
  model: BomModelInput;
  version?: string;
  datasets?: BomDatasetInput[];
  /** Extra performance metrics (e.g. from an evaluation step): type → value. */
  performance?: { type: string; value: number | string; slice?: string }[];
  fairness?: BomFairnessInput[];
  approach?: 'supervised' | 'unsupervised' | 'reinforcement-learning' | 'semi-supervised' | 'self-supervised';
  considerations?: { users?: string[]; useCases?: string[]; technicalLimitations?: string[]; ethicalConsiderations?: { name: string; mitigationStrategy?: string }[] };
  /** Passed in so the builder stays deterministic. */
  timestamp: Date;
  serialNumber?: string;
  tool?: { name: string; version: string };
}

type Json = Record<string, unknown>;

export function licenseEntry(spdxId: string, name?: string): Json[] {
  if (spdxId === 'NOASSERTION' && !name) return [];
  if (isSpdxLicenseId(spdxId)) return [{ license: { id: spdxId } }];
  return [{ license: { name: name ?? spdxId } }];
}

/** Hugging Face model-index results → CycloneDX performance metrics. */
export function modelIndexMetrics(modelIndex: unknown[] | undefined): { type: string; value: string; slice?: string }[] {
  const out: { type: string; value: string; slice?: string }[] = [];
  for (const entry of modelIndex ?? []) {
    for (const result of ((entry as Json)?.results as Json[] | undefined) ?? []) {
      const dataset = (result?.dataset as Json | undefined)?.name ?? (result?.dataset as Json | undefined)?.type;
      for (const m of (result?.metrics as Json[] | undefined) ?? []) {
        if (m?.type === undefined || m.value === undefined) continue;
        out.push({ type: String(m.type), value: String(m.value), ...(dataset !== undefined ? { slice: `dataset: ${String(dataset)}` } : {}) });
      }
    }
  }
  return out;
}

const FAIRNESS_METRICS = ['demographicParityDifference', 'demographicParityRatio', 'equalizedOddsDifference', 'equalOpportunityDifference', 'disparateImpact'] as const;

export function buildMlBom(input: MlBomInput): Json {
  const m = input.model;
  const modelRef = `model:${m.name}`;
  const datasets = input.datasets ?? [];
  const datasetRef = (d: BomDatasetInput) => `dataset:${d.name}`;
  const fairnessMetrics = (input.fairness ?? []).flatMap((f) =>
    FAIRNESS_METRICS.filter((k) => f[k].value !== null).map((k) => ({
      type: k, value: String(f[k].value), slice: `${f.attribute} (privileged: ${f.privileged})`,
    })));
  const performance = [
    ...modelIndexMetrics(m.modelCard?.modelIndex),
    ...(input.performance ?? []).map((p) => ({ type: p.type, value: String(p.value), ...(p.slice ? { slice: p.slice } : {}) })),
  ];
  const fmt = (v: number | null) => (v === null ? 'not computable' : v.toFixed(4));
  const fairnessAssessments = (input.fairness ?? []).map((f) => ({
    groupAtRisk: `${f.attribute}: rows not matching ${f.privileged}`,
    harms: `selection rate ${fmt(f.groups.unprivileged.selectionRate.value)} vs ${fmt(f.groups.privileged.selectionRate.value)} for the privileged group; disparate impact ${fmt(f.disparateImpact.value)}, equalized odds difference ${fmt(f.equalizedOddsDifference.value)}`,
  }));
  const cons = input.considerations ?? {};
  const considerations: Json = {
    ...(cons.users?.length ? { users: cons.users } : {}),
    ...(cons.useCases?.length ? { useCases: cons.useCases } : {}),
    ...(cons.technicalLimitations?.length ? { technicalLimitations: cons.technicalLimitations } : {}),
    ...(cons.ethicalConsiderations?.length ? { ethicalConsiderations: cons.ethicalConsiderations } : {}),
    ...(fairnessAssessments.length ? { fairnessAssessments } : {}),
  };
  const modelParameters: Json = {
    ...(input.approach ? { approach: { type: input.approach } } : {}),
    ...(m.modelCard?.pipelineTag ? { task: m.modelCard.pipelineTag } : {}),
    ...(m.config?.modelType ? { architectureFamily: m.config.modelType } : {}),
    ...(m.config?.architectures?.[0] ? { modelArchitecture: m.config.architectures[0] } : {}),
    ...(datasets.length ? { datasets: datasets.map((d) => ({ ref: datasetRef(d) })) } : {}),
  };
  const modelCard: Json = {
    'bom-ref': `${modelRef}#model-card`,
    ...(Object.keys(modelParameters).length ? { modelParameters } : {}),
    ...(performance.length || fairnessMetrics.length ? { quantitativeAnalysis: { performanceMetrics: [...performance, ...fairnessMetrics] } } : {}),
    ...(Object.keys(considerations).length ? { considerations } : {}),
  };
  const properties = [
    { name: 'custody:model:parameterCount', value: String(m.totals.parameterCount) },
    { name: 'custody:model:tensorCount', value: String(m.totals.tensorCount) },
    ...Object.entries(m.totals.dtypes).map(([k, v]) => ({ name: `custody:model:dtype:${k}`, value: String(v) })),
    ...(m.license.file ? [{ name: 'custody:license:source', value: m.license.file }] : []),
    ...(m.modelCard?.baseModel ?? []).map((b) => ({ name: 'custody:model:baseModel', value: b })),
    ...(m.modelCard?.datasets ?? []).map((d) => ({ name: 'custody:model:cardDataset', value: d })),
  ];
  const modelComponent: Json = {
    type: 'machine-learning-model',
    'bom-ref': modelRef,
    name: m.name,
    ...(input.version ?? m.source?.commit ? { version: input.version ?? m.source!.commit } : {}),
    ...(licenseEntry(m.license.spdxId, m.license.name).length ? { licenses: licenseEntry(m.license.spdxId, m.license.name) } : {}),
    ...(m.source ? { externalReferences: [{ type: 'vcs', url: m.source.uri, comment: `commit ${m.source.commit}` }] } : {}),
    ...(m.modelCard?.tags.length ? { tags: m.modelCard.tags } : {}),
    modelCard,
    properties,
    components: m.files.map((f) => ({
      type: 'file',
      'bom-ref': `${modelRef}/${f.path}`,
      name: f.path,
      hashes: [{ alg: 'SHA-256', content: f.sha256 }],
      properties: [{ name: 'custody:file:size', value: String(f.size) }],
    })),
  };
  const dataComponents = datasets.map((d) => ({
    type: 'data',
    'bom-ref': datasetRef(d),
    name: d.name,
    hashes: [{ alg: 'SHA-256', content: d.digest.sha256 }],
    ...(d.license ? { licenses: licenseEntry(d.license) } : {}),
    data: [{
      type: 'dataset',
      name: d.name,
      ...(d.source ? { contents: { url: d.source.url } } : {}),
      description: `${d.format}, ${d.rows} rows, ${d.columns.length} columns: ${d.columns.map((c) => `${c.name} (${c.type})`).join(', ')}`,
    }],
    properties: [{ name: 'custody:dataset:rows', value: String(d.rows) }, { name: 'custody:dataset:format', value: d.format }],
  }));
  const tool = input.tool ?? { name: 'custody', version: '0.1.0' };
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: input.serialNumber ?? `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: input.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      tools: { components: [{ type: 'application', name: tool.name, version: tool.version }] },
    },
    components: [modelComponent, ...dataComponents],
    dependencies: [
      { ref: modelRef, dependsOn: datasets.map(datasetRef) },
      ...datasets.map((d) => ({ ref: datasetRef(d), dependsOn: [] })),
    ],
  };
}
