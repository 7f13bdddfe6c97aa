// Patch strategies of the built-in kinds, read from the struct tags in k8s.io/api
// (patchStrategy/patchMergeKey, +listType/+listMapKey, +structType=atomic).
// Paths are field names joined by '.', with '[]' after a list to step into its
// items: 'spec.containers[].ports'. A list not in the table is atomic: strategic
// merge replaces it, server-side apply owns it whole. A map or struct merges
// key by key under strategic merge unless marked `replace`. `$retainKeys`
// needs no entry: the server honours it wherever a patch carries it.

export interface FieldStrategy {
  /** List of objects merged per item by this key (patchStrategy merge). */
  key?: string;
  /** Further list-map keys server-side apply uses, with the default the API server fills in. */
  moreKeys?: Record<string, string>;
  /** List of primitives merged as a set (patchStrategy merge / listType=set). */
  set?: true;
  /** Struct owned and replaced whole by server-side apply (+structType=atomic). */
  atomic?: true;
  /**
   * Map or struct that strategic merge replaces whole instead of merging into
   * (patchStrategy replace on a non-list field). Server-side apply ignores it:
   * such a field is granular there unless also `atomic`.
   */
  replace?: true;
}

export type StrategyTable = Record<string, FieldStrategy>;

function under(prefix: string, table: StrategyTable): StrategyTable {
  return Object.fromEntries(Object.entries(table).map(([path, s]) => [`${prefix}.${path}`, s]));
}

const objectMeta: StrategyTable = {
  finalizers: { set: true },
  ownerReferences: { key: 'uid' },
};

const container: StrategyTable = {
  ports: { key: 'containerPort', moreKeys: { protocol: 'TCP' } },
  env: { key: 'name' },
  volumeMounts: { key: 'mountPath' },
  volumeDevices: { key: 'devicePath' },
};

const podSpec: StrategyTable = {
  volumes: { key: 'name' },
  containers: { key: 'name' },
  ...under('containers[]', container),
  initContainers: { key: 'name' },
  ...under('initContainers[]', container),
  ephemeralContainers: { key: 'name' },
  ...under('ephemeralContainers[]', container),
  imagePullSecrets: { key: 'name' },
  hostAliases: { key: 'ip' },
  topologySpreadConstraints: { key: 'topologyKey' },
  schedulingGates: { key: 'name' },
  resourceClaims: { key: 'name' },
  // tolerations, readinessGates: atomic
};

const conditions: StrategyTable = { conditions: { key: 'type' } };

const podTemplateSpec: StrategyTable = { ...under('metadata', objectMeta), ...under('spec', podSpec) };

/** The workload kinds whose spec carries a selector and a pod template. */
const workload: StrategyTable = {
  'spec.selector': { atomic: true },
  ...under('spec.template', podTemplateSpec),
  ...under('status', conditions),
};

const meta = under('metadata', objectMeta);

/** A Job's spec, also the spec of a CronJob's jobTemplate. podFailurePolicy's and successPolicy's rules are atomic. */
const jobSpec: StrategyTable = {
  selector: { atomic: true },
  ...under('template', podTemplateSpec),
  'podFailurePolicy.rules[].onExitCodes.values': { set: true },
};

export const STRATEGIES: Record<string, StrategyTable> = {
  Pod: {
    ...meta,
    ...under('spec', podSpec),
    ...under('status', conditions),
    'status.podIPs': { key: 'ip' },
    'status.hostIPs': { key: 'ip' },
  },
  Deployment: { ...meta, ...workload },
  ReplicaSet: { ...meta, ...workload },
  // updateStrategy has no patch strategy (unlike a Deployment's strategy, retainKeys).
  DaemonSet: { ...meta, ...workload },
  // data is a RawExtension: replaced whole.
  ControllerRevision: meta,
  // status.conditions: patchStrategy merge on type (+listType=atomic for server-side apply).
  Job: {
    ...meta,
    ...under('spec', jobSpec),
    ...under('status', conditions),
    'status.uncountedTerminatedPods.succeeded': { set: true },
    'status.uncountedTerminatedPods.failed': { set: true },
  },
  // status.active is +listType=atomic.
  CronJob: { ...meta, ...under('spec.jobTemplate.metadata', objectMeta), ...under('spec.jobTemplate.spec', jobSpec) },
  // spec.selector is patchStrategy replace (policy/v1 only; skiff serves no v1beta1 budgets), and a
  // LabelSelector is +structType=atomic (x-kubernetes-map-type atomic) for server-side apply.
  // No other field of the kinds served here is patchStrategy replace.
  PodDisruptionBudget: { ...meta, 'spec.selector': { replace: true, atomic: true }, ...under('status', conditions) },
  // autoscaling/v2 (v1 has neither list): spec.metrics and status.currentMetrics are +listType=atomic.
  HorizontalPodAutoscaler: { ...meta, ...under('status', conditions) },
  Service: {
    ...meta,
    'spec.ports': { key: 'port', moreKeys: { protocol: 'TCP' } },
    ...under('status', conditions),
  },
  // spec.taints is +listType=atomic without a patch strategy: kubectl taint sends the whole list.
  Node: {
    ...meta,
    'spec.podCIDRs': { set: true },
    'status.conditions': { key: 'type' },
    'status.addresses': { key: 'type' },
  },
  Namespace: { ...meta, ...under('status', conditions) },
  ConfigMap: meta,
  Secret: meta,
  Endpoints: meta,
  EndpointSlice: meta,
  Event: meta,
  Lease: meta,
  // spec.rules, spec.tls and their paths and hosts are +listType=atomic.
  Ingress: meta,
  IngressClass: meta,
  // ingress, egress, their ports and peers and policyTypes are +listType=atomic; a LabelSelector is +structType=atomic.
  NetworkPolicy: { ...meta, 'spec.podSelector': { atomic: true } },
  // secrets: patchStrategy merge on name; imagePullSecrets: atomic.
  ServiceAccount: { ...meta, secrets: { key: 'name' } },
  // rules, aggregationRule.clusterRoleSelectors and subjects are +listType=atomic; roleRef is +structType=atomic.
  Role: meta,
  ClusterRole: meta,
  RoleBinding: { ...meta, roleRef: { atomic: true } },
  ClusterRoleBinding: { ...meta, roleRef: { atomic: true } },
};

/** The strategy table of a kind; empty (every list atomic) for kinds not listed. */
export function strategiesOf(kind: string): StrategyTable {
  return Object.hasOwn(STRATEGIES, kind) ? STRATEGIES[kind] : {};
}
