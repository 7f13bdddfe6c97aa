// The usage nodes report (tables pod_usage and node_usage): written by a node's report, one round trip
// however many pods, and read by `kubectl top` where a node cannot be asked, and by the
// HorizontalPodAutoscaler controller (control/hpa-reads.ts).
import type { Store } from './store.js';

/** How often agents report: metrics-server's default --metric-resolution. */
export const USAGE_REPORT_INTERVAL_MS = 15_000;

/**
 * A report older than this is stale: the node missed four reports in a row (it is gone, or cannot
 * reach the control plane), and its pods count as having no metrics, as metrics-server drops a node it
 * could not scrape.
 */
export const USAGE_STALE_MS = 4 * USAGE_REPORT_INTERVAL_MS;

/** Rows older than this are deleted by the next report of any node. */
const USAGE_EXPIRY_MS = 10 * 60_000;

/** A node's report: what the agent samples (tunnel/head.ts's NodeStats has the same shape). */
export interface UsageReport {
  /** RFC 3339, when the node sampled. */
  timestamp: string;
  windowSeconds: number;
  node?: { cpuNanoCores: number; memoryBytes: number };
  pods: { namespace?: string; name?: string; uid: string; containers: { name: string; cpuNanoCores: number; memoryBytes: number }[] }[];
}

/** The most pods one report may carry. */
export const MAX_REPORTED_PODS = 5000;

export interface StoredPodUsage {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  cpuNanoCores: number;
  memoryBytes: number;
  containers: { name: string; cpu: number; memory: number }[];
  windowMs: number;
  sampled: number;
}

export interface StoredNodeUsage {
  node: string;
  cpuNanoCores: number;
  memoryBytes: number;
  windowMs: number;
  sampled: number;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined);

/** The report as rows, or a reason it is malformed. */
export function checkReport(body: unknown): { ok: true; report: UsageReport } | { ok: false; reason: string } {
  const r = body as Partial<UsageReport> | null;
  if (!r || typeof r !== 'object') return { ok: false, reason: 'the report must be a JSON object' };
  if (typeof r.timestamp !== 'string' || Number.isNaN(Date.parse(r.timestamp))) return { ok: false, reason: 'timestamp must be an RFC 3339 time' };
  if (num(r.windowSeconds) === undefined) return { ok: false, reason: 'windowSeconds must be a number of seconds' };
  if (!Array.isArray(r.pods)) return { ok: false, reason: 'pods must be a list' };
  if (r.pods.length > MAX_REPORTED_PODS) return { ok: false, reason: `a report carries at most ${MAX_REPORTED_PODS} pods` };
  for (const p of r.pods) {
    if (!p || typeof p.uid !== 'string' || !Array.isArray(p.containers)) return { ok: false, reason: 'each pod needs a uid and a list of containers' };
    for (const c of p.containers) {
      if (!c || typeof c.name !== 'string' || num(c.cpuNanoCores) === undefined || num(c.memoryBytes) === undefined) {
        return { ok: false, reason: 'each container needs a name, cpuNanoCores and memoryBytes' };
      }
    }
  }
  if (r.node && (num(r.node.cpuNanoCores) === undefined || num(r.node.memoryBytes) === undefined)) {
    return { ok: false, reason: 'node needs cpuNanoCores and memoryBytes' };
  }
  return { ok: true, report: r as UsageReport };
}

/**
 * Stores `node`'s report received at `now` (ms): its pods' rows replace those it reported before, only
 * for pods bound to it (a node reports its own pods alone; namespace and name come from the pod); a
 * pod with no container measured is left out, as metrics-server leaves it out. One round trip.
 */
