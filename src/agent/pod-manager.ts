// The pods bound to this node: watched from the API (resuming when a watch ends, re-listing after
// 410 Gone), recorded locally, each driven by a PodWorker. Status writes are coalesced per pod (the
// latest wins) and wait while the API is unreachable; the pods keep running meanwhile. After a fresh
// list, pods the API no longer has are stopped, and a pod is never recreated by the agent.
import { ApiError, isNotFound, type ApiClient } from './client.js';
import { kubeTime } from './node-status.js';
import { PodRecord } from './pod-record.js';
import { PodWorker, podDirOf, type WorkerDeps } from './pod-worker.js';
import type { Runtime } from './runtime.js';
import { ServiceAccountTokens } from './service-account.js';
import { Sources } from './sources.js';
import { join } from 'node:path';

export interface PodManagerOptions {
  client: ApiClient;
  nodeName: string;
  runtime: Runtime;
  dataDir: string;
  hostIP: () => string;
  allocatable: () => Record<string, string>;
  resyncMs?: number;
  /** Events are posted for what happens to pods (not for simulated nodes, where they are noise). */
  events?: boolean;
  /** Status writes in flight at once (a simulated fleet shares the server). */
  writeConcurrency?: number;
  /** timeoutSeconds of the pod watch (tests shorten it). */
  watchTimeoutSeconds?: number;
  /**
   * What pods need to talk to the API: their ServiceAccount tokens are mounted with `caCert` as
   * ca.crt, and `endpoint` is where KUBERNETES_SERVICE_HOST/PORT point. Absent: neither (simulated nodes).
   */
  inCluster?: { caCert: () => string | undefined; endpoint: (pod: any) => { host: string; port: number } | undefined; log?: (line: string) => void };
  /** Pods' resolver settings (the node's cluster DNS, kubelet's GetPodDNS); absent: the runtime's own. */
  podDNS?: WorkerDeps['podDNS'];
}

const podPath = (pod: any) => `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;

export class PodManager {
  private workers = new Map<string, PodWorker>();
  private readonly record: PodRecord;
  private readonly sources: Sources;
  private readonly deps: WorkerDeps;
  private pending = new Map<string, { pod: any; status: any }>();
  private sent = new Map<string, string>();
  private inFlight = 0;
  private retry?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private watching?: Promise<void>;
  /** False while the API cannot be reached. */
  online = false;

  constructor(private readonly opts: PodManagerOptions) {
    this.record = new PodRecord(opts.dataDir);
    this.sources = new Sources(opts.client, join(opts.dataDir, 'sources'));
    this.deps = {
      runtime: opts.runtime,
      sources: this.sources,
      hostIP: opts.hostIP,
      allocatable: opts.allocatable,
      podDir: podDirOf(opts.dataDir),
      report: (pod, status) => this.report(pod, status),
      finalDelete: (pod) => this.finalDelete(pod),
      event: opts.events === false ? () => {} : (pod, type, reason, message) => void this.event(pod, type, reason, message),
      resyncMs: opts.resyncMs ?? 2_000,
      probes: opts.runtime.name !== 'simulated',
      serviceAccounts: opts.inCluster && new ServiceAccountTokens({ api: opts.client, sources: this.sources, caCert: opts.inCluster.caCert, log: opts.inCluster.log }),
      apiEndpoint: opts.inCluster?.endpoint,
      podDNS: opts.podDNS,
    };
  }

  /** The pods known now, by uid. */
  get pods(): any[] {
    return [...this.workers.values()].map((w) => w.pod);
  }

  /** Brings back the recorded pods at once (offline or not), then follows the API. */
  start(): void {
    for (const pod of this.record.load()) this.upsert(pod);
    const path = `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.opts.nodeName}`)}`;
    this.watching = this.opts.client.listWatch<any>(
      path,
      {
        onSync: (items) => this.sync(items),
        onEvent: (e) => {
          if (e.type === 'DELETED') this.workers.get(e.object.metadata.uid)?.remove();
          else if (e.type === 'ADDED' || e.type === 'MODIFIED') this.upsert(e.object);
        },
        onReachability: (up) => {
          this.online = up;
          if (up) this.flush();
        },
      },
      { signal: this.abort.signal, timeoutSeconds: this.opts.watchTimeoutSeconds },
    );
  }

  /** Stops watching and leaves the pods running (as kubelet does when it exits). */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.retry);
    for (const w of this.workers.values()) w.detach();
    await this.watching;
  }

  private sync(items: any[]): void {
    const live = new Set(items.map((p) => p.metadata.uid));
    for (const [uid, w] of this.workers) if (!live.has(uid)) w.remove();
    for (const pod of items) this.upsert(pod);
  }

  private upsert(pod: any): void {
    const uid = pod.metadata.uid;
    const existing = this.workers.get(uid);
    if (existing) return existing.update(pod);
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
      // Finished before this agent saw it (or before it restarted): nothing to run.
      if (!pod.metadata.deletionTimestamp) return;
    }
    this.record.save(pod);
    const worker = new PodWorker(pod, this.deps);
    this.workers.set(uid, worker);
    void worker.stopped.then(() => {
      this.workers.delete(uid);
      this.record.forget(uid);
      this.pending.delete(uid);
      this.sent.delete(uid);
    });
    worker.kick();
  }

  private report(pod: any, status: any): void {
    const uid = pod.metadata.uid;
    this.record.save(pod);
    const text = JSON.stringify(status);
    if (this.sent.get(uid) === text && !this.pending.has(uid)) return;
    this.pending.set(uid, { pod, status });
    this.flush();
  }

  /** Writes pending statuses, a few at a time; what fails for want of the API waits for it. */
  private flush(): void {
    const max = this.opts.writeConcurrency ?? 8;
    for (const [uid, item] of this.pending) {
      if (this.inFlight >= max) return;
      this.pending.delete(uid);
      this.inFlight++;
      const text = JSON.stringify(item.status);
      const body = { metadata: { uid }, status: item.status };
      this.opts.client
        .patch(`${podPath(item.pod)}/status`, body, 'merge')
        .then(
          () => this.sent.set(uid, text),
          (err) => {
            if (err instanceof ApiError) return; // gone, or changed uid: the watch tells the worker
            if (!this.pending.has(uid) && this.workers.has(uid)) this.pending.set(uid, item); // a newer one wins
            this.retryLater();
          },
        )
        .finally(() => {
          this.inFlight--;
          if (this.pending.size && !this.retry) this.flush();
        });
    }
  }

  private retryLater(): void {
    this.retry ??= setTimeout(() => {
      this.retry = undefined;
      this.flush();
    }, 2_000);
  }

  private async finalDelete(pod: any): Promise<void> {
    try {
      await this.opts.client.delete(podPath(pod), { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
    } catch (err) {
      if (isNotFound(err) || (err instanceof ApiError && err.status === 409)) return; // already gone, or another pod by that name now
      throw err;
    }
  }

  private async event(pod: any, type: string, reason: string, message: string): Promise<void> {
    const now = kubeTime();
    const ns = pod.metadata.namespace;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${pod.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 4096).toString(16)}`, namespace: ns },
      involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid },
      reason,
      message,
      type,
      source: { component: 'kubelet', host: this.opts.nodeName },
      reportingComponent: 'kubelet',
      reportingInstance: this.opts.nodeName,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await this.opts.client.create(`/api/v1/namespaces/${ns}/events`, event).catch(() => {}); // events are best effort
  }
}
