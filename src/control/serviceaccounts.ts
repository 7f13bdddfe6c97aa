import type { KObject } from '../kinds/types.js';
import type { PassContext } from './context.js';

// kube-controller-manager's serviceaccount controller: every namespace that is not being deleted
// has a ServiceAccount named `default`, made again if deleted. Set-based: one read finds the
// namespaces without one (in SQL, by the primary key, at most batchSize), one write creates them all,
// each only if absent and only in a namespace still live when written. Idle: the one read, no row.

export const DEFAULT_SERVICE_ACCOUNT = 'default';

const MISSING_SQL = `SELECT n.name FROM objects n
  WHERE n.kind = 'Namespace' AND n.namespace = '' AND json_extract(n.object, '$.metadata.deletionTimestamp') IS NULL
    AND NOT EXISTS (SELECT 1 FROM objects s WHERE s.kind = 'ServiceAccount' AND s.namespace = n.name AND s.name = ?)
  ORDER BY n.name LIMIT ?`;

export async function serviceAccounts(ctx: PassContext): Promise<void> {
  const [rows] = await ctx.store.rows([{ sql: MISSING_SQL, args: [DEFAULT_SERVICE_ACCOUNT, ctx.opts.batchSize] }]);
  if (!rows?.length) return;
  const now = ctx.timestamp();
  const objects: KObject[] = rows.map((r) => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace: String(r.name), uid: crypto.randomUUID(), creationTimestamp: now },
  }));
  await ctx.commit([{ op: 'creates', objects, requireNamespace: true }]);
}
