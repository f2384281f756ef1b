/**
 * AdmissionReview (admission.k8s.io/v1) in and out, and the artifacts an object would run:
 * container images of Pods and of the pod templates of workload controllers, KServe
 * InferenceService `storageUri`s, and configured custom-resource paths.
 *
 * Everything here reads untrusted JSON from the API server's client: every shape is checked and
 * a wrong one is an ADMISSION_REVIEW_INVALID error (the caller denies with it).
 */
import { CustodyError } from '@custody/core/errors';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface ReviewRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: string;
  namespace: string;
  name: string;
  subResource?: string;
  object: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  warnings?: string[];
}

export interface ReviewEnvelope {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export function envelope(response: AdmissionResponse): ReviewEnvelope {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string): never {
  throw new CustodyError('ADMISSION_REVIEW_INVALID', message);
}

/** The uid of a review, when one can be read at all (to answer even a malformed review by its uid). */
export function reviewUid(body: unknown): string {
  if (isObject(body) && isObject(body.request) && typeof body.request.uid === 'string') return body.request.uid;
  return '';
}

export function parseReview(body: unknown): ReviewRequest {
  if (!isObject(body)) bad('the body is not an AdmissionReview object');
  if (body.kind !== 'AdmissionReview') bad(`kind is ${JSON.stringify(body.kind)}, expected "AdmissionReview"`);
  if (body.apiVersion !== ADMISSION_API_VERSION) bad(`apiVersion is ${JSON.stringify(body.apiVersion)}, expected "${ADMISSION_API_VERSION}" (configure admissionReviewVersions: ["v1"])`);
  const r = body.request;
  if (!isObject(r)) bad('the review has no request');
  if (typeof r.uid !== 'string' || r.uid === '') bad('request.uid is missing');
  if (!isObject(r.kind) || typeof r.kind.kind !== 'string' || typeof r.kind.version !== 'string') bad('request.kind is missing or not {group, version, kind}');
  if (typeof r.operation !== 'string') bad('request.operation is missing');
  const ns = r.namespace === undefined ? '' : r.namespace;
  if (typeof ns !== 'string') bad('request.namespace is not a string');
  const group = r.kind.group === undefined ? '' : r.kind.group;
  if (typeof group !== 'string') bad('request.kind.group is not a string');
  const name = typeof r.name === 'string' ? r.name : isObject(r.object) && isObject(r.object.metadata) && typeof r.object.metadata.name === 'string' ? r.object.metadata.name : '';
  return {
    uid: r.uid,
    kind: { group, version: r.kind.version, kind: r.kind.kind },
    operation: r.operation,
    namespace: ns,
    name,
    ...(typeof r.subResource === 'string' ? { subResource: r.subResource } : {}),
    object: r.object,
  };
}

/** An image or model reference found in an object, with where it was found. */
export interface FoundArtifact {
  /** As written: `127.0.0.1:5000/ml/credit:v1`, `oci://…`. */
  reference: string;
  /** JSON path in the object: `spec.template.spec.initContainers[0].image`. */
  field: string;
  kind: 'image' | 'model';
}

export interface CustomResourcePath {
  group: string;
  kind: string;
  /** Dot paths; `[*]` walks every element of an array: `spec.models[*].uri`. */
  paths: string[];
  /** 'model' (oci:// references, the default) or 'image' (plain image references). */
  type?: 'image' | 'model';
}

function podSpecImages(spec: unknown, at: string, out: FoundArtifact[]): void {
  if (!isObject(spec)) bad(`${at} is missing or not an object`);
  for (const list of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    const containers = spec[list];
    if (containers === undefined || containers === null) continue;
    if (!Array.isArray(containers)) bad(`${at}.${list} is not a list`);
    containers.forEach((c, i) => {
      if (!isObject(c)) bad(`${at}.${list}[${i}] is not an object`);
      // A container without an image is rejected by the API server's validation; for the
      // webhook it is unreadable input (an image it cannot see is an image it cannot verify).
      if (typeof c.image !== 'string' || c.image === '') bad(`${at}.${list}[${i}].image is missing`);
      out.push({ reference: c.image, field: `${at}.${list}[${i}].image`, kind: 'image' });
    });
  }
}

/** Where each workload kind keeps its pod spec. */
const POD_SPEC_PATHS: Record<string, { groups: string[]; path: string[] }> = {
  Pod: { groups: [''], path: ['spec'] },
  PodTemplate: { groups: [''], path: ['template', 'spec'] },
  ReplicationController: { groups: [''], path: ['spec', 'template', 'spec'] },
  Deployment: { groups: ['apps'], path: ['spec', 'template', 'spec'] },
  ReplicaSet: { groups: ['apps'], path: ['spec', 'template', 'spec'] },
  StatefulSet: { groups: ['apps'], path: ['spec', 'template', 'spec'] },
  DaemonSet: { groups: ['apps'], path: ['spec', 'template', 'spec'] },
  Job: { groups: ['batch'], path: ['spec', 'template', 'spec'] },
  CronJob: { groups: ['batch'], path: ['spec', 'jobTemplate', 'spec', 'template', 'spec'] },
};

export const KSERVE_GROUP = 'serving.kserve.io';

function walkPath(value: unknown, path: string[], at: string, out: (v: unknown, at: string) => void): void {
  if (path.length === 0) return out(value, at);
  const [head, ...rest] = path;
  if (head === '[*]') {
    if (value === undefined || value === null) return;
    if (!Array.isArray(value)) bad(`${at} is not a list`);
    value.forEach((v, i) => walkPath(v, rest, `${at}[${i}]`, out));
    return;
  }
  if (value === undefined || value === null) return;
  if (!isObject(value)) bad(`${at} is not an object`);
  if (!Object.hasOwn(value, head)) return;
  walkPath(value[head], rest, at ? `${at}.${head}` : head, out);
}

/** `spec.models[*].uri` → ['spec', 'models', '[*]', 'uri']. */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[\]]*)((?:\[\*\])*)$/.exec(part);
    if (!m || (m[1] === '' && m[2] === '')) throw new CustodyError('CONFIG_INVALID', `path ${JSON.stringify(path)}: expected dot-separated names with optional [*]`);
    if (m[1]) out.push(m[1]);
    for (let i = 0; i < m[2].length / 3; i++) out.push('[*]');
  }
  return out;
}

