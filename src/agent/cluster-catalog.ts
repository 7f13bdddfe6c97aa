// The agent's watch cache of every Service and EndpointSlice in the cluster: what its Service proxy
// (kube-proxy's job) and its cluster DNS read. One list+watch per kind for the whole node, kept as
// small views rather than whole objects, with change notices coalesced so that a burst of slice
// updates (a rollout) costs one rule rewrite. Every Pod too, once a part of the agent asks for them
// (NetworkPolicy and the relayed path both need them: one cluster-wide pod watch for both).
import type { ApiClient } from './client.js';
import { policyPod, type PolicyPod } from './network-policy.js';

/** A pod as the agent's network parts read it: the policy view, and its declared TCP ports (relayed). */
export interface ClusterPod extends PolicyPod {
  tcpPorts: number[];
}

function clusterPod(obj: any): ClusterPod {
  const tcpPorts = new Set<number>();
  for (const c of obj?.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if ((p.protocol ?? 'TCP') === 'TCP' && p.containerPort) tcpPorts.add(Number(p.containerPort));
  }
  return { ...policyPod(obj), tcpPorts: [...tcpPorts] };
}

export interface ServicePortView {
  name: string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  targetPort: number | string;
  nodePort?: number;
}

export interface ServiceView {
  namespace: string;
  name: string;
  uid: string;
  /** ClusterIP | NodePort | LoadBalancer | ExternalName */
  type: string;
  /** [] or ['None'] for headless */
  clusterIPs: string[];
  /** clusterIP None */
  headless: boolean;
  externalName?: string;
  ports: ServicePortView[];
  sessionAffinity: 'None' | 'ClientIP';
  affinityTimeoutSeconds: number;
  publishNotReadyAddresses: boolean;
  internalTrafficPolicy?: string;
  externalTrafficPolicy?: string;
}

