// A settled cluster of a given size in a `file:` database, built once and then copied for each home:
// Deployments and Services created through the API app, nodes and leases written through the store,
// and each Deployment's pods cloned in bulk from the one pod the controllers made for it (so their
// shape, labels and owners are the controllers' own), then passes until nothing is left to do.
// Also the simulated kubelets (set-based SQL) that run between passes. Time is a ManualClock.
import type { Client } from '@libsql/client';
import { createApp } from '../src/api/app.js';
import { defaultControlOptions } from '../src/control/context.js';
import { reconcile } from '../src/control/pass.js';
import type { KObject } from '../src/kinds/types.js';
import { migrate } from '../src/node/migrate.js';
import { ManualClock } from '../src/store/clock.js';
import { openClient } from '../src/store/db.js';
import { Store, type WriteOp } from '../src/store/store.js';

export interface ClusterSize {
  nodes: number;
  pods: number;
  deployments: number;
}

export interface BuiltCluster {
  /** The ManualClock's time when the cluster settled, ms since the epoch. */
  now: number;
  nodeNames: string[];
  deploymentNames: string[];
}

import { leaseObject, microTime, nodeObject, runKubelets } from './fixtures.js';

export const NS = 'bench';
const COMMIT_BATCH = 2000;
const MAX_SETTLE_PASSES = 100;
const opts = defaultControlOptions;

const pad = (i: number, width: number) => String(i).padStart(width, '0');

const CONTAINER = { name: 'app', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 80 }], resources: { requests: { cpu: '10m', memory: '16Mi' } } };

const deploymentManifest = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [CONTAINER] } } },
});

const serviceManifest = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
});

/** The kubelets that are up renew their leases. */
export async function renewLeases(client: Client, now: Date, except: string[] = []): Promise<void> {
  await client.execute({
    sql: `UPDATE objects SET object = json_set(object, '$.spec.renewTime', ?)
      WHERE kind = 'Lease' AND namespace = 'kube-node-lease' AND name NOT IN (SELECT value FROM json_each(?))`,
    args: [microTime(now), JSON.stringify(except)],
  });
}

/** The kubelets that are up start the pods bound to them: Running and Ready, with a pod IP (summary kept in step). */

/** Passes (kubelets running between them) until one writes nothing. */
async function settle(store: Store, client: Client, clock: ManualClock): Promise<void> {
  for (let i = 0; i < MAX_SETTLE_PASSES; i++) {
    if ((await reconcile(store, clock, opts)).writes === 0) return;
    await runKubelets(client, clock.now());
  }
  throw new Error(`the cluster did not settle within ${MAX_SETTLE_PASSES} passes`);
}

async function commitInBatches(store: Store, ops: WriteOp[]): Promise<void> {
  for (let i = 0; i < ops.length; i += COMMIT_BATCH) {
    const results = await store.commit(ops.slice(i, i + COMMIT_BATCH));
    if (results.some((r) => !r.ok)) throw new Error('a setup write failed');
  }
}

/** The API app in-process, for creating objects as a client would (defaults, validation, Service IPs). */
function apiCaller(store: Store, clock: ManualClock) {
  const app = createApp({ store, clock, authenticate: () => true });
  return async (path: string, body: unknown) => {
    const res = await app.fetch(new Request(`http://skiff.local${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  };
}

/** A pod like `sample`, renamed, bound to `node`, with pod IP number `k`. */
function clonePod(sample: KObject, name: string, node: string, k: number): KObject {
  const pod = structuredClone(sample);
  delete pod.metadata!.resourceVersion;
  pod.metadata!.name = name;
  pod.metadata!.uid = crypto.randomUUID();
  (pod.spec as { nodeName: string }).nodeName = node;
  (pod.status as { podIP: string }).podIP = `10.${128 + ((k >> 16) & 127)}.${(k >> 8) & 255}.${k & 255}`;
  return pod;
}

/** Replicas of each Deployment: the pods shared out, the first ones taking the remainder. */
export function replicasOf(size: ClusterSize, i: number): number {
  return Math.floor(size.pods / size.deployments) + (i < size.pods % size.deployments ? 1 : 0);
}

export async function buildCluster(file: string, size: ClusterSize, log: (line: string) => void): Promise<BuiltCluster> {
  const podsPerNode = Math.max(110, 2 * Math.ceil(size.pods / size.nodes));
  if (size.deployments < 1 || size.pods < size.deployments) throw new Error('BENCH_PODS must be at least BENCH_DEPLOYMENTS, which must be at least 1');
  const clock = new ManualClock();
  const client = openClient(`file:${file}`);
  try {
    await migrate(client);
    const store = new Store(client, clock);
    await store.init();
    const post = apiCaller(store, clock);
    const width = String(Math.max(size.deployments, size.nodes) - 1).length;
    const nodeNames = Array.from({ length: size.nodes }, (_, i) => `node-${pad(i, width)}`);
    const deploymentNames = Array.from({ length: size.deployments }, (_, i) => `web-${pad(i, width)}`);

    await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (const name of deploymentNames) {
      await post(`/apis/apps/v1/namespaces/${NS}/deployments`, deploymentManifest(name));
      await post(`/api/v1/namespaces/${NS}/services`, serviceManifest(name));
    }
    const now = clock.now();
    await commitInBatches(
      store,
      nodeNames.flatMap((name) => [
        { op: 'create' as const, object: nodeObject(name, podsPerNode, now) },
        { op: 'create' as const, object: leaseObject(name, now) },
      ]),
    );
    await settle(store, client, clock);

    // Every Deployment now runs one pod; clone it up to the Deployment's share, spread over the nodes.
    const t0 = performance.now();
    const samples = (await store.list('Pod', { namespace: NS })).items;
    if (samples.length !== size.deployments) throw new Error(`expected ${size.deployments} pods after the first passes, found ${samples.length}`);
    let k = 0;
    const clones: WriteOp[] = [];
    for (const sample of samples) {
      const deployment = sample.metadata!.labels!.app;
      const replicas = replicasOf(size, deploymentNames.indexOf(deployment));
      for (let j = 1; j < replicas; j++, k++) {
        clones.push({ op: 'create', object: clonePod(sample, `${sample.metadata!.generateName}c${pad(j, 6)}`, nodeNames[k % size.nodes], k) });
      }
    }
    await commitInBatches(store, clones);
    const scaled: WriteOp[] = [];
    for (const [i, name] of deploymentNames.entries()) {
      const d = (await store.get('Deployment', NS, name))!;
      const next = structuredClone(d);
      (next.spec as { replicas: number }).replicas = replicasOf(size, i);
      next.metadata!.generation = (d.metadata!.generation ?? 1) + 1;
      scaled.push({ op: 'update', object: next, rv: Number(d.metadata!.resourceVersion) });
    }
    await commitInBatches(store, scaled);
    log(`  cloned ${clones.length} pods into the store in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await settle(store, client, clock);
    // One file to copy: the WAL folded into the database.
    await client.execute('PRAGMA wal_checkpoint(TRUNCATE)');
    return { now: clock.now().getTime(), nodeNames, deploymentNames };
  } finally {
    client.close();
  }
}
