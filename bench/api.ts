// `npm run bench:api`: the API server end to end. Starts a real `skiff serve` process on a fresh data
// folder, then over HTTPS with keep-alive creates, gets, patches, lists, watches and deletes pods,
// and compares with plain INSERTs into a libSQL file. Not part of npm test.
//   BENCH_PODS (10000)       pods to create, get, patch and delete
//   BENCH_CONCURRENCY (8)    requests in flight (and keep-alive connections)
//   BENCH_WATCH (1000)       patches whose watch events are timed (at most BENCH_PODS)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ApiClient, timedPool } from './client.js';
import { rawInserts } from './raw-libsql.js';
import { intFromEnv, summary, table, type Row } from './report.js';

const PODS = intFromEnv('BENCH_PODS', 10_000);
const CONCURRENCY = intFromEnv('BENCH_CONCURRENCY', 8);
const WATCHED = Math.min(PODS, intFromEnv('BENCH_WATCH', 1000));
const NS = 'bench';
const PODS_PATH = `/api/v1/namespaces/${NS}/pods`;
const LIST_RUNS = 3;

const skiffBin = fileURLToPath(new URL('../bin/skiff.js', import.meta.url));
const podName = (i: number) => `pod-${String(i).padStart(5, '0')}`;

function podManifest(i: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: podName(i), labels: { app: 'bench', shard: String(i % 16) } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          ports: [{ name: 'http', containerPort: 80 }],
          env: [{ name: 'INDEX', value: String(i) }],
          resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
        },
      ],
    },
  });
}

interface Server {
  url: string;
  token: string;
  ca: string;
  stop(): Promise<void>;
}

