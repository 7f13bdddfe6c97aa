// `npm run bench:network`: the cluster network's cost, against a real `skiff serve` and two real
// `skiff agent`s (process runtime, root: each pod in a network namespace of its own) on this machine.
// From inside a client pod on node A: connection setup (a new connection and a small HTTP answer,
// ms) and throughput (one GET of BENCH_MB MiB, MB/s) to
//   - a server in the client pod itself over loopback (the baseline, same run);
//   - a Service whose pod is on node A (ClusterIP, DNAT on the node);
//   - a Service whose pod is on node B, the nodes reaching each other directly (routed);
//   - the same with both agents on the path relayed through the control plane (`--pod-network-path relay`).
// Everything started is stopped at the end, also on failure. Not part of npm test; needs root.
//   BENCH_CONNECTS (200)   new connections per row
//   BENCH_MB (64)          MiB downloaded per row
import { join } from 'node:path';
import { PodNetwork } from '../src/agent/runtimes/pod-network.js';
import { cleanUpAll, cleanUpAgents, repoRoot, startAgent, startServe, sleep, tempDir, type AgentProc, type Home } from './agent-procs.js';
import { fmt, intFromEnv, markdownTable, progress, step, summary } from './report.js';

const CONNECTS = intFromEnv('BENCH_CONNECTS', 200);
const MB = intFromEnv('BENCH_MB', 64);
const ECHO = join(repoRoot, 'test/fixtures/agent/echo.mjs');
const CLIENT = join(repoRoot, 'test/fixtures/agent/net-client.mjs');
const NS = 'bench';

interface Cluster {
  home: Home;
  agents: AgentProc[];
  clientIP: string;
}

async function until<T>(what: string, probe: () => Promise<T | false | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  step(`waiting for ${what}`);
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function startCluster(agentArgs: string[]): Promise<Cluster> {
  const home = await startServe(tempDir('skiff-bench-net-'), ['--reconcile-interval', '500ms']);
  const token = await home.joinToken();
  const agents = ['node-a', 'node-b'].map((name) => startAgent({ home, token, name, data: tempDir('skiff-bench-net-agent-'), runtime: 'process', args: agentArgs }));
  await Promise.all(agents.map((a) => a.ready));
  const post = (path: string, body: unknown) => home.api.expect(201, 'POST', path, JSON.stringify(body));
  const pod = (name: string, node: string, program: string, app: string) => ({
    metadata: { name, labels: { app } },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'node', command: [process.execPath, program], env: [{ name: 'POD_NAME', value: name }, { name: 'PORT', value: '8080' }] }] },
  });
  await post('/api/v1/namespaces', { metadata: { name: NS } });
  await post(`/api/v1/namespaces/${NS}/pods`, pod('server-a', 'node-a', ECHO, 'server-a'));
  await post(`/api/v1/namespaces/${NS}/pods`, pod('server-b', 'node-b', ECHO, 'server-b'));
  await post(`/api/v1/namespaces/${NS}/pods`, pod('client', 'node-a', CLIENT, 'client'));
  for (const s of ['server-a', 'server-b']) await post(`/api/v1/namespaces/${NS}/services`, { metadata: { name: s }, spec: { selector: { app: s }, ports: [{ port: 80, targetPort: 8080 }] } });
  const clientIP = await until('the pods to run and the Services to have endpoints', async () => {
    const pods = JSON.parse((await home.api.expect(200, 'GET', `/api/v1/namespaces/${NS}/pods`)).body).items;
    if (pods.filter((p: any) => p.status?.phase === 'Running' && p.status?.podIP).length < 3) return false;
    const slices = JSON.parse((await home.api.expect(200, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`)).body).items;
    if (slices.filter((s: any) => s.endpoints?.some((e: any) => e.conditions?.ready)).length < 2) return false;
    return pods.find((p: any) => p.metadata.name === 'client').status.podIP as string;
  });
  return { home, agents, clientIP };
}

async function stopCluster(c: Cluster): Promise<void> {
  for (const a of c.agents) await a.stop();
  await c.home.stop();
  await cleanUpAgents();
}

interface Figures {
  setup: number[];
  mbPerS: number;
}

/** The client pod's /bench against `base`, once the path answers (rules may still be landing). */
async function measure(c: Cluster, base: string): Promise<Figures> {
  const ask = async (connects: number, bytes: number) => {
    const res = await fetch(`http://${c.clientIP}:8080/bench?base=${encodeURIComponent(base)}&connects=${connects}&bytes=${bytes}`, { signal: AbortSignal.timeout(600_000) });
    return res.json() as Promise<{ setupMs?: number[]; mbPerS?: number; error?: string }>;
  };
  await until(`${base} to answer from the client pod`, async () => !(await ask(1, 1024)).error, 60_000);
  step(`${base}: warm-up`);
  await ask(20, 1 << 20); // warm-up
  step(`${base}: ${CONNECTS} connections and ${MB} MiB`);
  const r = await ask(CONNECTS, MB << 20);
  if (r.error) throw new Error(`${base}: ${r.error}`);
  return { setup: r.setupMs!, mbPerS: r.mbPerS! };
}

async function main(): Promise<void> {
  if (!(await PodNetwork.supported())) throw new Error('bench:network needs root on Linux with iproute2 (pods in network namespaces)');
  console.log(`skiff network benchmark: ${CONNECTS} new connections and ${MB} MiB per row, from a client pod on node A; Node ${process.version}`);
  const rows: { name: string; f: Figures; baseline: Figures }[] = [];
  const svc = (name: string) => `http://${name}.${NS}.svc.cluster.local`;
  /** The rows of one run, each beside that run's loopback baseline. */
  const run = async (agentArgs: string[], paths: [string, string][]) => {
    step(`starting skiff serve and two agents${agentArgs.length ? ` (${agentArgs.join(' ')})` : ''}`);
    const c = await startCluster(agentArgs);
    try {
      const baseline = await measure(c, 'http://127.0.0.1:9099');
      rows.push({ name: `loopback inside the client pod (baseline${agentArgs.length ? ', relayed run' : ''})`, f: baseline, baseline });
      for (const [name, base] of paths) rows.push({ name, f: await measure(c, base), baseline });
    } finally {
      await stopCluster(c);
    }
  };
  try {
    await run([], [
      ['pod -> Service, endpoint on the same node', svc('server-a')],
      ['pod -> Service, endpoint on the other node, direct', svc('server-b')],
    ]);
    await run(['--pod-network-path', 'relay'], [['pod -> Service, endpoint on the other node, relayed via skiff serve', svc('server-b')]]);
  } finally {
    progress.done();
    await cleanUpAll();
  }
  const table = rows.map(({ name, f, baseline }) => {
    const [s, b] = [summary(f.setup), summary(baseline.setup)];
    return [name, fmt(s.p50, 2), fmt(s.p99, 2), fmt(f.mbPerS, 1), `${fmt(s.p50 / b.p50, 1)}x`, `${fmt(f.mbPerS / baseline.mbPerS, 2)}x`];
  });
  console.log('');
  console.log(markdownTable(['path', 'setup p50 ms', 'setup p99 ms', 'MB/s', 'setup p50 / loopback', 'MB/s / loopback'], table));
  console.log('\nSetup: a new TCP connection and a small HTTP answer over it. Each row is compared with the loopback baseline of its own run.');
  console.log('Goal: the direct paths cost the kernel\'s forwarding only (setup within a few times loopback); the relayed path works with no setup, its cost is the tunnel\'s.');
}

await main();
