import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.js';
import { useSession } from './hooks.js';

export interface Access {
  verb: string;
  /** '' for the core group. */
  group: string;
  resource: string;
  subresource?: string;
  /** '' or undefined: cluster-wide (or every namespace). */
  namespace?: string;
}

// What the token may do, asked of the API (SelfSubjectAccessReview, as `kubectl auth can-i`), so the
// console offers only the actions RBAC allows. Answers are kept a minute: bindings change rarely.
const TTL_MS = 60_000;
const answers = new WeakMap<Api, Map<string, { at: number; allowed: Promise<boolean> }>>();

export function canI(api: Api, a: Access): Promise<boolean> {
  let byKey = answers.get(api);
  if (!byKey) answers.set(api, (byKey = new Map()));
  const key = [a.verb, a.group, a.resource, a.subresource ?? '', a.namespace ?? ''].join('|');
  const hit = byKey.get(key);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.allowed;
  const allowed = api
    .review('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource, subresource: a.subresource, namespace: a.namespace || undefined } },
    })
    // Unanswerable: offer the action and let the API's own answer (a 403 Status) speak.
    .then((r) => r?.status?.allowed === true, () => true);
  byKey.set(key, { at: Date.now(), allowed });
  return allowed;
}

/** Whether the signed-in identity may do `a`: undefined while asking, then true or false. */
export function useCan(a: Access): boolean | undefined {
  const { api } = useSession();
  const [allowed, setAllowed] = useState<boolean | undefined>(undefined);
  const key = [a.verb, a.group, a.resource, a.subresource ?? '', a.namespace ?? ''].join('|');
  useEffect(() => {
    let live = true;
    setAllowed(undefined);
    canI(api, a).then((v) => live && setAllowed(v));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, key]);
  return allowed;
}