/** `skiff serve` on 127.0.0.1 and a free port; resolves once it prints its address. */
async function startServer(data: string): Promise<Server> {
  const child: ChildProcess = spawn(process.execPath, [skiffBin, 'serve', '--data', data, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`skiff serve did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /skiff serving (https:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`skiff serve exited with ${code}:\n${output}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    token: readFileSync(join(data, 'token'), 'utf8').trim(),
    ca: readFileSync(join(data, 'ca.crt'), 'utf8'),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function timedStep(operation: string, count: number, task: (i: number) => Promise<unknown>): Promise<Row> {
  const t0 = performance.now();
  const samples = await timedPool(count, CONCURRENCY, task);
  return { operation, count, samples, totalMs: performance.now() - t0 };
}

interface ApiResults {
  rows: Row[];
  listBytes: number;
  watchLatencies: number[];
  /** A pod as the server stored it: the document the raw baseline inserts. */
  storedPod: Record<string, any>;
}

async function benchApi(api: ApiClient): Promise<ApiResults> {
  const rows: Row[] = [];
  await api.expect(201, 'POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }));

  let storedPod: Record<string, any> = {};
  rows.push(
    await timedStep('create pod (POST)', PODS, async (i) => {
      const reply = await api.expect(201, 'POST', PODS_PATH, podManifest(i));
      if (i === 0) storedPod = JSON.parse(reply.body);
    }),
  );
  rows.push(await timedStep('get pod (GET)', PODS, (i) => api.expect(200, 'GET', `${PODS_PATH}/${podName(i)}`)));
  const labelPatch = JSON.stringify({ metadata: { labels: { round: '1' } } });
  rows.push(
    await timedStep('patch pod label (merge patch)', PODS, (i) =>
      api.expect(200, 'PATCH', `${PODS_PATH}/${podName(i)}`, labelPatch, 'application/merge-patch+json'),
    ),
  );

  // The whole list, one request at a time.
  const listSamples: number[] = [];
  let listBytes = 0;
  let listRv = '';
  const l0 = performance.now();
  for (let r = 0; r < LIST_RUNS; r++) {
    const t0 = performance.now();
    const reply = await api.expect(200, 'GET', PODS_PATH);
    listSamples.push(performance.now() - t0);
    const list = JSON.parse(reply.body);
    if (list.items.length !== PODS) throw new Error(`list returned ${list.items.length} pods, expected ${PODS}`);
    listBytes = reply.body.length;
    listRv = list.metadata.resourceVersion;
  }
  rows.push({ operation: `list all ${PODS} pods`, count: LIST_RUNS, samples: listSamples, totalMs: performance.now() - l0 });

  // Watch delivery: from just before a patch is sent to the arrival of its MODIFIED event, one patch at a time.
  const waiting = new Map<string, (at: number) => void>();
  const watch = await api.watch(`${PODS_PATH}?watch=1&resourceVersion=${listRv}`, (event, at) => {
    const labels = event.object?.metadata?.labels ?? {};
    const key = `${event.object?.metadata?.name}=${labels.seq}`;
    if (event.type === 'MODIFIED' && waiting.has(key)) {
      waiting.get(key)!(at);
      waiting.delete(key);
    }
  });
  const watchLatencies: number[] = [];
  const patchSamples: number[] = [];
  const w0 = performance.now();
  try {
    for (let i = 0; i < WATCHED; i++) {
      const name = podName(i);
      const arrived = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no watch event for ${name} within 10 s`)), 10_000);
        waiting.set(`${name}=${i}`, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
      const t0 = performance.now();
      await api.expect(200, 'PATCH', `${PODS_PATH}/${name}`, JSON.stringify({ metadata: { labels: { seq: String(i) } } }), 'application/merge-patch+json');
      patchSamples.push(performance.now() - t0);
      watchLatencies.push((await arrived) - t0);
    }
  } finally {
    watch.close();
  }
  rows.push({ operation: 'patch pod label, watched (1 at a time)', count: WATCHED, samples: patchSamples, totalMs: performance.now() - w0 });

  rows.push(await timedStep('delete pod (DELETE)', PODS, (i) => api.expect(200, 'DELETE', `${PODS_PATH}/${podName(i)}`)));
  return { rows, listBytes, watchLatencies, storedPod };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'skiff-bench-'));
  try {
    console.log(`skiff API benchmark: ${PODS} pods, ${CONCURRENCY} concurrent requests, ${WATCHED} watched patches, Node ${process.version}`);
    const server = await startServer(join(work, 'data'));
    const api = new ApiClient(server.url, server.token, server.ca, CONCURRENCY);
    let results: ApiResults;
    try {
      results = await benchApi(api);
    } finally {
      api.close();
      await server.stop();
    }

    // The baseline runs with the server stopped, so neither competes with the other for the CPU.
    const raw = await rawInserts(join(work, 'raw.db'), PODS, results.storedPod);
    const rows: Row[] = [
      ...results.rows,
      { operation: 'raw libSQL INSERT (execute each)', count: PODS, samples: raw.each, totalMs: raw.eachTotalMs },
      { operation: 'raw libSQL INSERT (one batch)', count: PODS, totalMs: raw.batchTotalMs },
    ];
    console.log('');
    console.log(table(rows));
    console.log('');
    const list = summary(results.rows.find((r) => r.operation.startsWith('list'))!.samples!);
    const watch = summary(results.watchLatencies);
    const create = summary(results.rows[0].samples!);
    const insert = summary(raw.each);
    console.log(`list of ${PODS} pods: p50 ${list.p50.toFixed(0)} ms (${(results.listBytes / 1024 / 1024).toFixed(1)} MiB of JSON)`);
    console.log(`watch delivery (write sent -> event received), ${results.watchLatencies.length} patches: p50 ${watch.p50.toFixed(2)} ms, p99 ${watch.p99.toFixed(2)} ms`);
    console.log(`stored pod document: ${JSON.stringify(results.storedPod).length} bytes of JSON (the raw baseline inserts the same)`);
    console.log(`create p50 / raw insert p50: ${create.p50.toFixed(2)} / ${insert.p50.toFixed(3)} ms = ${(create.p50 / insert.p50).toFixed(1)}x`);
    // With several requests in flight a request's latency includes its wait behind the others; wall time per item does not.
    const createPerPod = results.rows[0].totalMs / PODS;
    const insertPerRow = raw.eachTotalMs / PODS;
    console.log(`create wall time per pod / raw insert wall time per row: ${createPerPod.toFixed(2)} / ${insertPerRow.toFixed(3)} ms = ${(createPerPod / insertPerRow).toFixed(1)}x`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
