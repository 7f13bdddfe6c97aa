// Defaults and validation of PodSpec and PodTemplateSpec, shared by Pod,
// Deployment and ReplicaSet (pkg/apis/core/v1/defaults.go, pkg/apis/core/validation).
import type { Cause } from './types.js';
import { QUANTITY_FORMAT_ERROR, parseQuantity } from './quantity.js';
import {
  duplicate, each, forbidden, inclusiveRangeError, invalid, isConfigMapKey, isDNS1123Label, isDNS1123Subdomain,
  isEnvVarName, isQualifiedName, isValidLabelValue, isValidPortName, isValidPortNum, notFound, notSupported, required,
  goLabelSelector, selectorIsEmpty, selectorMatches, validateAnnotations, validateLabelSelector, validateLabels,
  validateNonnegative, type LabelSelector,
} from './validation.js';

const MAX_INT32 = 2147483647;

/** A JSON array field, or none when the client sent something else (kube-apiserver would not decode it). */
const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);
const DEFAULT_MODE = 420; // 0644

// ---------------------------------------------------------------- defaults

/** SetDefaults_PodSpec and the defaults of everything inside it. Idempotent. */
export function defaultPodSpec(spec: any): void {
  if (!spec || typeof spec !== 'object') return;
  spec.dnsPolicy ||= 'ClusterFirst';
  spec.restartPolicy ||= 'Always';
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ||= 'default-scheduler';
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) defaultContainer(c);
  for (const v of spec.volumes ?? []) defaultVolume(v);
}

/** A PodTemplateSpec's spec defaults (Deployment, ReplicaSet). */
export function defaultPodTemplate(template: any): void {
  if (!template || typeof template !== 'object') return;
  template.spec ??= {};
  defaultPodSpec(template.spec);
}

function defaultContainer(c: any): void {
  if (!c || typeof c !== 'object') return;
  c.imagePullPolicy ||= imageTag(c.image ?? '') === 'latest' ? 'Always' : 'IfNotPresent';
  c.terminationMessagePath ||= '/dev/termination-log';
  c.terminationMessagePolicy ||= 'File';
  c.resources ??= {};
  for (const p of c.ports ?? []) p.protocol ||= 'TCP';
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) if (probe) defaultProbe(probe);
  for (const handler of [c.lifecycle?.postStart, c.lifecycle?.preStop]) if (handler?.httpGet) defaultHttpGet(handler.httpGet);
  for (const e of c.env ?? []) if (e?.valueFrom?.fieldRef) e.valueFrom.fieldRef.apiVersion ||= 'v1';
}

function defaultProbe(probe: any): void {
  probe.timeoutSeconds ||= 1;
  probe.periodSeconds ||= 10;
  probe.successThreshold ||= 1;
  probe.failureThreshold ||= 3;
  if (probe.httpGet) defaultHttpGet(probe.httpGet);
}

function defaultHttpGet(action: any): void {
  action.path ||= '/';
  action.scheme ||= 'HTTP';
}

function defaultVolume(v: any): void {
  if (!v || typeof v !== 'object') return;
  if (volumeSources(v).length === 0) v.emptyDir = {};
  for (const source of [v.configMap, v.secret, v.projected, v.downwardAPI]) if (source) source.defaultMode ??= DEFAULT_MODE;
  for (const item of v.downwardAPI?.items ?? []) if (item.fieldRef) item.fieldRef.apiVersion ||= 'v1';
}

/** The tag ParseImageName finds: "latest" when the image names neither tag nor digest. */
export function imageTag(image: string): string {
  if (!image) return '';
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(':');
  const tag = colon > name.lastIndexOf('/') ? name.slice(colon + 1) : '';
  return tag || (at >= 0 ? '' : 'latest');
}

const VOLUME_SOURCES = [
  'hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret', 'nfs', 'iscsi', 'glusterfs',
  'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'downwardAPI', 'fc', 'azureFile',
  'configMap', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'projected', 'portworxVolume',
  'scaleIO', 'storageos', 'csi', 'ephemeral', 'image',
];

function volumeSources(v: any): string[] {
  return VOLUME_SOURCES.filter((k) => v[k] !== undefined && v[k] !== null);
}

// ---------------------------------------------------------------- validation

