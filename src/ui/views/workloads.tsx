// The Workloads view: Deployments with their rollouts, and DaemonSets, Jobs and CronJobs, one kind
// at a time behind tabs (#/workloads/KIND), so at most two watches are open for it: a browser has
// six connections per host and every watch holds one.
import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { collectionPath } from '../api.js';
import type { Collection, Obj } from '../collection.js';
import { useCollection, useDerived, useNow, useSession } from '../hooks.js';
import { ShowMore, useRowLimit } from '../row-limit.js';
import { DeploymentCard } from './rollout.js';
import { CronJobCard, DaemonSetCard, JobCard } from './workload-cards.js';
import { byNamespaceAndName, deploymentRollout, jobStatus, matches, replicaSetsByOwner } from './workload-status.js';

const KINDS = [
  { id: 'deployments', label: 'Deployments' },
  { id: 'daemonsets', label: 'DaemonSets' },
  { id: 'jobs', label: 'Jobs' },
  { id: 'cronjobs', label: 'CronJobs' },
] as const;
type Kind = (typeof KINDS)[number]['id'];

function tabFromHash(): Kind {
  const arg = location.hash.replace(/^#\/?/, '').split('/')[1];
  return KINDS.find((k) => k.id === arg)?.id ?? 'deployments';
}

/** The chosen kind, kept in the hash (#/workloads/jobs) so a reload or a shared link keeps it. */
function useTab(): [Kind, (k: Kind) => void] {
  const [tab, setTabState] = useState(tabFromHash);
  const setTab = (k: Kind) => {
    setTabState(k);
    // replaceState: switching tabs is not worth a history entry each, nor a hashchange re-route.
    history.replaceState(null, '', `#/workloads/${k}`);
  };
  return [tab, setTab];
}

function Tabs({ tab, onChange }: { tab: Kind; onChange: (k: Kind) => void }) {
  // The WAI-ARIA tabs pattern: one tab in the Tab order, arrows / Home / End move and select.
  const onKeyDown = (e: KeyboardEvent) => {
    const i = KINDS.findIndex((k) => k.id === tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: KINDS.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    const k = KINDS[(next + KINDS.length) % KINDS.length]!.id;
    onChange(k);
    document.getElementById(`wl-tab-${k}`)?.focus();
  };
  return (
    <div class="wl-tabs" role="tablist" aria-label="Workload kind" onKeyDown={onKeyDown}>
      {KINDS.map((k) => (
        <button type="button" role="tab" id={`wl-tab-${k.id}`} aria-selected={tab === k.id} aria-controls="wl-panel"
          tabIndex={tab === k.id ? 0 : -1} onClick={() => onChange(k.id)}>{k.label}</button>
      ))}
    </div>
  );
}

/**
 * Loading, empty and refused states of a collection. A kind the server does not serve (404) or the
 * user may not list (403) is a quiet note: a console shows what the identity can see.
 */
function CollectionState({ c, what, count, filter }: { c: Collection | undefined; what: string; count: number; filter: string }) {
  const { namespace } = useSession();
  if (!c) return null;
  const e = c.error;
  if (e && (e.code === 403 || e.code === 404)) {
    return <p class="empty wl-quiet">{e.code === 404 ? `${what} are not served here` : `${what} are not visible to you`}: {e.message}</p>;
  }
  if (e) return <p role="alert" class="error wl-feedback">Could not watch {what}: {e.message} (retrying)</p>;
  if (count > 0) return null;
  if (!c.synced) return <p class="empty">Loading {what}…</p>;
  if (filter) return <p class="empty">No {what} match “{filter}”.</p>;
  return <p class="empty">No {what} in {namespace ? `namespace ${namespace}` : 'any namespace'}.</p>;
}

function Cards({ items, render, wide }: { items: Obj[]; render: (o: Obj) => JSX.Element; wide?: boolean }) {
  const [limit, more] = useRowLimit([]);
  if (!items.length) return null;
  return (
    <>
      <div class={`cards wl-cards ${wide ? 'wide' : ''}`}>{items.slice(0, limit).map(render)}</div>
      <ShowMore shown={Math.min(limit, items.length)} total={items.length} onMore={more} />
    </>
  );
}

function Counts({ parts }: { parts: [number, string, string][] }) {
  const shown = parts.filter(([n], i) => i === 0 || n > 0);
  return (
    <p class="wl-counts">
      {shown.map(([n, label, tone]) => <span class={`badge ${tone}`}>{n} {label}</span>)}
    </p>
  );
}

function DeploymentsPanel({ filter, now }: { filter: string; now: number }) {
  const { namespace } = useSession();
  const deps = useCollection(collectionPath('apps/v1', 'deployments', namespace));
  const rss = useCollection(collectionPath('apps/v1', 'replicasets', namespace));
  const byOwner = useDerived(() => replicaSetsByOwner(rss?.list() ?? []), [rss]);
  const states = useDerived(() => {
    const n = { all: 0, Progressing: 0, Paused: 0, Failed: 0 } as Record<string, number>;
    for (const d of deps?.list() ?? []) {
      n.all!++;
      const s = deploymentRollout(d).state;
      if (s in n) n[s]!++;
    }
    return n;
  }, [deps]);
  const list = useDerived(() => (deps?.list() ?? []).filter((d) => matches(d, filter, d.spec?.template)).sort(byNamespaceAndName), [deps], [filter]);
  const rsError = rss?.error && (rss.error.code === 403 || rss.error.code === 404) ? rss.error : undefined;
  return (
    <>
      {states.all! > 0 && <Counts parts={[[states.all!, states.all === 1 ? 'deployment' : 'deployments', ''], [states.Progressing!, 'progressing', 'warn'], [states.Paused!, 'paused', 'unknown'], [states.Failed!, 'failed', 'bad']]} />}
      <CollectionState c={deps} what="Deployments" count={list.length} filter={filter} />
      <Cards wide items={list} render={(d) => <DeploymentCard key={d.metadata.uid} d={d} owned={byOwner.get(d.metadata.uid) ?? []} rsError={rsError} now={now} />} />
    </>
  );
}

function DaemonSetsPanel({ filter, now }: { filter: string; now: number }) {
  const { namespace } = useSession();
  const c = useCollection(collectionPath('apps/v1', 'daemonsets', namespace));
  const list = useDerived(() => (c?.list() ?? []).filter((o) => matches(o, filter, o.spec?.template)).sort(byNamespaceAndName), [c], [filter]);
  return (
    <>
      <CollectionState c={c} what="DaemonSets" count={list.length} filter={filter} />
      <Cards items={list} render={(o) => <DaemonSetCard key={o.metadata.uid} ds={o} now={now} />} />
    </>
  );
}

function JobsPanel({ filter, now }: { filter: string; now: number }) {
  const { namespace } = useSession();
  const c = useCollection(collectionPath('batch/v1', 'jobs', namespace));
  // Newest first: the Jobs a CronJob just made matter more than last week's.
  const list = useDerived(() => (c?.list() ?? []).filter((o) => matches(o, filter, o.spec?.template))
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') || byNamespaceAndName(a, b)), [c], [filter]);
  const states = useDerived(() => {
    const n: Record<string, number> = { all: 0, Running: 0, Failed: 0 };
    for (const j of c?.list() ?? []) {
      n.all!++;
      const s = jobStatus(j);
      if (s in n) n[s]!++;
    }
    return n;
  }, [c]);
  return (
    <>
      {states.all! > 0 && <Counts parts={[[states.all!, states.all === 1 ? 'job' : 'jobs', ''], [states.Running!, 'running', 'warn'], [states.Failed!, 'failed', 'bad']]} />}
      <CollectionState c={c} what="Jobs" count={list.length} filter={filter} />
      <Cards items={list} render={(o) => <JobCard key={o.metadata.uid} job={o} now={now} />} />
    </>
  );
}

function CronJobsPanel({ filter, now }: { filter: string; now: number }) {
  const { namespace } = useSession();
  const c = useCollection(collectionPath('batch/v1', 'cronjobs', namespace));
  const list = useDerived(() => (c?.list() ?? []).filter((o) => matches(o, filter, o.spec?.jobTemplate?.spec?.template)).sort(byNamespaceAndName), [c], [filter]);
  return (
    <>
      <CollectionState c={c} what="CronJobs" count={list.length} filter={filter} />
      <Cards items={list} render={(o) => <CronJobCard key={o.metadata.uid} cj={o} now={now} />} />
    </>
  );
}

export function Workloads() {
  const [tab, setTab] = useTab();
  const [filter, setFilter] = useState('');
  const now = useNow(2000);
  const f = filter.trim();
  const Panel = { deployments: DeploymentsPanel, daemonsets: DaemonSetsPanel, jobs: JobsPanel, cronjobs: CronJobsPanel }[tab];
  return (
    <section class="wl" aria-labelledby="wl-heading">
      <h2 id="wl-heading" class="wl-sr">Workloads</h2>
      <div class="toolbar wl-toolbar">
        <Tabs tab={tab} onChange={setTab} />
        <input type="search" aria-label="Filter workloads" placeholder="Filter by name or image" value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      </div>
      <div role="tabpanel" id="wl-panel" aria-labelledby={`wl-tab-${tab}`}>
        <Panel filter={f} now={now} />
      </div>
    </section>
  );
}
