// The docker runtime's pod network against a real Docker Engine: pods get their addresses from the
// node's podCIDR on a Docker network of the node's (bridge named as bridgeFor names it), reach each
// other by address with their own source addresses, and the network outlives a runtime restart and
// goes at teardown. Skipped where no daemon answers (.ci/run starts one).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeFor } from '../../src/agent/agent.js';
import type { ContainerConfig, SandboxConfig } from '../../src/agent/runtime.js';
import { DockerRuntime, LABEL_POD_UID } from '../../src/agent/runtimes/docker.js';
import { LABEL_NETWORK } from '../../src/agent/runtimes/docker-network.js';
import { PodNetwork, run } from '../../src/agent/runtimes/pod-network.js';
import { TEST_LABEL, dockerAvailable, startDockerTestEnv, type DockerTestEnv } from '../helpers/docker.js';

const available = await dockerAvailable();
if (!available) {
  console.warn(
    'docker-network tests skipped: no Docker Engine answers on ' +
      (process.env.DOCKER_HOST ?? '/var/run/docker.sock') +
      ' (.ci/run starts one; locally: apt-get install docker.io docker-registry busybox-static, then start dockerd)',
  );
}
// The NAT rule is the agent's only where it can manage iptables next to Docker's bridges.
const root = process.platform === 'linux' && process.getuid?.() === 0;
const iptables = root && (await run('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'])).code === 0;
const octet = randomInt(0, 128);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function inCIDR(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(base) / size);
}

async function linkAddresses(dev: string): Promise<string[] | undefined> {
  const r = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', dev]);
  if (r.code !== 0) return undefined;
  return [...r.stdout.matchAll(/inet (\S+)/g)].map((m) => m[1]!);
}

