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
      spec: {},
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
  }
}