/** KServe: every `storageUri` (and `storageUris[*]`) under spec.predictor/transformer/explainer. */
function kserveModels(obj: Record<string, unknown>, out: FoundArtifact[]): void {
  const visit = (v: unknown, at: string, depth: number) => {
    if (v === null || typeof v !== 'object') return;
    // deeper than any KServe field: refuse rather than miss a storageUri
    if (depth > 12) bad(`${at} is nested too deeply to be read`);
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${at}[${i}]`, depth + 1));
    for (const [k, x] of Object.entries(v)) {
      const here = `${at}.${k}`;
      if (k === 'storageUri') {
        if (typeof x !== 'string') bad(`${here} is not a string`);
        out.push({ reference: x, field: here, kind: 'model' });
      } else if (k === 'containers' || k === 'initContainers') {
        // a predictor's custom containers are images like a Pod's
        if (!Array.isArray(x)) bad(`${here} is not a list`);
        x.forEach((c, i) => {
          if (!isObject(c) || typeof c.image !== 'string' || c.image === '') bad(`${here}[${i}].image is missing`);
          out.push({ reference: c.image, field: `${here}[${i}].image`, kind: 'image' });
        });
      } else visit(x, here, depth + 1);
    }
  };
  const spec = obj.spec;
  if (!isObject(spec)) bad('spec is missing or not an object');
  for (const part of ['predictor', 'transformer', 'explainer']) if (spec[part] !== undefined) visit(spec[part], `spec.${part}`, 0);
}

/**
 * The artifacts an admitted object would run. Kinds it does not know yield none (the webhook
 * configuration decides which kinds are sent); a known kind with an unreadable shape throws.
 */
export function findArtifacts(req: ReviewRequest, custom: CustomResourcePath[] = []): FoundArtifact[] {
  const out: FoundArtifact[] = [];
  const obj = req.object;
  if (!isObject(obj)) bad('request.object is missing or not an object');
  const known = POD_SPEC_PATHS[req.kind.kind];
  if (known && known.groups.includes(req.kind.group)) {
    let spec: unknown = obj;
    let at = '';
    for (const p of known.path) {
      if (!isObject(spec)) bad(`${at || 'object'} is not an object`);
      spec = spec[p];
      at = at ? `${at}.${p}` : p;
    }
    podSpecImages(spec, at, out);
  } else if (req.kind.group === KSERVE_GROUP && req.kind.kind === 'InferenceService') {
    kserveModels(obj, out);
  }
  for (const c of custom) {
    if (c.group !== req.kind.group || c.kind !== req.kind.kind) continue;
    for (const path of c.paths) {
      walkPath(obj, splitPath(path), '', (v, at) => {
        if (typeof v !== 'string' || v === '') bad(`${at} is not a reference string`);
        out.push({ reference: v, field: at, kind: c.type ?? 'model' });
      });
    }
  }
  return out;
}
