// authorization.k8s.io/v1's questions, answered by the same authorizers a request meets:
// SelfSubjectAccessReview (may I?), SubjectAccessReview and LocalSubjectAccessReview (may they?),
// SelfSubjectRulesReview (what may I do here? `kubectl auth can-i --list`).
import type { KindDef, KObject } from '../../kinds/types.js';
import type { Store } from '../../store/store.js';
import { ApiError, badRequest } from '../status.js';
import { decide, type Question } from './authorize.js';
import type { Identity } from './identity.js';
import type { RbacAuthorizer } from './rbac.js';

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

interface Spec {
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: { path?: string; verb?: string };
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
  namespace?: string;
}

function question(spec: Spec): Question {
  const r = spec.resourceAttributes;
  const n = spec.nonResourceAttributes;
  // kube-apiserver's validation: exactly one of the two.
  if (!r === !n) throw new ApiError(422, 'Invalid', 'spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified');
  if (n) return { path: n.path ?? '', verb: n.verb ?? '' };
  return {
    resource: {
      verb: r!.verb ?? '',
      group: r!.group ?? '',
      resource: r!.resource ?? '',
      subresource: r!.subresource || undefined,
      namespace: r!.namespace || undefined,
      name: r!.name || undefined,
      fields: [],
    },
  };
}

/** Answers a create of one of the review kinds. */
export async function accessReview(def: KindDef, identity: Identity, body: KObject, namespace: string | undefined, store: Store, rbac?: RbacAuthorizer): Promise<Response> {
  const spec = (body.spec ?? {}) as Spec;
  let status: Record<string, unknown>;
  if (def.kind === 'SelfSubjectRulesReview') {
    if (!rbac) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const rules = await rbac.rulesFor(identity, spec.namespace ?? '');
    status = { resourceRules: rules.resourceRules, nonResourceRules: rules.nonResourceRules, incomplete: rules.incomplete, ...(rules.evaluationError ? { evaluationError: rules.evaluationError } : {}) };
  } else {
    let subject = identity;
    if (def.kind !== 'SelfSubjectAccessReview') {
      if (!spec.user && !(spec.groups ?? []).length) throw new ApiError(422, 'Invalid', 'spec.user: Invalid value: "": at least one of user or group must be specified');
      subject = { user: spec.user ?? '', groups: spec.groups ?? [], ...(spec.uid ? { uid: spec.uid } : {}), ...(spec.extra ? { extra: spec.extra } : {}) };
    }
    const q = question(spec);
    if (def.kind === 'LocalSubjectAccessReview' && (!('resource' in q) || q.resource.namespace !== namespace)) {
      throw badRequest(`spec.resourceAttributes.namespace must match namespace: ${namespace}`);
    }
    const decision = await decide(subject, q, store, rbac);
    status = { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) };
  }
  const answer = {
    kind: def.kind,
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { ...(body.metadata ?? {}), creationTimestamp: null, ...(namespace ? { namespace } : {}) },
    spec: body.spec ?? {},
    status,
  };
  return Response.json(answer, { status: 201 });
}