describe.skipIf(!available)('docker runtime: the node pod network', () => {
  let env: DockerTestEnv;
  // A /24 of its own per run, away from the ranges other tests (10.128-239/16 for test servers, 10.250,
  // 10.251) and Docker's address pools use.
  const podCIDR = `10.252.${2 * octet}.0/24`;
  const bridge = bridgeFor(podCIDR);
  const gateway = podCIDR.replace(/0\/24$/, '1');
  const natRule = ['POSTROUTING', '-s', podCIDR, '!', '-o', 'skiff+', '-m', 'comment', '--comment', `skiff ${bridge}`, '-j', 'MASQUERADE'];
  let rt: DockerRuntime;

  beforeAll(async () => {
    env = await startDockerTestEnv();
    rt = new DockerRuntime({ labels: env.labels, podCIDR, bridge });
    await rt.ensureImage(env.image, 'IfNotPresent', {});
  });

  afterAll(async () => {
    await env?.cleanup();
    await rt?.teardownNetwork().catch(() => false);
    // Whatever a failed test left: this run's networks, the NAT rule.
    const docker = env?.docker;
    for (const n of (await docker?.listNetworks({ filters: { label: [`${TEST_LABEL}=${env.runId}`] } })) ?? []) {
      await docker!.getNetwork(n.Id).remove().catch(() => {});
    }
    if (iptables) while ((await run('iptables', ['-w', '-t', 'nat', '-D', ...natRule])).code === 0);
  });

  function pod(name: string, extra: Partial<SandboxConfig> = {}): SandboxConfig {
    return { uid: randomUUID(), namespace: 'skiff-test', name, hostNetwork: false, hostname: name, registryAuths: {}, ...extra };
  }

  function container(name: string, extra: Partial<ContainerConfig> = {}): ContainerConfig {
    return { name, image: env.image, imagePullPolicy: 'IfNotPresent', env: [], mounts: [], attempt: 0, init: false, ...extra };
  }

  // httpd serving index.html and a CGI that answers the client's address as the server sees it.
  const webCommand = [
    'sh',
    '-c',
    'mkdir -p /tmp/www/cgi-bin && cp /www/index.html /tmp/www/ && ' +
      `printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "$REMOTE_ADDR"\\n' > /tmp/www/cgi-bin/ip && ` +
      'chmod +x /tmp/www/cgi-bin/ip && exec httpd -f -p 8080 -h /tmp/www',
  ];

  const a = pod('net-a');
  const b = pod('net-b');
  let ipA = '';
  let ipB = '';
  let networkId = '';

  it('gives pods addresses from the podCIDR on a Docker network named after the bridge', async () => {
    expect(await rt.podGateway()).toBe(gateway);
    [{ ip: ipA }, { ip: ipB }] = await Promise.all([rt.ensureSandbox(a), rt.ensureSandbox(b)]);
    for (const ip of [ipA, ipB]) {
      expect(inCIDR(ip, podCIDR), `${ip} in ${podCIDR}`).toBe(true);
      expect(ip).not.toBe(gateway);
    }
    expect(ipA).not.toBe(ipB);

    const net = (await env.docker.getNetwork(bridge).inspect()) as {
      Id: string;
      Name: string;
      Driver: string;
      Options: Record<string, string>;
      Labels: Record<string, string>;
      IPAM: { Config: { Subnet: string; Gateway: string }[] };
    };
    networkId = net.Id;
    expect(net).toMatchObject({ Name: bridge, Driver: 'bridge', IPAM: { Config: [{ Subnet: podCIDR, Gateway: gateway }] } });
    expect(net.Options).toMatchObject({ 'com.docker.network.bridge.name': bridge, 'com.docker.network.bridge.enable_icc': 'true' });
    expect(net.Labels).toMatchObject({ [LABEL_NETWORK]: podCIDR, [TEST_LABEL]: env.runId });
    // The sandbox is attached to it, not to Docker's default bridge.
    const [sandbox] = await env.docker.listContainers({ all: true, filters: { label: [`${LABEL_POD_UID}=${a.uid}`] } });
    const info = await env.docker.getContainer(sandbox!.Id).inspect();
    expect(info.HostConfig.NetworkMode).toBe(bridge);
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([bridge]);

    // Where Docker's bridges are this machine's, the Linux bridge has the agent's name and the gateway.
    const docker0 = await linkAddresses('docker0');
    if (docker0 !== undefined) expect(await linkAddresses(bridge)).toEqual([`${gateway}/24`]);
    if (iptables && docker0 !== undefined) {
      // Docker does not masquerade pod traffic; the agent's rule does, for what leaves for a non-skiff interface.
      expect(net.Options['com.docker.network.bridge.enable_ip_masquerade']).toBe('false');
      expect((await run('iptables', ['-w', '-t', 'nat', '-C', ...natRule])).code).toBe(0);
    }
  });

  it('lets one pod reach the other by address, with its own address as the source', async () => {
    await rt.startContainer(a, container('web', { command: webCommand }));
    const client = await rt.startContainer(b, container('client', { command: ['sleep', '3600'] }));
    const page = await waitFor(`httpd on ${ipA}:8080 from the other pod`, async () => {
      const r = await rt.exec(client.id, ['wget', '-q', '-O', '-', `http://${ipA}:8080/`], 5);
      return r.exitCode === 0 ? r.output : undefined;
    });
    expect(page).toBe('hello from skiff\n');
    const seen = await rt.exec(client.id, ['wget', '-q', '-O', '-', `http://${ipA}:8080/cgi-bin/ip`], 5);
    expect(seen.exitCode).toBe(0);
    expect(seen.output.trim().replace(/^\[::ffff:(.*)\]$/, '$1')).toBe(ipB); // httpd listens on [::]
    // The pod's default route is the node's gateway address on the bridge.
    expect((await rt.exec(client.id, ['ip', 'route'], 5)).output).toMatch(new RegExp(`^default via ${gateway.replace(/\./g, '\\.')} `, 'm'));
    // And the node reaches the pod at its address.
    const res = await fetch(`http://${ipA}:8080/`, { signal: AbortSignal.timeout(5000) });
    expect(await res.text()).toBe('hello from skiff\n');
  });

  it('finds the same network and sandboxes after a runtime restart', async () => {
    const again = new DockerRuntime({ labels: env.labels, podCIDR, bridge });
    expect(await again.podGateway()).toBe(gateway);
    expect(await again.ensureSandbox(a)).toEqual({ ip: ipA });
    expect(await again.ensureSandbox(b)).toEqual({ ip: ipB });
    const nets = await env.docker.listNetworks({ filters: { name: [bridge] } });
    expect(nets.filter((n) => n.Name === bridge).map((n) => n.Id)).toEqual([networkId]);
    // A third pod through the new runtime joins the same network.
    const c = pod('net-c');
    try {
      const { ip } = await again.ensureSandbox(c);
      expect(inCIDR(ip, podCIDR)).toBe(true);
      expect([ipA, ipB]).not.toContain(ip);
    } finally {
      await again.removeSandbox(c.uid);
    }
    if (iptables && (await linkAddresses('docker0')) !== undefined) {
      // The NAT rule is not added twice.
      const rules = (await run('iptables', ['-w', '-t', 'nat', '-S', 'POSTROUTING'])).stdout.split('\n');
      expect(rules.filter((l) => l.includes(`"skiff ${bridge}"`))).toHaveLength(1);
    }
    await again.close();
  });

  it('removes the network (and its NAT rule) at teardown once no pod is left', async () => {
    expect(await rt.teardownNetwork()).toBe(false); // pods are still on it
    expect((await env.docker.getNetwork(bridge).inspect()).Id).toBe(networkId);
    await rt.removeSandbox(a.uid);
    await rt.removeSandbox(b.uid);
    expect(await rt.teardownNetwork()).toBe(true);
    await expect(env.docker.getNetwork(bridge).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(await linkAddresses(bridge)).toBeUndefined();
    if (iptables) expect((await run('iptables', ['-w', '-t', 'nat', '-C', ...natRule])).code).not.toBe(0);
    expect(await rt.teardownNetwork()).toBe(true); // idempotent
  });

  it('makes the network again for a pod after teardown', async () => {
    const d = pod('net-d');
    try {
      const { ip } = await rt.ensureSandbox(d);
      expect(inCIDR(ip, podCIDR)).toBe(true);
    } finally {
      await rt.removeSandbox(d.uid);
    }
    expect(await rt.teardownNetwork()).toBe(true);
  });

  it('keeps pods on Docker default bridge without a podCIDR', async () => {
    const plain = new DockerRuntime({ labels: env.labels });
    const p = pod('net-none');
    try {
      const { ip } = await plain.ensureSandbox(p);
      expect(inCIDR(ip, podCIDR)).toBe(false);
      const [sandbox] = await env.docker.listContainers({ all: true, filters: { label: [`${LABEL_POD_UID}=${p.uid}`] } });
      expect((await env.docker.getContainer(sandbox!.Id).inspect()).HostConfig.NetworkMode).toBe('bridge');
      // A runtime that has a podCIDR now adopts that sandbox as it is (an agent upgraded, or the podCIDR came late).
      const withCIDR = new DockerRuntime({ labels: env.labels, podCIDR, bridge });
      expect(await withCIDR.ensureSandbox(p)).toEqual({ ip });
    } finally {
      await plain.removeSandbox(p.uid);
    }
    expect(await rt.teardownNetwork()).toBe(true);
  });
});

/** A server in a network namespace answering each request with the client's address as it sees it. */
async function addressEcho(netns: string, ip: string, port: number): Promise<ChildProcess> {
  const code = `require('http').createServer((q, s) => s.end(q.socket.remoteAddress)).listen(${port}, '${ip}', () => console.log('up'))`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`address echo in ${netns} exited (${c})`)));
  });
  return child;
}

