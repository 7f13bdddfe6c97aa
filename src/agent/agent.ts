// `skiff agent`: joins a machine to the cluster as a node, keeps its Node and Lease, and runs the
// pods bound to it through a runtime. Also N simulated nodes in one process (`--simulate N`).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { startApiProxy, type ApiProxy } from './api-proxy.js';
import { ApiClient } from './client.js';
import { ClusterCatalog } from './cluster-catalog.js';
import { startClusterDNS, type ClusterDNS } from './dns/cluster-dns.js';
import { DEFAULT_CLUSTER_DOMAIN } from './dns/resolv-conf.js';
import { CrossNode, type PodNetworkPath } from './cross-node.js';
import { ServiceProxy } from './service-proxy.js';
import { loadOrJoin, type Credential } from './join.js';
import { NodeServer } from './node-server.js';
import { allowsRelayed } from './network-policy.js';
import type { RelayTarget } from './relay-listeners.js';
import type { RelayHead } from '../tunnel/head.js';
import { TunnelClient } from './tunnel.js';
import { UsageSampler } from './usage.js';
import { UsageReporter } from './usage-report.js';
import { internalIP } from './machine.js';
import { NodeStatusManager, parseLabels, parseTaints } from './node-status.js';
import { PodManager } from './pod-manager.js';
import type { Runtime } from './runtime.js';
import { SimulatedRuntime } from './runtimes/simulated.js';

export const AGENT_VERSION = '0.1.0';

export type RuntimeChoice = 'auto' | 'docker' | 'process' | 'simulated';

export interface AgentOptions {
  server: string;
  /** Join token; not needed once the data folder holds a credential. */
  token?: string;
  caCertFile?: string;
  caHash?: string;
  name?: string;
  runtime?: RuntimeChoice;
  labels?: string;
  taints?: string;
  maxPods?: number;
  dataDir: string;
  /** Simulated nodes to run (named NAME-0 ... NAME-(N-1)); 0: this machine, for real. */
  simulate?: number;
  /** How long a simulated container takes to start. */
  simulateStartMs?: number;
  /** Called as simulated nodes join, with how many have so far (for `skiff agent`'s progress line). */
  onSimulatedJoined?: (joined: number, total: number) => void;
  /** Node status and lease intervals and the pod watch timeout (tests shorten them). */
  leaseIntervalMs?: number;
  statusIntervalMs?: number;
  watchTimeoutSeconds?: number;
  /**
   * --api-proxy-port: the port of the node-local API endpoint pods reach the API at. Default: the one
   * used before, else 443 when root and free, else a free one.
   */
  apiProxyPort?: number;
  /**
   * Whether the node reports its pods' usage to the control plane (for autoscaling and `kubectl top`).
   * Default: a machine does, simulated nodes do not (a thousand of them would send a report every 15 ms).
   */
  reportUsage?: boolean;
  /** Between usage reports; default 15 s (tests shorten it). */
  usageReportIntervalMs?: number;
  /** --pod-network-path: how pods reach pods on other nodes (cross-node.ts); default auto. */
  podNetworkPath?: PodNetworkPath;
  /** --cluster-domain: the DNS domain of the cluster (default cluster.local). */
  clusterDomain?: string;
  /** --cluster-dns: the nameservers pods are told to use; default: the node's own DNS server, on the pods' gateway. */
  clusterDNS?: string[];
  /** --resolv-conf: the resolver settings pods with dnsPolicy Default get; default /etc/resolv.conf (resolved's upstreams behind a 127.0.0.53 stub). */
  resolvConf?: string;
  log?: (line: string) => void;
}

export interface RunningAgent {
  nodes: string[];
  /** Stops heartbeats and watches; the pods keep running (as when kubelet stops). */
  stop(): Promise<void>;
}

/** The bridge of a node's pods: named after its podCIDR, so agents of different nodes on one machine never share one. */
export function bridgeFor(podCIDR: string): string {
  const [addr] = podCIDR.split('/') as [string];
  return 'skiff' + addr.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
}

