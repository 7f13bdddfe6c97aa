// Round trips per API call, through the API app in-process (createApp's fetch), as `skiff serve` and
// the Worker configure it: store round trips counted by the store, and for the Worker the HTTP
// requests its libSQL client sends (what Cloudflare counts as subrequests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/api/app.js';
import { defaultWatchPolling, type WatchPolling } from '../src/api/watch.js';
import { defaultControlOptions } from '../src/control/context.js';
import { reconcile } from '../src/control/pass.js';
import { migrate } from '../src/node/migrate.js';
import { systemClock } from '../src/store/clock.js';
import { openClient } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { HeapPeak, openEdgeTarget, openServeTarget, type Target } from './edge-target.js';

export interface CallCost {
  roundTrips: number;
  httpRequests: number;
}

export interface ApiCosts {
  home: Target['home'];
  calls: Map<string, CallCost>;
}

/** Worker watches last at most this long (worker.ts: maxWatchSeconds), or until their polls are spent. */
export const WORKER_WATCH_SECONDS = 300;
/**
 * A Worker watch is held to its end at this many times its cadence (its waits and maxWatchSeconds
 * divided by it): the same polls, counted, in a few seconds instead of minutes.
 */
const WORKER_WATCH_SPEEDUP = 100;
/** How long a `skiff serve` watch is held open to count its polls (then projected to WORKER_WATCH_SECONDS). */
const HOLD_MS = 4000;
const NS = 'api';
/** Pods in the namespace besides the one the calls work on. */
const SEED_PODS = 20;
const PODS = `/api/v1/namespaces/${NS}/pods`;

type App = ReturnType<typeof createApp>;

/** The app as serve.ts or worker.ts builds it; the Worker's watch polls by `polling` (its defaults unless given). */
function appFor(home: Target['home'], store: Store, polling = defaultWatchPolling, maxWatchSeconds = WORKER_WATCH_SECONDS): App {
  const tolerations: [number, number] = [defaultControlOptions.defaultNotReadyTolerationSeconds, defaultControlOptions.defaultUnreachableTolerationSeconds];
  if (home === 'serve') return createApp({ store, clock: systemClock, authenticate: () => true, defaultTolerationSeconds: tolerations });
  return createApp({ store, clock: systemClock, authenticate: () => true, defaultTolerationSeconds: tolerations, watchPolling: polling, maxWatchSeconds });
}

/** How long a watch that sees no event lasts under `policy`: its waits between polls. */
function quietWatchSeconds(policy: WatchPolling): number {
  let total = 0;
  for (let poll = 1, wait = policy.intervalMs; poll < policy.maxPolls; poll++, wait = Math.min(wait * 2, policy.maxIntervalMs)) total += wait;
  return Math.min(total / 1000, WORKER_WATCH_SECONDS);
}

const podManifest = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'api' } },
  spec: { containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 80 }], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
});

async function measure(t: Target, run: () => Promise<unknown>): Promise<CallCost> {
  const [rt, http] = [t.store.roundTrips, t.httpRequests()];
  await run();
  return { roundTrips: t.store.roundTrips - rt, httpRequests: t.httpRequests() - http };
}

