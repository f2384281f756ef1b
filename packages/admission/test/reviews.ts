/** AdmissionReviews as the API server sends them (admission.k8s.io/v1), for the tests and the bench. */
import { randomUUID } from 'node:crypto';

type Kind = { group: string; version: string; kind: string; resource: string };
export const KINDS: Record<string, Kind> = {
  Pod: { group: '', version: 'v1', kind: 'Pod', resource: 'pods' },
  Deployment: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' },
  ReplicaSet: { group: 'apps', version: 'v1', kind: 'ReplicaSet', resource: 'replicasets' },
  StatefulSet: { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets' },
  DaemonSet: { group: 'apps', version: 'v1', kind: 'DaemonSet', resource: 'daemonsets' },
  Job: { group: 'batch', version: 'v1', kind: 'Job', resource: 'jobs' },
  CronJob: { group: 'batch', version: 'v1', kind: 'CronJob', resource: 'cronjobs' },
  InferenceService: { group: 'serving.kserve.io', version: 'v1beta1', kind: 'InferenceService', resource: 'inferenceservices' },
  ModelDeployment: { group: 'ml.example.com', version: 'v1', kind: 'ModelDeployment', resource: 'modeldeployments' },
};

export interface PodSpecImages { containers?: string[]; initContainers?: string[]; ephemeralContainers?: string[] }

export function podSpec(images: PodSpecImages): Record<string, unknown> {
  const c = (list: string[] | undefined, prefix: string) => list?.map((image, i) => ({ name: `${prefix}${i}`, image, imagePullPolicy: 'IfNotPresent', resources: {}, terminationMessagePath: '/dev/termination-log' }));
  return {
    ...(images.initContainers ? { initContainers: c(images.initContainers, 'init') } : {}),
    containers: c(images.containers ?? [], 'app') ?? [],
    ...(images.ephemeralContainers ? { ephemeralContainers: c(images.ephemeralContainers, 'debugger') } : {}),
    restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', serviceAccountName: 'default', securityContext: {}, schedulerName: 'default-scheduler',
  };
}

const template = (spec: Record<string, unknown>) => ({ metadata: { labels: { app: 'credit' } }, spec });

/** The object of a workload kind with this pod spec. */
export function workload(kind: string, name: string, namespace: string, spec: Record<string, unknown>): Record<string, unknown> {
  const k = KINDS[kind];
  const metadata = { name, namespace, labels: { app: 'credit' }, uid: randomUUID(), creationTimestamp: null };
  const apiVersion = k.group ? `${k.group}/${k.version}` : k.version;
  const selector = { matchLabels: { app: 'credit' } };
  switch (kind) {
    case 'Pod': return { apiVersion, kind, metadata, spec, status: {} };
    case 'Deployment': case 'ReplicaSet': return { apiVersion, kind, metadata, spec: { replicas: 2, selector, template: template(spec) } };
    case 'StatefulSet': return { apiVersion, kind, metadata, spec: { serviceName: name, replicas: 1, selector, template: template(spec) } };
    case 'DaemonSet': return { apiVersion, kind, metadata, spec: { selector, template: template(spec) } };
    case 'Job': return { apiVersion, kind, metadata, spec: { backoffLimit: 1, template: template({ ...spec, restartPolicy: 'Never' }) } };
    case 'CronJob': return { apiVersion, kind, metadata, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: template({ ...spec, restartPolicy: 'OnFailure' }) } } } };
    default: throw new Error(`no pod spec for ${kind}`);
  }
}

export function review(o: { kind: string; operation?: string; namespace?: string; name?: string; object: unknown; oldObject?: unknown; subResource?: string; uid?: string }): Record<string, unknown> {
  const k = KINDS[o.kind];
  const gvk = { group: k.group, version: k.version, kind: k.kind };
  const gvr = { group: k.group, version: k.version, resource: k.resource };
  const operation = o.operation ?? 'CREATE';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: o.uid ?? randomUUID(),
      kind: gvk, resource: gvr, requestKind: gvk, requestResource: gvr,
      ...(o.subResource ? { subResource: o.subResource, requestSubResource: o.subResource } : {}),
      name: o.name ?? 'credit',
      namespace: o.namespace ?? 'ml-prod',
      operation,
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: randomUUID(), groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: o.object,
      oldObject: o.oldObject ?? null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: operation === 'UPDATE' ? 'UpdateOptions' : 'CreateOptions' },
    },
  };
}