export async function storeUsageReport(store: Store, node: string, report: UsageReport, now: number): Promise<void> {
  const sampled = Date.parse(report.timestamp);
  const windowMs = Math.round(report.windowSeconds * 1000);
  const pods = report.pods
    .filter((p) => p.containers.length > 0)
    .map((p) => ({
      uid: p.uid,
      cpu: p.containers.reduce((n, c) => n + Math.round(c.cpuNanoCores), 0),
      memory: p.containers.reduce((n, c) => n + Math.round(c.memoryBytes), 0),
      containers: p.containers.map((c) => ({ name: c.name, cpu: Math.round(c.cpuNanoCores), memory: Math.round(c.memoryBytes) })),
    }));
  const stmts = [
    { sql: 'DELETE FROM pod_usage WHERE node = ?', args: [node] },
    {
      sql: `INSERT INTO pod_usage (uid, namespace, name, node, cpu_nanocores, memory_bytes, containers, window_ms, sampled, received)
        SELECT o.uid, o.namespace, o.name, ?, p.value ->> '$.cpu', p.value ->> '$.memory', p.value -> '$.containers', ?, ?, ?
        FROM json_each(?) p JOIN objects o ON o.uid = p.value ->> '$.uid' AND o.kind = 'Pod' AND o.node_name = ?
        ON CONFLICT (uid) DO UPDATE SET node = excluded.node, cpu_nanocores = excluded.cpu_nanocores, memory_bytes = excluded.memory_bytes,
          containers = excluded.containers, window_ms = excluded.window_ms, sampled = excluded.sampled, received = excluded.received`,
      args: [node, windowMs, sampled, now, JSON.stringify(pods), node],
    },
    { sql: 'DELETE FROM pod_usage WHERE received < ?', args: [now - USAGE_EXPIRY_MS] },
    { sql: 'DELETE FROM node_usage WHERE received < ?', args: [now - USAGE_EXPIRY_MS] },
  ];
  if (report.node) {
    stmts.push({
      sql: `INSERT INTO node_usage (node, cpu_nanocores, memory_bytes, window_ms, sampled, received) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (node) DO UPDATE SET cpu_nanocores = excluded.cpu_nanocores, memory_bytes = excluded.memory_bytes,
          window_ms = excluded.window_ms, sampled = excluded.sampled, received = excluded.received`,
      args: [node, Math.round(report.node.cpuNanoCores), Math.round(report.node.memoryBytes), windowMs, sampled, now],
    });
  }
  store.roundTrips++;
  await store.client.batch(stmts, 'write');
}

/** The fresh usage of the given pods (by uid) and nodes, as of `now` (ms). One round trip. */
export async function readUsage(store: Store, podUids: string[], nodes: string[], now: number): Promise<{ pods: StoredPodUsage[]; nodes: StoredNodeUsage[] }> {
  const [pods, nodeRows] = await store.rows([
    {
      sql: `SELECT uid, namespace, name, node, cpu_nanocores, memory_bytes, containers, window_ms, sampled FROM pod_usage
        WHERE uid IN (SELECT value FROM json_each(?)) AND received >= ?`,
      args: [JSON.stringify(podUids), now - USAGE_STALE_MS],
    },
    {
      sql: `SELECT node, cpu_nanocores, memory_bytes, window_ms, sampled FROM node_usage WHERE node IN (SELECT value FROM json_each(?)) AND received >= ?`,
      args: [JSON.stringify(nodes), now - USAGE_STALE_MS],
    },
  ]);
  return {
    pods: pods.map((r) => ({
      uid: String(r.uid),
      namespace: String(r.namespace),
      name: String(r.name),
      node: String(r.node),
      cpuNanoCores: Number(r.cpu_nanocores),
      memoryBytes: Number(r.memory_bytes),
      containers: JSON.parse(String(r.containers)) as StoredPodUsage['containers'],
      windowMs: Number(r.window_ms),
      sampled: Number(r.sampled),
    })),
    nodes: nodeRows.map((r) => ({
      node: String(r.node),
      cpuNanoCores: Number(r.cpu_nanocores),
      memoryBytes: Number(r.memory_bytes),
      windowMs: Number(r.window_ms),
      sampled: Number(r.sampled),
    })),
  };
}