function caller(app: App) {
  return async (expected: number, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> => {
    const init: RequestInit = { method, headers: { 'content-type': contentType, accept: 'application/json' } };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await app.fetch(new Request(`http://skiff.local${path}`, init));
    const text = await res.text();
    if (res.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };
}

/** Opens a watch from `rv`; answers the reader of its stream. */
async function openWatch(app: App, rv: string): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const res = await app.fetch(new Request(`http://skiff.local${PODS}?watch=1&resourceVersion=${rv}`));
  if (res.status !== 200) throw new Error(`watch: ${res.status} ${await res.text()}`);
  return res.body!.getReader();
}

/** Opens a watch and waits for it to start reading the log (its first poll); then holds it `holdMs` more. */
async function heldWatch(t: Target, app: App, rv: string, holdMs: number): Promise<{ start: CallCost; held: CallCost }> {
  let reader!: ReadableStreamDefaultReader<Uint8Array>;
  const start = await measure(t, async () => {
    reader = await openWatch(app, rv);
    void reader.read().catch(() => {});
    // The stream reads the log once as it starts; give it that moment.
    await new Promise((r) => setTimeout(r, 100));
  });
  const held = await measure(t, () => new Promise((r) => setTimeout(r, holdMs)));
  await reader.cancel();
  return { start, held };
}

/** `skiff serve`: the watch held HOLD_MS, its cost projected to WORKER_WATCH_SECONDS. */
function projectedServeWatch({ start, held }: { start: CallCost; held: CallCost }): CallCost {
  const projected = (n: number) => Math.round(((n * 1000) / HOLD_MS) * WORKER_WATCH_SECONDS);
  return { roundTrips: start.roundTrips + projected(held.roundTrips), httpRequests: start.httpRequests + projected(held.httpRequests) };
}

/** The Worker: a watch held until it ends by itself, at WORKER_WATCH_SPEEDUP times its cadence; every request counted. */
async function workerWatchHeld(t: Target, rv: string): Promise<CallCost> {
  const fast: WatchPolling = {
    maxPolls: defaultWatchPolling.maxPolls,
    intervalMs: defaultWatchPolling.intervalMs / WORKER_WATCH_SPEEDUP,
    maxIntervalMs: defaultWatchPolling.maxIntervalMs / WORKER_WATCH_SPEEDUP,
  };
  const app = appFor('edge', t.store, fast, WORKER_WATCH_SECONDS / WORKER_WATCH_SPEEDUP);
  return measure(t, async () => {
    const reader = await openWatch(app, rv);
    while (!(await reader.read()).done);
  });
}

async function costsIn(t: Target): Promise<ApiCosts> {
  const app = appFor(t.home, t.store);
  const call = caller(app);
  const calls = new Map<string, CallCost>();
  await call(201, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const name of ['node-a', 'node-b']) {
    await call(201, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { capacity: { cpu: '8', memory: '16Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] } });
    await call(201, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name }, spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') } });
  }
  for (let i = 0; i < SEED_PODS; i++) await call(201, 'POST', PODS, podManifest(`seed-${i}`));
  await reconcile(t.store, systemClock);

  calls.set('create pod (POST)', await measure(t, () => call(201, 'POST', PODS, podManifest('pod-a'))));
  calls.set('get pod (GET)', await measure(t, () => call(200, 'GET', `${PODS}/pod-a`)));
  let listRv = '';
  calls.set(`list pods (GET, ${SEED_PODS + 1} pods)`, await measure(t, async () => (listRv = (await call(200, 'GET', PODS)).metadata.resourceVersion)));
  calls.set('patch pod (merge patch)', await measure(t, () => call(200, 'PATCH', `${PODS}/pod-a`, { metadata: { labels: { patched: 'yes' } } }, 'application/merge-patch+json')));
  const current = await call(200, 'GET', `${PODS}/pod-a`);
  current.metadata.labels.updated = 'yes';
  calls.set('update pod (PUT)', await measure(t, () => call(200, 'PUT', `${PODS}/pod-a`, current)));
  calls.set('patch pod status (kubelet)', await measure(t, () => call(200, 'PATCH', `${PODS}/pod-a/status`, { status: { phase: 'Running' } }, 'application/merge-patch+json')));
  calls.set('delete pod (DELETE)', await measure(t, () => call(200, 'DELETE', `${PODS}/pod-a`)));
  calls.set('create Service (ClusterIP allocated)', await measure(t, () => call(201, 'POST', `/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ port: 80 }] } })));
  calls.set('create pod + the pass it kicks', await measure(t, async () => {
    await call(201, 'POST', PODS, podManifest('pod-b'));
    await reconcile(t.store, systemClock);
  }));

  // The Worker's watch polls by itself; `skiff serve` shares one change feed among all watches.
  const watch = await heldWatch(t, app, listRv, t.home === 'serve' ? HOLD_MS : 0);
  calls.set('watch start (GET ?watch=1)', watch.start);
  const held = t.home === 'edge' ? await workerWatchHeld(t, listRv) : projectedServeWatch(watch);
  const polls = defaultWatchPolling.maxPolls;
  calls.set(`watch held to its end (serve: ${WORKER_WATCH_SECONDS} s, projected; Worker: ${polls} polls, ${Math.round(quietWatchSeconds(defaultWatchPolling))} s if quiet)`, held);
  return { home: t.home, calls };
}

/** The costs in both homes, each on a fresh database. */
export async function apiCosts(): Promise<ApiCosts[]> {
  const work = mkdtempSync(join(tmpdir(), 'skiff-bench-edge-api-'));
  const heap = new HeapPeak();
  try {
    const out: ApiCosts[] = [];
    for (const home of ['serve', 'edge'] as const) {
      const file = join(work, `${home}.db`);
      const setup = openClient(`file:${file}`);
      await migrate(setup);
      await new Store(setup, systemClock).init();
      setup.close();
      const t = home === 'serve' ? openServeTarget(file, systemClock, heap) : await openEdgeTarget(file, systemClock, heap);
      try {
        out.push(await costsIn(t));
      } finally {
        await t.close();
      }
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
