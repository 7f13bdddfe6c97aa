import { TAINT_NODE_UNREACHABLE } from '../kinds/pod.js';
import type { KObject } from '../kinds/types.js';
import { objectOf, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';
import { deleteOp } from './deletion.js';
import { changedHealth, changedNode, healthOf, MANAGED_TAINTS, NODE_HEALTH_SQL, nodeChange, toNodeHealth, type NodeHealth } from './node-health.js';
import type { Toleration } from './scheduling.js';
import { evictionSecondsSql, evictionTime } from './taint-eviction.js';

// Node heartbeats and failure recovery, as kube-controller-manager's node lifecycle controller,
// taint-eviction controller and pod GC do them:
// - a node whose lease (kube-node-lease/NAME) is older than node-monitor-grace-period gets Ready=Unknown and
//   the unreachable taints; one that reports Ready=False gets the not-ready taints; a renewed lease clears them;
// - pods on a node with a NoExecute taint they do not tolerate are evicted, at once or when their
//   tolerationSeconds run out; pods on an unreachable node are marked not ready;
// - pods still terminating on a node that is gone or not ready, past their grace period, are removed,
//   and so are pods bound to a node that does not exist.
// Round trips:
// 1. a slim health row per Node (name, rv, lease renewal, Ready condition, taints: never the whole Node)
//    and the names of nodes that pods are bound to but that do not exist. An idle pass is this alone.
// 2. only when a node must change, or some node is troubled (a NoExecute or managed taint, as this pass
//    leaves it) or missing: the Nodes to change, whole, and the pods on troubled or missing nodes that
//    are due for a write now, found in SQL from the nodes' taints as this pass leaves them, soonest due
//    first; whole only those to update (marked not ready, evicted), key columns for those to delete.
// 3. the write.
// At most batchSize objects read whole and written: the Nodes to change first, then pods.

const COMPONENT = 'node-controller';
const EVICTION_COMPONENT = 'taint-eviction-controller';

/**
 * Names that pods are bound to but that are not Nodes. The bound names are walked one index seek at a
 * time (a skip scan): SQLite reads every pod row for a DISTINCT over an indexed generated column.
 */
const MISSING_NODES_SQL = `WITH RECURSIVE bound(name) AS (
    SELECT MIN(node_name) FROM objects WHERE kind = 'Pod' AND node_name > ''
    UNION ALL
    SELECT (SELECT MIN(node_name) FROM objects WHERE kind = 'Pod' AND node_name > bound.name) FROM bound WHERE bound.name IS NOT NULL)
  SELECT name FROM bound
  WHERE name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM objects n WHERE n.kind = 'Node' AND n.namespace = '' AND n.name = bound.name)`;

const DELETION = `p.object ->> '$.metadata.deletionTimestamp'`;

/**
 * The pods due for a write now on the nodes given as JSON (name, present, ready, unreachable, taints),
 * soonest due first, with the whole object of those to update. It mirrors the decisions in JS below,
 * which has the last word.
 */
const PODS_DUE_SQL = `WITH nodes AS MATERIALIZED (
    SELECT value ->> 'name' AS name, value ->> 'present' AS present, value ->> 'ready' AS ready,
      value ->> 'unreachable' AS unreachable, value -> 'taints' AS taints
    FROM json_each(:nodes)
  ),
  due AS MATERIALIZED (
    SELECT p.namespace, p.name, p.rv, p.node_name, n.present, ${DELETION} AS deletion,
      CASE
        WHEN NOT n.present THEN CASE WHEN ${DELETION} IS NULL THEN 0 ELSE unixepoch(${DELETION}) END
        WHEN ${DELETION} IS NOT NULL THEN CASE WHEN n.ready IS NOT 'True' THEN unixepoch(${DELETION}) END
        WHEN n.unreachable AND p.summary ->> '$.ready' THEN 0
        ELSE ${evictionSecondsSql('n.taints', `p.object -> '$.spec.tolerations'`)}
      END AS at
    FROM nodes n CROSS JOIN objects p ON p.kind = 'Pod' AND p.node_name = n.name
  )
  SELECT d.namespace, d.name, d.rv, d.node_name, d.deletion, w.object
  FROM (SELECT * FROM due WHERE at <= :now ORDER BY at, namespace, name LIMIT :limit) d
  LEFT JOIN objects w ON d.present AND d.deletion IS NULL AND w.kind = 'Pod' AND w.namespace = d.namespace AND w.name = d.name`;

interface DuePod {
  namespace: string;
  name: string;
  rv: number;
  nodeName: string;
  deletion?: string;
  /** The whole pod, when it is to be updated. */
  object?: KObject;
}

function toDuePod(r: Record<string, unknown>): DuePod {
  return {
    namespace: String(r.namespace),
    name: String(r.name),
    rv: Number(r.rv),
    nodeName: String(r.node_name),
    deletion: (r.deletion as string | null) ?? undefined,
    object: r.object ? objectOf(r) : undefined,
  };
}

/** A node as PODS_DUE_SQL takes it. */
function dueNode(name: string, h: NodeHealth | undefined) {
  if (!h) return { name, present: false };
  return { name, present: true, ready: h.ready?.status, unreachable: h.taints.some((t) => t.key === TAINT_NODE_UNREACHABLE), taints: h.taints };
}

const troubled = (h: NodeHealth) => h.taints.some((t) => t.effect === 'NoExecute' || MANAGED_TAINTS.includes(t.key));

/** Pod GC: a pod bound to a node that does not exist, or that cannot finish terminating (node gone or not ready) past its grace. */
function podGcOp(pod: DuePod, node: NodeHealth | undefined, now: Date): WriteOp | undefined {
  const remove: WriteOp = { op: 'delete', kind: 'Pod', namespace: pod.namespace, name: pod.name, rv: pod.rv };
  if (!pod.deletion) return node ? undefined : remove;
  return (!node || node.ready?.status !== 'True') && Date.parse(pod.deletion) <= now.getTime() ? remove : undefined;
}

interface Condition {
  type: string;
  status: string;
  lastTransitionTime?: string;
}

function podReadyFalse(ctx: PassContext, pod: KObject): KObject | undefined {
  const status = (pod.status ?? {}) as { conditions?: Condition[] };
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return undefined;
  const next = structuredClone(pod);
  const conditions = (next.status as { conditions: Condition[] }).conditions;
  for (const c of conditions) {
    if (c.type === 'Ready' || c.type === 'ContainersReady') {
      c.status = 'False';
      c.lastTransitionTime = ctx.timestamp();
    }
  }
  return next;
}

/** The taint manager on one pod (read whole): marked not ready on an unreachable node, evicted once its tolerations run out. */
function evictionOp(ctx: PassContext, pod: KObject, node: NodeHealth): WriteOp | undefined {
  const unknown = node.taints.some((t) => t.key === TAINT_NODE_UNREACHABLE);
  const base = (unknown && podReadyFalse(ctx, pod)) || pod;
  const at = evictionTime(((pod.spec as { tolerations?: Toleration[] }).tolerations ?? []), node.taints);
  if (at !== undefined && at <= ctx.now().getTime()) {
    const op = deleteOp(base, ctx.now());
    if (op) ctx.event({ involved: pod, type: 'Normal', reason: 'TaintManagerEviction', message: `Marking for deletion Pod ${pod.metadata!.namespace}/${pod.metadata!.name}`, component: EVICTION_COMPONENT });
    return op;
  }
  return base !== pod ? { op: 'update', object: base, rv: Number(pod.metadata!.resourceVersion) } : undefined;
}

export async function nodeLifecycle(ctx: PassContext): Promise<void> {
  const { batchSize, nodeMonitorGracePeriodSeconds: grace } = ctx.opts;
  const [now, stamp] = [ctx.now(), ctx.timestamp()];
  const [healthRows, missingRows] = await ctx.store.rows([NODE_HEALTH_SQL, MISSING_NODES_SQL]);
  const health = new Map(healthRows.map((r) => [String(r.name), toNodeHealth(r)]));
  ctx.nodesWithoutPodCidr = [...health.values()].filter((h) => !h.podCIDR).map((h) => h.name);

  // The nodes as this pass will leave them: pods are found due, and judged, by those.
  const changing: string[] = [];
  for (const h of health.values()) {
    const change = changing.length < batchSize ? nodeChange(h, now, stamp, grace) : undefined;
    if (!change) continue;
    changing.push(h.name);
    health.set(h.name, changedHealth(h, change));
  }
  const podNodes = [
    ...[...health.values()].filter(troubled).map((h) => dueNode(h.name, h)),
    ...missingRows.map((r) => dueNode(String(r.name), undefined)),
  ];
  if (changing.length === 0 && podNodes.length === 0) return;

  const [nodeRows, dueRows] = await ctx.store.rows([
    { sql: `SELECT rv, object FROM objects WHERE kind = 'Node' AND namespace = '' AND name IN (SELECT value FROM json_each(?))`, args: [JSON.stringify(changing)] },
    { sql: PODS_DUE_SQL, args: { nodes: JSON.stringify(podNodes), now: Math.floor(now.getTime() / 1000), limit: batchSize - changing.length } },
  ]);

  const ops: WriteOp[] = [];
  // Each node is checked again whole (it may have changed since its slim row); where it no longer needs
  // the change, its pods are judged by the node as it is.
  for (const node of nodeRows.map(objectOf)) {
    const name = node.metadata!.name!;
    const current = healthOf(node, health.get(name)?.renew);
    const change = nodeChange(current, now, stamp, grace);
    health.set(name, changedHealth(current, change));
    if (!change) continue;
    ops.push({ op: 'update', object: changedNode(node, change), rv: Number(node.metadata!.resourceVersion) });
    if (change.event) ctx.event({ involved: node, type: 'Normal', reason: change.event, message: `Node ${name} status is now: ${change.event}`, component: COMPONENT });
  }
  for (const pod of dueRows.map(toDuePod)) {
    const node = health.get(pod.nodeName);
    const op = pod.object ? node && evictionOp(ctx, pod.object, node) : podGcOp(pod, node, now);
    if (op) ops.push(op);
  }
  await ctx.commit(ops);
}
