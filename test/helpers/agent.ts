// Starts real `skiff agent` processes for end-to-end tests. Every agent is killed when the test
// process exits, and the pods it left running (agents leave them running on purpose) are stopped,
// their network namespaces removed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bridgeFor } from '../../src/agent/agent.js';
import { afterAll } from 'vitest';
import { removeAgentNetworkRules } from '../../src/agent/network-rules.js';
import { DockerRuntime } from '../../src/agent/runtimes/docker.js';
import { ProcessRuntime } from '../../src/agent/runtimes/process.js';
import { PodNetwork } from '../../src/agent/runtimes/pod-network.js';
import { repoRoot, stopGracefully, type Exit } from './skiff-server.js';

export interface AgentProcess {
  name: string;
  data: string;
  output(): string;
  /** Resolves once the agent printed that it runs. */
  ready: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  stop(): Promise<Exit>;
}

export interface AgentStart {
  server: string;
  token?: string;
  caHash?: string;
  name: string;
  /** The agent's --data (it keeps its state in DATA/agent). */
  data: string;
  runtime?: string;
  args?: string[];
  env?: Record<string, string>;
}

const agents = new Set<ChildProcess>();
/** Agents' state folders (DATA/agent) and the runtime each ran its pods with. */
const dataDirs = new Map<string, string>();

export function startAgentProcess(opts: AgentStart): AgentProcess {
  const args = ['agent', '--server', opts.server, '--name', opts.name, '--data', opts.data, '--runtime', opts.runtime ?? 'process'];
  if (opts.token) args.push('--token', opts.token);
  if (opts.caHash) args.push('--ca-hash', opts.caHash);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/node/cli.ts', ...args, ...(opts.args ?? [])], {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agents.add(child);
  dataDirs.set(join(opts.data, 'agent'), opts.runtime ?? 'process');
  let output = '';
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  void exited.then(() => agents.delete(child));
  const ready = new Promise<void>((resolve, reject) => {
    const check = () => {
      if (/skiff agent running/.test(output)) resolve();
    };
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      output += s;
      check();
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
    void exited.then((e) => reject(new Error(`skiff agent exited (${e.code ?? e.signal}) before running:\n${output}`)));
  });
  ready.catch(() => {});
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    name: opts.name,
    data: opts.data,
    output: () => output,
    ready,
    kill,
    stop: () => stopGracefully(child, kill),
  };
}

/** The runtime over an agent's state folder (DATA/agent), with its pod network when it has one. */
function runtimeOf(dir: string): { runtime: ProcessRuntime; net?: PodNetwork } {
  let podCIDR: string | undefined;
  try {
    podCIDR = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')).podCIDR;
  } catch {
    // the node never had a podCIDR: its pods shared the host's network
  }
  const containers = join(dir, 'containers');
  const net = podCIDR ? new PodNetwork({ podCIDR, dataDir: join(containers, 'network'), bridge: bridgeFor(podCIDR) }) : undefined;
  return { runtime: new ProcessRuntime({ dataDir: containers, podNetwork: net }), net };
}

/** Also clean up after an agent this helper did not start (the local node of `skiff serve`). */
export function trackAgentData(dir: string, runtime = 'process'): void {
  dataDirs.set(dir, runtime);
}

/**
 * What a reboot does to an agent's pods: their processes killed, their network namespaces gone;
 * the agent's data folder (its record, the addresses it gave out) stays.
 */
export async function rebootPods(dir: string): Promise<void> {
  const { runtime, net } = runtimeOf(dir);
  for (const c of await runtime.listContainers()) if (c.state === 'running') await runtime.stopContainer(c.id, 0);
  for (const uid of (await net?.pods()) ?? []) {
    const ns = net!.netns(uid);
    execFileSync('ip', ['netns', 'delete', ns]);
  }
}

/** Stops what agents left running: their processes, then their pods' containers and namespaces. */
export async function cleanUpAgents(): Promise<void> {
  for (const child of agents) child.kill('SIGKILL');
  for (const [dir, kind] of dataDirs) {
    if (kind === 'docker') {
      await cleanUpDockerAgent(dir).catch(() => {});
      continue;
    }
    const { runtime, net } = runtimeOf(dir);
    for (const c of await runtime.listContainers().catch(() => [])) {
      if (c.state === 'running') await runtime.stopContainer(c.id, 0).catch(() => {});
    }
    if (net) {
      for (const uid of await net.pods()) await net.removePod(uid).catch(() => {});
      await net.teardown().catch(() => {});
    }
  }
  dataDirs.clear();
}

/**
 * A docker agent's pods are containers on its node's Docker network: remove them, then the network
 * (and with it the bridge Docker made; a PodNetwork teardown would take the bridge from under Docker).
 */
async function cleanUpDockerAgent(dir: string): Promise<void> {
  const podCIDR = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')).podCIDR as string | undefined;
  if (!podCIDR) return;
  const bridge = bridgeFor(podCIDR);
  try {
    const rt = new DockerRuntime({ podCIDR, bridge });
    for (const id of (await rt.network?.attached()) ?? []) await rt.removeContainer(id).catch(() => {});
    await rt.teardownNetwork();
  } finally {
    // The agent's own rules go even where its Docker Engine never answered (teardownNetwork removes
    // them too, but only with the daemon's network gone).
    await removeAgentNetworkRules(bridge, podCIDR);
  }
}

if (process.env.VITEST) afterAll(cleanUpAgents);