/** Node names are DNS subdomains; a host name is lowercased into one. */
export function defaultNodeName(): string {
  return hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'node';
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const name = opts.name ?? defaultNodeName();
  if (opts.simulate) return startSimulated({ ...opts, dataDir }, name, opts.simulate);
  const log = opts.log ?? ((line) => process.stderr.write(`skiff agent: ${line}\n`));

  const cred = await loadOrJoin({ server: opts.server, token: opts.token, caCertFile: opts.caCertFile, caHash: opts.caHash, nodeName: name, dataDir });
  const client = new ApiClient({ server: cred.server, token: cred.token, ca: cred.ca });
  const kind = await chooseRuntime(opts.runtime ?? 'auto');
  const { PodNetwork } = await import('./runtimes/pod-network.js');
  // Process pods get network namespaces of their own where the machine allows it; else they share the host's.
  const podNetwork = kind !== 'process' || (await PodNetwork.supported());
  // Made once the Node is registered: the process runtime's network needs the node's podCIDR.
  let runtime: Runtime | undefined;
  let runtimeVersion = `${kind}://unknown`; // the last the runtime told, while it does not answer
  const nodeStatus = new NodeStatusManager(client, name, {
    hostnameOverride: name,
    labels: parseLabels(opts.labels),
    taints: parseTaints(opts.taints),
    maxPods: opts.maxPods,
    podNetwork,
    agentVersion: AGENT_VERSION,
    dataDir,
    runtimeVersion: async () => (runtimeVersion = (await runtime?.version().catch(() => undefined)) ?? runtimeVersion),
    leaseIntervalMs: opts.leaseIntervalMs,
    statusIntervalMs: opts.statusIntervalMs,
    onReachability: (up) => log(up ? 'control plane reachable' : 'control plane unreachable: pods keep running'),
  });
  nodeStatus.start();

  if (kind === 'docker') {
    // Pods get their addresses from the podCIDR on a Docker network of the node's, with the bridge named as the process runtime's.
    const podCIDR = await podCIDROf(client, name, dataDir, log);
    const { DockerRuntime } = await import('./runtimes/docker.js');
    runtime = new DockerRuntime({ podCIDR, bridge: podCIDR && bridgeFor(podCIDR) });
  } else if (kind === 'simulated') {
    runtime = new SimulatedRuntime({ startDelayMs: opts.simulateStartMs ?? 0, podCIDR: podCIDRGetter(client, name, nodeStatus) });
  } else {
    const podCIDR = podNetwork ? await podCIDROf(client, name, dataDir, log) : undefined;
    const { createProcessRuntime } = await import('./runtimes/process.js');
    runtime = await createProcessRuntime({ dataDir: join(dataDir, 'containers'), podCIDR, bridge: podCIDR && bridgeFor(podCIDR), hostIP: internalIP(), version: AGENT_VERSION });
  }
  const running = runtime;
  const inCluster = await startInCluster(cred, name, runtime, dataDir, opts.apiProxyPort, log);
  // Services and EndpointSlices, for the Service proxy and DNS; before the pods, whose resolv.conf names the DNS.
  const catalog = new ClusterCatalog({ client, log });
  catalog.start();
  const dns = await startDNS(catalog, runtime, opts, log);

  const pods = new PodManager({
    client,
    nodeName: name,
    runtime,
    dataDir,
    hostIP: () => hostIPOf(nodeStatus),
    allocatable: () => nodeStatus.current?.status?.allocatable ?? {},
    watchTimeoutSeconds: opts.watchTimeoutSeconds,
    inCluster: { ...inCluster, log },
    // Pods that share the host's network (the process runtime without root) keep the host's resolvers.
    podDNS: runtime.podNetwork ? dns.podDNS : undefined,
  });
  pods.start();
  const reach = startReach(cred, name, runtime, pods, log, opts.reportUsage === false ? undefined : { client, intervalMs: opts.usageReportIntervalMs });
  log(`node ${name} running pods with the ${runtime.name} runtime${runtime.podNetwork ? '' : ' (pods share the host network)'}`);
  const health = watchRuntime(running, nodeStatus, log);
  const crossNode = startCrossNode(cred, client, catalog, name, runtime, opts.podNetworkPath, log);
  const services = startServiceProxy(catalog, name, runtime, crossNode, log);
  // NetworkPolicy for the node's pods, where they have addresses of their own.
  const policies = runtime.podNetwork
    ? (await import('./network-policy-agent.js')).startNetworkPolicyAgent({ client, catalog, nodeName: name, runtime, podCIDR: podCIDRGetter(client, name, nodeStatus), log })
    : undefined;

  return {
    nodes: [name],
    async stop() {
      reach.stop();
      clearInterval(health);
      await policies?.stop();
      await services?.stop();
      await crossNode?.stop();
      await dns.close();
      await catalog.stop();
      await pods.stop();
      await inCluster.proxy?.close();
      await nodeStatus.stop();
      await running.close();
    },
  };
}

