// What kubelet does with a pod, done by a real `skiff agent` (process runtime): init containers in
// order, restart policies, startup probes, preStop hooks, activeDeadlineSeconds, readiness gates,
// env from every source, and volumes whose contents follow their sources.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const NODE = 'pods-1';

describe('pods as kubelet runs them, on a real agent', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let out: string; // a hostPath folder the test reads what pods wrote

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const create = (kind: string, body: any) => {
    const paths: Record<string, string> = { Pod: 'pods', ConfigMap: 'configmaps', Secret: 'secrets' };
    return api(`/api/v1/namespaces/default/${paths[kind]}`, { method: 'POST', body: { apiVersion: 'v1', kind, ...body } });
  };
  const pod = (name: string) => api(`/api/v1/namespaces/default/pods/${name}`);
  /** A pod whose containers see the test's folder at /out (as a hostPath volume). */
  const podWith = (name: string, spec: any) =>
    create('Pod', {
      metadata: { name, labels: { test: name }, annotations: { note: 'hi' } },
      spec: { terminationGracePeriodSeconds: 5, ...spec, volumes: [{ name: 'out', hostPath: { path: out } }, ...(spec.volumes ?? [])] },
    });
  const mountOut = { name: 'out', mountPath: '/out' };
  const sh = (script: string, extra: any = {}) => ({ image: 'sh', command: ['sh', '-c', script], ...extra, volumeMounts: [mountOut, ...(extra.volumeMounts ?? [])] });
  const file = (name: string) => (existsSync(join(out, name)) ? readFileSync(join(out, name), 'utf8') : undefined);

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    out = tempDir('skiff-pods-out-');
    const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
    agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name: NODE, data: tempDir('skiff-pods-agent-') });
    await agent.ready;
    await until('the node Ready', async () => (await api(`/api/v1/nodes/${NODE}`)).status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
  });

  afterAll(async () => {
    await server?.request('/api/v1/namespaces/default/pods', { method: 'DELETE' }).catch(() => {});
    await until('the pods gone', async () => (await api('/api/v1/namespaces/default/pods')).items.length === 0).catch(() => {});
    await agent?.stop();
    await server?.stop();
  });

  it('runs init containers in order, sharing an emptyDir with the app container', async () => {
    await podWith('init', {
      volumes: [{ name: 'work', emptyDir: {} }],
      initContainers: [
        { name: 'first', ...sh('echo one > $SKIFF_ROOT/work/log', { volumeMounts: [{ name: 'work', mountPath: '/work' }] }) },
        { name: 'second', ...sh('echo two >> $SKIFF_ROOT/work/log', { volumeMounts: [{ name: 'work', mountPath: '/work' }] }) },
      ],
      containers: [{ name: 'app', ...sh('cp $SKIFF_ROOT/work/log $SKIFF_ROOT/out/init.log; sleep 600', { volumeMounts: [{ name: 'work', mountPath: '/work' }] }) }],
    });
    const p = await until('init done and the app running', async () => {
      const p = await pod('init');
      return p.status.containerStatuses?.[0]?.state.running && file('init.log') && p;
    });
    expect(file('init.log')).toBe('one\ntwo\n');
    expect(p.status.initContainerStatuses.map((s: any) => [s.name, s.state.terminated?.reason, s.state.terminated?.exitCode])).toEqual([
      ['first', 'Completed', 0],
      ['second', 'Completed', 0],
    ]);
    const conditions = Object.fromEntries(p.status.conditions.map((c: any) => [c.type, c.status]));
    expect(conditions).toMatchObject({ PodReadyToStartContainers: 'True', Initialized: 'True', ContainersReady: 'True', Ready: 'True', PodScheduled: 'True' });
  });

  it('restarts OnFailure only on failure, and finishes as Succeeded or Failed by restartPolicy', async () => {
    // Fails once (no marker yet), then succeeds.
    await podWith('onfailure', { restartPolicy: 'OnFailure', containers: [{ name: 'c', ...sh('if [ -e $SKIFF_ROOT/out/marker ]; then exit 0; fi; touch $SKIFF_ROOT/out/marker; exit 3') }] });
    await podWith('never', { restartPolicy: 'Never', containers: [{ name: 'c', ...sh('exit 4') }] });
    const done = await until('onfailure Succeeded', async () => {
      const p = await pod('onfailure');
      return p.status.phase === 'Succeeded' && p;
    });
    expect(done.status.containerStatuses[0]).toMatchObject({ restartCount: 1, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    expect(done.status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    const failed = await until('never Failed', async () => {
      const p = await pod('never');
      return p.status.phase === 'Failed' && p;
    });
    expect(failed.status.containerStatuses[0]).toMatchObject({ restartCount: 0, state: { terminated: { exitCode: 4, reason: 'Error' } } });
  });

  it('holds readiness until the startup probe passes, and honours readiness gates', async () => {
    await podWith('startup', {
      readinessGates: [{ conditionType: 'example.com/ready' }],
      containers: [{ name: 'c', ...sh('sleep 2; touch $SKIFF_ROOT/out/started; sleep 600', { startupProbe: { exec: { command: ['test', '-e', join(out, 'started')] }, periodSeconds: 1, failureThreshold: 30 } }) }],
    });
    const early = await until('startup running', async () => {
      const p = await pod('startup');
      return p.status.containerStatuses?.[0]?.state.running && p;
    });
    if (!file('started')) expect(early.status.containerStatuses[0]).toMatchObject({ started: false, ready: false });
    const started = await until('started and containers ready', async () => {
      const p = await pod('startup');
      return p.status.conditions?.some((c: any) => c.type === 'ContainersReady' && c.status === 'True') && p;
    });
    expect(started.status.containerStatuses[0]).toMatchObject({ started: true, ready: true });
    // The gate's condition is missing: the pod is not Ready, and says why.
    const ready = started.status.conditions.find((c: any) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
    await api('/api/v1/namespaces/default/pods/startup/status', {
      method: 'PATCH',
      headers: { 'content-type': 'application/strategic-merge-patch+json' },
      body: { status: { conditions: [{ type: 'example.com/ready', status: 'True' }] } },
    });
    await until('Ready with the gate passed', async () => (await pod('startup')).status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'));
  });

  it('runs the preStop hook before SIGTERM when a pod is deleted', async () => {
    await podWith('prestop', {
      containers: [{
        name: 'c',
        ...sh(`trap 'echo term >> $SKIFF_ROOT/out/prestop.log; exit 0' TERM; while :; do sleep 0.2; done`, {
          lifecycle: { preStop: { exec: { command: ['sh', '-c', `echo prestop >> ${join(out, 'prestop.log')}`] } } },
        }),
      }],
    });
    await until('prestop running', async () => (await pod('prestop')).status.containerStatuses?.[0]?.state.running);
    await api('/api/v1/namespaces/default/pods/prestop', { method: 'DELETE' });
    await until('prestop gone', async () => (await server.request('/api/v1/namespaces/default/pods/prestop')).status === 404);
    expect(file('prestop.log')).toBe('prestop\nterm\n');
  });

  it('fails a pod past its activeDeadlineSeconds', async () => {
    await podWith('deadline', { activeDeadlineSeconds: 2, containers: [{ name: 'c', ...sh('sleep 600') }] });
    const p = await until('DeadlineExceeded', async () => {
      const p = await pod('deadline');
      return p.status.phase === 'Failed' && p;
    });
    expect(p.status).toMatchObject({ reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect(p.status.containerStatuses[0].state.terminated).toBeTruthy();
  });

  it('builds env from fields, resources, ConfigMaps and Secrets, and says which ConfigMap is missing', async () => {
    await create('ConfigMap', { metadata: { name: 'app-config' }, data: { MODE: 'edge', LEVEL: '3' } });
    await create('Secret', { metadata: { name: 'app-secret' }, stringData: { token: 'abc' } });
    await podWith('env', {
      containers: [{
        name: 'c',
        ...sh('env > $SKIFF_ROOT/out/env.txt; sleep 600', {
          resources: { limits: { memory: '64Mi', cpu: '500m' } },
          envFrom: [{ configMapRef: { name: 'app-config' }, prefix: 'CFG_' }],
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'NOTE', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['note']" } } },
            { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
            { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'token' } } },
            { name: 'OPTIONAL', valueFrom: { configMapKeyRef: { name: 'nowhere', key: 'x', optional: true } } },
            { name: 'GREETING', value: 'mode $(CFG_MODE)' },
          ],
        }),
      }],
    });
    const p = await until('env written', async () => {
      const p = await pod('env');
      return file('env.txt') && p;
    });
    const env = Object.fromEntries(file('env.txt')!.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({ POD_NAME: 'env', POD_IP: p.status.podIP, NODE: NODE, NOTE: 'hi', MEM_MI: '64', CPU_M: '500', TOKEN: 'abc', CFG_MODE: 'edge', CFG_LEVEL: '3', GREETING: 'mode edge' });
    expect(env.OPTIONAL).toBeUndefined();

    await podWith('noconfig', { containers: [{ name: 'c', ...sh('sleep 600', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'absent', key: 'x' } } }] }) }] });
    const waiting = await until('CreateContainerConfigError', async () => (await pod('noconfig')).status.containerStatuses?.[0]?.state.waiting);
    expect(waiting).toEqual({ reason: 'CreateContainerConfigError', message: 'configmap "absent" not found' });
  });

  it('projects ConfigMap items with their modes and downward API files, and follows changes to the ConfigMap', async () => {
    await create('ConfigMap', { metadata: { name: 'files' }, data: { 'a.conf': 'first', 'b.conf': 'other' } });
    await podWith('files', {
      volumes: [
        { name: 'conf', configMap: { name: 'files', items: [{ key: 'a.conf', path: 'sub/a.conf', mode: 0o600 }] } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
      ],
      containers: [{
        name: 'c',
        ...sh('while :; do cat $SKIFF_ROOT/etc/conf/sub/a.conf > $SKIFF_ROOT/out/a.txt; stat -c %a $SKIFF_ROOT/etc/conf/sub/a.conf > $SKIFF_ROOT/out/mode.txt; cat $SKIFF_ROOT/etc/info/labels > $SKIFF_ROOT/out/labels.txt; ls $SKIFF_ROOT/etc/conf > $SKIFF_ROOT/out/ls.txt; sleep 0.5; done', {
          volumeMounts: [{ name: 'conf', mountPath: '/etc/conf' }, { name: 'info', mountPath: '/etc/info' }],
        }),
      }],
    });
    await until('the files seen', async () => file('a.txt') === 'first');
    expect(file('mode.txt')).toBe('600\n');
    expect(file('ls.txt')).toBe('sub\n');
    expect(file('labels.txt')).toBe('test="files"');
    await api('/api/v1/namespaces/default/configmaps/files', {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: { data: { 'a.conf': 'second' } },
    });
    await until('the new contents', async () => file('a.txt') === 'second', 30_000);
  });
});
