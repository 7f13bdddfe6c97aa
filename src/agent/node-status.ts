// The node's half of kubelet's node status work: registers the Node (and again when it is deleted),
// posts its status when something in it changes and at least every nodeStatusReportFrequency
// (5 minutes), and renews its Lease in kube-node-lease every 10 s (kubelet's lease controller),
// which is the heartbeat the node lifecycle controller watches. Neither loop ever gives up while
// the server is unreachable: the agent's pods keep running meanwhile.
import { ApiClient, ApiError, isConflict, isNotFound, UnreachableError } from './client.js';
import { LABEL_POD_NETWORK, POD_NETWORK_HOST } from '../kinds/node.js';
import {
  MEMORY_EVICTION_THRESHOLD,
  measureMachineCached,
  NODEFS_EVICTION_FRACTION,
  pressureConditions,
  pressures,
  type MachineInfo,
  type NodeCondition,
} from './machine.js';

export const KUBELET_VERSION = 'v1.32.0';
export const LEASE_NAMESPACE = 'kube-node-lease';


export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** Parses kubelet's --register-with-taints: `key=value:Effect,key:Effect,...`. Throws on a malformed one. */
export function parseTaints(spec: string | undefined): Taint[] {
  const taints: Taint[] = [];
  for (const part of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const colon = part.lastIndexOf(':');
    if (colon < 0) throw new Error(`invalid taint "${part}": expected key=value:Effect or key:Effect`);
    const effect = part.slice(colon + 1);
    if (!EFFECTS.includes(effect)) throw new Error(`invalid taint effect "${effect}" in "${part}": must be one of ${EFFECTS.join(', ')}`);
    const kv = part.slice(0, colon);
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (!key) throw new Error(`invalid taint "${part}": empty key`);
    const taint: Taint = { key, effect: effect as Taint['effect'] };
    if (eq >= 0 && kv.slice(eq + 1)) taint.value = kv.slice(eq + 1);
    taints.push(taint);
  }
  return taints;
}

/** Parses --node-labels: `key=value,key2=value2`. */
export function parseLabels(spec: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`invalid label "${part}": expected key=value`);
    labels[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return labels;
}

/** A time in Kubernetes' MicroTime form: RFC 3339 with microseconds. */
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A time in Kubernetes' Time form: RFC 3339, seconds. */
export function kubeTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const ki = (bytes: number) => `${Math.max(0, Math.floor(bytes / 1024))}Ki`;

export interface SimulatedMachine {
  /** Fixed capacity (cpu, memory, pods, ...) instead of the machine's; pressures are never reported. */
  capacity?: Record<string, string>;
  /** Fixed allocatable; capacity when absent. */
  allocatable?: Record<string, string>;
  /** Facts to report instead of the machine's (hostname, internalIP, machineID, ...). */
  machine?: Partial<MachineInfo>;
}

export interface NodeStatusOptions {
  /** Labels added to the defaults (--node-labels). */
  labels?: Record<string, string>;
  /** spec.taints of a newly registered Node (--register-with-taints). */
  taints?: Taint[];
  /** Default 110. */
  maxPods?: number;
  /** nodeInfo.containerRuntimeVersion, e.g. docker://28.2.2; may be asked each time status is built. */
  runtimeVersion?: string | (() => Promise<string>);
  /** false: pods share the node's network (labels the Node node.skiff.dev/pod-network=host). Default true. */
  podNetwork?: boolean;
  /** kubeletVersion becomes v1.32.0-skiff-<agentVersion>. */
  agentVersion?: string;
  /** The folder whose filesystem is the node's ephemeral storage. Default the working directory. */
  dataDir?: string;
  /** kubelet's --hostname-override: the Hostname address and kubernetes.io/hostname label (skiff's --name). */
  hostnameOverride?: string;
  /** InternalIP instead of the first non-internal IPv4. */
  nodeIP?: string;
  /** For simulated nodes. */
  extra?: SimulatedMachine;
  /** How the machine is measured (default: measureMachineCached(dataDir)). */
  measure?: () => Promise<MachineInfo>;
  /** Status measured every (default 10 s, kubelet's nodeStatusUpdateFrequency). */
  statusIntervalMs?: number;
  /** Status posted at least every (default 5 minutes, kubelet's nodeStatusReportFrequency). */
  reportIntervalMs?: number;
  /** Lease renewed every (default 10 s). */
  leaseIntervalMs?: number;
  /** Default 40. */
  leaseDurationSeconds?: number;
  /** Told when the server becomes unreachable (false) and reachable again (true). */
  onReachability?: (up: boolean) => void;
  /** Errors other than unreachability (the loops go on). Default: console.error. */
  onError?: (err: unknown) => void;
}

