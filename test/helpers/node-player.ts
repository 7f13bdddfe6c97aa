// A node played through the API alone, as a kubelet would act: it registers its Node, renews its
// Lease in kube-node-lease, marks the pods bound to it Running and Ready (with a pod IP) through
// pods/status, and finishes the deletion of its pods that are terminating.

export interface NodePlayerOptions {
  name: string;
  /** Allocatable resources, e.g. { cpu: '4', memory: '8Gi', pods: '110', 'nvidia.com/gpu': '1' }. */
  allocatable?: Record<string, string>;
  labels?: Record<string, string>;
  /** Ready pods only after this many sync() calls (0: at once). */
  readyAfter?: number;
  /** Taints the Node is registered with (spec.taints). */
  taints?: { key: string; value?: string; effect: string }[];
  /**
   * What each running pod uses, reported on every sync() as an agent reports it (PUT
   * /skiff/v1/nodes/NAME/usage); undefined leaves a pod out. Absent: the node reports nothing.
   */
  usage?: (pod: any) => { cpu?: string; memory?: string } | undefined;
  /**
   * Whether a running pod's containers exit now, and with what code (undefined: they keep running).
   * As kubelet: with restartPolicy Never the pod ends Succeeded or Failed; with OnFailure a non-zero
   * exit restarts the containers (restartCount + 1) and a zero one ends it Succeeded.
   */
  finish?: (pod: any) => { exitCode: number } | undefined;
}

type Request = (path: string, init?: RequestInit) => Promise<Response>;

const json = (body: unknown, method: string, type = 'application/json'): RequestInit => ({
  method,
  body: JSON.stringify(body),
  headers: { 'content-type': type },
});

