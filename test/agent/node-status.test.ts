// NodeStatusManager against a real `skiff serve`: registration, measured status, lease renewal,
// status posted only on change, Ready=False on demand, re-registration after deletion, and going
// on while the server is unreachable.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/agent/client.js';
import { measureMachine, pressureConditions, pressures } from '../../src/agent/machine.js';
import { microTime, NodeStatusManager, parseLabels, parseTaints } from '../../src/agent/node-status.js';
import { hasKubectl, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

let server: SkiffServer;
let client: ApiClient;
const managers: NodeStatusManager[] = [];

beforeAll(async () => {
  server = await startSkiff();
  client = new ApiClient({ server: server.url, token: server.token, ca: server.ca });
});
afterAll(async () => {
  await Promise.all(managers.map((m) => m.stop()));
  await server?.stop();
});

const fast = { statusIntervalMs: 300, leaseIntervalMs: 300, agentVersion: 'test', runtimeVersion: 'process://0.1.0' };
function manager(name: string, opts: ConstructorParameters<typeof NodeStatusManager>[2] = {}, c = client): NodeStatusManager {
  const m = new NodeStatusManager(c, name, { dataDir: tempDir('skiff-node-'), ...fast, ...opts });
  managers.push(m);
  return m;
}

async function until<T>(probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`;
const cond = (node: any, type: string) => node.status.conditions.find((c: any) => c.type === type);

describe('parsers', () => {
  it('parses --register-with-taints and --node-labels', () => {
    expect(parseTaints('dedicated=gpu:NoSchedule, edge:NoExecute,a=:PreferNoSchedule')).toEqual([
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'edge', effect: 'NoExecute' },
      { key: 'a', effect: 'PreferNoSchedule' },
    ]);
    expect(parseTaints('')).toEqual([]);
    expect(() => parseTaints('x=y:Sometimes')).toThrow(/effect/);
    expect(() => parseTaints('novalue')).toThrow(/Effect/);
    expect(parseLabels('a=b,zone=eu')).toEqual({ a: 'b', zone: 'eu' });
    expect(microTime(new Date('2025-01-02T03:04:05.678Z'))).toBe('2025-01-02T03:04:05.678000Z');
  });

  it('derives pressure conditions from the thresholds', () => {
    const ok = { memoryAvailable: 2 ** 30, storageTotal: 1000, storageAvailable: 500, pidMax: 1000, pidCurrent: 100 };
    expect(pressures(ok)).toEqual({ memory: false, disk: false, pid: false });
    expect(pressures({ ...ok, memoryAvailable: 50 * 2 ** 20, storageAvailable: 99, pidCurrent: 950 })).toEqual({ memory: true, disk: true, pid: true });
    expect(pressureConditions({ memory: true, disk: false, pid: false }).map((c) => c.reason)).toEqual([
      'KubeletHasInsufficientMemory',
      'KubeletHasNoDiskPressure',
      'KubeletHasSufficientPID',
    ]);
  });

  it('measures the machine', async () => {
    const m = await measureMachine(os.tmpdir());
    expect(m.cpus).toBe(os.cpus().length);
    expect(m.memoryTotal).toBe(os.totalmem());
    expect(m.memoryAvailable).toBeGreaterThan(0);
    expect(m.storageTotal).toBeGreaterThan(0);
    expect(m.kernelVersion).toBe(os.release());
    expect(m.internalIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(m.gpus).toBeGreaterThanOrEqual(0);
    if (process.platform === 'linux') {
      expect(m.pidMax).toBeGreaterThan(0);
      expect(m.pidCurrent).toBeGreaterThan(0);
      expect(m.bootID).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});

describe('NodeStatusManager', () => {
  it('registers the Node with labels, taints and the measured status, and renews its lease', async () => {
    const m = manager('agent-1', { labels: { zone: 'eu' }, taints: parseTaints('dedicated=edge:NoSchedule'), podNetwork: false });
    m.start();
    await m.whenRegistered();
    const node = await client.get('/api/v1/nodes/agent-1');
    expect(node.metadata.labels).toMatchObject({
      'kubernetes.io/hostname': os.hostname().toLowerCase(),
      'kubernetes.io/os': 'linux',
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': expect.any(String),
      zone: 'eu',
      'node.skiff.dev/pod-network': 'host',
    });
    expect(node.spec.taints).toEqual([{ key: 'dedicated', value: 'edge', effect: 'NoSchedule' }]);
    const st = node.status;
    expect(st.capacity.cpu).toBe(String(os.cpus().length));
    expect(st.capacity.memory).toBe(`${Math.floor(os.totalmem() / 1024)}Ki`);
    expect(st.capacity.pods).toBe('110');
    expect(st.allocatable.memory).toBe(`${Math.floor(os.totalmem() / 1024) - 102400}Ki`);
    expect(Number(st.allocatable['ephemeral-storage'])).toBeGreaterThan(0);
    expect(st.conditions.map((c: any) => `${c.type}=${c.status}/${c.reason}`).sort()).toEqual([
      'DiskPressure=False/KubeletHasNoDiskPressure',
      'MemoryPressure=False/KubeletHasSufficientMemory',
      'PIDPressure=False/KubeletHasSufficientPID',
      'Ready=True/KubeletReady',
    ]);
    expect(cond(node, 'Ready').message).toBe('kubelet is posting ready status');
    expect(st.addresses).toEqual([
      { type: 'InternalIP', address: expect.any(String) },
      { type: 'Hostname', address: os.hostname().toLowerCase() },
    ]);
    expect(st.nodeInfo).toMatchObject({
      kubeletVersion: 'v1.32.0-skiff-test',
      containerRuntimeVersion: 'process://0.1.0',
      kernelVersion: os.release(),
      operatingSystem: 'linux',
    });
    expect(st.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 0 } });

    const lease = await until<any>(() => client.get(leasePath('agent-1')));
    expect(lease.spec).toMatchObject({ holderIdentity: 'agent-1', leaseDurationSeconds: 40 });
    expect(lease.spec.renewTime).toMatch(/\.\d{6}Z$/);
    expect(lease.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'agent-1', uid: node.metadata.uid }]);
    const renewed = await until(async () => {
      const l = await client.get(leasePath('agent-1'));
      return l.spec.renewTime > lease.spec.renewTime && l;
    });
    expect(Number(renewed.metadata.resourceVersion)).toBeGreaterThan(Number(lease.metadata.resourceVersion));

    // Status unchanged: not posted again (each post stamps the conditions' heartbeat) while the lease
    // goes on. The control plane may still write the Node meanwhile (its podCIDR, its taints).
    const heartbeat = cond(await client.get('/api/v1/nodes/agent-1'), 'Ready').lastHeartbeatTime;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(cond(await client.get('/api/v1/nodes/agent-1'), 'Ready').lastHeartbeatTime).toBe(heartbeat);
    expect(m.reachable).toBe(true);

    if (hasKubectl) {
      const out = await server.kubectl(['get', 'nodes', 'agent-1', '--no-headers']);
      expect(out.stdout).toMatch(/^agent-1\s+Ready\s/);
    }
  });

  it('posts Ready=False with a reason, and Ready again, keeping unchanged conditions\' transition times', async () => {
    const m = manager('agent-ready');
    m.start();
    const first = await m.whenRegistered();
    const memTransition = cond(first, 'MemoryPressure').lastTransitionTime;
    await new Promise((r) => setTimeout(r, 1_100)); // a new second for transition times
    m.setReady(false, 'RuntimeDown', 'container runtime is down');
    const down = await until(async () => {
      const n = await client.get('/api/v1/nodes/agent-ready');
      return cond(n, 'Ready').status === 'False' && n;
    });
    expect(cond(down, 'Ready')).toMatchObject({ reason: 'RuntimeDown', message: 'container runtime is down' });
    expect(cond(down, 'Ready').lastTransitionTime).not.toBe(cond(first, 'Ready').lastTransitionTime);
    expect(cond(down, 'MemoryPressure').lastTransitionTime).toBe(memTransition);
    if (hasKubectl) {
      const out = await server.kubectl(['get', 'nodes', 'agent-ready', '--no-headers']);
      expect(out.stdout).toMatch(/NotReady/);
    }
    m.setReady(true);
    await until(async () => cond(await client.get('/api/v1/nodes/agent-ready'), 'Ready').status === 'True');
  });

  it('registers again after its Node is deleted, and re-owns its lease', async () => {
    const m = manager('agent-deleted');
    m.start();
    const first = await m.whenRegistered();
    await until(() => client.get(leasePath('agent-deleted')));
    await client.delete('/api/v1/nodes/agent-deleted');
    const again = await until(async () => {
      const n = await client.get('/api/v1/nodes/agent-deleted');
      return n.metadata.uid !== first.metadata.uid && n.status?.conditions && n;
    });
    expect(cond(again, 'Ready').status).toBe('True');
    expect(again.status.capacity.cpu).toBe(String(os.cpus().length));
    await until(async () => (await client.get(leasePath('agent-deleted'))).metadata.ownerReferences?.[0]?.uid === again.metadata.uid);
  });

  it('takes over a Node already there, adding its labels', async () => {
    await client.create('/api/v1/nodes', { metadata: { name: 'agent-pre', labels: { mine: 'yes', 'kubernetes.io/os': 'plan9' } } });
    const m = manager('agent-pre');
    m.start();
    await m.whenRegistered();
    const node = await client.get('/api/v1/nodes/agent-pre');
    expect(node.metadata.labels).toMatchObject({ mine: 'yes', 'kubernetes.io/os': 'linux' });
    expect(cond(node, 'Ready').status).toBe('True');
  });

  it('reports fixed capacity for a simulated node', async () => {
    const m = manager('sim-0001', { extra: { capacity: { cpu: '4', memory: '8Gi' }, machine: { internalIP: '10.0.0.1' } }, maxPods: 20 });
    m.start();
    await m.whenRegistered();
    const node = await client.get('/api/v1/nodes/sim-0001');
    expect(node.status.capacity).toEqual({ cpu: '4', memory: '8Gi', pods: '20' });
    expect(node.status.allocatable).toEqual({ cpu: '4', memory: '8Gi', pods: '20' });
    expect(node.metadata.labels['kubernetes.io/hostname']).toBe('sim-0001');
    expect(node.status.addresses).toEqual([
      { type: 'InternalIP', address: '10.0.0.1' },
      { type: 'Hostname', address: 'sim-0001' },
    ]);
  });

  it('keeps trying while the server is unreachable, and registers once it is back', async () => {
    const own = await startSkiff();
    const port = new URL(own.url).port;
    await own.stop();
    const reach: boolean[] = [];
    const errors: unknown[] = [];
    const c = new ApiClient({ server: own.url, token: own.token, ca: own.ca, timeoutMs: 2_000 });
    const m = manager('agent-offline', { onReachability: (up) => reach.push(up), onError: (e) => errors.push(e) }, c);
    m.start();
    await until(async () => reach.includes(false));
    expect(m.reachable).toBe(false);
    const back = await startSkiff({ data: own.data, listen: `127.0.0.1:${port}` });
    try {
      await m.whenRegistered();
      expect(reach).toEqual([false, true]);
      const res = await back.request('/api/v1/nodes/agent-offline');
      expect(res.status).toBe(200);
      expect(errors).toEqual([]);
    } finally {
      await m.stop();
      await back.stop();
    }
  });
});
