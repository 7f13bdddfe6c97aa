import { apiVersionOf } from '../kinds/registry.js';
import type { Cause, KindDef, KObject } from '../kinds/types.js';
import type { Store } from '../store/store.js';
import { fieldSql, labelSql, matchFields, matchLabels, parseFieldSelector, parseLabelSelector, type FieldRequirement, type LabelRequirement } from './selectors.js';
import { queryOptionalBool } from './query.js';
import { ApiError, badRequest, gone, invalid } from './status.js';

export interface Selection {
  namespace?: string;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

export function selection(def: KindDef, namespace: string | undefined, q: URLSearchParams): Selection {
  return {
    namespace,
    labels: parseLabelSelector(q.get('labelSelector') ?? undefined),
    fields: parseFieldSelector(q.get('fieldSelector') ?? undefined, def),
  };
}

export function selects(sel: Selection, obj: KObject): boolean {
  return matchLabels(sel.labels, obj.metadata?.labels) && matchFields(sel.fields, obj);
}

interface ContinueToken {
  rv: number;
  ns: string;
  name: string;
}

const encodeContinue = (t: ContinueToken) => btoa(JSON.stringify(t)).replace(/=+$/, '');

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(atob(token)) as ContinueToken;
    if (typeof t.rv === 'number' && typeof t.ns === 'string' && typeof t.name === 'string') return t;
  } catch {
    // falls through to the error below
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

/**
 * kube-apiserver's checks of ListOptions (ValidateListOptions): resourceVersionMatch only with a
 * resourceVersion and without continue; on a watch only with sendInitialEvents, which needs
 * NotOlderThan; sendInitialEvents only on a watch.
 */
export function validateListOptions(q: URLSearchParams, watch: boolean): void {
  const match = q.get('resourceVersionMatch') ?? '';
  const sendInitialEvents = queryOptionalBool(q, 'sendInitialEvents');
  const causes: Cause[] = [];
  const forbidden = (field: string, why: string) => causes.push({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${why}` });
  const notSupported = (supported: string[]) => causes.push({
    reason: 'FieldValueNotSupported',
    field: 'resourceVersionMatch',
    message: `Unsupported value: ${JSON.stringify(match)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  });
  if (watch) {
    if (sendInitialEvents !== undefined && match !== 'NotOlderThan') {
      forbidden('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
    }
    if (match) {
      if (sendInitialEvents === undefined) forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
      if (match !== 'NotOlderThan') notSupported(['NotOlderThan']);
      if (q.get('continue')) forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    }
  } else {
    if (match) {
      if (!q.get('resourceVersion')) forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
      if (q.get('continue')) forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
      if (match !== 'Exact' && match !== 'NotOlderThan') notSupported(['Exact', 'NotOlderThan', '']);
      if (match === 'Exact' && q.get('resourceVersion') === '0') forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
    }
    if (sendInitialEvents !== undefined) forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  }
  if (causes.length) throw invalid('ListOptions', 'meta.k8s.io', '', causes);
}

/** A resourceVersion newer than the store's, as kube-apiserver's watch cache answers it once it gives up waiting. */
function tooLargeResourceVersion(rv: number, current: number): ApiError {
  return new ApiError(504, 'Timeout', `Timeout: Too large resource version: ${rv}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

export interface ListResult {
  items: KObject[];
  resourceVersion: string;
  continue?: string;
}

/**
 * A list page. Label selectors and the indexed fields are filtered in SQL; other field
 * selectors in JS, reading on while a page comes back short of `limit`.
 */
export async function listObjects(store: Store, def: KindDef, sel: Selection, q: URLSearchParams): Promise<ListResult> {
  const limitParam = q.get('limit');
  const limit = limitParam ? Number(limitParam) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw badRequest(`invalid limit: ${limitParam}`);
  const cont = q.get('continue') ? decodeContinue(q.get('continue')!) : undefined;
  validateListOptions(q, false);
  const rvMatch = q.get('resourceVersionMatch');
  const rv = q.get('resourceVersion');
  if (rv && !/^\d+$/.test(rv)) throw badRequest(`invalid resourceVersion: ${rv}`);

  const where = [...labelSql(sel.labels), ...fieldSql(sel.fields, def.kind)];
  const items: KObject[] = [];
  let after: [string, string] | undefined = cont ? [cont.ns, cont.name] : undefined;
  let rev = 0;
  let more = false;
  for (;;) {
    const page = await store.list(def.kind, { namespace: sel.namespace, after, limit: limit || undefined, where });
    rev = page.rev;
    for (const obj of page.items) if (selects(sel, obj)) items.push(obj);
    more = page.more;
    const last = page.items[page.items.length - 1];
    if (!more || !limit || items.length >= limit || !last) break;
    after = [last.metadata?.namespace ?? '', String(last.metadata?.name)];
  }
  if (limit && items.length > limit) {
    items.length = limit;
    more = true;
  }
  // Only the newest state is kept: an older Exact one is gone; a newer one is not here yet.
  if (rv && Number(rv) > rev) throw tooLargeResourceVersion(Number(rv), rev);
  if (rvMatch === 'Exact' && rv && Number(rv) !== rev) {
    throw gone(`too old resource version: ${rv} (${rev})`);
  }
  const listRv = cont ? cont.rv : rev;
  const last = items[items.length - 1];
  return {
    items,
    resourceVersion: String(listRv),
    continue: more && last ? encodeContinue({ rv: listRv, ns: last.metadata?.namespace ?? '', name: String(last.metadata?.name) }) : undefined,
  };
}

export function listDocument(def: KindDef, res: ListResult): Record<string, unknown> {
  return {
    kind: `${def.kind}List`,
    apiVersion: apiVersionOf(def),
    metadata: { resourceVersion: res.resourceVersion, ...(res.continue ? { continue: res.continue } : {}) },
    items: res.items,
  };
}
