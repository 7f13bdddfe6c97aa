import { servedBySkiff } from '../kinds/ingress.js';
import { isIPv4, isIPv6 } from '../kinds/validation.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';

// skiff's ingress controller's status half: every Ingress skiff serves publishes where it is reached,
// the control plane's address (ingressAddress), in status.loadBalancer.ingress, as ingress-nginx
// publishes its Service's address. Unconfigured (''), that status is empty, so a stale address is
// cleared. The routing half is in the API (src/api/ingress.ts).
// Round trip 1 (all an idle pass does): the served Ingresses whose status differs from the wanted one,
// compared in SQL, at most batchSize of them, whole. Round trip 2: their status updates, each
// conditional on the resourceVersion read; the rest follow in the next pass.

const STALE_SQL = `SELECT o.rv, o.object FROM objects o
  WHERE o.kind = 'Ingress' AND COALESCE(o.object -> '$.status.loadBalancer.ingress', '[]') IS NOT :wanted
    AND ${servedBySkiff('o')}
  ORDER BY o.namespace, o.name LIMIT :limit`;

/** status.loadBalancer.ingress for an address: an IP, or a hostname. */
export function loadBalancerIngress(address: string): { ip: string }[] | { hostname: string }[] {
  if (!address) return [];
  return isIPv4(address) || isIPv6(address) ? [{ ip: address }] : [{ hostname: address }];
}

export async function ingressStatus(ctx: PassContext): Promise<void> {
  const wanted = loadBalancerIngress(ctx.opts.ingressAddress);
  // Minified as SQLite's `->` renders JSON, so equal lists compare equal as text.
  const [rows] = await ctx.store.rows([{ sql: STALE_SQL, args: { wanted: JSON.stringify(wanted), limit: ctx.opts.batchSize } }]);
  if (rows.length === 0) return;
  const items = rows.map((row) => {
    const ing = objectOf(row);
    const status = (ing.status ?? {}) as Record<string, unknown>;
    const next = { ...ing, status: { ...status, loadBalancer: wanted.length ? { ingress: wanted } : {} } };
    return { object: next, rv: Number(row.rv) };
  });
  const ops: WriteOp[] = [{ op: 'updates', items }];
  await ctx.commit(ops);
}
