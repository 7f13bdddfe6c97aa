// kubectl 1.32 commands that change live objects, against a real `skiff serve`: scale, set
// image, label, annotate, patch (merge, json, strategic), cordon/uncordon, and describe.
import { describe, expect, it } from 'vitest';
import { indentedRow, nowSeconds, UP_TO_DATE } from '../helpers/kubectl-output.js';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl } from '../helpers/skiff-server.js';

if (!hasKubectl) console.warn('kubectl-modify.test.ts: skipped, /usr/bin/kubectl is absent');

describe.skipIf(!hasKubectl)('kubectl scale, set, label, annotate, patch, cordon, describe (needs /usr/bin/kubectl)', () => {
  const { run, k, apply, jsonpath } = kubectlSession();
  async function namespaceWithDeployment(ns: string): Promise<void> {
    await k('create', 'namespace', ns);
    await k('create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=2', '-n', ns);
  }

  it('scales a Deployment through its scale subresource', async () => {
    const ns = 'md-scale';
    await namespaceWithDeployment(ns);
    expect(await k('scale', 'deployment', 'web', '--replicas=5', '-n', ns)).toBe('deployment.apps/web scaled\n');
    expect(await jsonpath('{.spec.replicas} {.metadata.generation}', 'deployment', 'web', '-n', ns)).toBe('5 2');
    expect(await k('get', 'deploy', 'web', '-n', ns)).toMatch(indentedRow('web', '0/5', UP_TO_DATE, '0', /\d+s/));

    const stale = await run(['scale', 'deployment', 'web', '--current-replicas=2', '--replicas=1', '-n', ns]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe('error: Expected replicas to be 2, was 5\n');
    expect(await k('scale', 'deploy/web', '--current-replicas=5', '--replicas=0', '-n', ns)).toBe('deployment.apps/web scaled\n');
    expect(await jsonpath('{.spec.replicas}', 'deployment', 'web', '-n', ns)).toBe('0');

    const negative = await run(['scale', 'deployment', 'web', '--replicas=-1', '-n', ns]);
    expect(negative.code).toBe(1);
    expect(negative.stderr).toContain('--replicas=COUNT');
  });

  it('sets an image by container name', async () => {
    const ns = 'md-image';
    await namespaceWithDeployment(ns);
    expect(await k('set', 'image', 'deployment/web', 'nginx=nginx:1.27', '-n', ns)).toBe('deployment.apps/web image updated\n');
    expect(await jsonpath('{.spec.template.spec.containers[0].image} {.metadata.generation}', 'deployment', 'web', '-n', ns)).toBe('nginx:1.27 2');
    const wrong = await run(['set', 'image', 'deployment/web', 'nope=busybox', '-n', ns]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('error: unable to find container named "nope"\n');
  });

  it('labels and annotates, and refuses to overwrite without --overwrite', async () => {
    const ns = 'md-label';
    await namespaceWithDeployment(ns);
    expect(await k('label', 'deployment', 'web', 'env=prod', 'team=core', '-n', ns)).toBe('deployment.apps/web labeled\n');
    expect(await k('get', 'deployment', 'web', '-n', ns, '--show-labels')).toMatch(indentedRow('web', '0/2', UP_TO_DATE, '0', /\d+s/, 'app=web,env=prod,team=core'));
    expect(await k('get', 'deployment', '-n', ns, '-L', 'env')).toMatch(indentedRow('web', '0/2', UP_TO_DATE, '0', /\d+s/, 'prod'));

    const clash = await run(['label', 'deployment', 'web', 'env=dev', '-n', ns]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toBe("error: 'env' already has a value (prod), and --overwrite is false\n");
    expect(await k('label', 'deployment', 'web', 'env=dev', '--overwrite', '-n', ns)).toBe('deployment.apps/web labeled\n');
    expect(await k('label', 'deployment', 'web', 'team-', '-n', ns)).toBe('deployment.apps/web unlabeled\n');
    expect(await jsonpath('{.metadata.labels}', 'deployment', 'web', '-n', ns)).toBe('{"app":"web","env":"dev"}');

    expect(await k('annotate', 'deployment', 'web', 'note=first release', 'kubernetes.io/change-cause=manual', '-n', ns)).toBe('deployment.apps/web annotated\n');
    expect(await jsonpath('{.metadata.annotations.note}', 'deployment', 'web', '-n', ns)).toBe('first release');
    expect(await k('annotate', 'deployment', 'web', 'note-', '-n', ns)).toBe('deployment.apps/web annotated\n');
    expect(await jsonpath('{.metadata.annotations.note}|{.metadata.annotations.kubernetes\\.io/change-cause}', 'deployment', 'web', '-n', ns)).toBe('|manual');
    // Labels are metadata: the generation stays.
    expect(await jsonpath('{.metadata.generation}', 'deployment', 'web', '-n', ns)).toBe('1');

    // Several objects by selector at once.
    await k('create', 'configmap', 'a', '-n', ns);
    await k('create', 'configmap', 'b', '-n', ns);
    expect(await k('label', 'configmaps', '--all', 'batch=1', '-n', ns)).toBe('configmap/a labeled\nconfigmap/b labeled\n');
    expect(await k('get', 'configmaps', '-l', 'batch=1', '-n', ns, '-o', 'name')).toBe('configmap/a\nconfigmap/b\n');
  });

  it('patches with merge, json and strategic patches', async () => {
    const ns = 'md-patch';
    await namespaceWithDeployment(ns);
    const merge = '{"spec":{"replicas":3},"metadata":{"labels":{"patched":"merge"}}}';
    expect(await k('patch', 'deployment', 'web', '--type', 'merge', '-p', merge, '-n', ns)).toBe('deployment.apps/web patched\n');
    expect(await k('patch', 'deployment', 'web', '--type', 'merge', '-p', merge, '-n', ns)).toBe('deployment.apps/web patched (no change)\n');
    expect(await jsonpath('{.spec.replicas} {.metadata.labels.patched}', 'deployment', 'web', '-n', ns)).toBe('3 merge');

    const json = JSON.stringify([
      { op: 'replace', path: '/spec/replicas', value: 4 },
      { op: 'add', path: '/spec/template/spec/containers/0/env', value: [{ name: 'MODE', value: 'json' }] },
      { op: 'remove', path: '/metadata/labels/patched' },
    ]);
    expect(await k('patch', 'deployment', 'web', '--type', 'json', '-p', json, '-n', ns)).toBe('deployment.apps/web patched\n');
    expect(await jsonpath('{.spec.replicas} {.spec.template.spec.containers[0].env[0].value} {.metadata.labels}', 'deployment', 'web', '-n', ns)).toBe('4 json {"app":"web"}');
    const failedTest = await run(['patch', 'deployment', 'web', '--type', 'json', '-p', '[{"op":"test","path":"/spec/replicas","value":99}]', '-n', ns]);
    expect(failedTest.code).toBe(1);
    expect(failedTest.stderr).toMatch(/^The request is invalid: /);
    expect(await jsonpath('{.spec.replicas}', 'deployment', 'web', '-n', ns)).toBe('4');

    // Strategic: containers merge by name, so one container changes and another is added.
    const strategic = '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"},{"name":"sidecar","image":"busybox:1.36"}]}}}}';
    expect(await k('patch', 'deployment', 'web', '-p', strategic, '-n', ns)).toBe('deployment.apps/web patched\n');
    expect(await jsonpath('{range .spec.template.spec.containers[*]}{.name}={.image};{end}', 'deployment', 'web', '-n', ns)).toBe('nginx=nginx:1.27;sidecar=busybox:1.36;');
    expect(await jsonpath('{.spec.template.spec.containers[0].env[0].value}', 'deployment', 'web', '-n', ns)).toBe('json');
    const remove = '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}';
    expect(await k('patch', 'deployment', 'web', '--type', 'strategic', '-p', remove, '-n', ns)).toBe('deployment.apps/web patched\n');
    expect(await jsonpath('{.spec.template.spec.containers[*].name}', 'deployment', 'web', '-n', ns)).toBe('nginx');

    const invalid = await run(['patch', 'deployment', 'web', '--type', 'merge', '-p', '{"spec":{"replicas":-2}}', '-n', ns]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe('The Deployment "web" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0\n');
  });

  it('cordons and uncordons a node', async () => {
    const now = nowSeconds();
    await apply(`
apiVersion: v1
kind: Node
metadata: {name: md-node}
spec:
  # Keeps a scheduler from placing this file's pods here.
  taints: [{key: e2e, effect: NoSchedule}]
status:
  conditions: [{type: Ready, status: "True", lastHeartbeatTime: "${now}", lastTransitionTime: "${now}", reason: KubeletReady, message: ok}]
`);
    expect(await k('cordon', 'md-node')).toBe('node/md-node cordoned\n');
    expect(await jsonpath('{.spec.unschedulable}', 'node', 'md-node')).toBe('true');
    expect(await k('get', 'nodes', 'md-node')).toMatch(indentedRow('md-node', 'Ready,SchedulingDisabled', '<none>', /\d+s/, ''));
    expect(await k('cordon', 'md-node')).toBe('node/md-node already cordoned\n');
    expect(await k('uncordon', 'md-node')).toBe('node/md-node uncordoned\n');
    expect(await jsonpath('{.spec.unschedulable}', 'node', 'md-node')).toBe('');
    expect(await k('get', 'nodes', 'md-node')).toMatch(indentedRow('md-node', 'Ready', '<none>', /\d+s/, ''));
    expect(await k('uncordon', 'md-node')).toBe('node/md-node already uncordoned\n');
  });

  it('describes a pod with its events, a deployment and a node', async () => {
    const ns = 'md-describe';
    await k('create', 'namespace', ns);
    await k('run', 'web-0', '--image=nginx:1.25', '--labels=app=web,tier=front', '--env=MODE=test', '--port=8080', '-n', ns);
    const uid = await jsonpath('{.metadata.uid}', 'pod', 'web-0', '-n', ns);
    const now = nowSeconds();
    await apply(`
apiVersion: v1
kind: Event
metadata: {name: web-0.pulled, namespace: ${ns}}
involvedObject: {kind: Pod, name: web-0, namespace: ${ns}, uid: "${uid}", apiVersion: v1, fieldPath: "spec.containers{web-0}"}
reason: Pulled
message: Successfully pulled image "nginx:1.25"
type: Normal
source: {component: kubelet, host: md-describe-node}
firstTimestamp: "${now}"
lastTimestamp: "${now}"
count: 2
---
apiVersion: v1
kind: Event
metadata: {name: someone-else, namespace: ${ns}}
involvedObject: {kind: Pod, name: other, namespace: ${ns}, uid: "00000000-0000-0000-0000-000000000000"}
reason: Killing
message: not about web-0
type: Warning
source: {component: kubelet}
firstTimestamp: "${now}"
lastTimestamp: "${now}"
count: 1
`);
    const pod = await k('describe', 'pod', 'web-0', '-n', ns);
    expect(pod).toMatch(/^Name:\s+web-0$/m);
    expect(pod).toMatch(/^Namespace:\s+md-describe$/m);
    expect(pod).toMatch(/^Labels:\s+app=web\n\s+tier=front$/m);
    expect(pod).toMatch(/^Status:\s+Pending$/m);
    expect(pod).toMatch(/^Node:\s+<none>$/m);
    expect(pod).toMatch(/^ {2}web-0:\n {4}Image:\s+nginx:1\.25\n {4}Port:\s+8080\/TCP$/m);
    expect(pod).toMatch(/^ {6}MODE:\s+test$/m);
    expect(pod).toMatch(/^QoS Class:\s+BestEffort$/m);
    expect(pod).toMatch(indentedRow('Type', 'Reason', 'Age', 'From', 'Message'));
    expect(pod).toMatch(indentedRow('Normal', 'Pulled', /\d+s \(x2 over \d+s\)/, 'kubelet', 'Successfully pulled image "nginx:1.25"'));
    expect(pod).not.toContain('not about web-0');

    await k('create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=3', '-n', ns);
    const deploy = await k('describe', 'deployment', 'web', '-n', ns);
    expect(deploy).toMatch(/^Name:\s+web$/m);
    expect(deploy).toMatch(/^Selector:\s+app=web$/m);
    expect(deploy).toMatch(/^Replicas:\s+3 desired \| \d+ updated \| \d+ total \| 0 available \| \d+ unavailable$/m);
    expect(deploy).toMatch(/^StrategyType:\s+RollingUpdate$/m);
    expect(deploy).toMatch(/^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$/m);
    expect(deploy).toMatch(/^ {3}nginx:\n {4}Image:\s+nginx:1\.25$/m);

    await apply(`
apiVersion: v1
kind: Node
metadata: {name: md-describe-node, labels: {zone: eu-1}}
spec:
  taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  conditions: [{type: Ready, status: "True", lastHeartbeatTime: "${now}", lastTransitionTime: "${now}", reason: KubeletReady, message: kubelet is posting ready status}]
  addresses: [{type: InternalIP, address: 10.0.0.9}]
  nodeInfo: {kubeletVersion: v1.32.0-skiff, osImage: Skiff Linux, kernelVersion: 6.1.0, containerRuntimeVersion: "skiff://0.1", architecture: arm64, operatingSystem: linux, machineID: m, systemUUID: s, bootID: b, kubeProxyVersion: ""}
`);
    const node = await k('describe', 'node', 'md-describe-node');
    expect(node).toMatch(/^Name:\s+md-describe-node$/m);
    expect(node).toMatch(/^Labels:\s+zone=eu-1$/m);
    expect(node).toMatch(/^Taints:\s+dedicated=gpu:NoSchedule$/m);
    expect(node).toMatch(/^Unschedulable:\s+false$/m);
    expect(node).toMatch(indentedRow('Ready', 'True', /.+/, 'KubeletReady', 'kubelet is posting ready status'));
    expect(node).toMatch(/^ {2}InternalIP:\s+10\.0\.0\.9$/m);
    expect(node).toMatch(/^ {2}Architecture:\s+arm64$/m);
    expect(node).toMatch(indentedRow('cpu:', '4'));
    expect(node).toMatch(indentedRow('memory:', '8Gi'));
    expect(node).toMatch(/^Non-terminated Pods:\s+\(0 in total\)$/m);
  });
});