/** ValidatePodTemplateSpec: template labels (at `<path>.labels`, as Kubernetes reports them) and spec. */
export function validatePodTemplateSpec(template: any, path: string): Cause[] {
  return [
    ...validateLabels(template?.metadata?.labels, `${path}.labels`),
    ...validateAnnotations(template?.metadata?.annotations, `${path}.annotations`),
    ...validatePodSpec(template?.spec ?? {}, `${path}.spec`),
  ];
}

/**
 * ValidatePodTemplateSpecForReplicaSet (Deployment, ReplicaSet): the template must be
 * selected by the selector, restart Always, and carry no activeDeadlineSeconds.
 */
export function validateReplicaTemplate(template: any, selector: LabelSelector | undefined, path: string): Cause[] {
  if (!template) return [required(path)];
  const causes: Cause[] = [];
  const labels = template.metadata?.labels;
  // A nil selector selects nothing, so it never matches; an empty one is not checked.
  if (!selectorIsEmpty(selector) && !selectorMatches(selector, labels)) {
    causes.push(invalid(`${path}.metadata.labels`, labels ?? {}, '`selector` does not match template `labels`'));
  }
  causes.push(...validatePodTemplateSpec(template, path));
  const spec = template.spec ?? {};
  if (spec.restartPolicy !== 'Always') causes.push(notSupported(`${path}.spec.restartPolicy`, spec.restartPolicy ?? '', ['Always']));
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null) {
    causes.push(invalid(`${path}.spec.activeDeadlineSeconds`, spec.activeDeadlineSeconds, 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
  return causes;
}

/**
 * The spec checks Deployment and ReplicaSet share (ValidateDeploymentSpec, ValidateReplicaSetSpec):
 * replicas, minReadySeconds, a required non-empty selector, and a template it selects.
 */
export function validateReplicatedSpec(spec: any): Cause[] {
  const causes = [
    ...validateNonnegative(spec.replicas, 'spec.replicas'),
    ...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'),
  ];
  const selector = spec.selector;
  if (!selector) {
    causes.push(required('spec.selector'));
  } else {
    causes.push(...validateLabelSelector(selector, 'spec.selector'));
    if (selectorIsEmpty(selector)) {
      causes.push({ reason: 'FieldValueInvalid', field: 'spec.selector', message: `Invalid value: ${goLabelSelector(selector)}: empty selector is invalid for deployment` });
    }
  }
  causes.push(...validateReplicaTemplate(spec.template, selector, 'spec.template'));
  return causes;
}

/** ValidatePodSpec, for the fields skiff honours or that clients commonly get wrong. */
export function validatePodSpec(spec: any, path: string): Cause[] {
  const causes: Cause[] = [];
  const volumes = validateVolumes(list(spec.volumes), `${path}.volumes`, causes);
  validateContainers(list(spec.containers), volumes, `${path}.containers`, causes);
  validateInitContainers(list(spec.initContainers), list(spec.containers), volumes, `${path}.initContainers`, causes);
  causes.push(...oneOf(spec.restartPolicy, ['Always', 'OnFailure', 'Never'], `${path}.restartPolicy`));
  if (!['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'].includes(spec.dnsPolicy)) {
    causes.push(notSupported(`${path}.dnsPolicy`, spec.dnsPolicy ?? '', ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']));
  }
  causes.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  if (spec.serviceAccountName) causes.push(...each(`${path}.serviceAccountName`, spec.serviceAccountName, isDNS1123Subdomain(spec.serviceAccountName)));
  if (spec.nodeName) causes.push(...each(`${path}.nodeName`, spec.nodeName, isDNS1123Subdomain(spec.nodeName)));
  const deadline = spec.activeDeadlineSeconds;
  if (deadline !== undefined && deadline !== null && (deadline < 1 || deadline > MAX_INT32)) {
    causes.push(invalid(`${path}.activeDeadlineSeconds`, deadline, inclusiveRangeError(1, MAX_INT32)));
  }
  if (spec.hostname) causes.push(...each(`${path}.hostname`, spec.hostname, isDNS1123Label(spec.hostname)));
  if (spec.subdomain) causes.push(...each(`${path}.subdomain`, spec.subdomain, isDNS1123Label(spec.subdomain)));
  if (list(spec.tolerations).length) causes.push(...validateTolerations(list(spec.tolerations), `${path}.tolerations`));
  if (spec.preemptionPolicy !== undefined && !['PreemptLowerPriority', 'Never'].includes(spec.preemptionPolicy)) {
    causes.push(notSupported(`${path}.preemptionPolicy`, spec.preemptionPolicy, ['PreemptLowerPriority', 'Never']));
  }
  return causes;
}

/** Required when empty, NotSupported when outside `allowed`. */
function oneOf(value: unknown, allowed: string[], path: string): Cause[] {
  if (value === undefined || value === null || value === '') return [required(path)];
  return allowed.includes(value as string) ? [] : [notSupported(path, value, allowed)];
}

function validateVolumes(volumes: any[], path: string, causes: Cause[]): Set<string> {
  const names = new Set<string>();
  volumes.forEach((v, i) => {
    const at = `${path}[${i}]`;
    const errs: Cause[] = [];
    const sources = volumeSources(v ?? {});
    if (sources.length === 0) errs.push(required(at, 'must specify a volume type'));
    sources.slice(1).forEach((s) => errs.push(forbidden(`${at}.${s}`, 'may not specify more than 1 volume type')));
    if (!v?.name) errs.push(required(`${at}.name`));
    else errs.push(...each(`${at}.name`, v.name, isDNS1123Label(v.name)));
    if (v?.name && names.has(v.name)) errs.push(duplicate(`${at}.name`, v.name));
    if (errs.length === 0) names.add(v.name);
    causes.push(...errs);
  });
  return names;
}

function validateContainers(containers: any[], volumes: Set<string>, path: string, causes: Cause[]): void {
  if (containers.length === 0) {
    causes.push(required(path));
    return;
  }
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const at = `${path}[${i}]`;
    validateContainerCommon(c ?? {}, volumes, at, causes);
    if (names.has(c?.name)) causes.push(duplicate(`${at}.name`, c.name));
    else names.add(c?.name);
    validateProbes(c ?? {}, at, causes);
    if (c?.restartPolicy !== undefined) causes.push(forbidden(`${at}.restartPolicy`, 'may not be set for non-init containers'));
  });
}

function validateInitContainers(inits: any[], containers: any[], volumes: Set<string>, path: string, causes: Cause[]): void {
  const names = new Set<string>(containers.map((c) => c?.name));
  inits.forEach((c, i) => {
    const at = `${path}[${i}]`;
    validateContainerCommon(c ?? {}, volumes, at, causes);
    const sidecar = c?.restartPolicy === 'Always';
    if (c?.restartPolicy !== undefined && !sidecar) causes.push(notSupported(`${at}.restartPolicy`, c.restartPolicy, ['Always']));
    if (names.has(c?.name)) causes.push(duplicate(`${at}.name`, c.name));
    else if (c?.name) names.add(c.name);
    if (sidecar) {
      validateProbes(c, at, causes);
    } else {
      for (const field of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
        if (c?.[field]) causes.push(forbidden(`${at}.${field}`, 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });
}

function validateContainerCommon(c: any, volumes: Set<string>, at: string, causes: Cause[]): void {
  if (!c.name) causes.push(required(`${at}.name`));
  else causes.push(...each(`${at}.name`, c.name, isDNS1123Label(c.name)));
  if (!c.image) causes.push(required(`${at}.image`));
  causes.push(...oneOf(c.terminationMessagePolicy, ['File', 'FallbackToLogsOnError'], `${at}.terminationMessagePolicy`));
  validateContainerPorts(list(c.ports), `${at}.ports`, causes);
  validateEnv(list(c.env), `${at}.env`, causes);
  validateVolumeMounts(list(c.volumeMounts), volumes, `${at}.volumeMounts`, causes);
  causes.push(...oneOf(c.imagePullPolicy, ['Always', 'IfNotPresent', 'Never'], `${at}.imagePullPolicy`));
  validateResources(c.resources ?? {}, `${at}.resources`, causes);
}

function validateContainerPorts(ports: any[], path: string, causes: Cause[]): void {
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const at = `${path}[${i}]`;
    if (p?.name) {
      const msgs = isValidPortName(p.name);
      if (msgs.length) causes.push(...each(`${at}.name`, p.name, msgs));
      else if (names.has(p.name)) causes.push(duplicate(`${at}.name`, p.name));
      else names.add(p.name);
    }
    if (!p?.containerPort) causes.push(required(`${at}.containerPort`));
    else causes.push(...isValidPortNum(p.containerPort).map((m) => invalid(`${at}.containerPort`, p.containerPort, m)));
    if (p?.hostPort) causes.push(...isValidPortNum(p.hostPort).map((m) => invalid(`${at}.hostPort`, p.hostPort, m)));
    causes.push(...validateProtocol(p?.protocol, `${at}.protocol`));
  });
}

/** Port protocols: TCP, UDP or SCTP. */
export function validateProtocol(protocol: unknown, path: string): Cause[] {
  if (!protocol) return [required(path)];
  return ['SCTP', 'TCP', 'UDP'].includes(protocol as string) ? [] : [notSupported(path, protocol, ['SCTP', 'TCP', 'UDP'])];
}

/** An IntOrString port: a number in 1-65535 or an IANA service name. */
export function validatePortNumOrName(port: unknown, path: string): Cause[] {
  if (typeof port === 'string') return each(path, port, isValidPortName(port));
  return isValidPortNum(port).map((m) => invalid(path, port, m));
}

function validateEnv(env: any[], path: string, causes: Cause[]): void {
  env.forEach((e, i) => {
    const at = `${path}[${i}]`;
    if (!e?.name) causes.push(required(`${at}.name`));
    else causes.push(...each(`${at}.name`, e.name, isEnvVarName(e.name)));
    const from = e?.valueFrom;
    if (!from) return;
    const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter((k) => from[k]);
    for (const refKind of ['configMapKeyRef', 'secretKeyRef']) {
      const ref = from[refKind];
      if (!ref) continue;
      const keyPath = `${at}.valueFrom.${refKind}.key`;
      causes.push(...(ref.key ? each(keyPath, ref.key, isConfigMapKey(ref.key)) : [required(keyPath)]));
    }
    if (sources.length === 0) causes.push(invalid(`${at}.valueFrom`, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
    else if (e.value) causes.push(invalid(`${at}.valueFrom`, '', 'may not be specified when `value` is not empty'));
    else if (sources.length > 1) causes.push(invalid(`${at}.valueFrom`, '', 'may not have more than one field specified at a time'));
  });
}

function validateVolumeMounts(mounts: any[], volumes: Set<string>, path: string, causes: Cause[]): void {
  const points = new Set<string>();
  mounts.forEach((m, i) => {
    const at = `${path}[${i}]`;
    if (!m?.name) causes.push(required(`${at}.name`));
    if (!volumes.has(m?.name)) causes.push(notFound(`${at}.name`, m?.name ?? ''));
    if (!m?.mountPath) causes.push(required(`${at}.mountPath`));
    if (points.has(m?.mountPath)) causes.push(invalid(`${at}.mountPath`, m.mountPath, 'must be unique'));
    points.add(m?.mountPath);
  });
}

const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];

/** Native resources (no domain, or a kubernetes.io domain) other than hugepages may be overcommitted. */
function overcommitAllowed(name: string): boolean {
  const native = !name.includes('/') || name.split('/')[0].endsWith('kubernetes.io');
  return native && !name.startsWith('hugepages-');
}

function validateResources(resources: any, path: string, causes: Cause[]): void {
  const limits: Record<string, unknown> = resources.limits ?? {};
  const requests: Record<string, unknown> = resources.requests ?? {};
  const checkOne = (name: string, q: unknown, at: string): number | undefined => {
    if (!name.includes('/') && !STANDARD_CONTAINER_RESOURCES.includes(name) && !name.startsWith('hugepages-')) {
      causes.push(invalid(at, name, 'must be a standard resource for containers'));
    } else if (name.includes('/')) {
      causes.push(...each(at, name, isQualifiedName(name)));
    }
    const value = parseQuantity(q);
    if (value === undefined) causes.push(invalid(at, q, QUANTITY_FORMAT_ERROR));
    else if (value < 0) causes.push(invalid(at, String(q), 'must be greater than or equal to 0'));
    return value;
  };
  for (const [name, q] of Object.entries(limits)) checkOne(name, q, `${path}.limits[${name}]`);
  for (const [name, q] of Object.entries(requests)) {
    const value = checkOne(name, q, `${path}.requests[${name}]`);
    if (name in limits) {
      const limit = parseQuantity(limits[name]);
      if (value === undefined || limit === undefined) continue;
      if (value !== limit && !overcommitAllowed(name)) {
        causes.push(invalid(`${path}.requests`, String(q), `must be equal to ${name} limit of ${limits[name]}`));
      } else if (value > limit) {
        causes.push(invalid(`${path}.requests`, String(q), `must be less than or equal to ${name} limit of ${limits[name]}`));
      }
    } else if (!overcommitAllowed(name)) {
      causes.push(required(`${path}.limits`, 'Limit must be set for non overcommitable resources'));
    }
  }
}

function validateProbes(c: any, at: string, causes: Cause[]): void {
  for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const probe = c[kind];
    if (!probe) continue;
    const path = `${at}.${kind}`;
    validateHandler(probe, path, causes);
    for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
      causes.push(...validateNonnegative(probe[f], `${path}.${f}`));
    }
    if (kind !== 'readinessProbe' && probe.successThreshold !== 1) causes.push(invalid(`${path}.successThreshold`, probe.successThreshold ?? 0, 'must be 1'));
    if (kind === 'readinessProbe' && probe.terminationGracePeriodSeconds !== undefined) {
      causes.push(invalid(`${path}.terminationGracePeriodSeconds`, probe.terminationGracePeriodSeconds, 'must not be set for readinessProbes'));
    }
  }
}

function validateHandler(probe: any, path: string, causes: Cause[]): void {
  let handlers = 0;
  for (const type of ['exec', 'httpGet', 'tcpSocket', 'grpc']) {
    const action = probe[type];
    if (!action) continue;
    if (handlers > 0) {
      causes.push(forbidden(`${path}.${type}`, 'may not specify more than 1 handler type'));
      continue;
    }
    handlers++;
    const at = `${path}.${type}`;
    if (type === 'exec' && !(action.command?.length > 0)) causes.push(required(`${at}.command`));
    if (type === 'httpGet') {
      if (!action.path) causes.push(required(`${at}.path`));
      causes.push(...validatePortNumOrName(action.port, `${at}.port`));
      if (!['HTTP', 'HTTPS'].includes(action.scheme)) causes.push(notSupported(`${at}.scheme`, action.scheme ?? '', ['HTTP', 'HTTPS']));
    }
    if (type === 'tcpSocket') causes.push(...validatePortNumOrName(action.port, `${at}.port`));
    if (type === 'grpc') causes.push(...isValidPortNum(action.port).map((m) => invalid(`${at}.port`, action.port ?? 0, m)));
  }
  if (handlers === 0) causes.push(required(path, 'must specify a handler type'));
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** Taint effects: required unless `allowEmpty`, one of NoSchedule, PreferNoSchedule, NoExecute. */
export function validateTaintEffect(effect: unknown, allowEmpty: boolean, path: string): Cause[] {
  if (!effect) return allowEmpty ? [] : [required(path)];
  return TAINT_EFFECTS.includes(effect as string) ? [] : [notSupported(path, effect, TAINT_EFFECTS)];
}

export function validateTolerations(tolerations: any[], path: string): Cause[] {
  const causes: Cause[] = [];
  tolerations.forEach((t, i) => {
    const at = `${path}[${i}]`;
    const key = t?.key ?? '';
    const operator = t?.operator ?? '';
    if (key) causes.push(...each(`${at}.key`, key, isQualifiedName(key)));
    if (!key && operator !== 'Exists') {
      causes.push(invalid(`${at}.operator`, operator, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t?.tolerationSeconds !== undefined && t?.tolerationSeconds !== null && t?.effect !== 'NoExecute') {
      causes.push(invalid(`${at}.effect`, t?.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    if (operator === 'Equal' || operator === '') {
      const errs = isValidLabelValue(t?.value ?? '');
      if (errs.length) causes.push(invalid(`${at}.operator`, t?.value ?? '', errs.join(';')));
    } else if (operator === 'Exists') {
      if (t?.value) causes.push(invalid(`${at}.operator`, t, "value must be empty when `operator` is 'Exists'"));
    } else {
      causes.push(notSupported(`${at}.operator`, operator, ['Equal', 'Exists']));
    }
    causes.push(...validateTaintEffect(t?.effect, true, `${at}.effect`));
  });
  return causes;
}