/**
 * What programs in pods need to reach the API with no configuration: the node-local endpoint
 * (api-proxy.ts) on the pods' gateway and on 127.0.0.1, and where each pod finds it. Without the
 * endpoint (it could not listen), pods still get their tokens, with the control plane's CA.
 */
async function startInCluster(
  cred: Credential,
  nodeName: string,
  runtime: Runtime,
  dataDir: string,
  port: number | undefined,
  log: (line: string) => void,
): Promise<{ proxy?: ApiProxy; caCert: () => string | undefined; endpoint: (pod: any) => { host: string; port: number } | undefined }> {
  const gateway = runtime.podNetwork ? await runtime.podGateway?.().catch(() => undefined) : undefined;
  const addresses = [...(gateway ? [gateway] : []), '127.0.0.1'];
  let proxy: ApiProxy;
  try {
    proxy = await startApiProxy({ upstream: cred.server, upstreamCa: cred.ca, addresses, port, dir: join(dataDir, 'api-proxy'), nodeName, log });
  } catch (err) {
    log(`pods cannot reach the API from this node: ${(err as Error).message}`);
    return { caCert: () => cred.ca, endpoint: () => undefined };
  }
  log(`in-cluster API endpoint on ${proxy.addresses.map((a) => `${a}:${proxy.port}`).join(' and ')}`);
  const served = (a: string | undefined) => (a && proxy.addresses.includes(a) ? { host: a, port: proxy.port } : undefined);
  return {
    proxy,
    caCert: () => proxy.caCert,
    // A pod in a network namespace of its own reaches the node at its gateway; one on the host's, at loopback.
    endpoint: (pod) => (runtime.podNetwork && !pod.spec?.hostNetwork ? served(gateway) : served('127.0.0.1')),
  };
}

/**
 * The node's side of kubelet's server (logs, exec, port-forward, proxy, usage), reached through the
 * tunnel the agent dials: the machine listens on nothing.
 */
function startReach(
  cred: Credential,
  nodeName: string,
  runtime: Runtime,
  pods: PodManager,
  log: (line: string) => void,
  report?: { client: ApiClient; intervalMs?: number },
): { stop(): void } {
  const usage = new UsageSampler(runtime);
  // Relayed connections reach the pod from this node's gateway, past the FORWARD policy chains: the
  // policies are checked here, with the source pod the sending node names.
  const admitRelay = (head: RelayHead) =>
    allowsRelayed({ from: { podIP: head.source }, to: { podIP: head.podIP, port: head.port } }) ? undefined : 'refused by a NetworkPolicy';
  const server = new NodeServer({ nodeName, runtime, usage, pods: () => pods.pods, admitRelay, log });
  const tunnel = new TunnelClient({ server: cred.server, token: cred.token, ca: cred.ca, onStream: (s) => server.handle(s), log });
  const podKeys = () => pods.pods.map((p) => ({ namespace: p.metadata.namespace, name: p.metadata.name, uid: p.metadata.uid }));
  const reporter = report && new UsageReporter({ client: report.client, nodeName, usage, pods: podKeys, intervalMs: report.intervalMs, log });
  usage.start();
  tunnel.start();
  reporter?.start();
  return {
    stop() {
      reporter?.stop();
      tunnel.stop();
      usage.stop();
    },
  };
}

