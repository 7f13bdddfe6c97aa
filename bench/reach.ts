// `npm run bench:reach`: reaching a pod through its node's tunnel, against a real `skiff serve` and a
// real `skiff agent` (process runtime) on loopback, each figure beside a baseline measured in the
// same run:
//   - time to first byte of `kubectl logs -f` and of `kubectl exec`, against `kubectl get pod`
//     (the same kubectl start-up and discovery, with no tunnel);
//   - the log endpoint's time to first byte over HTTPS, against a plain GET of the pod;
//   - `kubectl port-forward` throughput both ways, against a direct loopback connection to the pod;
//   - Ingress requests per second and p99 through `skiff serve`, against direct requests to the pod.
// Everything started is stopped at the end, also on failure. Not part of npm test.
//   BENCH_KUBECTL (/usr/bin/kubectl)   which kubectl
//   BENCH_RUNS (10)                    kubectl runs per row
//   BENCH_MB (64)                      MiB each way through port-forward
//   BENCH_REQUESTS (3000), BENCH_CONCURRENCY (16)   Ingress and direct requests
import { spawn } from 'node:child_process';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cleanUpAll, cleanUpAgents, freePort, repoRoot, sleep, startAgent, startServe, tempDir, type Home } from './agent-procs.js';
import { timedPool } from './client.js';
import { intFromEnv, markdownTable, summary, fmt, progress, step, stepDone } from './report.js';

const KUBECTL = process.env.BENCH_KUBECTL || '/usr/bin/kubectl';
const RUNS = intFromEnv('BENCH_RUNS', 10);
const MB = intFromEnv('BENCH_MB', 64);
const REQUESTS = intFromEnv('BENCH_REQUESTS', 3000);
const CONCURRENCY = intFromEnv('BENCH_CONCURRENCY', 16);
const ECHO = join(repoRoot, 'test/fixtures/agent/echo.mjs');
const HOST = 'echo.bench.test';

interface Line {
  figure: string;
  value: string;
  baseline: string;
  baselineValue: string;
  ratio: string;
  goal: string;
}

/** ms from spawning kubectl to the first byte on its stdout (then it is killed). */
function firstByte(home: Home, kubeconfig: string, cacheDir: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(KUBECTL, ['--cache-dir', cacheDir, '--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    child.stdout.once('data', () => {
      resolve(performance.now() - t0);
      child.kill('SIGKILL');
    });
    child.once('exit', (code) => code !== null && code !== 0 && reject(new Error(`kubectl ${args.join(' ')}: ${err}`)));
  });
}

async function timesOf(n: number, task: () => Promise<number>, label = 'timing'): Promise<number[]> {
  const out: number[] = [];
  step(label, n);
  for (let i = 0; i < n; i++) {
    out.push(await task());
    stepDone(i + 1);
  }
  return out;
}