export interface EndpointView {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  hostname?: string;
  targetRef?: { kind: string; namespace?: string; name: string; uid?: string };
  /** The slice's ports. */
  ports: { name: string; protocol: string; port: number }[];
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
const DEFAULT_AFFINITY_TIMEOUT = 10_800;
const DEBOUNCE_MS = 100;

function protocolOf(p: unknown): 'TCP' | 'UDP' | 'SCTP' {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

export function serviceView(svc: any): ServiceView {
  const spec = svc.spec ?? {};
  const clusterIPs: string[] = spec.clusterIPs?.length ? [...spec.clusterIPs] : spec.clusterIP ? [spec.clusterIP] : [];
  const type = spec.type ?? 'ClusterIP';
  return {
    namespace: svc.metadata?.namespace ?? 'default',
    name: svc.metadata?.name ?? '',
    uid: svc.metadata?.uid ?? '',
    type,
    clusterIPs,
    headless: clusterIPs[0] === 'None',
    ...(type === 'ExternalName' && spec.externalName ? { externalName: spec.externalName } : {}),
    ports: (spec.ports ?? []).map((p: any) => ({
      name: p.name ?? '',
      protocol: protocolOf(p.protocol),
      port: Number(p.port),
      targetPort: p.targetPort ?? Number(p.port),
      ...(p.nodePort ? { nodePort: Number(p.nodePort) } : {}),
    })),
    sessionAffinity: spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None',
    affinityTimeoutSeconds: Number(spec.sessionAffinityConfig?.clientIP?.timeoutSeconds) || DEFAULT_AFFINITY_TIMEOUT,
    publishNotReadyAddresses: spec.publishNotReadyAddresses === true,
    ...(spec.internalTrafficPolicy ? { internalTrafficPolicy: spec.internalTrafficPolicy } : {}),
    ...(spec.externalTrafficPolicy ? { externalTrafficPolicy: spec.externalTrafficPolicy } : {}),
  };
}

/** One view per address of the slice (EndpointSlice conditions: a nil `ready` means ready, as the API documents). */
export function sliceEndpoints(slice: any): EndpointView[] {
  const ports = (slice.ports ?? [])
    .filter((p: any) => p.port != null)
    .map((p: any) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: Number(p.port) }));
  const out: EndpointView[] = [];
  for (const ep of slice.endpoints ?? []) {
    const c = ep.conditions ?? {};
    const ready = c.ready !== false;
    const serving = c.serving ?? ready;
    const terminating = c.terminating === true;
    for (const ip of ep.addresses ?? []) {
      out.push({
        ip,
        ready,
        serving,
        terminating,
        ...(ep.nodeName ? { nodeName: ep.nodeName } : {}),
        ...(ep.hostname ? { hostname: ep.hostname } : {}),
        ...(ep.targetRef
          ? {
              targetRef: {
                kind: ep.targetRef.kind,
                name: ep.targetRef.name,
                ...(ep.targetRef.namespace ? { namespace: ep.targetRef.namespace } : {}),
                ...(ep.targetRef.uid ? { uid: ep.targetRef.uid } : {}),
              },
            }
          : {}),
        ports,
      });
    }
  }
  return out;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class ClusterCatalog {
  private readonly client: ApiClient;
  private readonly log: (line: string) => void;
  private readonly abort = new AbortController();
  private svcs = new Map<string, ServiceView>();
  /** slice namespace/name → its Service's key and endpoints */
  private slices = new Map<string, { service: string; endpoints: EndpointView[] }>();
  /** Service key → slice keys */
  private bySvc = new Map<string, Set<string>>();
  private listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private watches: Promise<void>[] = [];
  private loaded = { services: false, slices: false };
  private syncedPromise: Promise<void>;
  private resolveSynced!: () => void;
  private started = false;
  private podMap = new Map<string, ClusterPod>();
  private podListeners = new Set<() => void>();
  private podTimer: NodeJS.Timeout | undefined;
  private podState: 'off' | 'listing' | 'listed' | 'forbidden' = 'off';

  constructor(opts: { client: ApiClient; log?: (line: string) => void }) {
    this.client = opts.client;
    this.log = opts.log ?? (() => {});
    this.syncedPromise = new Promise((resolve) => (this.resolveSynced = resolve));
  }

  /** listWatch Services and discovery.k8s.io/v1 EndpointSlices (all namespaces). */
  start(): void {
    if (this.started) return;
    this.started = true;
    const signal = this.abort.signal;
    const onError = (what: string) => (err: Error, retryInMs: number) => this.log(`catalog: ${what}: ${err.message}; retrying in ${retryInMs} ms`);
    this.watches.push(
      this.client
        .listWatch<any>(
          '/api/v1/services',
          {
            onSync: (items) => {
              this.svcs = new Map(items.map((s) => [key(s.metadata.namespace, s.metadata.name), serviceView(s)]));
              this.markLoaded('services');
            },
            onEvent: (e) => {
              const k = key(e.object.metadata.namespace, e.object.metadata.name);
              if (e.type === 'DELETED') this.svcs.delete(k);
              else this.svcs.set(k, serviceView(e.object));
              this.changed();
            },
            onError: onError('services'),
          },
          { signal },
        )
        .catch((err) => this.log(`catalog: services watch ended: ${err?.message ?? err}`)),
      this.client
        .listWatch<any>(
          '/apis/discovery.k8s.io/v1/endpointslices',
          {
            onSync: (items) => {
              this.slices.clear();
              this.bySvc.clear();
              for (const s of items) this.putSlice(s);
              this.markLoaded('slices');
            },
            onEvent: (e) => {
              if (e.type === 'DELETED') this.dropSlice(key(e.object.metadata.namespace, e.object.metadata.name));
              else this.putSlice(e.object);
              this.changed();
            },
            onError: onError('endpointslices'),
          },
          { signal },
        )
        .catch((err) => this.log(`catalog: endpointslices watch ended: ${err?.message ?? err}`)),
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.timer);
    clearTimeout(this.podTimer);
    this.timer = this.podTimer = undefined;
    await Promise.all(this.watches);
  }

  /**
   * listWatch every Pod, from the first call on (idempotent). A control plane that does not let nodes
   * list all pods (403) ends it: podsForbidden() then says so.
   */
  watchPods(): void {
    if (this.podState !== 'off') return;
    this.podState = 'listing';
    const pods = new AbortController();
    this.abort.signal.addEventListener('abort', () => pods.abort(), { once: true });
    this.watches.push(
      this.client
        .listWatch<any>(
          '/api/v1/pods',
          {
            onSync: (items) => {
              this.podMap = new Map(items.map((p) => [key(p.metadata.namespace, p.metadata.name), clusterPod(p)]));
              this.podState = 'listed';
              this.podsChanged();
            },
            onEvent: (e) => {
              const k = key(e.object.metadata.namespace, e.object.metadata.name);
              if (e.type === 'DELETED') this.podMap.delete(k);
              else this.podMap.set(k, clusterPod(e.object));
              this.podsChanged();
            },
            onError: (err, retryInMs) => {
              if ((err as { status?: number }).status === 403) {
                this.podState = 'forbidden';
                this.log('catalog: this node may not list every pod');
                this.podsChanged();
                return pods.abort();
              }
              this.log(`catalog: pods: ${err.message}; retrying in ${retryInMs} ms`);
            },
          },
          { signal: pods.signal },
        )
        .catch((err) => this.log(`catalog: pods watch ended: ${err?.message ?? err}`)),
    );
  }

  /** Whether every pod has been listed once (watchPods). */
  podsListed(): boolean {
    return this.podState === 'listed';
  }

  podsForbidden(): boolean {
    return this.podState === 'forbidden';
  }

  pods(): IterableIterator<ClusterPod> {
    return this.podMap.values();
  }

  /** Called (debounced ~100 ms) after any pod change. Returns an unsubscribe function. */
  onPodsChange(fn: () => void): () => void {
    this.podListeners.add(fn);
    return () => void this.podListeners.delete(fn);
  }

  /** Resolves once both lists have loaded once. */
  synced(): Promise<void> {
    return this.syncedPromise;
  }

  services(): ServiceView[] {
    return [...this.svcs.values()];
  }

  service(namespace: string, name: string): ServiceView | undefined {
    return this.svcs.get(key(namespace, name));
  }

  /** Endpoints of a Service, from all of its EndpointSlices (label kubernetes.io/service-name). */
  endpoints(namespace: string, name: string): EndpointView[] {
    const ids = this.bySvc.get(key(namespace, name));
    if (!ids) return [];
    const out: EndpointView[] = [];
    for (const id of ids) out.push(...(this.slices.get(id)?.endpoints ?? []));
    return out;
  }

  /** Called (debounced ~100 ms) after any change. Returns an unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  private markLoaded(which: 'services' | 'slices'): void {
    this.loaded[which] = true;
    if (this.loaded.services && this.loaded.slices) this.resolveSynced();
    this.changed();
  }

  private putSlice(slice: any): void {
    const id = key(slice.metadata.namespace, slice.metadata.name);
    const svcName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    this.dropSlice(id);
    if (!svcName) return; // a slice no Service owns: nothing routes to it
    const service = key(slice.metadata.namespace, svcName);
    this.slices.set(id, { service, endpoints: sliceEndpoints(slice) });
    let set = this.bySvc.get(service);
    if (!set) this.bySvc.set(service, (set = new Set()));
    set.add(id);
  }

  private dropSlice(id: string): void {
    const old = this.slices.get(id);
    if (!old) return;
    this.slices.delete(id);
    const set = this.bySvc.get(old.service);
    set?.delete(id);
    if (set && set.size === 0) this.bySvc.delete(old.service);
  }

  private changed(): void {
    if (this.timer || this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.notify(this.listeners);
    }, DEBOUNCE_MS);
    this.timer.unref?.();
  }

  private podsChanged(): void {
    if (this.podTimer || this.abort.signal.aborted) return;
    this.podTimer = setTimeout(() => {
      this.podTimer = undefined;
      this.notify(this.podListeners);
    }, DEBOUNCE_MS);
    this.podTimer.unref?.();
  }

  private notify(listeners: Set<() => void>): void {
    for (const fn of [...listeners]) {
      try {
        fn();
      } catch (err: any) {
        this.log(`catalog: change listener failed: ${err?.message ?? err}`);
      }
    }
  }
}