/**
 * Services' ClusterIPs and NodePorts for the node's pods (kube-proxy's job), where pods have a bridge
 * of their own; without one (not root) they share the host's network and Services are not reachable.
 */
function startServiceProxy(catalog: ClusterCatalog, nodeName: string, runtime: Runtime, relay: CrossNode | undefined, log: (line: string) => void): ServiceProxy | undefined {
  const network = (runtime as { network?: { bridge: string; podCIDR: string } }).network;
  if (!runtime.podNetwork || !network) {
    log('Services are not reachable from pods on this node: its pods have no bridge of their own (the process runtime needs root on Linux; both need a podCIDR)');
    return undefined;
  }
  // Endpoints on nodes reached through the control plane are DNATed straight to their relay listeners.
  const proxy = new ServiceProxy({ catalog, nodeName, bridge: network.bridge, podCIDR: network.podCIDR, relay, log });
  void proxy.start();
  return proxy;
}

/** Routes, forwarding and relays to other nodes' pods, where the node's pods have a bridge of their own. */
function startCrossNode(
  cred: Credential,
  client: ApiClient,
  catalog: ClusterCatalog,
  nodeName: string,
  runtime: Runtime,
  path: PodNetworkPath | undefined,
  log: (line: string) => void,
): CrossNode | undefined {
  const network = (runtime as { network?: { bridge: string; podCIDR: string } }).network;
  if (!runtime.podNetwork || !network) return undefined;
  // A relayed connection leaves through the relay listener (INPUT), past the egress policy chains: checked here.
  const admitRelay = (source: string, target: RelayTarget) => allowsRelayed({ from: { podIP: source }, to: { podIP: target.ip, port: target.port } });
  const crossNode = new CrossNode({ client, nodeName, podCIDR: network.podCIDR, bridge: network.bridge, path, server: cred.server, token: cred.token, ca: cred.ca, catalog, admitRelay, log });
  crossNode.start();
  return crossNode;
}

/**
 * The node's cluster DNS (CoreDNS' part) on the pods' gateway, and each pod's resolver settings
 * (kubelet's part). Where pods share the host's network there is no server.
 */
async function startDNS(catalog: ClusterCatalog, runtime: Runtime, opts: AgentOptions, log: (line: string) => void): Promise<ClusterDNS> {
  const gateway = runtime.podNetwork ? await runtime.podGateway?.().catch(() => undefined) : undefined;
  return startClusterDNS({
    catalog,
    clusterDomain: opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
    clusterDNS: opts.clusterDNS,
    listen: gateway ? [gateway] : [],
    resolvConf: opts.resolvConf,
    log,
  });
}

/** The node is not Ready while its runtime does not answer (Docker stopped), as kubelet reports it. */
function watchRuntime(runtime: Runtime, nodeStatus: NodeStatusManager, log: (line: string) => void): NodeJS.Timeout {
  let up = true;
  const check = () =>
    void runtime.version().then(
      () => !up && set(true),
      (err: Error) => up && set(false, err.message),
    );
  check();
  return setInterval(check, 10_000).unref();
  function set(now: boolean, why?: string): void {
    up = now;
    log(now ? `the ${runtime.name} runtime answers again` : `the ${runtime.name} runtime does not answer: ${why}`);
    if (now) nodeStatus.setReady(true);
    else nodeStatus.setReady(false, 'KubeletNotReady', `container runtime is down: ${why}`);
  }
}

async function chooseRuntime(choice: RuntimeChoice): Promise<Exclude<RuntimeChoice, 'auto'>> {
  if (choice !== 'auto') return choice;
  const { dockerAnswers } = await import('./runtimes/docker-socket.js');
  return (await dockerAnswers()) ? 'docker' : 'process';
}

function hostIPOf(nodeStatus: NodeStatusManager): string {
  const addresses: any[] = nodeStatus.current?.status?.addresses ?? [];
  return addresses.find((a) => a.type === 'InternalIP')?.address ?? internalIP();
}

