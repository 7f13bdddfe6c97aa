// `npm run bench:edge`: skiff's control plane against the Cloudflare Workers limits. Prints three
// tables: (1) the Worker bundle vs the size limit; (2) reconcile passes at cluster scale, in
// `skiff serve`'s home (a `file:` database) and the Worker's (@libsql/client over HTTP to the local
// libSQL endpoint, run in a child process), vs the cron CPU limit, the isolate memory and the
// subrequest limit; (3) database round trips per API call vs the subrequest limit. Not part of npm test.
//   BENCH_NODES (5000), BENCH_PODS (100000)   cluster size
//   BENCH_DEPLOYMENTS (100)                   Deployments (each with a Service) the pods are shared among
//   BENCH_MAX_PASSES (40)                     passes a busy scenario may take to settle
//   BENCH_SECTIONS ("bundle,pass,api")        which tables to produce
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultWatchPolling } from '../src/api/watch.js';
import { apiCosts, WORKER_WATCH_SECONDS } from './edge-api.js';
import { measureBundle } from './edge-bundle.js';
import { buildCluster, type ClusterSize } from './edge-cluster.js';
import { apiTable, bundleTable, controllerLines, LIMITS, passTable } from './edge-report.js';
import { intFromEnv, progress, step } from './report.js';
import { EDGE_HEAP_FLAGS, scenariosIn, scenariosInCappedProcess } from './edge-home.js';
import { MiB } from './edge-target.js';

const SECTIONS = ['bundle', 'pass', 'api'] as const;
type Section = (typeof SECTIONS)[number];

function sectionsFromEnv(): Set<Section> {
  const names = (process.env.BENCH_SECTIONS || SECTIONS.join(',')).split(',').map((s) => s.trim());
  for (const n of names) if (!SECTIONS.includes(n as Section)) throw new Error(`BENCH_SECTIONS entries are ${SECTIONS.join(', ')}, got "${n}"`);
  return new Set(names as Section[]);
}

const size: ClusterSize = { nodes: intFromEnv('BENCH_NODES', 5000), pods: intFromEnv('BENCH_PODS', 100_000), deployments: intFromEnv('BENCH_DEPLOYMENTS', 100) };
const MAX_PASSES = intFromEnv('BENCH_MAX_PASSES', 40);
const log = (line: string) => {
  console.log(line);
  step(line.trim());
};

async function bundleSection(): Promise<void> {
  console.log('\n## 1. The Worker bundle');
  step('bundling the Worker');
  const bundle = await measureBundle();
  console.log('');
  console.log(bundleTable(bundle));
  if (bundle.wranglerSays) console.log(`\nwrangler: ${bundle.wranglerSays}`);
}

async function passSection(): Promise<void> {
  console.log(`\n## 2. Reconcile passes: ${size.nodes} nodes, ${size.pods} pods in ${size.deployments} Deployments (each with a Service)`);
  const work = mkdtempSync(join(tmpdir(), 'skiff-bench-edge-'));
  try {
    const t0 = performance.now();
    const cluster = await buildCluster(join(work, 'base.db'), size, log);
    log(`  built and settled the cluster in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    copyFileSync(join(work, 'base.db'), join(work, 'serve.db'));
    copyFileSync(join(work, 'base.db'), join(work, 'edge.db'));
    copyFileSync(join(work, 'base.db'), join(work, 'edge-live.db'));
    const run = { size, maxPasses: MAX_PASSES, cluster };
    const serve = await scenariosIn('serve', join(work, 'serve.db'), run, log);
    // The Worker's home in a process whose heap is capped as an isolate's: a pass that needed more would fail there.
    step('edge scenarios, in a process with an isolate-sized heap');
    const edge = await scenariosInCappedProcess(join(work, 'edge.db'), run);
    log('  edge again, collecting garbage before each heap sample (live heap):');
    const edgeLive = await scenariosInCappedProcess(join(work, 'edge-live.db'), run, true);
    console.log('');
    console.log(passTable(serve.scenarios, edge.scenarios, edgeLive.scenarios));
    console.log('');
    console.log(`Heap before a pass (collected; this process's code and state, not the pass's): serve ${MiB(serve.heapBase).toFixed(0)} MiB, edge ${MiB(edge.heapBase).toFixed(0)} MiB.`);
    console.log(`The edge runs in a process of its own with V8's heap capped as a Worker isolate's (${EDGE_HEAP_FLAGS.join(' ')}): every pass completed within it.`);
    console.log('Sampled heap counts garbage V8 has not collected yet; live heap is the Worker run again with a full collection before every sample (at each database call and between controllers).');
    console.log('Each controller in the longest pass of each scenario (ms / store round trips / HTTP requests / peak heap above base; live heap in the "edge live" run):');
    for (const line of [...controllerLines('serve', serve.scenarios), ...controllerLines('edge', edge.scenarios), ...controllerLines('edge live', edgeLive.scenarios)]) console.log(line);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function apiSection(): Promise<void> {
  console.log('\n## 3. Database round trips per API call (createApp in-process)');
  step('database round trips per API call');
  const costs = await apiCosts();
  console.log('');
  console.log(apiTable(costs));
  console.log('');
  console.log(`Limit: ${LIMITS.subrequests} subrequests per invocation (Workers Free). The Worker also spends one round trip on the first request of an isolate (the schema check).`);
  console.log(`A Worker watch is its own invocation: it polls the change log ${defaultWatchPolling.maxPolls} times at most (1 s apart, backing off to 5 s while quiet), for at most ${WORKER_WATCH_SECONDS} s; \`skiff serve\` shares one change feed among all watches.`);
  console.log('A write in the Worker kicks a pass through waitUntil, in the same invocation: "create pod + the pass it kicks" is what that invocation spends.');
}

async function main(): Promise<void> {
  const sections = sectionsFromEnv();
  console.log(`skiff edge benchmark: the Workers limits, Node ${process.version}`);
  if (sections.has('bundle')) await bundleSection();
  if (sections.has('pass')) await passSection();
  if (sections.has('api')) await apiSection();
  progress.done();
}

await main();