// Traffic from a docker pod to another node's pods on this machine (a process-runtime bridge named as
// bridgeFor names it) and to beyond the node (a namespace behind a plain veth the test makes).
describe.skipIf(!available || !iptables)('docker runtime: pod traffic leaving the pod network', () => {
  let env: DockerTestEnv;
  const podCIDR = `10.252.${2 * octet + 1}.0/24`;
  const bridge = bridgeFor(podCIDR);
  const otherCIDR = `10.253.${randomInt(0, 256)}.0/24`;
  const outside = `198.18.${randomInt(0, 256)}.`; // .1 on the node, .2 in the namespace
  const tag = randomBytes(4).toString('hex');
  const outsideNs = `skiff-test-out${tag}`;
  const outsideVeth = `vto${tag}`;
  const otherUid = randomUUID();
  let rt: DockerRuntime;
  let other: PodNetwork;
  let otherDir: string;
  let otherIP = '';
  const servers: ChildProcess[] = [];
  let local = false;

  beforeAll(async () => {
    env = await startDockerTestEnv();
    rt = new DockerRuntime({ labels: env.labels, podCIDR, bridge });
    await rt.ensureImage(env.image, 'IfNotPresent', {});
    await rt.podGateway();
    local = (await linkAddresses(bridge)) !== undefined;
    otherDir = mkdtempSync(join(tmpdir(), 'skiff-docker-net-'));
    other = new PodNetwork({ podCIDR: otherCIDR, dataDir: otherDir, bridge: bridgeFor(otherCIDR) });
    await other.setup();
    otherIP = await other.addPod(otherUid);
    servers.push(await addressEcho(other.netns(otherUid), otherIP, 8081));
    for (const args of [
      ['netns', 'add', outsideNs],
      ['link', 'add', 'name', outsideVeth, 'type', 'veth', 'peer', 'name', `${outsideVeth}p`],
      ['link', 'set', 'dev', `${outsideVeth}p`, 'netns', outsideNs],
      ['addr', 'add', `${outside}1/30`, 'dev', outsideVeth],
      ['link', 'set', 'dev', outsideVeth, 'up'],
      ['-n', outsideNs, 'addr', 'add', `${outside}2/30`, 'dev', `${outsideVeth}p`],
      ['-n', outsideNs, 'link', 'set', 'dev', `${outsideVeth}p`, 'up'],
    ]) {
      const r = await run('ip', args);
      if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    }
    servers.push(await addressEcho(outsideNs, `${outside}2`, 8082));
  });

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await env?.cleanup();
    await rt?.teardownNetwork().catch(() => false);
    if (other) {
      await other.removePod(otherUid).catch(() => {});
      await other.teardown().catch(() => {});
    }
    if (otherDir) rmSync(otherDir, { recursive: true, force: true });
    await run('ip', ['link', 'del', 'dev', outsideVeth]);
    await run('ip', ['netns', 'delete', outsideNs]);
  });

  it("reaches another node's pod on this machine with its own address, and beyond the node masqueraded", async () => {
    const p = { uid: randomUUID(), namespace: 'skiff-test', name: 'leaving', hostNetwork: false, hostname: 'leaving', registryAuths: {} };
    const { ip } = await rt.ensureSandbox(p);
    const client = await rt.startContainer(p, { name: 'client', image: env.image, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], env: [], mounts: [], attempt: 0, init: false });
    const fetchFromPod = async (url: string) =>
      waitFor(`${url} from the docker pod`, async () => {
        const r = await rt.exec(client.id, ['wget', '-q', '-O', '-', url], 5);
        return r.exitCode === 0 ? r.output : undefined;
      });
    // Across to the other node's bridge: no NAT, the pod's own address.
    expect(await fetchFromPod(`http://${otherIP}:8081/`)).toBe(ip);
    // Beyond the node: the node's address on the way out, as Docker's own masquerading did.
    if (local) expect(await fetchFromPod(`http://${outside}2:8082/`)).toBe(`${outside}1`);
    await rt.removeSandbox(p.uid);
  });
});