/**
 * The node's podCIDR, allocated by the control plane after registration; remembered in the data
 * folder so the agent can start its pods offline. Without one, pods share the host's network.
 */
async function podCIDROf(client: ApiClient, name: string, dataDir: string, log: (line: string) => void): Promise<string | undefined> {
  const file = join(dataDir, 'node.json');
  let saved: string | undefined;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')).podCIDR;
  } catch {
    // first start
  }
  const deadline = Date.now() + (saved ? 5_000 : 30_000);
  while (Date.now() < deadline) {
    const node = await client.get(`/api/v1/nodes/${name}`, { timeoutMs: 5_000 }).catch(() => undefined);
    const cidr: string | undefined = node?.spec?.podCIDR;
    if (cidr) {
      if (cidr !== saved) writeFileSync(file, JSON.stringify({ podCIDR: cidr }), { mode: 0o600 });
      return cidr;
    }
    // Not registered yet, not allocated yet, or offline (then the saved one serves).
    if (saved && !node) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!saved) log('no podCIDR was allocated to this node: pods share the host network');
  return saved;
}

/** The node's podCIDR, read again from the API until the control plane has allocated one. */
function podCIDRGetter(client: ApiClient, name: string, nodeStatus: NodeStatusManager): () => Promise<string | undefined> {
  let cidr: string | undefined;
  return async () =>
    (cidr ??= nodeStatus.current?.spec?.podCIDR ?? (await client.get(`/api/v1/nodes/${name}`).catch(() => undefined))?.spec?.podCIDR);
}

/** N nodes in one process, each with its own credential, Lease and status, running simulated pods. */
async function startSimulated(opts: AgentOptions, prefix: string, n: number): Promise<RunningAgent> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const stops: (() => Promise<void>)[] = [];
  const capacity = { cpu: '32', memory: '256Gi', pods: String(opts.maxPods ?? 110), 'ephemeral-storage': '100Gi' };
  let joined = 0;
  // Join a few at a time: each is a request and a write.
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        const dataDir = join(opts.dataDir, 'simulated', name);
        const cred = await loadOrJoin({ server: opts.server, token: opts.token, caCertFile: opts.caCertFile, caHash: opts.caHash, nodeName: name, dataDir });
        // Clients of one CA share one keep-alive pool (client.ts's sharedAgent).
        const client = new ApiClient({ server: cred.server, token: cred.token, ca: cred.ca });
        const nodeStatus = new NodeStatusManager(client, name, {
          labels: parseLabels(opts.labels),
          taints: parseTaints(opts.taints),
          maxPods: opts.maxPods,
          agentVersion: AGENT_VERSION,
          dataDir,
          runtimeVersion: 'simulated://1.0',
          extra: { capacity, machine: { hostname: name } },
          leaseIntervalMs: opts.leaseIntervalMs,
          statusIntervalMs: opts.statusIntervalMs ?? 60_000,
          onError: () => {},
        });
        nodeStatus.start();
        const runtime = new SimulatedRuntime({ startDelayMs: opts.simulateStartMs ?? 0, podCIDR: podCIDRGetter(client, name, nodeStatus) });
        const manager = new PodManager({
          client,
          nodeName: name,
          runtime,
          dataDir,
          hostIP: () => hostIPOf(nodeStatus),
          allocatable: () => capacity,
          resyncMs: 30_000,
          events: false,
          writeConcurrency: 2,
          watchTimeoutSeconds: opts.watchTimeoutSeconds,
        });
        manager.start();
        const reach = startReach(cred, name, runtime, manager, () => {}, opts.reportUsage ? { client, intervalMs: opts.usageReportIntervalMs } : undefined);
        stops.push(async () => {
          reach.stop();
          await manager.stop();
          await nodeStatus.stop();
        });
        opts.onSimulatedJoined?.(++joined, n);
      }),
    );
  }
  return {
    nodes: names,
    async stop() {
      await Promise.all(stops.map((s) => s()));
    },
  };
}
