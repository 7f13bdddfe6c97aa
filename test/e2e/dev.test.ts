// `skiff dev` as a real process: the Worker under wrangler dev (workerd) over HTTPS with skiff's CA,
// a local libSQL endpoint on DIR/edge.db, kubectl through the kubeconfig it writes, nodes played
// through the API, passes kicked by writes and run by hand through /__scheduled, and a shutdown
// that leaves no wrangler or workerd behind.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createApp } from '../../src/api/app.js';
import { systemClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { fetchOver } from '../helpers/https.js';
import { jsonRequest } from '../helpers/json-request.js';
import { NodeLoop } from '../helpers/node-loop.js';
import { NodePlayer } from '../helpers/node-player.js';
import { startAgentProcess } from '../helpers/agent.js';
import { hasKubectl, httpsFetch, kubectl, kubectlPath, repoRoot, runSkiff, tempDir, testClusterCidr, type HttpResult, type RequestInit as HttpInit } from '../helpers/skiff-server.js';
import { freePort } from '../helpers/free-port.js';
import { launchChromium, noChromium, openPage, signIn } from '../helpers/browser.js';

if (!hasKubectl) console.warn('dev.test.ts: /usr/bin/kubectl is absent, skipping the kubectl checks');

const START_TIMEOUT_MS = 60_000;
const SYNC_INTERVAL_MS = 250;

/** Processes of a process group still alive (zombies waiting for their reaper do not count). */
function liveInGroup(pgid: number): string[] {
  const out = execFileSync('ps', ['-eo', 'pgid=,stat=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((line) => {
    const [group, stat] = line.trim().split(/\s+/);
    return Number(group) === pgid && !stat?.startsWith('Z');
  });
}

let dev: ChildProcess;
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
let output = '';
let data: string;
let port: number;
let url: string;
let token: string;
let ca: string;
let agent: Agent;
let wranglerGroup: number | undefined;
let loop: NodeLoop;
const cacheDir = tempDir('skiff-dev-kubectl-cache-');

const api = (path: string, init: HttpInit = {}): Promise<HttpResult> => httpsFetch(url + path, agent, { token, ...init });

/** The node player's request function: HTTPS trusting only the data folder's CA. */
const playerRequest = fetchOver(api);

async function podsOf(app: string): Promise<any[]> {
  const res = await api(`/api/v1/namespaces/default/pods?labelSelector=app%3D${app}`);
  expect(res.status).toBe(200);
  return res.json().items;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  data = tempDir('skiff-dev-data-');
  port = await freePort();
  // Its own process group, so afterAll can reach whatever it leaves running.
  dev = spawn(process.execPath, ['--import', 'tsx', 'src/node/cli.ts', 'dev', '--port', String(port), '--data', data, '--cluster-cidr', testClusterCidr()], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  dev.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  dev.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  exited = new Promise((resolve) => dev.once('exit', (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`skiff dev did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const onData = () => {
      if (!/skiff dev serving/.test(output)) return;
      clearTimeout(timer);
      resolve();
    };
    dev.stdout!.on('data', onData);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`skiff dev exited (${exit.code ?? exit.signal}) before serving:\n${output}`));
    });
  });
  url = `https://127.0.0.1:${port}`;
  token = readFileSync(join(data, 'token'), 'utf8').trim();
  ca = readFileSync(join(data, 'ca.crt'), 'utf8');
  agent = new Agent({ ca, keepAlive: true });
  // wrangler's launcher is skiff dev's child (beside tsx's esbuild) and leads the group wrangler and workerd run in.
  const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(dev.pid)], { encoding: 'utf8' }).split('\n');
  wranglerGroup = Number(children.find((line) => line.includes('wrangler'))?.trim().split(/\s+/)[0]);
  expect(wranglerGroup).toBeGreaterThan(0);

  const nodes = ['edge-1', 'edge-2'].map((name) => new NodePlayer(playerRequest, { name }));
  for (const n of nodes) await n.register();
  loop = new NodeLoop(nodes, SYNC_INTERVAL_MS);
  loop.start();
}, 90_000);

afterAll(async () => {
  await loop?.stop();
  agent?.destroy();
  // Normally the last test has stopped it; after a failure, leave nothing running.
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    dev.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
  for (const group of [dev?.pid, wranglerGroup]) {
    try {
      if (group) process.kill(-group, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

describe('skiff dev', () => {
  it('serves the Worker over HTTPS with the CA of its data folder, and prints how to use it', async () => {
    expect(output).toContain(`skiff dev serving ${url}`);
    expect(output).toContain(`kubeconfig: ${join(data, 'kubeconfig')}`);
    expect(output).toContain(`curl --cacert ${join(data, 'ca.crt')} ${url}/__scheduled`);
    expect((await api('/healthz', { token: null })).status).toBe(200);
    const unauthorized = await api('/api/v1/namespaces', { token: null });
    expect(unauthorized.status).toBe(401);
    const namespaces = await api('/api/v1/namespaces');
    expect(namespaces.json().items.map((n: any) => n.metadata.name)).toContain('kube-node-lease');

    const config = parseYaml(readFileSync(join(data, 'kubeconfig'), 'utf8'));
    expect(config.clusters[0].cluster.server).toBe(url);
    expect(Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(ca);
    expect(config.users[0].user.token).toBe(token);
    // Its own database file, not serve's; the secrets handed to wrangler readable by the owner only.
    expect(existsSync(join(data, 'edge.db'))).toBe(true);
    expect(existsSync(join(data, 'skiff.db'))).toBe(false);
    expect(statSync(join(data, 'dev.env')).mode & 0o777).toBe(0o600);
    // ... and kept out of the command lines `ps` shows to every user.
    expect(execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })).not.toContain(token);
  });

  describe.skipIf(!hasKubectl)('with kubectl', () => {
    const run = async (...args: string[]) => {
      const r = await kubectl(args, { kubeconfig: join(data, 'kubeconfig'), cacheDir }, { timeoutMs: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.code, `kubectl ${args.join(' ')}: ${r.stdout}`).toBe(0);
      return r.stdout;
    };

    // wrangler dev runs no cron by itself: whatever happens before /__scheduled is called, the
    // passes that writes kick through waitUntil did.
    it('creates a Deployment whose pods the kicked passes bind, and rolls it out', async () => {
      expect(await run('create', 'deployment', 'web', '--image=nginx', '--replicas=2')).toBe('deployment.apps/web created\n');
      expect(await run('rollout', 'status', 'deployment/web', '--timeout=60s')).toContain('deployment "web" successfully rolled out');
      const pods = JSON.parse(await run('get', 'pods', '-l', 'app=web', '-o', 'json')).items;
      expect(pods).toHaveLength(2);
      for (const pod of pods) {
        expect(['edge-1', 'edge-2']).toContain(pod.spec.nodeName);
        expect(pod.status.phase).toBe('Running');
      }
    });

    it('fills the Endpoints of an exposed Service with the pod IPs the nodes reported', async () => {
      expect(await run('expose', 'deployment', 'web', '--port=80')).toBe('service/web exposed\n');
      const podIps = (await podsOf('web')).map((p) => p.status.podIP).sort();
      expect(podIps).toHaveLength(2);
      // The kicked pass writes the Endpoints just after `expose` answers.
      const endpointIps = await eventually('the Endpoints of web', async () => {
        const r = await kubectl(['get', 'endpoints', 'web', '-o', 'json'], { kubeconfig: join(data, 'kubeconfig'), cacheDir }, { timeoutMs: 60_000 });
        if (r.code !== 0) return undefined;
        const ep = JSON.parse(r.stdout);
        const ips = (ep.subsets ?? []).flatMap((s: any) => (s.addresses ?? []).map((a: any) => a.ip)).sort();
        return ips.length === 2 ? ips : undefined;
      });
      expect(endpointIps).toEqual(podIps);
    });

    it('streams new rows to `kubectl get pods -w`', async () => {
      const watch = spawn(kubectlPath, ['--cache-dir', cacheDir, 'get', 'pods', '-w'], {
        env: { ...process.env, KUBECONFIG: join(data, 'kubeconfig') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let printed = '';
      watch.stdout!.setEncoding('utf8').on('data', (s: string) => (printed += s));
      watch.stderr!.setEncoding('utf8').on('data', (s: string) => (printed += s));
      try {
        const before = new Set((await podsOf('web')).map((p) => p.metadata.name));
        await eventually('the listed rows', async () => ([...before].every((n) => printed.includes(n)) ? true : undefined));
        await run('scale', 'deployment', 'web', '--replicas=3');
        const added = await eventually('a third pod', async () => (await podsOf('web')).find((p) => !before.has(p.metadata.name))?.metadata.name);
        // A row for the new pod, then one showing it Running once its node has started it.
        await eventually('a Running row for the new pod', async () =>
          printed.split('\n').some((row) => row.startsWith(added) && /\bRunning\b/.test(row)) ? true : undefined,
        );
        expect(printed.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
        expect(printed.split('\n').filter((row) => row.startsWith(added)).length).toBeGreaterThan(1);
      } finally {
        watch.kill();
      }
    });
  });

  // The console in the Worker's home: watches that polling ends are resumed, so the page stays live.
  it.skipIf(!!noChromium)('serves the web console: the played nodes on the Fleet, a Deployment scaled from it', async () => {
    const web = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'console' }, spec: { replicas: 1, selector: { matchLabels: { app: 'console' } }, template: { metadata: { labels: { app: 'console' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } };
    expect((await api('/apis/apps/v1/namespaces/default/deployments', { method: 'POST', body: web })).status).toBe(201);
    const browser = await launchChromium();
    try {
      const { page } = await openPage(browser, 1280);
      await signIn(page, url, token);
      for (const name of ['edge-1', 'edge-2']) await page.locator(`[data-testid="node-${name}"][data-status="Ready"]`).waitFor();
      await page.evaluate(() => (location.hash = '#/workloads'));
      const card = page.getByTestId('deployment-default-console');
      const ready = card.getByRole('progressbar', { name: 'Ready pods' });
      const readyText = (text: string) => eventually(`"${text}" on the card`, async () => ((await ready.getAttribute('aria-valuetext', { timeout: 1000 })) === text ? true : undefined), 60_000);
      await readyText('1 of 1 ready');
      await card.getByLabel('Replicas', { exact: true }).fill('2');
      await card.getByRole('button', { name: 'Scale' }).click();
      await readyText('2 of 2 ready');
      expect((await api('/apis/apps/v1/namespaces/default/deployments/console')).json().spec.replicas).toBe(2);
    } finally {
      // The Deployment stays: deleting it would set passes going that the /__scheduled test must not meet.
      await browser.close();
    }
  });

  it('joins a real agent, which runs a pod that becomes Ready; logs, exec and an Ingress reach it through its tunnel', async () => {
    const created = await runSkiff(['token', 'create', '--url', `file:${join(data, 'edge.db')}`]);
    expect(created.code, created.stderr).toBe(0);
    // Tainted, so only the pod below goes there (the other tests expect their pods on the played nodes).
    const agentData = tempDir('skiff-dev-agent-');
    const startNode = () =>
      startAgentProcess({
        server: url,
        token: created.stdout.trim(),
        name: 'dev-agent',
        data: agentData,
        // The Worker serves no /cacerts (on Cloudflare its certificate is public); skiff dev's CA is a file here.
        args: ['--ca-cert', join(data, 'ca.crt'), '--register-with-taints', 'skiff.dev/test=agent:NoSchedule'],
      });
    let node = startNode();
    try {
      await node.ready;
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'on-agent', labels: { app: 'on-agent' } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': 'dev-agent' },
          tolerations: [{ key: 'skiff.dev/test', operator: 'Exists', effect: 'NoSchedule' }],
          containers: [{ name: 'web', image: 'node', command: [process.execPath, join(repoRoot, 'test/fixtures/agent/echo.mjs')], env: [{ name: 'POD_NAME', value: 'on-agent' }], readinessProbe: { httpGet: { path: '/live', port: 8080 }, periodSeconds: 1 } }],
        },
      };
      expect((await api('/api/v1/namespaces/default/pods', { method: 'POST', body: pod })).status).toBe(201);
      const ready = await eventually('the pod Ready on the agent', async () => {
        const p = (await api('/api/v1/namespaces/default/pods/on-agent')).json();
        return p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
      }, 60_000);
      expect(ready.spec.nodeName).toBe('dev-agent');
      const res = await fetch(`http://${ready.status.podIP}:8080/`);
      expect(res.status).toBe(200);

      // Through the Worker, the node's Durable Object and the agent's tunnel.
      const logs = await eventually('the logs through the tunnel', async () => {
        const r = await api('/api/v1/namespaces/default/pods/on-agent/log');
        return r.status === 200 ? r.text : undefined;
      });
      expect(logs).toContain('on-agent started pid');
      if (hasKubectl) {
        const target = { kubeconfig: join(data, 'kubeconfig'), cacheDir };
        const kLogs = await kubectl(['logs', 'on-agent'], target);
        expect(kLogs.stdout).toContain('on-agent started pid');
        const exec = await kubectl(['exec', 'on-agent', '--', 'sh', '-c', 'echo in-pod; exit 3'], target);
        expect(exec.code).toBe(3);
        expect(exec.stdout).toBe('in-pod\n');
      }
      const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'on-agent' }, spec: { selector: { app: 'on-agent' }, ports: [{ port: 80, targetPort: 8080 }] } };
      expect((await api('/api/v1/namespaces/default/services', { method: 'POST', body: svc })).status).toBe(201);
      const ing = {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'on-agent' },
        spec: { rules: [{ host: 'agent.dev.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'on-agent', port: { number: 80 } } } }] } }] },
      };
      expect((await api('/apis/networking.k8s.io/v1/namespaces/default/ingresses', { method: 'POST', body: ing })).status).toBe(201);
      // As a browser would ask for https://agent.dev.test/hello with the name resolved to skiff dev:
      // the certificate (checked against the CA) is for skiff's address, not the Ingress's host.
      const viaIngress = new Agent({ ca, checkServerIdentity: () => undefined });
      const ingressGet = () => httpsFetch(`${url}/hello`, viaIngress, { headers: { host: 'agent.dev.test' } });
      const routed = await eventually('the Ingress to route to the pod', async () => {
        const r = await ingressGet();
        return r.status === 200 ? r.text : undefined;
      });
      expect(routed).toBe('on-agent /hello\n');

      await node.stop();
      const gone = await api('/api/v1/namespaces/default/pods/on-agent/log');
      expect(gone.status).toBe(503);
      expect(gone.json()).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable' });
      expect(gone.json().message).toContain('"dev-agent" is not connected');
      const unrouted = await ingressGet();
      expect(unrouted.status).toBe(503);
      // Back again (its pods ran on meanwhile), the agent finishes the pod's deletion.
      node = startNode();
      await node.ready;
      await eventually('logs through the new tunnel', async () => ((await api('/api/v1/namespaces/default/pods/on-agent/log')).status === 200 ? true : undefined));
      await api('/apis/networking.k8s.io/v1/namespaces/default/ingresses/on-agent', { method: 'DELETE' });
      await api('/api/v1/namespaces/default/services/on-agent', { method: 'DELETE' });
      expect((await api('/api/v1/namespaces/default/pods/on-agent', { method: 'DELETE' })).status).toBe(200);
      await eventually('the pod gone', async () => ((await api('/api/v1/namespaces/default/pods/on-agent')).status === 404 ? true : undefined), 60_000);
    } finally {
      await node.stop();
    }
  });

  it('/__scheduled runs a pass that binds pods no kick reached', async () => {
    // Nothing may write through the Worker meanwhile: every API write kicks a pass.
    await loop.stop();
    // ... nor may a pass the last heartbeat kicked still be running when the Deployment appears.
    await new Promise((r) => setTimeout(r, 1000));
    try {
      // A Deployment written straight into edge.db by another API server, as a second isolate or
      // a replica would: no kick reaches the Worker, so nothing acts on it yet.
      const store = new Store(openClient(`file:${join(data, 'edge.db')}`), systemClock);
      try {
        const other = createApp({ store, clock: systemClock, authenticate: () => true });
        const deployment = {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'batch' },
          spec: { replicas: 2, selector: { matchLabels: { app: 'batch' } }, template: { metadata: { labels: { app: 'batch' } }, spec: { containers: [{ name: 'batch', image: 'busybox' }] } } },
        };
        const created = await other.fetch(
          new Request('http://local/apis/apps/v1/namespaces/default/deployments', jsonRequest('POST', deployment)),
        );
        expect(created.status).toBe(201);
      } finally {
        store.close();
      }
      await new Promise((r) => setTimeout(r, 1500));
      expect(await podsOf('batch')).toEqual([]);

      const pass = await api('/__scheduled', { token: null });
      expect(pass).toMatchObject({ status: 200, text: 'Ran scheduled event' });
      // The request answers once the pass has run: one pass made the ReplicaSet, its pods, and bound them.
      const pods = await podsOf('batch');
      expect(pods).toHaveLength(2);
      for (const pod of pods) expect(['edge-1', 'edge-2']).toContain(pod.spec.nodeName);
    } finally {
      loop.start();
    }
    expect(loop.errors).toEqual([]);
  });

  it('stops wrangler and workerd on SIGTERM, removes the secrets file, and exits 0', async () => {
    await loop.stop();
    expect(liveInGroup(wranglerGroup!).some((row) => row.includes('workerd'))).toBe(true);
    dev.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(liveInGroup(wranglerGroup!)).toEqual([]);
    expect(existsSync(join(data, 'dev.env'))).toBe(false);
    expect(output).toContain('skiff: SIGTERM, stopping wrangler dev');
  });
});
