// Every kind skiff serves. Adding a kind is one module plus one line here.
import type { KindDef } from './types.js';
import { namespace } from './namespace.js';
import { node } from './node.js';
import { pod } from './pod.js';
import { service } from './service.js';
import { endpoints } from './endpoints.js';
import { event } from './event.js';
import { configMap } from './configmap.js';
import { secret } from './secret.js';
import { deployment } from './deployment.js';
import { replicaSet } from './replicaset.js';
import { lease } from './lease.js';
import { endpointSlice } from './endpointslice.js';
import { ingress } from './ingress.js';
import { ingressClass } from './ingressclass.js';
import { networkPolicy } from './networkpolicy.js';
import { serviceAccount } from './serviceaccount.js';
import { selfSubjectReview, tokenReview } from './authentication.js';
import { role } from './role.js';
import { clusterRole } from './clusterrole.js';
import { roleBinding } from './rolebinding.js';
import { clusterRoleBinding } from './clusterrolebinding.js';
import { daemonSet } from './daemonset.js';
import { controllerRevision } from './controllerrevision.js';
import { job } from './job.js';
import { cronJob } from './cronjob.js';
import { podDisruptionBudget } from './poddisruptionbudget.js';
import { horizontalPodAutoscaler } from './horizontalpodautoscaler.js';
import { localSubjectAccessReview, selfSubjectAccessReview, selfSubjectRulesReview, subjectAccessReview } from './access-reviews.js';

export const kinds: readonly KindDef[] = [
  namespace, node, pod, service, endpoints, event, configMap, secret,
  deployment, replicaSet, daemonSet, controllerRevision, lease, endpointSlice,
  job, cronJob, podDisruptionBudget, horizontalPodAutoscaler,
  ingress,
  ingressClass,
  networkPolicy,
  serviceAccount, selfSubjectReview, tokenReview,
  role, clusterRole, roleBinding, clusterRoleBinding,
  selfSubjectAccessReview, subjectAccessReview, localSubjectAccessReview, selfSubjectRulesReview,
];

export function apiVersionOf(def: KindDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/**
 * Every kind at every version it is served at: the kinds as stored, then each kind's other versions
 * (KindDef.servedVersions), which carry `conversion`. Discovery lists a group's versions in this order,
 * so the stored one comes first and is preferred.
 */
export const servedKinds: readonly KindDef[] = [
  ...kinds,
  ...kinds.flatMap((k) => (k.servedVersions ?? []).map((v): KindDef => ({
    ...k,
    version: v.version,
    servedVersions: undefined,
    conversion: { stored: k, toStored: v.toStored, fromStored: v.fromStored },
  }))),
];

const byPath = new Map(servedKinds.map((k) => [`${k.group}/${k.version}/${k.plural}`, k]));
const byName = new Map(kinds.map((k) => [k.kind, k]));

export function kindForResource(group: string, version: string, plural: string): KindDef | undefined {
  return byPath.get(`${group}/${version}/${plural}`);
}

export function kindNamed(kind: string): KindDef | undefined {
  return byName.get(kind);
}

/** Group/versions served, in discovery order. */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const k of servedKinds) seen.set(`${k.group}/${k.version}`, { group: k.group, version: k.version });
  return [...seen.values()];
}
