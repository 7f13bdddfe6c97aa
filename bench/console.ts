// `npm run bench:console`: the web console's first screen on a large cluster, in a real headless
// Chromium against a real `skiff serve`. The cluster is made through the API: BENCH_NODES nodes
// (1,000) in 3 regions x 3 zones with their leases, and BENCH_PODS pods (10,000) bound across them,
// Running and Ready. Each run opens the console in a fresh browser context (nothing cached), already
// signed in, and reads two marks the Fleet view sets: `skiff:fleet-rendered` (every node's card on
// screen from a complete node list) and `skiff:fleet-loaded` (nodes, pods and leases all listed and
// rendered with their requested resources), as milliseconds since navigation began, with what the
// page fetched from the API. The baseline, measured in the same run, is Node.js listing the same
// three collections in the same pages over HTTPS with no browser: what the data alone costs.
//   BENCH_NODES (1000), BENCH_PODS (10000), BENCH_RUNS (5)
// Not part of npm test.
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { chromium } from 'playwright-core';
import { startServer, tempDir } from './api-procs.js';
import { ApiClient, timedPool } from './client.js';
import { counted, fmt, intFromEnv, markdownTable, progress, step, stepDone } from './report.js';

const NODES = intFromEnv('BENCH_NODES', 1000);
const PODS = intFromEnv('BENCH_PODS', 10000);
const RUNS = intFromEnv('BENCH_RUNS', 5);
const GOAL_MS = 2000;
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && existsSync(p));

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const nodeName = (i: number) => `edge-${String(i).padStart(4, '0')}`;
const zoneOf = (i: number) => ({ region: `region-${i % 3}`, zone: `region-${i % 3}-${'abc'[Math.floor(i / 3) % 3]}` });

async function populate(api: ApiClient): Promise<void> {
  const t = now();
  await timedPool(NODES, 16, counted('nodes', NODES, async (i) => {
    const name = nodeName(i);
    const { region, zone } = zoneOf(i);
    await api.expect(201, 'POST', '/api/v1/nodes', JSON.stringify({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/region': region, 'topology.kubernetes.io/zone': zone } },
      spec: { podCIDR: `10.${100 + (i >> 8)}.${i & 255}.0/24` },
    }));
    const resources = { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '100Gi' };
    await api.expect(200, 'PATCH', `/api/v1/nodes/${name}/status`, JSON.stringify({
      status: {
        capacity: resources, allocatable: resources,
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: t, lastTransitionTime: t }],
        addresses: [{ type: 'InternalIP', address: `192.168.${i >> 8}.${i & 255}` }, { type: 'Hostname', address: name }],
        nodeInfo: { kubeletVersion: 'v1.32.0-skiff', operatingSystem: 'linux', architecture: 'arm64', containerRuntimeVersion: 'docker://24.0' },
      },
    }), 'application/merge-patch+json');
    await api.expect(201, 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: { name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: '00000000-0000-0000-0000-000000000000' }] },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') },
    }));
  }));
  await timedPool(PODS, 16, counted('pods', PODS, async (i) => {
    const name = `shop-${String(i).padStart(5, '0')}`;
    const app = `app-${i % 20}`;
    await api.expect(201, 'POST', '/api/v1/namespaces/default/pods', JSON.stringify({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, labels: { app, tier: 'edge' } },
      spec: {
        nodeName: nodeName(i % NODES),
        containers: [{ name: 'app', image: `registry.local/${app}:1.4.2`, ports: [{ containerPort: 8080, name: 'http' }], resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } } }],
      },
    }));
    const started = now();
    await api.expect(200, 'PATCH', `/api/v1/namespaces/default/pods/${name}/status`, JSON.stringify({
      status: {
        phase: 'Running', podIP: `10.${100 + ((i % NODES) >> 8)}.${(i % NODES) & 255}.${2 + Math.floor(i / NODES)}`, hostIP: `192.168.${(i % NODES) >> 8}.${(i % NODES) & 255}`, startTime: started,
        conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: started })),
        containerStatuses: [{ name: 'app', image: `registry.local/${app}:1.4.2`, imageID: '', containerID: `docker://${i}`, ready: true, started: true, restartCount: 0, state: { running: { startedAt: started } } }],
      },
    }), 'application/merge-patch+json');
  }));
}

