// The Fleet: every node with its status, heartbeat, cordon and taints, and what is requested (and
// used) against allocatable, grouped by region / zone. Three watches (nodes, all pods, node leases)
// and a 15 s poll of metrics.k8s.io; per-node totals are derived once per collection change.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useCan } from '../access.js';
import type { Collection } from '../collection.js';
import { useCollection, useDerived, useSession } from '../hooks.js';
import { useClock } from './fleet-clock.js';
import { arrange, leasesByNode, nodeFacts, requestedByNode, usageByNode, type Row, type StatusFilter, type Requested, type Usage } from './fleet-model.js';
import { MemoNodeCard } from './node-card.js';

const NODES = '/api/v1/nodes';
const PODS = '/api/v1/pods';
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
const NODE_METRICS = '/apis/metrics.k8s.io/v1beta1/nodes';
const METRICS_EVERY_MS = 15_000;
/** Cards shown per group before "Show all": enough to scroll, few enough to render at once. */
const CAP = 200;
const STATUS_FILTERS: StatusFilter[] = ['All', 'Ready', 'NotReady', 'Unknown', 'Stale'];

/** Node usage from metrics.k8s.io, asked every 15 s; a failure (no metrics API, refused) is just "no usage". */
function useNodeUsage(): Map<string, Usage> {
  const { api } = useSession();
  const [usage, setUsage] = useState<Map<string, Usage>>(() => new Map());
  useEffect(() => {
    let live = true;
    const poll = () => {
      if (document.visibilityState === 'hidden') return;
      api.get(NODE_METRICS).then(
        (list) => live && setUsage((prev) => keepSame(prev, usageByNode(list))),
        () => live && setUsage((prev) => (prev.size ? new Map() : prev)),
      );
    };
    poll();
    const t = setInterval(poll, METRICS_EVERY_MS);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [api]);
  return usage;
}

/** `next` with the entries equal to `prev`'s kept as they were, so those cards are not rendered again. */
function keepSame(prev: Map<string, Usage>, next: Map<string, Usage>): Map<string, Usage> {
  for (const [k, v] of next) {
    const p = prev.get(k);
    if (p && p.cpu === v.cpu && p.memory === v.memory) next.set(k, p);
  }
  return next;
}

function Stat({ n, label, tone }: { n: number | string; label: string; tone?: string }) {
  return (
    <div class={`stat ${tone ?? ''}`}>
      <b>{n}</b>
      <span>{label}</span>
    </div>
  );
}

function Group({ title, rows, ...cardProps }: {
  title: string;
  rows: Row[];
  requested: Map<string, Requested>;
  requestsKnown: boolean;
  usage: Map<string, Usage>;
  canCordon: boolean;
}) {
  const { api } = useSession();
  const [all, setAll] = useState(false);
  const shown = all ? rows : rows.slice(0, CAP);
  const id = `fleet-group-${title || 'none'}`.replace(/[^\w-]/g, '_');
  const problems = rows.filter((r) => r.facts.status !== 'Ready').length;
  return (
    <section class="fleet-group" aria-labelledby={id}>
      <h2 class="group">
        <span id={id}>{title || 'No region or zone'}</span>
        <span class="group-count">
          {`${rows.length} ${rows.length === 1 ? 'node' : 'nodes'}${problems ? `, ${problems} not ready` : ''}`}
        </span>
      </h2>
      <div class="cards">
        {shown.map((r) => (
          <MemoNodeCard key={r.facts.name} api={api} facts={r.facts} heartbeat={r.heartbeat} stale={r.stale}
            requested={cardProps.requested.get(r.facts.name)} requestsKnown={cardProps.requestsKnown} usage={cardProps.usage.get(r.facts.name)} canCordon={cardProps.canCordon} />
        ))}
      </div>
      {shown.length < rows.length && (
        <p class="show-all">
          <button type="button" class="secondary" onClick={() => setAll(true)}>Show all {rows.length}</button>
        </p>
      )}
    </section>
  );
}

/** Listed, or refused for good (401/403): either way there is nothing more to wait for. */
function settled(c: Collection | undefined): boolean {
  return !!c && (c.synced || c.error?.code === 401 || c.error?.code === 403);
}

export function Fleet() {
  const nodes = useCollection(NODES);
  const pods = useCollection(PODS);
  const leases = useCollection(LEASES);
  const usage = useNodeUsage();
  // Cordon is offered only where RBAC allows patching nodes (asked once for all the cards).
  const canCordon = useCan({ verb: 'patch', group: '', resource: 'nodes' }) !== false;
  const now = useClock();
  const [query, setQuery] = useState('');
  const [statusFilter, setStatusFilter] = useState<StatusFilter>('All');

  const facts = useDerived(() => (nodes?.list() ?? []).map(nodeFacts), [nodes]);
  const previousRequests = useRef<Map<string, Requested> | undefined>(undefined);
  const requested = useDerived(() => (previousRequests.current = requestedByNode(pods?.list() ?? [], previousRequests.current)), [pods]);
  // Leases are read once a second (and when first listed), not per renewal: 1,000 agents renew 100
  // times a second, and the heartbeats tick by the second anyway.
  const leaseFacts = useMemo(() => leasesByNode(leases?.list() ?? []), [now, leases, leases?.synced]);
  const q = query.trim().toLowerCase();
  const view = useMemo(() => arrange(facts, leaseFacts, now, q, statusFilter), [facts, leaseFacts, now, q, statusFilter]);
  const { counts, total, groups } = view;

  // Pods or leases refused (RBAC) leave requests or heartbeats unknown, but do not hold "loaded" back.
  const nodesSynced = !!nodes?.synced;
  const loaded = nodesSynced && settled(leases) && settled(pods);
  const marked = useRef({ rendered: false, loaded: false });
  useEffect(() => {
    if (nodesSynced && !marked.current.rendered) {
      marked.current.rendered = true;
      performance.mark('skiff:fleet-rendered');
    }
    if (loaded && !marked.current.loaded) {
      marked.current.loaded = true;
      performance.mark('skiff:fleet-loaded');
    }
  });

  // Requests are shown once the whole pod list is in (a partial sum would understate them).
  const requestsKnown = !!pods?.synced;
  // The same elements while nothing they show changed: Preact skips them without a look inside.
  const cards = useMemo(() => groups.map((g) => (
    <Group key={g.title} title={g.title} rows={g.rows} requested={requested} requestsKnown={requestsKnown} usage={usage} canCordon={canCordon} />
  )), [groups, requested, requestsKnown, usage, canCordon]);

  return (
    <div class="fleet" data-testid="fleet" data-loaded={loaded ? 'true' : undefined}>
      <h1 class="visually-hidden">Fleet</h1>
      {nodes?.error && <p role="alert" class="error">Nodes: {nodes.error.message}</p>}
      <div class="summary" aria-label="Fleet summary" role="group">
        <Stat n={total} label="nodes" />
        <Stat n={counts.Ready} label="Ready" tone="ok" />
        <Stat n={counts.NotReady} label="NotReady" tone={counts.NotReady ? 'bad' : undefined} />
        <Stat n={counts.Unknown} label="Unknown" tone={counts.Unknown ? 'unknown' : undefined} />
        <Stat n={counts.stale} label="stale" tone={counts.stale ? 'warn' : undefined} />
        <Stat n={counts.cordoned} label="cordoned" tone={counts.cordoned ? 'warn' : undefined} />
        <Stat n={requestsKnown ? pods!.items.size : '–'} label="pods" />
      </div>
      {pods?.error && !pods.synced && (
        <p role="alert" class="notice">
          Requested cpu, memory and pods are unavailable: the pods could not be listed ({pods.error.message}).
        </p>
      )}
      {leases?.error && !leases.synced && (
        <p role="alert" class="notice">
          Node leases could not be read ({leases.error.message}); heartbeats are from the nodes' Ready condition.
        </p>
      )}
      <div class="toolbar">
        <input type="search" aria-label="Filter nodes" placeholder="Name or label" value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        <select aria-label="Status" value={statusFilter} onChange={(e) => setStatusFilter((e.target as HTMLSelectElement).value as StatusFilter)}>
          {STATUS_FILTERS.map((s) => <option value={s}>{s === 'All' ? 'All statuses' : s}</option>)}
        </select>
      </div>
      <p class="fleet-legend muted">
        Bars: requested of allocatable; <span class="legend-used" aria-hidden="true" /> used, where reported.
      </p>
      {!nodesSynced && total === 0 && !nodes?.error && <p class="empty">Loading nodes…</p>}
      {nodesSynced && total === 0 && <p class="empty">No nodes have registered yet.</p>}
      {total > 0 && groups.length === 0 && <p class="empty">No nodes match the filter.</p>}
      {cards}
    </div>
  );
}
