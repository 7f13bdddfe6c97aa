// A real `skiff agent` (process runtime) joined to a real `skiff serve`: pods run as processes,
// probes, restarts, deletion with SIGTERM, env and volumes, re-adoption after kill -9, and autonomy
// while the control plane is away.
import { readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.js';
import { caCertHash } from '../../src/node/certs.js';
import { rebootPods, startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { hasKubectl, repoRoot, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

const WEB = join(repoRoot, 'test/fixtures/agent/web.mjs');
const NODE = 'edge-1';
// The node lifecycle controller's grace, shortened so the offline test fits in a test's time.
const SERVE_ARGS = ['--node-monitor-grace-period', '6s', '--reconcile-interval', '500ms'];


describe('skiff agent with the process runtime, against skiff serve', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let token: string;
  let data: string;
  let shared: string; // a hostPath folder the test and its pods both see

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const pod = (name: string) => api(`/api/v1/namespaces/default/pods/${name}`);
  const webContainer = (extra: any = {}) => ({
    name: 'web',
    image: 'node',
    command: [process.execPath, WEB],
    ports: [{ containerPort: 8080, name: 'http' }],
    ...extra,
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'SIGNAL_LOG', value: join(shared, 'signals.log') },
      ...(extra.env ?? []),
    ],
  });
  const fetchPod = async (p: any, path = '/') => {
    const res = await fetch(`http://${p.status.podIP}:8080${path}`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    server = await startSkiff({ args: SERVE_ARGS });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    token = created.stdout.trim();
    data = tempDir('skiff-agent-');
    shared = tempDir('skiff-shared-');
    agent = startAgentProcess({ server: server.url, token, caHash: caCertHash(server.ca), name: NODE, data, args: ['--labels', 'site=test'] });
    await agent.ready;
    await until('the node to be Ready', async () => {
      const node = await api(`/api/v1/nodes/${NODE}`);
      return node.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && node;
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('registers the node with what it measured, and a credential of its own', async () => {
    const node = await api(`/api/v1/nodes/${NODE}`);
    expect(node.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': NODE, 'kubernetes.io/os': 'linux', site: 'test' });
    expect(Number(node.status.capacity.cpu)).toBeGreaterThan(0);
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^process:\/\//);
    const types = node.status.conditions.map((c: any) => c.type).sort();
    expect(types).toEqual(['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
    const lease = await api(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`);
    expect(lease.spec.holderIdentity).toBe(NODE);
    // The credential file is the agent's alone.
    const cred = join(data, 'agent', 'credential.json');
    expect(existsSync(cred)).toBe(true);
    const nodeToken = JSON.parse(readFileSync(cred, 'utf8')).token;
    const other = await server.request('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/someone-else', { token: nodeToken });
    expect(other.status).toBe(403);
    const create = await server.request('/api/v1/namespaces/default/pods', { method: 'POST', token: nodeToken, body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sneaky' }, spec: { containers: [{ name: 'c', image: 'x' }] } } });
    expect(create.status).toBe(403);
    expect(create.json().reason).toBe('Forbidden');
  });

  it('runs a Deployment whose pods become Ready through httpGet probes, and serves them through Endpoints and the proxy', async () => {
    await api('/apis/apps/v1/namespaces/default/deployments', {
      method: 'POST',
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [webContainer({ readinessProbe: { httpGet: { path: '/live', port: 'http' }, periodSeconds: 1 } })] },
          },
        },
      },
    });
    await api('/api/v1/namespaces/default/services', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    const pods = await until('3 ready web pods', async () => {
      const list = await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb');
      const ready = list.items.filter((p: any) => p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === 3 && ready;
    }, 60_000);
    for (const p of pods) {
      expect(p.status.phase).toBe('Running');
      expect(p.status.containerStatuses[0]).toMatchObject({ name: 'web', ready: true, started: true, restartCount: 0 });
      expect(p.status.containerStatuses[0].state.running.startedAt).toBeTruthy();
    }
    // Three replicas listen on one port: each has an address of its own, or the scheduler kept them apart.
    expect(new Set(pods.map((p: any) => p.status.podIP)).size).toBe(3);
    const endpoints = await until('Endpoints listing the three pods', async () => {
      const ep = await api('/api/v1/namespaces/default/endpoints/web');
      const addresses = ep.subsets?.[0]?.addresses ?? [];
      return addresses.length === 3 && addresses;
    });
    expect(endpoints.map((a: any) => a.ip).sort()).toEqual(pods.map((p: any) => p.status.podIP).sort());
    for (const p of pods) {
      const r = await server.request(`/api/v1/namespaces/default/pods/${p.metadata.name}:8080/proxy/`);
      expect(r.status).toBe(200);
      expect(r.text).toContain(p.metadata.name);
    }
    const viaService = await server.request('/api/v1/namespaces/default/services/web:80/proxy/');
    expect(viaService.status).toBe(200);
    expect(viaService.text).toMatch(/^web-/);
  });

  it('restarts a container that exits 1, and kubectl shows RESTARTS rising and CrashLoopBackOff', async () => {
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crash' }, spec: { containers: [{ name: 'crash', image: 'sh', command: ['sh', '-c', 'echo bye; exit 1'] }] } },
    });
    const p = await until('a restart and a back-off', async () => {
      const p = await pod('crash');
      const s = p.status.containerStatuses?.[0];
      return s?.restartCount >= 1 && s.state.waiting?.reason === 'CrashLoopBackOff' && p;
    });
    const s = p.status.containerStatuses[0];
    expect(s.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(s.state.waiting.message).toMatch(/^back-off 10s restarting failed container=crash pod=crash_default/);
    // ... and says so in a Warning event, as kubelet does.
    const backOff = await until('a BackOff event', async () => {
      const events = await api('/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dcrash,reason%3DBackOff');
      return events.items?.[0];
    });
    expect(backOff).toMatchObject({ type: 'Warning', source: { component: 'kubelet' } });
    expect(backOff.message).toBe(`Back-off restarting failed container crash in pod crash_default(${p.metadata.uid})`);
    if (hasKubectl) {
      const out = await server.kubectl(['get', 'pod', 'crash', '--no-headers']);
      expect(out.stdout).toMatch(/crash\s+0\/1\s+CrashLoopBackOff\s+[1-9]/);
    }
  });

  it('restarts a container whose liveness probe fails', async () => {
    const failFile = join(shared, 'fail-live');
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'live' },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [webContainer({ env: [{ name: 'FAIL_FILE', value: failFile }], livenessProbe: { httpGet: { path: '/live', port: 8080 }, periodSeconds: 1, failureThreshold: 2 } })],
        },
      },
    });
    const first = await until('the live pod running', async () => {
      const p = await pod('live');
      return p.status.containerStatuses?.[0]?.state.running && p;
    });
    writeFileSync(failFile, 'x');
    const restarted = await until('a liveness restart', async () => {
      const p = await pod('live');
      return p.status.containerStatuses?.[0]?.restartCount >= 1 && p;
    });
    rmSync(failFile);
    expect(restarted.status.containerStatuses[0].containerID).not.toBe(first.status.containerStatuses[0].containerID);
    const events = await api('/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dlive');
    expect(events.items.some((e: any) => e.reason === 'Unhealthy' && /Liveness probe failed/.test(e.message))).toBe(true);
  });

  it('sees env from a ConfigMap and files of a Secret volume', async () => {
    await api('/api/v1/namespaces/default/configmaps', { method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { greeting: 'hello from a configmap' } } });
    await api('/api/v1/namespaces/default/secrets', { method: 'POST', body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, stringData: { password: 's3cret' } } });
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'configured' },
        spec: {
          volumes: [{ name: 'creds', secret: { secretName: 'creds' } }],
          containers: [webContainer({
            env: [{ name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'settings', key: 'greeting' } } }],
            volumeMounts: [{ name: 'creds', mountPath: '/etc/creds', readOnly: true }],
            readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
          })],
        },
      },
    });
    const p = await until('configured ready', async () => {
      const p = await pod('configured');
      return p.status.containerStatuses?.[0]?.ready && p;
    });
    const env = JSON.parse((await fetchPod(p, '/env')).text);
    expect(env.GREETING).toBe('hello from a configmap');
    expect(env.WEB_SERVICE_HOST).toMatch(/^\d+\.\d+\.\d+\.\d+$/); // the Service variables kubelet injects
    expect(env.WEB_SERVICE_PORT).toBe('80');
    expect((await fetchPod(p, '/file?path=/etc/creds/password')).text).toBe('s3cret');
  });

  it('gives a deleted pod SIGTERM and its grace period, then removes it', async () => {
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'graceful' },
        spec: {
          terminationGracePeriodSeconds: 10,
          // Ready once it serves, and so once its SIGTERM handler is in place.
          containers: [webContainer({ env: [{ name: 'TERM_DELAY_MS', value: '1000' }], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } })],
        },
      },
    });
    const p = await until('graceful ready', async () => {
      const p = await pod('graceful');
      return p.status.containerStatuses?.[0]?.ready && p;
    });
    await api('/api/v1/namespaces/default/pods/graceful', { method: 'DELETE' });
    await until('the pod gone', async () => (await server.request('/api/v1/namespaces/default/pods/graceful')).status === 404);
    expect(readFileSync(join(shared, 'signals.log'), 'utf8')).toContain('graceful SIGTERM');
    await expect(fetchPod(p)).rejects.toThrow();
  });

  it('leaves pods running when the agent is killed, and re-adopts them when it comes back', async () => {
    const before = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).items;
    await agent.kill('SIGKILL');
    for (const p of before) expect((await fetchPod(p)).status).toBe(200);
    agent = startAgentProcess({ server: server.url, name: NODE, data }); // no token: it has its credential
    await agent.ready;
    // Give the new agent time to sync, then check nothing restarted.
    await new Promise((r) => setTimeout(r, 4000));
    const after = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).items;
    const byName = new Map(after.map((p: any) => [p.metadata.name, p]));
    for (const p of before) {
      const now: any = byName.get(p.metadata.name);
      expect(now.status.containerStatuses[0].containerID).toBe(p.status.containerStatuses[0].containerID);
      expect(now.status.containerStatuses[0].restartCount).toBe(p.status.containerStatuses[0].restartCount);
      expect((await fetchPod(now)).status).toBe(200);
    }
  });

  it('keeps serving while the control plane is away, and stops pods evicted meanwhile once it is back', async () => {
    // One pod tolerates an unreachable node for no time at all: it is evicted as soon as the
    // control plane sees the node's lease expired.
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'evictme' },
        spec: {
          tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }],
          containers: [webContainer()],
        },
      },
    });
    const evictme = await until('evictme running', async () => {
      const p = await pod('evictme');
      return p.status.containerStatuses?.[0]?.state.running && p;
    });
    const web = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).items;
    const port = new URL(server.url).port;
    await server.stop();
    await new Promise((r) => setTimeout(r, 9000)); // longer than the 6 s grace period
    for (const p of [...web, evictme]) expect((await fetchPod(p).catch((e) => ({ status: `${p.metadata.name} ${p.status.podIP}: ${e}` }))).status).toBe(200);

    server = await startSkiff({ data: server.data, listen: `127.0.0.1:${port}`, args: SERVE_ARGS });
    await until('evictme stopped on the node', async () => {
      try {
        await fetchPod(evictme);
        return false;
      } catch {
        return true;
      }
    }, 60_000);
    await until('the node Ready again', async () => {
      const node = await api(`/api/v1/nodes/${NODE}`);
      return node.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True') && !(node.spec.taints ?? []).length;
    }, 60_000);
    for (const p of web) {
      const got = await fetchPod(p).catch(async (e) => ({ status: `${e} ${e.cause}\n${JSON.stringify((await pod(p.metadata.name)).status.containerStatuses)}\n${agent.output().slice(-3000)}` }));
      expect(got.status).toBe(200);
    }
    // The node controller marked them not ready while the node was away; the agent says otherwise.
    await until('the pods Ready again', async () => {
      const pods = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).items;
      return pods.every((p: any) => p.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    });
  });

  it('brings its pods back from its record after a reboot while the control plane is away', async () => {
    const web = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).items;
    const port = new URL(server.url).port;
    await server.stop();
    await agent.kill('SIGKILL');
    await rebootPods(join(data, 'agent'));
    for (const p of web) await expect(fetchPod(p)).rejects.toThrow();

    agent = startAgentProcess({ server: server.url, name: NODE, data });
    await agent.ready;
    for (const p of web) await until(`${p.metadata.name} serving again`, async () => (await fetchPod(p)).status === 200, 60_000);

    // Back online, the node reports what happened meanwhile: each container restarted once.
    server = await startSkiff({ data: server.data, listen: `127.0.0.1:${port}`, args: SERVE_ARGS });
    await until('the restarts reported', async () => {
      const pods = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).items;
      return pods.every((p: any) => p.status.containerStatuses?.[0]?.restartCount === 1 && p.status.containerStatuses[0].ready);
    }, 60_000);
  });
});