/** The console's three collections, listed as its Collection lists them (250, then pages of 2,000), side by side. */
async function baseline(api: ApiClient): Promise<{ ms: number; bytes: number }> {
  let bytes = 0;
  const list = async (path: string) => {
    let cont = '';
    let first = true;
    do {
      const q = new URLSearchParams({ limit: first ? '250' : '2000' });
      if (cont) q.set('continue', cont);
      const reply = await api.expect(200, 'GET', `${path}?${q}`);
      bytes += Buffer.byteLength(reply.body);
      cont = JSON.parse(reply.body).metadata.continue ?? '';
      first = false;
    } while (cont);
  };
  const t0 = performance.now();
  await Promise.all(['/api/v1/nodes', '/api/v1/pods', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases'].map(list));
  return { ms: performance.now() - t0, bytes };
}

interface Run {
  rendered: number;
  loaded: number;
  requests: number;
  transferred: number;
  cards: number;
}

/** What a run reads from the page: the Fleet's two marks, what it fetched from the API, the cards on screen. */
const READ_RUN = `(() => {
  const mark = (n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
  const api = performance.getEntriesByType('resource').filter((e) => /\\/apis?\\//.test(new URL(e.name).pathname));
  return {
    rendered: mark('skiff:fleet-rendered'),
    loaded: mark('skiff:fleet-loaded'),
    requests: api.length,
    transferred: api.reduce((s, e) => s + (e.transferSize || e.encodedBodySize), 0),
    cards: document.querySelectorAll('[data-testid^="node-"]').length,
  };
})()`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  if (!CHROMIUM) throw new Error('bench:console needs Chromium (Debian package chromium) or CHROMIUM_PATH');
  const data = tempDir('skiff-bench-console-');
  step('starting skiff serve');
  // Nodes stay Ready for the whole run: their leases are written once and never renewed.
  const server = await startServer(data, ['--node-monitor-grace-period', '1h']);
  const api = new ApiClient(server.url, server.token, server.ca, 16);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  try {
    await populate(api);
    const runs: Run[] = [];
    const baselines: { ms: number; bytes: number }[] = [];
    step('console runs', RUNS);
    for (let r = 0; r < RUNS; r++) {
      baselines.push(await baseline(api));
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
      await context.addInitScript((token: string) => sessionStorage.setItem('skiff.token', token), server.token);
      const page = await context.newPage();
      await page.goto(`${server.url}/ui#/fleet`);
      await page.waitForFunction(() => performance.getEntriesByName('skiff:fleet-loaded').length > 0, undefined, { timeout: 120_000, polling: 100 });
      // A string, not a function: tsx would wrap a function's inner helpers in its own __name.
      runs.push(await page.evaluate(READ_RUN) as Run);
      await context.close();
      stepDone(r + 1);
    }
    progress.done();
    const rows = runs.map((run, i) => [
      String(i + 1), fmt(run.rendered), fmt(run.loaded), fmt(baselines[i].ms), `${fmt(run.loaded / baselines[i].ms, 2)}x`,
      String(run.requests), fmt(run.transferred / 1e6, 1), String(run.cards),
    ]);
    console.log(`## console: first screen (Fleet) of ${NODES} nodes / ${PODS} pods in headless Chromium, ${RUNS} cold runs\n`);
    console.log(markdownTable(['run', 'fleet rendered ms', 'all loaded ms', 'baseline: same lists from Node.js ms', 'loaded / baseline', 'API requests', 'MB fetched', 'node cards'], rows));
    const rendered = median(runs.map((r) => r.rendered));
    const loaded = median(runs.map((r) => r.loaded));
    const base = median(baselines.map((b) => b.ms));
    console.log(`\nmedian: fleet rendered ${fmt(rendered)} ms, all loaded ${fmt(loaded)} ms; baseline ${fmt(base)} ms (loaded / baseline ${fmt(loaded / base, 2)}x); ${fmt(baselines[0].bytes / 1e6, 1)} MB of JSON`);
    console.log(`goal: first screen within ${GOAL_MS} ms: rendered ${fmt(rendered / GOAL_MS, 2)}x of it, loaded ${fmt(loaded / GOAL_MS, 2)}x: ${loaded <= GOAL_MS ? 'met' : rendered <= GOAL_MS ? 'met for the first render, NOT for all data' : 'NOT met'}`);
  } finally {
    progress.done();
    api.close();
    await browser.close();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
