// Pod networking for the process runtime with real network namespaces, veth pairs and a bridge: two
// pods listen on the same port, each in its own namespace, both reachable from the host and from each
// other; exec runs inside the pod's namespace; addresses survive a restart; nothing is left behind.
// Needs Linux and root (skipped otherwise). Traffic goes only to namespaces this file made.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerConfig, SandboxConfig } from '../../src/agent/runtime.js';
import { PodNetwork, hostVethName, netnsName, parseCIDR } from '../../src/agent/runtimes/pod-network.js';
import { ProcessRuntime } from '../../src/agent/runtimes/process.js';

const supported = await PodNetwork.supported();
if (!supported) console.warn('pod-network tests skipped: they need Linux, root and a working `ip netns` (iproute2)');

const NODE = process.execPath;
const octet = 200 + (randomBytes(1)[0] % 50);
const podCIDR = `10.251.${octet}.0/24`;
const bridge = `skt${randomBytes(3).toString('hex')}`;
const uids = [randomUUID(), randomUUID(), randomUUID()];
let dataDir: string;

function ipOut(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function iptablesRules(): string {
  try {
    return execFileSync('iptables', ['-S'], { encoding: 'utf8' }) + execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

function get(ip: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path: '/', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function eventually<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function pod(uid: string, name: string): SandboxConfig {
  return { uid, namespace: 'default', name, hostNetwork: false, hostname: name, registryAuths: {} };
}

function server(name: string): ContainerConfig {
  const js = `require('http').createServer((q, s) => s.end(process.env.HOSTNAME + ' ' + require('os').networkInterfaces().eth0?.[0]?.address)).listen(8080, '0.0.0.0')`;
  return { name: 'web', image: 'node', imagePullPolicy: 'IfNotPresent', command: [NODE, '-e', js], env: [], mounts: [], attempt: 0, init: false };
}

describe('parseCIDR', () => {
  it('skips network, gateway and broadcast', () => {
    expect(parseCIDR('10.244.3.0/24')).toMatchObject({ prefix: 24, gateway: '10.244.3.1' });
    const c = parseCIDR('10.244.3.7/24');
    expect([c.first, c.last].map((n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'))).toEqual(['10.244.3.2', '10.244.3.254']);
    expect(() => parseCIDR('fd00::/64')).toThrow(/IPv4/);
  });
});

describe.skipIf(!supported)('pod networks (root)', () => {
  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'skiff-podnet-'));
  });

  afterAll(async () => {
    // Whatever happened above: no process, namespace, veth or bridge of ours survives.
    const runtime = new ProcessRuntime({ dataDir, podNetwork: new PodNetwork({ podCIDR, dataDir: path.join(dataDir, 'network'), bridge }) });
    for (const c of await runtime.listContainers().catch(() => [])) await runtime.removeContainer(c.id).catch(() => undefined);
    for (const uid of uids) {
      await runtime.removeSandbox(uid).catch(() => undefined);
      try {
        execFileSync('ip', ['netns', 'delete', netnsName(uid)], { stdio: 'ignore' });
      } catch {
        // not there
      }
      try {
        execFileSync('ip', ['link', 'del', hostVethName(uid)], { stdio: 'ignore' });
      } catch {
        // not there
      }
    }
    for (const br of [bridge, `${bridge}m`]) {
      await new PodNetwork({ podCIDR, dataDir, bridge: br, masquerade: true }).removeRules();
      try {
        execFileSync('ip', ['link', 'del', br], { stdio: 'ignore' });
      } catch {
        // not there
      }
    }
    await fs.rm(dataDir, { recursive: true, force: true });
    const netns = ipOut('netns', 'list');
    const links = ipOut('link');
    for (const uid of uids) {
      expect(netns).not.toContain(netnsName(uid));
      expect(links).not.toContain(hostVethName(uid));
    }
    expect(links).not.toContain(bridge);
    expect(iptablesRules()).not.toContain(`skiff ${bridge}`);
  });

  it('adds FORWARD (and, asked to, MASQUERADE) rules for its bridge and removes them on teardown', async () => {
    const net = new PodNetwork({ podCIDR, dataDir: path.join(dataDir, 'masq'), bridge: `${bridge}m`, masquerade: true });
    await net.setup();
    await net.setup(); // idempotent
    const rules = iptablesRules().split('\n').filter((l) => l.includes(`skiff ${bridge}m`));
    if (rules.length === 0) return console.warn('iptables is not usable here: no rules to check');
    expect(rules.filter((l) => l.includes('MASQUERADE'))).toHaveLength(1);
    expect(rules.filter((l) => l.includes('FORWARD'))).toHaveLength(3);
    expect(await net.teardown()).toBe(true);
    expect(iptablesRules()).not.toContain(`skiff ${bridge}m`);
    expect(ipOut('link')).not.toContain(`${bridge}m`);
  });

  it('allocates addresses that survive a restart and are released on removal', async () => {
    const dir = path.join(dataDir, 'alloc');
    const net = new PodNetwork({ podCIDR, dataDir: dir, bridge });
    await net.setup();
    expect(ipOut('-4', '-o', 'addr', 'show', 'dev', bridge)).toContain(`10.251.${octet}.1/24`);
    const ip = await net.addPod(uids[2], `10.251.${octet}.77`);
    expect(ip).toBe(`10.251.${octet}.77`);
    expect(await net.addPod(uids[2])).toBe(ip); // idempotent
    const again = new PodNetwork({ podCIDR, dataDir: dir, bridge });
    expect(await again.addPod(uids[2])).toBe(ip);
    expect(await again.teardown()).toBe(false); // a pod still uses the bridge
    expect(ipOut('netns', 'list')).toContain(netnsName(uids[2]));
    expect(ipOut('-n', netnsName(uids[2]), '-4', '-o', 'addr', 'show', 'dev', 'eth0')).toContain(`${ip}/24`);
    expect(ipOut('-n', netnsName(uids[2]), 'route')).toContain(`default via 10.251.${octet}.1 dev eth0`);
    await again.removePod(uids[2]);
    await again.removePod(uids[2]); // idempotent
    expect(await again.pods()).toEqual([]);
    expect(ipOut('netns', 'list')).not.toContain(netnsName(uids[2]));
    expect(ipOut('link')).not.toContain(hostVethName(uids[2]));
  });

  it('gives two pods their own namespaces so both listen on the same port', async () => {
    const net = new PodNetwork({ podCIDR, dataDir: path.join(dataDir, 'network'), bridge });
    await net.setup();
    const runtime = new ProcessRuntime({ dataDir, podNetwork: net });
    expect(runtime.podNetwork).toBe(true);
    const a = pod(uids[0], 'web-a');
    const b = pod(uids[1], 'web-b');
    const ipA = (await runtime.ensureSandbox(a)).ip;
    const ipB = (await runtime.ensureSandbox(b)).ip;
    expect(ipA).not.toBe(ipB);
    for (const ip of [ipA, ipB]) expect(ip).toMatch(new RegExp(`^10\\.251\\.${octet}\\.\\d+$`));
    expect(await runtime.ensureSandbox(a)).toEqual({ ip: ipA }); // finds it again

    const ca = await runtime.startContainer(a, server('web-a'));
    const cb = await runtime.startContainer(b, server('web-b'));
    expect(await eventually(() => get(ipA, 8080))).toBe(`web-a ${ipA}`);
    expect(await eventually(() => get(ipB, 8080))).toBe(`web-b ${ipB}`);
    expect((await runtime.listContainers()).filter((c) => c.state === 'running').map((c) => c.id).sort()).toEqual([ca.id, cb.id].sort());

    // exec runs in the pod's namespace: it sees the pod's eth0, and reaches the other pod.
    const ifaces = await runtime.exec(ca.id, [NODE, '-e', 'console.log(Object.keys(require("os").networkInterfaces()).sort().join(","))'], 10);
    expect(ifaces).toEqual({ exitCode: 0, output: 'eth0,lo\n' });
    const fetched = await runtime.exec(
      ca.id,
      [NODE, '-e', `require('http').get('http://${ipB}:8080/', (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(b)); })`],
      10,
    );
    expect(fetched).toEqual({ exitCode: 0, output: `web-b ${ipB}\n` });

    // A fresh runtime (agent restart) finds the pods, their addresses and their processes.
    const net2 = new PodNetwork({ podCIDR, dataDir: path.join(dataDir, 'network'), bridge });
    const runtime2 = new ProcessRuntime({ dataDir, podNetwork: net2 });
    expect(await runtime2.ensureSandbox(b)).toEqual({ ip: ipB });
    expect((await runtime2.listContainers(b.uid))[0]).toMatchObject({ id: cb.id, state: 'running' });
    expect((await runtime2.exec(cb.id, [NODE, '-e', 'console.log(require("os").networkInterfaces().eth0[0].address)'], 10)).output).toBe(`${ipB}\n`);

    // Stopping and removing: processes, namespaces, veths gone; then the bridge.
    await runtime2.stopContainer(ca.id, 5);
    await runtime2.stopContainer(cb.id, 5);
    expect((await runtime2.listContainers()).every((c) => c.state === 'exited')).toBe(true);
    await runtime2.removeSandbox(a.uid);
    await runtime2.removeSandbox(b.uid);
    expect(await runtime2.listContainers()).toEqual([]);
    const netns = ipOut('netns', 'list');
    const links = ipOut('link');
    for (const uid of uids) {
      expect(netns).not.toContain(netnsName(uid));
      expect(links).not.toContain(hostVethName(uid));
    }
    expect(await net2.teardown()).toBe(true);
    expect(ipOut('link')).not.toContain(bridge);
  });

  it('runs hostNetwork pods in the host namespace', async () => {
    const net = new PodNetwork({ podCIDR, dataDir: path.join(dataDir, 'network'), bridge });
    const runtime = new ProcessRuntime({ dataDir, podNetwork: net, hostIP: '127.0.0.1' });
    const p = { ...pod(uids[2], 'host'), hostNetwork: true };
    expect(await runtime.ensureSandbox(p)).toEqual({ ip: '127.0.0.1' });
    expect(ipOut('netns', 'list')).not.toContain(netnsName(uids[2]));
    await runtime.removeSandbox(p.uid);
  });
});