async function ok(res: Promise<Response>, what: string, allowed: number[] = []): Promise<any> {
  const r = await res;
  if (!r.ok && !allowed.includes(r.status)) throw new Error(`${what}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? undefined : r.json();
}

export class NodePlayer {
  private seen = new Map<string, number>();
  private ipCounter = 0;
  private static subnet = 0;
  private readonly subnet = ++NodePlayer.subnet;
  /** When false, the node neither renews its lease nor touches its pods (a lost machine). */
  alive = true;

  constructor(
    private request: Request,
    readonly opts: NodePlayerOptions,
    private now: () => Date = () => new Date(),
  ) {}

  get name(): string {
    return this.opts.name;
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  async register(): Promise<void> {
    const allocatable = this.opts.allocatable ?? { cpu: '4', memory: '8Gi', pods: '110' };
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: this.name, labels: { 'kubernetes.io/hostname': this.name, 'kubernetes.io/os': 'linux', ...(this.opts.labels ?? {}) } },
      spec: this.opts.taints ? { taints: this.opts.taints } : {},
    };
    await ok(this.request('/api/v1/nodes', json(node, 'POST')), `register ${this.name}`, [409]);
    // A patch, as the kubelet sends: the control plane may write the new Node at once (its podCIDR).
    const status = {
      capacity: allocatable,
      allocatable,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: this.stamp(), lastTransitionTime: this.stamp() }],
      addresses: [{ type: 'InternalIP', address: `192.168.0.${this.subnet}` }, { type: 'Hostname', address: this.name }],
      nodeInfo: { kubeletVersion: 'v1.32.0-skiff', osImage: 'skiff', kernelVersion: '', containerRuntimeVersion: 'skiff://test', operatingSystem: 'linux', architecture: 'amd64' },
    };
    await ok(this.request(`/api/v1/nodes/${this.name}/status`, json({ status }, 'PATCH', 'application/merge-patch+json')), 'node status');
    await this.renew();
  }

  /** Create or renew the node's Lease. */
  async renew(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`;
    const spec = { holderIdentity: this.name, leaseDurationSeconds: 40, renewTime: this.stamp().replace(/\.(\d{3})Z$/, '.$1000Z') }; // a MicroTime
    const r = await this.request(path, json({ spec }, 'PATCH', 'application/merge-patch+json'));
    if (r.status === 404) {
      const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: 'kube-node-lease' }, spec };
      await ok(this.request('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', json(lease, 'POST')), 'create lease', [409]);
    } else if (!r.ok) {
      throw new Error(`renew lease: ${r.status} ${await r.text()}`);
    }
  }

  /** One kubelet sync: renew the lease, start new pods, finish terminating ones. */
  async sync(): Promise<void> {
    if (!this.alive) return;
    await this.renew();
    const list = await ok(this.request(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.name}`)}`), 'list pods');
    for (const pod of list.items) {
      const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
      if (pod.metadata.deletionTimestamp) {
        await ok(this.request(path, json({ gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } }, 'DELETE')), 'finish delete', [404, 409]);
        continue;
      }
      const syncs = (this.seen.get(pod.metadata.uid) ?? 0) + 1;
      this.seen.set(pod.metadata.uid, syncs);
      const ready = syncs > (this.opts.readyAfter ?? 0);
      const status = pod.status ?? {};
      // A kubelet never starts a finished pod again.
      if (status.phase === 'Succeeded' || status.phase === 'Failed') continue;
      const exit = status.phase === 'Running' ? this.opts.finish?.(pod) : undefined;
      if (exit) {
        await ok(this.request(`${path}/status`, json(this.exited(pod, exit.exitCode), 'PUT')), 'pod status', [404, 409]);
        continue;
      }
      const isReady = status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      if (status.phase === 'Running' && isReady === ready) continue;
      const t = this.stamp();
      const cond = (type: string, s: boolean) => ({ type, status: s ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t });
      pod.status = {
        ...status,
        phase: 'Running',
        hostIP: `192.168.0.${this.subnet}`,
        podIP: status.podIP ?? `10.${this.subnet}.0.${++this.ipCounter}`,
        startTime: status.startTime ?? t,
        conditions: [cond('Initialized', true), cond('Ready', ready), cond('ContainersReady', ready), cond('PodScheduled', true)],
        containerStatuses: (pod.spec.containers ?? []).map((c: any) => ({
          name: c.name, image: c.image, imageID: '', ready, restartCount: 0, started: true, state: { running: { startedAt: t } },
        })),
      };
      await ok(this.request(`${path}/status`, json(pod, 'PUT')), 'pod status', [404, 409]);
    }
    if (this.opts.usage) await this.reportUsage(list.items);
  }

  /** The usage of the node's running pods, as opts.usage says, in one report (its first container carries it). */
  async reportUsage(pods: any[]): Promise<void> {
    const usage = this.opts.usage!;
    const reported = pods.flatMap((pod) => {
      const u = pod.metadata.deletionTimestamp ? undefined : usage(pod);
      if (!u) return [];
      const containers = (pod.spec.containers ?? []).map((c: any, i: number) => ({
        name: c.name,
        cpuNanoCores: i === 0 ? Math.round((milli(u.cpu) ?? 0) * 1e6) : 0,
        memoryBytes: i === 0 ? (bytes(u.memory) ?? 0) : 0,
      }));
      return [{ namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, containers }];
    });
    const report = { timestamp: this.stamp(), windowSeconds: 15, node: { cpuNanoCores: 0, memoryBytes: 0 }, pods: reported };
    await ok(this.request(`/skiff/v1/nodes/${this.name}/usage`, json(report, 'PUT')), 'usage report');
  }

  /** The pod after its containers exited with `exitCode`, as kubelet reports it. */
  private exited(pod: any, exitCode: number): any {
    const t = this.stamp();
    const status = pod.status ?? {};
    const restart = exitCode !== 0 && pod.spec.restartPolicy !== 'Never';
    const reason = exitCode === 0 ? 'Completed' : 'Error';
    const cond = (type: string, s: boolean, why?: string) => ({ type, status: s ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t, ...(why ? { reason: why } : {}) });
    const containerStatuses = (status.containerStatuses ?? []).map((cs: any) => {
      const terminated = { exitCode, reason, startedAt: cs.state?.running?.startedAt ?? t, finishedAt: t };
      return restart
        ? { ...cs, restartCount: (cs.restartCount ?? 0) + 1, lastState: { terminated }, state: { running: { startedAt: t } } }
        : { ...cs, ready: false, started: false, state: { terminated } };
    });
    if (restart) return { ...pod, status: { ...status, containerStatuses } };
    return {
      ...pod,
      status: {
        ...status,
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        conditions: [cond('Initialized', true), cond('Ready', false, 'PodCompleted'), cond('ContainersReady', false, 'PodCompleted'), cond('PodScheduled', true)],
        containerStatuses,
      },
    };
  }
}

/** "100m" -> 100, "1" -> 1000 (the quantities usage figures are written in). */
function milli(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  return q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000;
}

/** "64Mi" -> 67108864, "1Gi", "1000" -> bytes. */
function bytes(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  const units: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(q);
  return m ? Math.round(Number(m[1]) * (units[m[2]] ?? 1)) : undefined;
}
