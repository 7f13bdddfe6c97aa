// Several `skiff serve` on one libSQL server (`skiff libsql`, the local endpoint): a write through
// one is seen by watches on the other, passes take turns through the lease, and either server may
// die with the other going on.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { repoRoot, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

/** `skiff libsql` on a free loopback port; resolves with its URL. */
async function startEndpoint(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/node/cli.ts', 'libsql', '--data', tempDir('skiff-libsql-'), '--port', '0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      output += s;
      const m = /skiff libsql serving (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]!);
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.once('exit', (code) => reject(new Error(`skiff libsql exited (${code}):\n${output}`)));
  });
  return { url, child };
}

/** The events of a watch, as they come, until `stop` is called. */
function watch(server: SkiffServer, path: string): { events: any[]; stop(): void } {
  const events: any[] = [];
  const req = request(server.url + path, { ca: server.ca, headers: { authorization: `Bearer ${server.token}` } }, (res) => {
    let buffered = '';
    res.setEncoding('utf8').on('data', (s: string) => {
      buffered += s;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        events.push(JSON.parse(buffered.slice(0, nl)));
        buffered = buffered.slice(nl + 1);
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  return { events, stop: () => req.destroy() };
}

/** The [from, to] of every pass a server ran, from its `--v 4` lines. */
const passesOf = (server: SkiffServer): [number, number][] =>
  [...server.output().matchAll(/skiff: pass ran (\d+)-(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);

const deployment = (name: string, replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
});

describe('several skiff serve on one libSQL server', () => {
  let endpoint: { url: string; child: ChildProcess };
  let a: SkiffServer;
  let b: SkiffServer;
  let agent: AgentProcess;

  const api = async (server: SkiffServer, path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const boundPods = async (server: SkiffServer, app: string) =>
    (await api(server, `/api/v1/namespaces/default/pods?labelSelector=app%3D${app}`)).items.filter((p: any) => p.spec.nodeName);

  beforeAll(async () => {
    endpoint = await startEndpoint();
    // Both servers run passes often, so their passes would overlap if the lease let them.
    const args = ['--db', endpoint.url, '--reconcile-interval', '100ms', '--v', '4', '--cluster-cidr', '10.250.0.0/16'];
    [a, b] = await Promise.all([startSkiff({ args }), startSkiff({ args })]);
    const token = (await runSkiff(['token', 'create', '--url', endpoint.url])).stdout.trim();
    // The nodes report to b, so that they keep running when a is killed.
    agent = startAgentProcess({ server: b.url, token, caHash: caCertHash(b.ca), name: 'shared', data: tempDir('skiff-shared-'), args: ['--simulate', '3'] });
    await agent.ready;
  });

  afterAll(async () => {
    await agent?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    endpoint?.child.kill('SIGTERM');
  });

  it('a watch on one server sees a write made through the other', async () => {
    const w = watch(b, '/api/v1/namespaces/default/configmaps?watch=1');
    try {
      await api(a, '/api/v1/namespaces/default/configmaps', { method: 'POST', body: { metadata: { name: 'from-a' }, data: { k: 'v' } } });
      const seen = await until('b watches a ConfigMap created through a', async () => w.events.find((e) => e.object.metadata.name === 'from-a'), 30_000);
      expect(seen.type).toBe('ADDED');
      expect(seen.object.data).toEqual({ k: 'v' });
    } finally {
      w.stop();
    }
  });

  it('binds a Deployment created through one with passes of both that never overlap', async () => {
    await until('the simulated nodes are Ready', async () => {
      const nodes = (await api(a, '/api/v1/nodes')).items;
      return nodes.filter((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length === 3;
    });
    await api(a, '/apis/apps/v1/namespaces/default/deployments', { method: 'POST', body: deployment('shared', 12) });
    await until('all 12 replicas bound', async () => (await boundPods(b, 'shared')).length === 12);

    const [ofA, ofB] = [passesOf(a), passesOf(b)];
    // Both ran passes while the replicas were worked off, never two at once.
    expect(ofA.length).toBeGreaterThan(0);
    expect(ofB.length).toBeGreaterThan(0);
    for (const [from, to] of ofA) for (const [f, t] of ofB) expect(to < f || t < from, `a's pass ${from}-${to} overlaps b's ${f}-${t}`).toBe(true);
  });

  it('goes on through the other server when one is killed', async () => {
    await a.kill('SIGKILL');
    await api(b, '/apis/apps/v1/namespaces/default/deployments', { method: 'POST', body: deployment('after', 4) });
    // If a died in a pass, its lease is waited for until it expires (10 s); then b's passes take it.
    const pods = await until('the new Deployment bound by b alone, its pods running', async () => {
      const bound = await boundPods(b, 'after');
      return bound.length === 4 && bound.every((p: any) => p.status.phase === 'Running') && bound;
    }, 60_000);
    expect(new Set(pods.map((p: any) => p.spec.nodeName)).size).toBeGreaterThan(1);
  });
});
