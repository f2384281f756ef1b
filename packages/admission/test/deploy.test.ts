// deploy/ validates with `kubectl apply --dry-run=client -f deploy/`. kubectl needs an API
// server's discovery documents to map kinds to resources even for a client dry run; the test
// serves those (and 404 for every object: nothing exists yet) from 127.0.0.1. No cluster, no
// network. Then the properties the webhook's safety rests on are checked in the manifests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, runCommand } from '../../../test/helpers/cli.ts';

const GROUPS: Record<string, { version: string; resources: { name: string; kind: string; namespaced: boolean }[] }> = {
  '': { version: 'v1', resources: [
    { name: 'namespaces', kind: 'Namespace', namespaced: false }, { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
    { name: 'services', kind: 'Service', namespaced: true }, { name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
    { name: 'secrets', kind: 'Secret', namespaced: true }, { name: 'pods', kind: 'Pod', namespaced: true },
  ] },
  apps: { version: 'v1', resources: [{ name: 'deployments', kind: 'Deployment', namespaced: true }] },
  policy: { version: 'v1', resources: [{ name: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true }] },
  'rbac.authorization.k8s.io': { version: 'v1', resources: [{ name: 'roles', kind: 'Role', namespaced: true }, { name: 'rolebindings', kind: 'RoleBinding', namespaced: true }] },
  'admissionregistration.k8s.io': { version: 'v1', resources: [{ name: 'validatingwebhookconfigurations', kind: 'ValidatingWebhookConfiguration', namespaced: false }] },
};

function resourceList(group: string) {
  const g = GROUPS[group];
  return {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${g.version}` : g.version,
    resources: g.resources.map((r) => ({ name: r.name, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] })),
  };
}

describe('deploy/ manifests', () => {
  let server: Server;
  let dir: string;
  let kubeconfig: string;
  before(async () => {
    server = createServer((req, res) => {
      const url = (req.url ?? '').split('?')[0];
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url === '/api') return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
      if (url === '/apis') {
        return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: Object.entries(GROUPS).filter(([g]) => g).map(([name, g]) => ({ name, versions: [{ groupVersion: `${name}/${g.version}`, version: g.version }], preferredVersion: { groupVersion: `${name}/${g.version}`, version: g.version } })) });
      }
      if (url === '/api/v1') return json(200, resourceList(''));
      const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(url);
      if (m && GROUPS[m[1]]) return json(200, resourceList(m[1]));
      // every object: not found (a client dry run of a create)
      return json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    dir = await mkdtemp(join(tmpdir(), 'custody-deploy-'));
    kubeconfig = join(dir, 'kubeconfig');
    const port = (server.address() as { port: number }).port;
    await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: local, cluster: {server: "http://127.0.0.1:${port}"}}]\nusers: [{name: nobody, user: {}}]\ncontexts: [{name: local, context: {cluster: local, user: nobody}}]\ncurrent-context: local\n`);
  });
  after(async () => {
    server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('kubectl apply --dry-run=client -f deploy/ accepts every manifest', async () => {
    // --validate=false: schema validation needs the server's OpenAPI documents; kubectl still
    // decodes every object into its typed Go struct, so a wrong field type or kind fails.
    const r = await runCommand('kubectl', ['apply', '--dry-run=client', '--validate=false', '-f', join(REPO_ROOT, 'deploy')], { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: dir } });
    assert.equal(r.code, 0, r.stderr);
    for (const line of [
      'namespace/custody-system created (dry run)',
      'serviceaccount/custody-admission created (dry run)',
      'role.rbac.authorization.k8s.io/custody-admission created (dry run)',
      'rolebinding.rbac.authorization.k8s.io/custody-admission created (dry run)',
      'configmap/custody-admission-config created (dry run)',
      'deployment.apps/custody-admission created (dry run)',
      'poddisruptionbudget.policy/custody-admission created (dry run)',
      'service/custody-admission created (dry run)',
      'validatingwebhookconfiguration.admissionregistration.k8s.io/custody-admission created (dry run)',
    ]) assert.ok(r.stdout.includes(line), `missing "${line}" in:\n${r.stdout}`);
  });

  it('the manifests keep the webhook fail-closed, opt-in and highly available', async () => {
    const docs: Record<string, any>[] = [];
    for (const name of (await readdir(join(REPO_ROOT, 'deploy'))).filter((n) => n.endsWith('.yaml')).sort()) {
      for (const d of parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', name), 'utf8'))) docs.push(d.toJSON());
    }
    const byKind = (k: string) => docs.filter((d) => d.kind === k);
    const [hook] = byKind('ValidatingWebhookConfiguration');
    assert.equal(hook.webhooks.length, 1);
    const w = hook.webhooks[0];
    assert.equal(w.failurePolicy, 'Fail');
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.ok(w.timeoutSeconds <= 30);
    assert.deepEqual(w.namespaceSelector.matchExpressions, [
      { key: 'custody.dev/admission', operator: 'In', values: ['enabled'] },
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'custody-system'] },
    ]);
    const resources = w.rules.flatMap((r: { resources: string[] }) => r.resources).sort();
    assert.deepEqual(resources, ['cronjobs', 'daemonsets', 'deployments', 'inferenceservices', 'jobs', 'pods', 'pods/ephemeralcontainers', 'replicasets', 'statefulsets']);
    const [deployment] = byKind('Deployment');
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(deployment.metadata.namespace, 'custody-system');
    assert.deepEqual(deployment.spec.template.spec.containers[0].args, ['admission', 'serve', '--config', '/etc/custody/config/config.yaml']);
    const [pdb] = byKind('PodDisruptionBudget');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector, deployment.spec.selector);
    const [svc] = byKind('Service');
    assert.equal(w.clientConfig.service.name, svc.metadata.name);
    assert.deepEqual(svc.spec.selector, deployment.spec.selector.matchLabels);
    // The webhook's own timeout and the config's must agree (the config's deadline is below it).
    const [cm] = byKind('ConfigMap');
    assert.match(cm.data['config.yaml'], new RegExp(`^timeoutSeconds: ${w.timeoutSeconds}$`, 'm'));
    assert.match(cm.data['config.yaml'], /^excludeNamespaces: \[kube-system, custody-system\]$/m);
  });
});
