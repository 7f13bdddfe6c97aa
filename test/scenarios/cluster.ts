// A deterministic cluster for scenario tests: an in-process API server on a ManualClock with no
// background passes, and nodes played through the API. Time moves only when a test advances it,
// and the control plane acts only in settle(), which alternates node syncs and reconcile passes
// until the state stops changing.
import { afterEach } from 'vitest';
import type { ControlOptions } from '../../src/control/context.js';
import { ManualClock } from '../../src/store/clock.js';
import { startApi, type ApiServer } from '../helpers/api-server.js';
import { jsonRequest } from '../helpers/json-request.js';
import { NodePlayer, type NodePlayerOptions } from '../helpers/node-player.js';

/** Called after every reconcile pass and every node sync inside settle(). */
export type Check = (moment: string) => Promise<void>;

export interface Cluster {
  api: ApiServer;
  clock: ManualClock;
  nodes: NodePlayer[];
  node(name: string): NodePlayer;
  /** Node syncs then a reconcile pass, repeated until a round changes nothing. */
  settle(check?: Check): Promise<void>;
  /** Moves the clock in steps (nodes renew their leases every step), settling after each. */
  advance(seconds: number, stepSeconds?: number, check?: Check): Promise<void>;
  get(path: string): Promise<any>;
  /** GET that answers the HTTP status alone (for objects expected to be gone). */
  status(path: string): Promise<number>;
  send(method: string, path: string, body: unknown, contentType?: string): Promise<any>;
  create(path: string, object: unknown): Promise<any>;
  /** Items of a list, e.g. list('/api/v1/namespaces/default/pods', 'app=web'). */
  list(path: string, labelSelector?: string, fieldSelector?: string): Promise<any[]>;
  stop(): Promise<void>;
}

const MAX_ROUNDS = 40;

export async function startCluster(nodes: NodePlayerOptions[], control: Partial<ControlOptions> = {}): Promise<Cluster> {
  const clock = new ManualClock();
  const api = await startApi({ clock, passes: false, control });
  const players = nodes.map((n) => new NodePlayer(api.request, n, () => clock.now()));
  for (const p of players) await p.register();

  const expectOk = async (res: Response, what: string): Promise<any> => {
    const text = await res.text();
    if (!res.ok) throw new Error(`${what}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };

  const cluster: Cluster = {
    api,
    clock,
    nodes: players,
    node: (name) => players.find((p) => p.name === name)!,
    async settle(check) {
      for (let round = 1; round <= MAX_ROUNDS; round++) {
        const before = (await api.store.revision()).rev;
        for (const p of players) {
          await p.sync();
          if (check) await check(`round ${round}, after ${p.name} synced`);
        }
        await api.reconcile();
        if (check) await check(`round ${round}, after the pass`);
        if ((await api.store.revision()).rev === before) return;
      }
      throw new Error(`the cluster did not settle within ${MAX_ROUNDS} rounds`);
    },
    async advance(seconds, stepSeconds = 10, check) {
      for (let left = seconds; left > 0; left -= stepSeconds) {
        clock.advance(Math.min(left, stepSeconds) * 1000);
        await cluster.settle(check);
      }
    },
    get: async (path) => expectOk(await api.request(path), `GET ${path}`),
    status: async (path) => {
      const res = await api.request(path);
      await res.body?.cancel();
      return res.status;
    },
    send: async (method, path, body, contentType = 'application/json') =>
      expectOk(await api.request(path, jsonRequest(method, body, contentType)), `${method} ${path}`),
    create: (path, object) => cluster.send('POST', path, object),
    async list(path, labelSelector, fieldSelector) {
      const q = new URLSearchParams();
      if (labelSelector) q.set('labelSelector', labelSelector);
      if (fieldSelector) q.set('fieldSelector', fieldSelector);
      return (await cluster.get(`${path}${q.size ? `?${q}` : ''}`)).items;
    },
    stop: () => api.stop(),
  };
  return cluster;
}

/** startCluster for a file whose tests each start one: an afterEach stops the test's cluster. */
export function perTestClusters(): typeof startCluster {
  let current: Cluster | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  return async (nodes, control) => (current = await startCluster(nodes, control));
}

/** A Deployment of `replicas` pods labelled app=NAME running `image`. */
export function deployment(name: string, replicas: number, image = 'nginx:1.27', spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 80, name: 'http' }] }] },
      },
      ...spec,
    },
  };
}

export const isReady = (pod: any): boolean =>
  (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

export const isTerminating = (pod: any): boolean => !!pod.metadata.deletionTimestamp;

/** How many of `pods` sit on each node, by node name. */
export function perNode(pods: any[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pods) out[p.spec.nodeName ?? ''] = (out[p.spec.nodeName ?? ''] ?? 0) + 1;
  return out;
}

export const condition = (obj: any, type: string): any => (obj.status?.conditions ?? []).find((c: any) => c.type === type);