/** The Ready condition the agent wants to report, without times. */
export function readyCondition(ready: boolean, reason?: string, message?: string): NodeCondition {
  return ready
    ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }
    : { type: 'Ready', status: 'False', reason: reason ?? 'KubeletNotReady', message: message ?? 'kubelet is not ready' };
}

const sameCondition = (a: any, b: any) => a?.status === b?.status && a?.reason === b?.reason && a?.message === b?.message;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
function canonical(v: any): any {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

/** Registers a Node, keeps its status and renews its Lease. */
export class NodeStatusManager {
  private node: any;
  private lease: any;
  private ready = readyCondition(true);
  private lastReport = 0;
  private up: boolean | undefined;
  private abort = new AbortController();
  private loops: Promise<void>[] = [];
  private statusKicked = false;
  private statusSleep: (() => void) | undefined;
  private registeredOnce!: (node: any) => void;
  private readonly registeredPromise = new Promise<any>((resolve) => (this.registeredOnce = resolve));
  private readonly opts: NodeStatusOptions;

  constructor(
    readonly client: ApiClient,
    readonly nodeName: string,
    opts: NodeStatusOptions = {},
  ) {
    this.opts = opts;
  }

  private get nodePath() {
    return `/api/v1/nodes/${encodeURIComponent(this.nodeName)}`;
  }
  private get leasePath() {
    return `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${encodeURIComponent(this.nodeName)}`;
  }

  /** The Node as last read or written (undefined before registration). */
  get current(): any {
    return this.node;
  }

  /** Whether the server answered the last request (undefined before any). */
  get reachable(): boolean | undefined {
    return this.up;
  }

  /** Resolves with the Node once it is first registered. */
  whenRegistered(): Promise<any> {
    return this.registeredPromise;
  }

  /** Starts the status and lease loops; registration happens in the status loop, retried until it works. */
  start(): void {
    if (this.loops.length) return;
    this.loops.push(
      this.loop(this.opts.statusIntervalMs ?? 10_000, () => this.syncStatus(), true),
      this.loop(this.opts.leaseIntervalMs ?? 10_000, () => (this.node ? this.renewLease() : Promise.resolve()), false),
    );
  }

  /** Stops both loops (requests in flight are cut off); the Node and Lease stay as they are. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
    this.loops = [];
  }

  /**
   * Sets the Ready condition the agent reports: False with a reason and message (the runtime is
   * down, ...), or True again. The status loop posts it at once.
   */
  setReady(ready: boolean, reason?: string, message?: string): void {
    this.ready = readyCondition(ready, reason, message);
    this.wakeStatus();
  }

  /** Ends the status loop's wait: it runs again now (or right after the tick under way). */
  private wakeStatus(): void {
    this.statusKicked = true;
    this.statusSleep?.();
  }

  private async loop(intervalMs: number, tick: () => Promise<void>, isStatus: boolean): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (isStatus) this.statusKicked = false;
      try {
        await tick();
      } catch (err) {
        this.failed(err);
      }
      if (signal.aborted) break;
      if (isStatus && this.statusKicked) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, intervalMs);
        const self = this;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          if (isStatus) self.statusSleep = undefined;
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
        if (isStatus) this.statusSleep = done;
      });
    }
  }

  private failed(err: unknown): void {
    if (this.abort.signal.aborted || (err as Error)?.name === 'AbortError') return;
    if (err instanceof UnreachableError) return this.reach(false);
    if (err instanceof ApiError) this.reach(true);
    (this.opts.onError ?? ((e) => console.error(`node ${this.nodeName}: ${(e as Error)?.message ?? e}`)))(err);
  }

  private reach(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.opts.onReachability?.(up);
  }

  /** A request through the client, tracking reachability. */
  private async call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      const result = await fn(this.abort.signal);
      this.reach(true);
      return result;
    } catch (err) {
      if (err instanceof ApiError) this.reach(true);
      throw err;
    }
  }

  private measure(): Promise<MachineInfo> {
    if (this.opts.measure) return this.opts.measure();
    return measureMachineCached(this.opts.dataDir ?? process.cwd(), 5_000, { nodeIP: this.opts.nodeIP });
  }

  private labels(m: MachineInfo): Record<string, string> {
    const labels: Record<string, string> = {
      'beta.kubernetes.io/arch': m.architecture,
      'beta.kubernetes.io/os': m.operatingSystem,
      'kubernetes.io/arch': m.architecture,
      'kubernetes.io/hostname': this.hostname(m),
      'kubernetes.io/os': m.operatingSystem,
    };
    if (this.opts.podNetwork === false) labels[LABEL_POD_NETWORK] = POD_NETWORK_HOST;
    return { ...labels, ...this.opts.labels };
  }

  /** The node name, as kubelet's --hostname-override (which --name is) makes it. */
  private hostname(m: MachineInfo): string {
    return this.opts.extra?.machine?.hostname ?? (this.opts.extra ? this.nodeName : this.opts.hostnameOverride ?? m.hostname);
  }

  private async machine(): Promise<MachineInfo> {
    const m = await this.measure();
    return this.opts.extra?.machine ? { ...m, ...this.opts.extra.machine } : m;
  }

  /** The status the node reports now, with times kept from `current` where a condition did not change. */
  async desiredStatus(current?: any, now = new Date()): Promise<any> {
    const m = await this.machine();
    const maxPods = this.opts.maxPods ?? 110;
    let capacity: Record<string, string>;
    let allocatable: Record<string, string>;
    let conditions: NodeCondition[];
    if (this.opts.extra?.capacity) {
      capacity = { pods: String(maxPods), ...this.opts.extra.capacity };
      allocatable = { ...capacity, ...this.opts.extra.allocatable };
      conditions = pressureConditions({ memory: false, disk: false, pid: false });
    } else {
      capacity = {
        cpu: String(m.cpus),
        'ephemeral-storage': ki(m.storageTotal),
        memory: ki(m.memoryTotal),
        pods: String(maxPods),
      };
      allocatable = {
        cpu: String(m.cpus),
        // kubelet: capacity less the hard eviction thresholds (no system/kube reserved).
        'ephemeral-storage': String(Math.floor(m.storageTotal * (1 - NODEFS_EVICTION_FRACTION))),
        memory: ki(m.memoryTotal - MEMORY_EVICTION_THRESHOLD),
        pods: String(maxPods),
      };
      if (m.gpus > 0) capacity['nvidia.com/gpu'] = allocatable['nvidia.com/gpu'] = String(m.gpus);
      conditions = pressureConditions(pressures(m));
    }
    const stamp = kubeTime(now);
    const old: any[] = current?.status?.conditions ?? [];
    const timed = [this.ready, ...conditions].map((c) => {
      const was = old.find((o) => o?.type === c.type);
      return {
        ...c,
        lastHeartbeatTime: stamp,
        lastTransitionTime: was && sameCondition(was, c) && was.lastTransitionTime ? was.lastTransitionTime : stamp,
      };
    });
    // kubelet lists the pressure conditions first and Ready last.
    const ordered = [...timed.slice(1), timed[0]!];
    const runtime = typeof this.opts.runtimeVersion === 'function' ? await this.opts.runtimeVersion() : this.opts.runtimeVersion;
    return {
      capacity,
      allocatable,
      conditions: ordered,
      addresses: [
        { type: 'InternalIP', address: m.internalIP },
        { type: 'Hostname', address: this.hostname(m) },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        machineID: m.machineID,
        systemUUID: m.systemUUID,
        bootID: m.bootID,
        kernelVersion: m.kernelVersion,
        osImage: m.osImage,
        containerRuntimeVersion: runtime ?? '',
        kubeletVersion: `${KUBELET_VERSION}-skiff-${this.opts.agentVersion ?? 'dev'}`,
        kubeProxyVersion: '',
        operatingSystem: m.operatingSystem,
        architecture: m.architecture,
      },
    };
  }

  /** Whether `desired` says something `current` (the server's status) does not, heartbeat times aside. */
  static changed(current: any, desired: any): boolean {
    const cur = current ?? {};
    if (!sameJson(cur.capacity ?? {}, desired.capacity) || !sameJson(cur.allocatable ?? {}, desired.allocatable)) return true;
    if (!sameJson(cur.addresses ?? [], desired.addresses) || !sameJson(cur.nodeInfo ?? {}, desired.nodeInfo)) return true;
    if (!sameJson(cur.daemonEndpoints ?? {}, desired.daemonEndpoints)) return true;
    return desired.conditions.some((c: any) => !sameCondition((cur.conditions ?? []).find((o: any) => o?.type === c.type), c));
  }

  /** Creates the Node, or takes over the one there (adding our labels), then posts its status. */
  async register(): Promise<any> {
    const m = await this.machine();
    const labels = this.labels(m);
    const status = await this.desiredStatus();
    const body: any = { apiVersion: 'v1', kind: 'Node', metadata: { name: this.nodeName, labels }, spec: {}, status };
    if (this.opts.taints?.length) body.spec.taints = this.opts.taints;
    let node: any;
    try {
      node = await this.call((signal) => this.client.create('/api/v1/nodes', body, { signal }));
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Already there (our own from before a restart, or made by hand): make sure it has our labels.
      node = await this.call((signal) => this.client.get(this.nodePath, { signal }));
      const have = node.metadata?.labels ?? {};
      if (Object.entries(labels).some(([k, v]) => have[k] !== v)) {
        node = await this.call((signal) => this.client.patch(this.nodePath, { metadata: { labels } }, 'merge', { signal }));
      }
    }
    this.node = node;
    if (!(await this.postStatus(node, true))) {
      this.node = undefined;
      throw new ApiError(404, 'NotFound', `node ${this.nodeName} was deleted as it registered`);
    }
    this.registeredOnce(this.node);
    // A fresh Node (maybe after ours was deleted) gets its lease at once, owned by the new uid.
    await this.renewLease();
    return this.node;
  }

  /** One status tick: registers when needed, else reads the Node and posts status when it changed or is due. */
  async syncStatus(): Promise<void> {
    if (!this.node) {
      await this.register();
      return;
    }
    let current: any;
    try {
      current = await this.call((signal) => this.client.get(this.nodePath, { signal }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Deleted while we run: register again, as kubelet does.
      this.node = undefined;
      await this.register();
      return;
    }
    this.node = current;
    if (!(await this.postStatus(current, false))) {
      this.node = undefined; // deleted between the read and the patch
      await this.register();
    }
  }

  /** Posts status when changed, due or forced; false when the Node is gone. */
  private async postStatus(current: any, force: boolean): Promise<boolean> {
    const now = new Date();
    const desired = await this.desiredStatus(current, now);
    const due = now.getTime() - this.lastReport >= (this.opts.reportIntervalMs ?? 5 * 60_000);
    if (!force && !due && !NodeStatusManager.changed(current?.status, desired)) return true;
    const patch: any = { status: desired };
    // Resources we reported before and no longer have (a GPU gone) are removed.
    for (const field of ['capacity', 'allocatable'] as const) {
      for (const key of ['nvidia.com/gpu']) {
        if (current?.status?.[field]?.[key] !== undefined && desired[field][key] === undefined) patch.status[field] = { ...patch.status[field], [key]: null };
      }
    }
    try {
      this.node = await this.call((signal) => this.client.patch(`${this.nodePath}/status`, patch, 'strategic', { signal }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return false;
    }
    this.lastReport = now.getTime();
    return true;
  }

  private ownerReferences(): any[] {
    return [{ apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: this.node.metadata.uid }];
  }

  /** One lease tick: renews kube-node-lease/NAME (creating it when missing), conditional on its resourceVersion. */
  async renewLease(): Promise<void> {
    if (!this.node?.metadata?.uid) return;
    const duration = this.opts.leaseDurationSeconds ?? 40;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!this.lease) {
        try {
          this.lease = await this.call((signal) => this.client.get(this.leasePath, { signal }));
        } catch (err) {
          if (!isNotFound(err)) throw err;
          const body = {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.nodeName, namespace: LEASE_NAMESPACE, ownerReferences: this.ownerReferences() },
            spec: { holderIdentity: this.nodeName, leaseDurationSeconds: duration, renewTime: microTime() },
          };
          try {
            this.lease = await this.call((signal) =>
              this.client.create(`/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`, body, { signal }),
            );
            return;
          } catch (e) {
            if (!isConflict(e)) throw e;
            continue; // created meanwhile: read it
          }
        }
      }
      const next = {
        ...this.lease,
        metadata: { ...this.lease.metadata, ownerReferences: this.ownerReferences() },
        spec: { ...this.lease.spec, holderIdentity: this.nodeName, leaseDurationSeconds: duration, renewTime: microTime() },
      };
      try {
        this.lease = await this.call((signal) => this.client.update(this.leasePath, next, { signal }));
        return;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        this.lease = undefined; // changed or deleted meanwhile: read it again
      }
    }
  }
}
