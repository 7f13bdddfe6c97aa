// kubectl 1.32 against a real `skiff serve`: the create generators (protobuf bodies), run,
// get of every kind and its output formats, discovery-driven commands and error messages.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { nowSeconds, row, UP_TO_DATE } from '../helpers/kubectl-output.js';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl } from '../helpers/skiff-server.js';

const AGE = /\d+s/;
const CLUSTER_IP = /\d+\.\d+\.\d+\.\d+/;
if (!hasKubectl) console.warn('kubectl-create-get.test.ts: skipped, /usr/bin/kubectl is absent');

describe.skipIf(!hasKubectl)('kubectl create and get (needs /usr/bin/kubectl)', () => {
  const { run, k, apply, jsonpath } = kubectlSession();

  it('creates with the generators and run, and prints what it created', async () => {
    const ns = 'cg-create';
    expect(await k('create', 'namespace', ns)).toBe(`namespace/${ns} created\n`);
    expect(await k('create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=2', '--port=80', '-n', ns)).toBe('deployment.apps/web created\n');
    expect(await k('create', 'service', 'clusterip', 'web', '--tcp=80:8080', '-n', ns)).toBe('service/web created\n');
    expect(await k('create', 'configmap', 'cfg', '--from-literal=a=1', '--from-literal=b=2', '-n', ns)).toBe('configmap/cfg created\n');
    expect(await k('create', 'secret', 'generic', 's1', '--from-literal=password=hunter2', '-n', ns)).toBe('secret/s1 created\n');
    expect(await k('run', 'p1', '--image=busybox:1.36', '-n', ns, '--', 'sleep', '3600')).toBe('pod/p1 created\n');

    // What the protobuf bodies carried arrives intact.
    expect(await jsonpath('{.spec.replicas} {.spec.template.spec.containers[0].name} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.selector.matchLabels.app}', 'deployment', 'web', '-n', ns))
      .toBe('2 nginx nginx:1.25 80 web');
    expect(await jsonpath('{.spec.type} {.spec.ports[0].name} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.ports[0].protocol} {.spec.selector.app}', 'service', 'web', '-n', ns))
      .toBe('ClusterIP 80-8080 80 8080 TCP web');
    expect(await jsonpath('{.data.a}{.data.b}', 'configmap', 'cfg', '-n', ns)).toBe('12');
    expect(await jsonpath('{.type} {.data.password}', 'secret', 's1', '-n', ns)).toBe(`Opaque ${btoa('hunter2')}`);
    expect(await jsonpath('{.metadata.labels.run} {.spec.containers[0].image} {.spec.containers[0].args} {.status.phase}', 'pod', 'p1', '-n', ns))
      .toBe('p1 busybox:1.36 ["sleep","3600"] Pending');

    // The server-side Tables, column by column.
    const deploy = await k('get', 'deployments', '-n', ns);
    expect(deploy).toMatch(row('NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'));
    expect(deploy).toMatch(row('web', '0/2', UP_TO_DATE, '0', AGE));
    const svc = await k('get', 'services', '-n', ns);
    expect(svc).toMatch(row('NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'));
    expect(svc).toMatch(row('web', 'ClusterIP', CLUSTER_IP, '<none>', '80/TCP', AGE));
    const cm = await k('get', 'configmaps', '-n', ns);
    expect(cm).toMatch(row('NAME', 'DATA', 'AGE'));
    expect(cm).toMatch(row('cfg', '2', AGE));
    const secret = await k('get', 'secrets', '-n', ns);
    expect(secret).toMatch(row('NAME', 'TYPE', 'DATA', 'AGE'));
    expect(secret).toMatch(row('s1', 'Opaque', '1', AGE));
    const pods = await k('get', 'pods', '-n', ns);
    expect(pods).toMatch(row('NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'));
    expect(pods).toMatch(row('p1', '0/1', 'Pending', '0', AGE));
    const nsOut = await k('get', 'namespaces');
    expect(nsOut).toMatch(row('NAME', 'STATUS', 'AGE'));
    expect(nsOut).toMatch(row(ns, 'Active', AGE));
    expect(nsOut).toMatch(row('default', 'Active', AGE));
  });

  it('gets every kind, short names included, with and without -o wide', async () => {
    const ns = 'cg-kinds';
    await k('create', 'namespace', ns);
    const now = nowSeconds();
    await apply(`
apiVersion: v1
kind: Node
metadata: {name: kinds-node, labels: {node-role.kubernetes.io/worker: ""}}
spec:
  # Keeps a scheduler from placing this file's pods here: they stay Pending on no node.
  taints: [{key: e2e, effect: NoSchedule}]
status:
  conditions: [{type: Ready, status: "True", lastHeartbeatTime: "${now}", lastTransitionTime: "${now}", reason: KubeletReady, message: ready}]
  addresses: [{type: InternalIP, address: 10.0.0.7}, {type: Hostname, address: kinds-node}]
  nodeInfo: {kubeletVersion: v1.32.0-skiff, osImage: Skiff Linux, kernelVersion: 6.1.0, containerRuntimeVersion: "skiff://0.1", architecture: amd64, operatingSystem: linux, machineID: m, systemUUID: s, bootID: b}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: kinds-lease, namespace: ${ns}}
spec: {holderIdentity: holder-1, leaseDurationSeconds: 40}
---
# A Service without a selector, whose Endpoints and EndpointSlice are kept by hand (no controller touches them).
apiVersion: v1
kind: Service
metadata: {name: db, namespace: ${ns}}
spec:
  ports: [{port: 5432, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: ${ns}}
subsets:
- addresses: [{ip: 10.1.0.5}, {ip: 10.1.0.6}]
  ports: [{port: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-x1, namespace: ${ns}, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints: [{addresses: [10.1.0.5]}, {addresses: [10.1.0.6]}]
ports: [{name: "", port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Event
metadata: {name: kinds-event, namespace: ${ns}}
involvedObject: {kind: Pod, name: somepod, namespace: ${ns}}
reason: Pulled
message: image pulled
type: Normal
source: {component: kubelet, host: kinds-node}
firstTimestamp: "${now}"
lastTimestamp: "${now}"
count: 3
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-rs, namespace: ${ns}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.25"}]}
`);
    const node = await k('get', 'no', 'kinds-node');
    expect(node).toMatch(row('NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'));
    expect(node).toMatch(row('kinds-node', 'Ready', 'worker', AGE, 'v1.32.0-skiff'));
    const nodeWide = await k('get', 'nodes', 'kinds-node', '-o', 'wide');
    expect(nodeWide).toMatch(row('NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME'));
    expect(nodeWide).toMatch(row('kinds-node', 'Ready', 'worker', AGE, 'v1.32.0-skiff', '10.0.0.7', '<none>', 'Skiff Linux', '6.1.0', 'skiff://0.1'));

    const lease = await k('get', 'leases', '-n', ns);
    expect(lease).toMatch(row('NAME', 'HOLDER', 'AGE'));
    expect(lease).toMatch(row('kinds-lease', 'holder-1', AGE));

    expect(await k('get', 'svc', 'db', '-n', ns)).toMatch(row('db', 'ClusterIP', CLUSTER_IP, '<none>', '5432/TCP', AGE));
    const ep = await k('get', 'ep', '-n', ns);
    expect(ep).toMatch(row('NAME', 'ENDPOINTS', 'AGE'));
    expect(ep).toMatch(row('db', '10.1.0.5:8080,10.1.0.6:8080', AGE));

    const slices = await k('get', 'endpointslices', '-n', ns, '-o', 'wide');
    expect(slices).toMatch(row('NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE'));
    expect(slices).toMatch(row('db-x1', 'IPv4', '8080', '10.1.0.5,10.1.0.6', AGE));

    const ev = await k('get', 'ev', '-n', ns);
    expect(ev).toMatch(row('LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'));
    expect(ev).toMatch(row(AGE, 'Normal', 'Pulled', 'pod/somepod', 'image pulled'));
    const evWide = await k('get', 'events', '-n', ns, '-o', 'wide');
    expect(evWide).toMatch(row('LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'SUBOBJECT', 'SOURCE', 'MESSAGE', 'FIRST SEEN', 'COUNT', 'NAME'));
    expect(evWide).toMatch(row(AGE, 'Normal', 'Pulled', 'pod/somepod', 'kubelet, kinds-node', 'image pulled', AGE, '3', 'kinds-event'));

    const rs = await k('get', 'rs', '-n', ns);
    expect(rs).toMatch(row('NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE'));
    // CURRENT counts pods a ReplicaSet controller may have made by now; none can be ready.
    expect(rs).toMatch(row('web-rs', '3', /[03]/, '0', AGE));
    const rsWide = await k('get', 'replicasets', '-n', ns, '-o', 'wide');
    expect(rsWide).toMatch(row('NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'));
    expect(rsWide).toMatch(row('web-rs', '3', /[03]/, '0', AGE, 'web', 'nginx:1.25', 'app=web'));

    await k('create', 'deployment', 'web', '--image=nginx:1.25', '-n', ns);
    const deployWide = await k('get', 'deploy', '-n', ns, '-o', 'wide');
    expect(deployWide).toMatch(row('NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR'));
    expect(deployWide).toMatch(row('web', '0/1', UP_TO_DATE, '0', AGE, 'nginx', 'nginx:1.25', 'app=web'));

    await k('create', 'service', 'clusterip', 'web', '--tcp=443:8443', '-n', ns);
    const svcWide = await k('get', 'svc', '-n', ns, '-o', 'wide');
    expect(svcWide).toMatch(row('NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'));
    expect(svcWide).toMatch(row('web', 'ClusterIP', CLUSTER_IP, '<none>', '443/TCP', AGE, 'app=web'));

    await k('run', 'web-pod', '--image=nginx:1.25', '-n', ns);
    const podWide = await k('get', 'po', '-n', ns, '-o', 'wide');
    expect(podWide).toMatch(row('NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES'));
    expect(podWide).toMatch(row('web-pod', '0/1', 'Pending', '0', AGE, '<none>', '<none>', '<none>', '<none>'));

    await k('create', 'configmap', 'settings', '--from-literal=k=v', '-n', ns);
    expect(await k('get', 'cm', '-n', ns)).toMatch(row('settings', '1', AGE));
    expect(await k('get', 'ns', ns)).toMatch(row(ns, 'Active', AGE));

    // A short name prints exactly what the full name prints.
    const pairs: [string, string][] = [['po', 'pods'], ['deploy', 'deployments'], ['svc', 'services'], ['rs', 'replicasets'], ['ep', 'endpoints'], ['ev', 'events'], ['cm', 'configmaps']];
    for (const [short, full] of pairs) {
      expect(await k('get', short, '-n', ns, '-o', 'name'), short).toBe(await k('get', full, '-n', ns, '-o', 'name'));
    }
    expect(await k('get', 'no', '-o', 'name')).toBe(await k('get', 'nodes', '-o', 'name'));
    expect(await k('get', 'ns', '-o', 'name')).toContain(`namespace/${ns}\n`);
  });

  it('prints a NAMESPACE column across namespaces with -A', async () => {
    for (const ns of ['cg-all-a', 'cg-all-b']) {
      await k('create', 'namespace', ns);
      await k('create', 'configmap', 'shared-name', '--from-literal=x=y', '-n', ns);
    }
    const out = await k('get', 'configmaps', '-A');
    expect(out).toMatch(row('NAMESPACE', 'NAME', 'DATA', 'AGE'));
    expect(out).toMatch(row('cg-all-a', 'shared-name', '1', AGE));
    expect(out).toMatch(row('cg-all-b', 'shared-name', '1', AGE));
    const names = await k('get', 'configmaps', '--all-namespaces', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}');
    expect(names).toContain('cg-all-a/shared-name cg-all-b/shared-name');
  });

  it('prints whole objects with -o yaml and -o json', async () => {
    const ns = 'cg-formats';
    await k('create', 'namespace', ns);
    await k('create', 'configmap', 'one', '--from-literal=greeting=hello', '-n', ns);

    const single = parseYaml(await k('get', 'configmap', 'one', '-n', ns, '-o', 'yaml'));
    expect(single).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one', namespace: ns }, data: { greeting: 'hello' } });
    expect(single.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(single.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(single.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const list = JSON.parse(await k('get', 'configmaps', '-n', ns, '-o', 'json'));
    expect(list).toMatchObject({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'ConfigMap', metadata: { name: 'one' }, data: { greeting: 'hello' } }] });

    const deployYaml = parseYaml(await k('create', 'deployment', 'dry', '--image=nginx', '-n', ns, '--dry-run=server', '-o', 'yaml'));
    expect(deployYaml).toMatchObject({ kind: 'Deployment', metadata: { name: 'dry', generation: 1 }, spec: { replicas: 1, strategy: { type: 'RollingUpdate' } } });
    expect((await run(['get', 'deployment', 'dry', '-n', ns])).stderr).toContain('"dry" not found');
  });

  it('selects with -l and --field-selector', async () => {
    const ns = 'cg-select';
    await k('create', 'namespace', ns);
    for (const [name, tier] of [['a', 'web'], ['b', 'web'], ['c', 'db']]) {
      await k('create', 'configmap', name, '--from-literal=x=y', '-n', ns);
      await k('label', 'configmap', name, `tier=${tier}`, '-n', ns);
    }
    const names = async (...args: string[]) => (await k('get', 'configmaps', '-n', ns, '-o', 'name', ...args)).trim().split('\n').filter(Boolean);
    expect(await names('-l', 'tier=web')).toEqual(['configmap/a', 'configmap/b']);
    expect(await names('-l', 'tier!=web')).toEqual(['configmap/c']);
    expect(await names('-l', 'tier in (db,cache)')).toEqual(['configmap/c']);
    expect(await names('--field-selector', 'metadata.name=b')).toEqual(['configmap/b']);
    expect(await names('--field-selector', 'metadata.name!=b', '-l', 'tier')).toEqual(['configmap/a', 'configmap/c']);
    expect(await k('get', 'configmaps', '-n', ns, '-l', 'tier=none')).toBe('');
    expect((await run(['get', 'configmaps', '-n', ns, '-l', 'tier=none'])).stderr).toBe(`No resources found in ${ns} namespace.\n`);

    await k('run', 'pending-pod', '--image=nginx', '-n', ns);
    const pods = await k('get', 'pods', '-A', '--field-selector', `status.phase=Pending,metadata.namespace=${ns}`);
    expect(pods).toMatch(row(ns, 'pending-pod', '0/1', 'Pending', '0', AGE));
    const bad = await run(['get', 'pods', '-n', ns, '--field-selector', 'spec.bogus=1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "", field selector "spec.bogus=1": field label not supported: spec.bogus\n');
  });

  it('pages with --chunk-size=2 and still prints every row', async () => {
    const ns = 'cg-chunks';
    await k('create', 'namespace', ns);
    for (let i = 1; i <= 5; i++) await k('create', 'configmap', `cm-${i}`, '--from-literal=i=' + i, '-n', ns);
    const r = await run(['get', 'configmaps', '-n', ns, '--chunk-size=2', '-v=6']);
    expect(r.code, r.stderr).toBe(0);
    for (let i = 1; i <= 5; i++) expect(r.stdout).toMatch(row(`cm-${i}`, '1', AGE));
    expect(r.stdout.match(/^NAME\s/gm)).toHaveLength(1);
    const requests = r.stderr.split('\n').filter((l) => l.includes(`/namespaces/${ns}/configmaps?`));
    expect(requests.length).toBe(3);
    expect(requests.every((l) => l.includes('limit=2'))).toBe(true);
    expect(requests.filter((l) => l.includes('continue='))).toHaveLength(2);
  });

  it('shows pods, services, deployments and replicasets with get all', async () => {
    const ns = 'cg-get-all';
    await k('create', 'namespace', ns);
    await k('create', 'deployment', 'app', '--image=nginx', '-n', ns);
    await k('create', 'service', 'clusterip', 'app', '--tcp=80', '-n', ns);
    await k('run', 'solo', '--image=nginx', '-n', ns);
    await k('create', 'configmap', 'not-in-all', '-n', ns);
    const out = await k('get', 'all', '-n', ns);
    expect(out).toMatch(row('pod/solo', '0/1', 'Pending', '0', AGE));
    expect(out).toMatch(row('service/app', 'ClusterIP', CLUSTER_IP, '<none>', '80/TCP', AGE));
    expect(out).toMatch(row('deployment.apps/app', '0/1', UP_TO_DATE, '0', AGE));
    expect(out).not.toContain('not-in-all');
    const all = await k('get', 'all', '-A');
    expect(all).toMatch(row(ns, 'pod/solo', '0/1', 'Pending', '0', AGE));
  });

  it('lists the API with api-resources', async () => {
    const r = await run(['api-resources']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(row('NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND'));
    const expected: [string, string, string, string, string][] = [
      ['pods', 'po', 'v1', 'true', 'Pod'],
      ['services', 'svc', 'v1', 'true', 'Service'],
      ['endpoints', 'ep', 'v1', 'true', 'Endpoints'],
      ['events', 'ev', 'v1', 'true', 'Event'],
      ['configmaps', 'cm', 'v1', 'true', 'ConfigMap'],
      ['namespaces', 'ns', 'v1', 'false', 'Namespace'],
      ['nodes', 'no', 'v1', 'false', 'Node'],
      ['deployments', 'deploy', 'apps/v1', 'true', 'Deployment'],
      ['replicasets', 'rs', 'apps/v1', 'true', 'ReplicaSet'],
    ];
    for (const cells of expected) expect(r.stdout).toMatch(row(...cells));
    expect(r.stdout).toMatch(row('secrets', 'v1', 'true', 'Secret'));
    expect(r.stdout).toMatch(row('leases', 'coordination.k8s.io/v1', 'true', 'Lease'));
    expect(r.stdout).toMatch(row('endpointslices', 'discovery.k8s.io/v1', 'true', 'EndpointSlice'));
    // Subresources are not resources of their own.
    expect(r.stdout).not.toMatch(/^pods\/status/m);
    const apps = await k('api-resources', '--api-group=apps', '-o', 'name');
    expect(apps.trim().split('\n').sort()).toEqual(['controllerrevisions.apps', 'daemonsets.apps', 'deployments.apps', 'replicasets.apps']);
    expect(await k('api-versions')).toMatch(/^apps\/v1$/m);
  });

  it('explains a field from the OpenAPI schema', async () => {
    const out = await k('explain', 'deployment.spec.replicas');
    expect(out).toMatch(/^GROUP:\s+apps$/m);
    expect(out).toMatch(/^KIND:\s+Deployment$/m);
    expect(out).toMatch(/^VERSION:\s+v1$/m);
    expect(out).toMatch(/^FIELD: replicas <integer>$/m);
    expect(out).toContain('Number of desired pods');
  });

  it('answers get --raw /version', async () => {
    const version = JSON.parse(await k('get', '--raw', '/version'));
    expect(version).toMatchObject({ major: '1', minor: '32' });
    expect(version.gitVersion).toMatch(/^v1\.32\.\d+/);
    const server = await k('version', '-o', 'json');
    expect(JSON.parse(server).serverVersion.gitVersion).toBe(version.gitVersion);
  });

  it('prints the server errors as kubectl does', async () => {
    const ns = 'cg-errors';
    await k('create', 'namespace', ns);
    const missing = await run(['get', 'pod', 'nope', '-n', ns]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('Error from server (NotFound): pods "nope" not found\n');
    const missingDeploy = await run(['get', 'deploy', 'nope', '-n', ns]);
    expect(missingDeploy.stderr).toBe('Error from server (NotFound): deployments.apps "nope" not found\n');

    const badName = await run(['create', 'configmap', 'Bad_Name', '-n', ns]);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters');

    const invalidDeploy = await run(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'broken', namespace: ns },
      spec: {
        replicas: -1,
        selector: { matchLabels: { app: 'a' } },
        template: { metadata: { labels: { app: 'b' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      },
    }));
    expect(invalidDeploy.code).toBe(1);
    expect(invalidDeploy.stderr).toContain('The Deployment "broken" is invalid: ');
    expect(invalidDeploy.stderr).toContain('* spec.replicas: Invalid value: -1: must be greater than or equal to 0');
    expect(invalidDeploy.stderr).toContain('* spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`');

    const noContainers = await run(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'empty', namespace: ns }, spec: { containers: [] } }));
    expect(noContainers.code).toBe(1);
    expect(noContainers.stderr).toBe('The Pod "empty" is invalid: spec.containers: Required value\n');

    const exists = await run(['create', 'namespace', ns]);
    expect(exists.stderr).toBe(`Error from server (AlreadyExists): namespaces "${ns}" already exists\n`);

    const noNamespace = await run(['create', 'configmap', 'x', '-n', 'cg-no-such-namespace']);
    expect(noNamespace.stderr).toBe('error: failed to create configmap: namespaces "cg-no-such-namespace" not found\n');

    const unknownField = await run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typo', namespace: ns }, dta: { a: 'b' } }));
    expect(unknownField.code).toBe(1);
    expect(unknownField.stderr).toContain('unknown field "dta"');
  });
});