/** MB/s of a GET of `bytes` and of a POST of `bytes` echoed back, at `base` (http://host:port). */
async function throughput(base: string, bytes: number): Promise<{ down: number; up: number }> {
  const agent = new HttpAgent({ keepAlive: true });
  const timed = (method: string, path: string, body?: Buffer) =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const req = httpRequest(base + path, { method, agent, headers: body ? { 'content-length': String(body.length) } : {} }, (res) => {
        let got = 0;
        res.on('data', (c: Buffer) => (got += c.length));
        res.on('end', () => (got === bytes ? resolve(performance.now() - t0) : reject(new Error(`${method} ${path}: ${got} of ${bytes} bytes`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  await timed('GET', '/bytes?n=1000'.replace('1000', String(1 << 20))).catch(() => {}); // warm up the connection
  const down = await timed('GET', `/bytes?n=${bytes}`);
  const up = await timed('POST', '/', Buffer.alloc(bytes, 121));
  agent.destroy();
  const mbs = (ms: number) => bytes / (1 << 20) / (ms / 1000);
  return { down: mbs(down), up: mbs(up) };
}

/** Latencies of `count` GETs of `url` with `concurrency` in flight, and the wall time. */
async function load(url: string, headers: Record<string, string>, ca?: string): Promise<{ samples: number[]; wallMs: number }> {
  const secure = url.startsWith('https:');
  // Ingress traffic names the Ingress's host; skiff's certificate is for its own address (checked against its CA).
  const agent = secure ? new HttpsAgent({ keepAlive: true, maxSockets: CONCURRENCY, ca, checkServerIdentity: () => undefined }) : new HttpAgent({ keepAlive: true, maxSockets: CONCURRENCY });
  const get = () =>
    new Promise<void>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(url, { agent, headers }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url}: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  await timedPool(CONCURRENCY * 4, CONCURRENCY, get); // warm-up
  const t0 = performance.now();
  const samples = await timedPool(REQUESTS, CONCURRENCY, get);
  const wallMs = performance.now() - t0;
  agent.destroy();
  return { samples, wallMs };
}

async function main(): Promise<void> {
  step('starting skiff serve and an agent');
  const home = await startServe(tempDir('skiff-bench-reach-'), ['--reconcile-interval', '500ms']);
  const kubeconfig = join(home.data, 'kubeconfig');
  const cacheDir = tempDir('skiff-bench-kubectl-');
  const token = await home.joinToken();
  const agent = startAgent({ home, token, name: 'reach-bench', data: tempDir('skiff-bench-reach-agent-'), runtime: 'process' });
  await agent.ready;
  const api = home.api;
  const expect = async (status: number, method: string, path: string, body?: unknown) => api.expect(status, method, path, body === undefined ? undefined : JSON.stringify(body));

  await expect(201, 'POST', '/api/v1/namespaces/default/pods', {
    metadata: { name: 'echo', labels: { app: 'echo' } },
    spec: { nodeName: 'reach-bench', containers: [{ name: 'echo', image: 'node', command: [process.execPath, ECHO], ports: [{ containerPort: 8080 }], env: [{ name: 'PORT', value: '8080' }] }] },
  });
  await expect(201, 'POST', '/api/v1/namespaces/default/services', { metadata: { name: 'echo' }, spec: { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] } });
  await expect(201, 'POST', '/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
    metadata: { name: 'echo' },
    spec: { rules: [{ host: HOST, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'echo', port: { number: 80 } } } }] } }] },
  });
  let podIP = '';
  for (let i = 0; ; i++) {
    const pod = JSON.parse((await api.request('GET', '/api/v1/namespaces/default/pods/echo')).body);
    const logs = await api.request('GET', '/api/v1/namespaces/default/pods/echo/log');
    const eps = JSON.parse((await api.request('GET', '/api/v1/namespaces/default/endpoints/echo')).body);
    if (pod.status?.phase === 'Running' && logs.status === 200 && eps.subsets?.[0]?.addresses?.length) {
      podIP = pod.status.podIP;
      break;
    }
    if (i > 600) throw new Error('the echo pod did not come up');
    await sleep(100);
  }

  const lines: Line[] = [];
  const kubectlGet = await timesOf(RUNS, () => firstByte(home, kubeconfig, cacheDir, ['get', 'pod', 'echo']), 'kubectl get pod: first byte');
  const p50 = (s: number[]) => summary(s).p50;
  const logsTtfb = await timesOf(RUNS, () => firstByte(home, kubeconfig, cacheDir, ['logs', '-f', 'echo']), 'kubectl logs -f: first byte');
  const execTtfb = await timesOf(RUNS, () => firstByte(home, kubeconfig, cacheDir, ['exec', 'echo', '--', 'echo', 'hi']), 'kubectl exec: first byte');
  const ms = (v: number) => `${fmt(v, 1)} ms`;
  lines.push({ figure: `kubectl logs -f: first byte (p50 of ${RUNS})`, value: ms(p50(logsTtfb)), baseline: 'kubectl get pod: first byte', baselineValue: ms(p50(kubectlGet)), ratio: fmt(p50(logsTtfb) / p50(kubectlGet), 2), goal: '≤ 1.5x' });
  lines.push({ figure: `kubectl exec -- echo: first byte (p50 of ${RUNS})`, value: ms(p50(execTtfb)), baseline: 'kubectl get pod: first byte', baselineValue: ms(p50(kubectlGet)), ratio: fmt(p50(execTtfb) / p50(kubectlGet), 2), goal: '≤ 2x' });

  // The log endpoint itself, without kubectl's start-up: time to the first body byte.
  const ttfb = (path: string) =>
    timesOf(RUNS * 5, async () => {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const req = httpsRequest(home.url + path, { headers: { authorization: `Bearer ${home.token}` }, ca: home.ca }, (res) => {
          res.once('data', () => {
            resolve();
            req.destroy();
          });
        });
        req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
        req.end();
      });
      return performance.now() - t0;
    });
  const getPod = await ttfb('/api/v1/namespaces/default/pods/echo');
  const getLogs = await ttfb('/api/v1/namespaces/default/pods/echo/log?follow=true');
  lines.push({ figure: `GET pods/echo/log?follow: first byte (p50 of ${RUNS * 5}, new connection)`, value: ms(p50(getLogs)), baseline: 'GET pods/echo', baselineValue: ms(p50(getPod)), ratio: fmt(p50(getLogs) / p50(getPod), 2), goal: '≤ 2x' });

  // port-forward against a direct connection to the pod.
  const port = await freePort();
  const pf = spawn(KUBECTL, ['--cache-dir', cacheDir, '--kubeconfig', kubeconfig, 'port-forward', 'pod/echo', `${port}:8080`], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    pf.stdout.on('data', (c) => String(c).includes('Forwarding from') && resolve());
    pf.once('exit', () => reject(new Error('kubectl port-forward exited')));
  });
  const bytes = MB << 20;
  const direct = await throughput(`http://${podIP}:8080`, bytes);
  const forwarded = await throughput(`http://127.0.0.1:${port}`, bytes);
  pf.kill('SIGKILL');
  const mbs = (v: number) => `${fmt(v, 1)} MB/s`;
  lines.push({ figure: `port-forward: ${MB} MiB from the pod`, value: mbs(forwarded.down), baseline: 'direct to the pod IP', baselineValue: mbs(direct.down), ratio: fmt(forwarded.down / direct.down, 2), goal: '≥ 50 MB/s' });
  lines.push({ figure: `port-forward: ${MB} MiB to the pod and back`, value: mbs(forwarded.up), baseline: 'direct to the pod IP', baselineValue: mbs(direct.up), ratio: fmt(forwarded.up / direct.up, 2), goal: '≥ 25 MB/s' });

  // Ingress through skiff serve against the pod directly.
  const viaIngress = await load(`${home.url}/`, { host: HOST }, home.ca);
  const toPod = await load(`http://${podIP}:8080/`, {});
  const rps = (r: { wallMs: number }) => (REQUESTS * 1000) / r.wallMs;
  lines.push({ figure: `Ingress through skiff serve: requests/s (c${CONCURRENCY})`, value: `${fmt(rps(viaIngress))} /s`, baseline: 'direct to the pod', baselineValue: `${fmt(rps(toPod))} /s`, ratio: fmt(rps(viaIngress) / rps(toPod), 2), goal: '≥ 1000 /s' });
  lines.push({ figure: `Ingress through skiff serve: p99 (c${CONCURRENCY})`, value: ms(summary(viaIngress.samples).p99), baseline: 'direct to the pod', baselineValue: ms(summary(toPod.samples).p99), ratio: fmt(summary(viaIngress.samples).p99 / summary(toPod.samples).p99, 2), goal: '≤ 50 ms' });

  progress.done();
  console.log(`\nbench:reach: skiff serve + skiff agent (process runtime) on loopback; ${KUBECTL}\n`);
  console.log(markdownTable(['figure', 'through the tunnel', 'baseline', 'baseline value', 'ratio', 'goal'], lines.map((l) => [l.figure, l.value, l.baseline, l.baselineValue, l.ratio, l.goal]), [2]));
  await api.request('DELETE', '/api/v1/namespaces/default/pods/echo?gracePeriodSeconds=0');
  await agent.stop();
  await home.stop();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanUpAgents();
    await cleanUpAll();
  });
