// kubectl 1.32 apply against a real `skiff serve`: client-side apply (create, then the
// three-way strategic merge patch), and server-side apply with its conflicts.
import { describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl } from '../helpers/skiff-server.js';

if (!hasKubectl) console.warn('kubectl-apply.test.ts: skipped, /usr/bin/kubectl is absent');

interface DeploymentShape {
  replicas: number;
  image: string;
  labels?: Record<string, string>;
  env?: { name: string; value: string }[];
}

function deployment(ns: string, name: string, d: DeploymentShape): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, ...(d.labels ? { labels: d.labels } : {}) },
    spec: {
      replicas: d.replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image: d.image, ports: [{ containerPort: 80 }], ...(d.env ? { env: d.env } : {}) }] },
      },
    },
  });
}

describe.skipIf(!hasKubectl)('kubectl apply (needs /usr/bin/kubectl)', () => {
  const { run, succeed: k, jsonpath } = kubectlSession();
  const getJson = async (...args: string[]) => JSON.parse(await k(['get', ...args, '-o', 'json', '--show-managed-fields']));

  it('creates, then patches what changed, then leaves an unchanged object alone', async () => {
    const ns = 'ap-client';
    await k(['create', 'namespace', ns]);
    const first = deployment(ns, 'web', { replicas: 2, image: 'nginx:1.25', labels: { tier: 'front', team: 'a' }, env: [{ name: 'A', value: '1' }] });
    expect(await k(['apply', '-f', '-'], first)).toBe('deployment.apps/web created\n');
    const created = await getJson('deployment', 'web', '-n', ns);
    expect(created.metadata.generation).toBe(1);
    // kubectl records the manifest it applied (with an "annotations": {} of its own).
    const lastApplied = (obj: any) => JSON.parse(obj.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
    const recorded = (manifest: string) => {
      const m = JSON.parse(manifest);
      return { ...m, metadata: { annotations: {}, ...m.metadata } };
    };
    expect(lastApplied(created)).toEqual(recorded(first));

    // Changed replica count and image; the "team" label and the env var left the manifest.
    const second = deployment(ns, 'web', { replicas: 4, image: 'nginx:1.27', labels: { tier: 'front' } });
    expect(await k(['apply', '-f', '-'], second)).toBe('deployment.apps/web configured\n');
    expect(await jsonpath('{.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.generation}', 'deployment', 'web', '-n', ns)).toBe('4 nginx:1.27 2');
    const updated = await getJson('deployment', 'web', '-n', ns);
    expect(updated.metadata.labels).toEqual({ tier: 'front' });
    expect(updated.spec.template.spec.containers).toHaveLength(1);
    expect(updated.spec.template.spec.containers[0].env).toBeUndefined();
    expect(updated.spec.template.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    expect(updated.metadata.uid).toBe(created.metadata.uid);
    expect(lastApplied(updated)).toEqual(recorded(second));

    expect(await k(['apply', '-f', '-'], second)).toBe('deployment.apps/web unchanged\n');
    // Nothing was sent to change (a controller may still write status, so the generation tells).
    expect(await jsonpath('{.metadata.generation}', 'deployment', 'web', '-n', ns)).toBe('2');

    // A field someone else set, outside the manifest, survives the next apply.
    await k(['annotate', 'deployment', 'web', '-n', ns, 'owner=ops']);
    await k(['apply', '-f', '-'], deployment(ns, 'web', { replicas: 3, image: 'nginx:1.27', labels: { tier: 'front' } }));
    expect(await jsonpath('{.spec.replicas} {.metadata.annotations.owner}', 'deployment', 'web', '-n', ns)).toBe('3 ops');

    // --dry-run=server changes nothing.
    const dry = await k(['apply', '--dry-run=server', '-f', '-'], deployment(ns, 'web', { replicas: 9, image: 'nginx:1.27', labels: { tier: 'front' } }));
    expect(dry).toBe('deployment.apps/web configured (server dry run)\n');
    expect(await jsonpath('{.spec.replicas}', 'deployment', 'web', '-n', ns)).toBe('3');
  });

  it('applies several kinds from one stream and prints one line each', async () => {
    const ns = 'ap-multi';
    const manifest = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'conf', namespace: ns }, data: { mode: 'fast' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: ns }, spec: { selector: { app: 'api' }, ports: [{ port: 80, targetPort: 8080 }] } },
    ].map((o) => stringifyYaml(o)).join('---\n');
    expect(await k(['apply', '-f', '-'], manifest)).toBe(`namespace/${ns} created\nconfigmap/conf created\nservice/api created\n`);
    expect(await k(['apply', '-f', '-'], manifest)).toBe(`namespace/${ns} unchanged\nconfigmap/conf unchanged\nservice/api unchanged\n`);
    expect(await jsonpath('{.data.mode} ', 'configmap', 'conf', '-n', ns)).toBe('fast ');
    expect(await jsonpath('{.spec.type} {.spec.ports[0].protocol} {.spec.ports[0].targetPort}', 'service', 'api', '-n', ns)).toBe('ClusterIP TCP 8080');
  });

  it('applies server-side, reports conflicts between managers, and forces them', async () => {
    const ns = 'ap-server';
    await k(['create', 'namespace', ns]);
    const manifest = deployment(ns, 'api', { replicas: 2, image: 'nginx:1.25' });
    expect(await k(['apply', '--server-side', '-f', '-'], manifest)).toBe('deployment.apps/api serverside-applied\n');
    const created = await getJson('deployment', 'api', '-n', ns);
    expect(created.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeUndefined();
    const kubectlEntry = created.metadata.managedFields.find((f: { manager: string }) => f.manager === 'kubectl');
    expect(kubectlEntry).toMatchObject({ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1' });
    expect(kubectlEntry.fieldsV1['f:spec']['f:replicas']).toEqual({});

    // The same manager may change its own fields freely.
    expect(await k(['apply', '--server-side', '-f', '-'], deployment(ns, 'api', { replicas: 3, image: 'nginx:1.25' }))).toBe('deployment.apps/api serverside-applied\n');
    expect(await jsonpath('{.spec.replicas}', 'deployment', 'api', '-n', ns)).toBe('3');

    // Another manager asking for different values conflicts, and nothing changes.
    const other = deployment(ns, 'api', { replicas: 5, image: 'nginx:1.27' });
    const conflict = await run(['apply', '--server-side', '--field-manager=ci', '-f', '-'], other);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('error: Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n- .spec.template.spec.containers[name="main"].image\n');
    expect(conflict.stderr).toContain('--force-conflicts');
    expect(await jsonpath('{.spec.replicas} {.spec.template.spec.containers[0].image}', 'deployment', 'api', '-n', ns)).toBe('3 nginx:1.25');

    // Agreeing on a value is no conflict: both become its managers.
    expect(await k(['apply', '--server-side', '--field-manager=ci', '-f', '-'], deployment(ns, 'api', { replicas: 3, image: 'nginx:1.25' }))).toBe('deployment.apps/api serverside-applied\n');

    // --force-conflicts takes the fields over.
    expect(await k(['apply', '--server-side', '--field-manager=ci', '--force-conflicts', '-f', '-'], other)).toBe('deployment.apps/api serverside-applied\n');
    const forced = await getJson('deployment', 'api', '-n', ns);
    expect(forced.spec.replicas).toBe(5);
    expect(forced.spec.template.spec.containers[0].image).toBe('nginx:1.27');
    const owners = (field: (f: any) => unknown) =>
      forced.metadata.managedFields.filter((f: any) => f.operation === 'Apply' && field(f.fieldsV1) !== undefined).map((f: any) => f.manager).sort();
    expect(owners((f) => f['f:spec']?.['f:replicas'])).toEqual(['ci']);

    // Now kubectl's manifest conflicts with ci.
    const back = await run(['apply', '--server-side', '-f', '-'], manifest);
    // Apply managers are named alone; Update managers with their apiVersion (as above).
    expect(back.stderr).toContain('conflicts with "ci":\n- .spec.replicas\n');
  });

  it('reports a server-side conflict with fields a client-side apply set', async () => {
    const ns = 'ap-mixed';
    await k(['create', 'namespace', ns]);
    await k(['apply', '-f', '-'], deployment(ns, 'web', { replicas: 1, image: 'nginx:1.25' }));
    const conflict = await run(['apply', '--server-side', '-f', '-'], deployment(ns, 'web', { replicas: 2, image: 'nginx:1.25' }));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
    expect(await k(['apply', '--server-side', '--force-conflicts', '-f', '-'], deployment(ns, 'web', { replicas: 2, image: 'nginx:1.25' }))).toBe('deployment.apps/web serverside-applied\n');
    expect(await jsonpath('{.spec.replicas}', 'deployment', 'web', '-n', ns)).toBe('2');
  });

  it('replaces a budget\'s selector whole, client-side (patchStrategy replace) and server-side (atomic)', async () => {
    const ns = 'ap-pdb';
    await k(['create', 'namespace', ns]);
    const budget = (name: string, selector: object) =>
      JSON.stringify({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace: ns }, spec: { minAvailable: 1, selector } });
    const labels = { matchLabels: { app: 'web' } };
    const expressions = { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] };
    expect(await k(['apply', '-f', '-'], budget('web', labels))).toBe('poddisruptionbudget.policy/web created\n');
    // kubectl sends the whole new selector; the server replaces the old one with it instead of merging.
    expect(await k(['apply', '-f', '-'], budget('web', expressions))).toBe('poddisruptionbudget.policy/web configured\n');
    const changed = await getJson('pdb', 'web', '-n', ns);
    expect(changed.spec).toEqual({ minAvailable: 1, selector: expressions });
    // As against Kubernetes, kubectl's patch always carries a replace field, so a re-apply says
    // "configured"; the object does not change.
    expect(await k(['apply', '-f', '-'], budget('web', expressions))).toBe('poddisruptionbudget.policy/web configured\n');
    const again = await getJson('pdb', 'web', '-n', ns);
    expect([again.spec, again.metadata.generation]).toEqual([changed.spec, changed.metadata.generation]);

    await k(['apply', '--server-side', '-f', '-'], budget('ssa', labels));
    await k(['apply', '--server-side', '-f', '-'], budget('ssa', expressions));
    expect((await getJson('pdb', 'ssa', '-n', ns)).spec).toEqual({ minAvailable: 1, selector: expressions });
  });
});
