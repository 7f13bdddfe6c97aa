// One pod, as `kubectl describe pod` tells it, kept live: a watch of just this pod (fieldSelector
// metadata.name) and of its events (involvedObject.name and kind, both field selectors skiff serves),
// its containers' states, its log streamed, and a Delete.
import { useEffect, useState } from 'preact/hooks';
import { useCan } from '../access.js';
import { ApiFailure, collectionPath, objectPath } from '../api.js';
import type { Obj } from '../collection.js';
import { age } from '../format.js';
import { useCollection, useDerived, useNow, useSession } from '../hooks.js';
import { podQOSClass, podStatusCells } from '../../kinds/pod.js';
import { EventTable, sortEvents } from './event-list.js';
import { PodLogs } from './logs.js';
import { StatusBadge } from './pod-status.js';

const EVENTS_SHOWN = 20;

export function PodDetail({ namespace, name }: { namespace: string; name: string }) {
  // Keyed, so moving to another pod starts afresh (its log stream, "was deleted", the confirm).
  return <PodView key={`${namespace}/${name}`} namespace={namespace} name={name} />;
}

function PodView({ namespace, name }: { namespace: string; name: string }) {
  const pods = useCollection(collectionPath('v1', 'pods', namespace), new URLSearchParams({ fieldSelector: `metadata.name=${name}` }).toString());
  const events = useCollection(collectionPath('v1', 'events', namespace),
    new URLSearchParams({ fieldSelector: `involvedObject.name=${name},involvedObject.kind=Pod` }).toString());
  const now = new Date(useNow(1000));
  const pod = pods?.get(namespace, name);
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    if (pod) setSeen(true);
  }, [!!pod]);
  const uid = pod?.metadata.uid;
  // Events of an earlier pod of the same name carry another uid (kubectl describe selects on uid too).
  const podEvents = useDerived(
    () => sortEvents((events?.list() ?? []).filter((e) => !uid || !e.involvedObject?.uid || e.involvedObject.uid === uid)),
    [events], [uid],
  );

  const back = <p><a href="#/pods">← Pods</a></p>;
  if (pods?.error && !pod) return <section>{back}<p role="alert" class="error">{pods.error.message}</p></section>;
  if (!pod) {
    if (!pods?.synced) return <section>{back}<p class="empty">Loading pod {namespace}/{name}…</p></section>;
    return (
      <section>
        {back}
        <h2>{name}</h2>
        <p class="empty" role="status">{seen ? `Pod ${name} was deleted.` : `Pod ${name} was not found in namespace ${namespace}.`}</p>
      </section>
    );
  }
  const cells = podStatusCells(pod, now);
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  const ips: string[] = (status.podIPs ?? []).map((p: any) => p.ip).filter(Boolean);
  if (!ips.length && status.podIP) ips.push(status.podIP);
  const labels = Object.entries(pod.metadata.labels ?? {});
  return (
    <article class="pod-detail" aria-labelledby="pod-title">
      {back}
      <header class="pod-head">
        <h2 id="pod-title">{name}</h2>
        <StatusBadge pod={pod} status={cells.status} />
        <DeletePod pod={pod} />
      </header>
      {pods?.error && <p role="alert" class="error">{pods.error.message}</p>}
      <dl class="kv">
        <dt>Namespace</dt><dd>{namespace}</dd>
        <dt>Status</dt><dd>{cells.status}{status.phase && status.phase !== cells.status ? ` (phase ${status.phase})` : ''}{status.message ? ` · ${status.message}` : ''}</dd>
        <dt>Ready</dt><dd>{cells.ready}</dd>
        <dt>Restarts</dt><dd>{cells.restarts}</dd>
        <dt>Node</dt><dd>{spec.nodeName ? <a href="#/fleet">{spec.nodeName}</a> : <span class="muted">not scheduled</span>}{status.nominatedNodeName ? ` (nominated ${status.nominatedNodeName})` : ''}</dd>
        <dt>IP</dt><dd class="mono">{ips.length ? ips.join(', ') : <span class="muted">&lt;none&gt;</span>}</dd>
        {status.hostIP && <><dt>Host IP</dt><dd class="mono">{status.hostIP}</dd></>}
        <dt>QoS class</dt><dd>{status.qosClass ?? podQOSClass(pod)}</dd>
        <dt>Age</dt><dd>{age(pod.metadata.creationTimestamp, now)}{status.startTime ? ` (started ${age(status.startTime, now)} ago)` : ''}</dd>
        <dt>Controlled by</dt><dd><Owner pod={pod} /></dd>
        {spec.serviceAccountName && <><dt>Service account</dt><dd>{spec.serviceAccountName}</dd></>}
        <dt>Labels</dt>
        <dd>{labels.length ? <span class="tags">{labels.map(([k, v]) => <span class="badge">{k}={v}</span>)}</span> : <span class="muted">&lt;none&gt;</span>}</dd>
      </dl>

      <section aria-labelledby="pod-containers">
        <h3 id="pod-containers">Containers</h3>
        <div class="cards">
          {(spec.initContainers ?? []).map((c: any) => <Container spec={c} status={statusOf(status.initContainerStatuses, c.name)} init now={now} />)}
          {(spec.containers ?? []).map((c: any) => <Container spec={c} status={statusOf(status.containerStatuses, c.name)} now={now} />)}
        </div>
      </section>

      <PodEvents events={podEvents} now={now} error={events?.error?.message} loading={!events?.synced} />

      <section aria-labelledby="pod-logs-title">
        <h3 id="pod-logs-title">Logs</h3>
        <PodLogs pod={pod} />
      </section>

      <section aria-labelledby="pod-conditions">
        <h3 id="pod-conditions">Conditions</h3>
        {(status.conditions ?? []).length === 0 ? <p class="empty">None reported yet.</p> : (
          <div class="table-wrap">
            <table class="list" aria-label="Conditions">
              <thead><tr><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Since</th><th scope="col">Message</th></tr></thead>
              <tbody>
                {status.conditions.map((c: any) => (
                  <tr>
                    <td>{c.type}</td>
                    <td><span class={`badge ${c.status === 'True' ? 'ok' : c.status === 'False' ? 'warn' : 'unknown'}`}>{c.status}</span></td>
                    <td>{c.reason ?? ''}</td>
                    <td>{c.lastTransitionTime ? age(c.lastTransitionTime, now) : ''}</td>
                    <td class="wrap">{c.message ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </article>
  );
}

function statusOf(list: any[] | undefined, name: string): any {
  return (list ?? []).find((s) => s?.name === name);
}

function stateText(state: any, now: Date): { text: string; tone: string } {
  if (state?.running) return { text: `Running${state.running.startedAt ? `, started ${age(state.running.startedAt, now)} ago` : ''}`, tone: 'ok' };
  if (state?.waiting) return { text: `Waiting: ${state.waiting.reason ?? ''}${state.waiting.message ? ` (${state.waiting.message})` : ''}`, tone: state.waiting.reason === 'ContainerCreating' || state.waiting.reason === 'PodInitializing' ? 'warn' : 'bad' };
  if (state?.terminated) return { text: terminatedText(state.terminated, now), tone: (state.terminated.exitCode ?? 0) === 0 ? '' : 'bad' };
  return { text: 'Not started', tone: 'warn' };
}

function terminatedText(t: any, now: Date): string {
  const parts = [`exit code ${t.exitCode ?? 0}`];
  if (t.signal) parts.push(`signal ${t.signal}`);
  if (t.finishedAt) parts.push(`${age(t.finishedAt, now)} ago`);
  return `Terminated: ${t.reason ?? 'Unknown'} (${parts.join(', ')})${t.message ? `: ${t.message}` : ''}`;
}

function Container({ spec, status, init = false, now }: { spec: any; status: any; init?: boolean; now: Date }) {
  const state = stateText(status?.state, now);
  const last = status?.lastState?.terminated;
  const ports = (spec.ports ?? []).map((p: any) => `${p.name ? `${p.name}:` : ''}${p.containerPort}/${p.protocol ?? 'TCP'}`);
  return (
    <div class="card" aria-label={`Container ${spec.name}`} role="group">
      <header>
        <span class="name">{spec.name}{init ? <span class="muted"> (init)</span> : null}</span>
        <span class={`badge ${status?.ready ? 'ok' : state.tone}`}>{status?.ready ? 'Ready' : Object.keys(status?.state ?? {})[0] ?? 'pending'}</span>
      </header>
      <dl class="kv">
        <dt>Image</dt><dd class="mono">{spec.image}</dd>
        {spec.command && <><dt>Command</dt><dd class="mono">{[...spec.command, ...(spec.args ?? [])].join(' ')}</dd></>}
        <dt>State</dt><dd>{state.text}</dd>
        <dt>Ready</dt><dd>{status?.ready ? 'yes' : 'no'}</dd>
        <dt>Restarts</dt><dd>{status?.restartCount ?? 0}</dd>
        {last && <><dt>Last termination</dt><dd>{terminatedText(last, now)}</dd></>}
        {ports.length > 0 && <><dt>Ports</dt><dd class="mono">{ports.join(', ')}</dd></>}
      </dl>
    </div>
  );
}

function PodEvents({ events, now, error, loading }: { events: Obj[]; now: Date; error?: string; loading: boolean }) {
  const [all, setAll] = useState(false);
  const shown = all ? events : events.slice(0, EVENTS_SHOWN);
  return (
    <section aria-labelledby="pod-events">
      <h3 id="pod-events">Events</h3>
      {error && <p role="alert" class="error">{error}</p>}
      {!events.length ? <p class="empty">{loading ? 'Loading events…' : 'No events.'}</p> : <EventTable events={shown} now={now} showObject={false} label="Pod events" />}
      {shown.length < events.length && (
        <div class="actions">
          <button type="button" class="secondary" onClick={() => setAll(true)}>Show more</button>
          <span class="muted">{shown.length} of {events.length} shown</span>
        </div>
      )}
    </section>
  );
}

/** The controller owning the pod, and the Deployment owning that ReplicaSet (one GET, not a watch). */
function Owner({ pod }: { pod: Obj }) {
  const { api } = useSession();
  const ref = (pod.metadata.ownerReferences ?? []).find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  const [top, setTop] = useState<{ kind: string; name: string } | undefined>();
  const ns = pod.metadata.namespace ?? '';
  useEffect(() => {
    setTop(undefined);
    if (ref?.kind !== 'ReplicaSet') return;
    let live = true;
    // Only to name the Deployment: if it fails (RBAC), the ReplicaSet alone is still right.
    api.get(objectPath('apps/v1', 'replicasets', ns, ref.name)).then((rs: Obj) => {
      const up = (rs.metadata.ownerReferences ?? []).find((o) => o.controller);
      if (live && up) setTop({ kind: up.kind, name: up.name });
    }, () => {});
    return () => {
      live = false;
    };
  }, [api, ns, ref?.kind, ref?.name]);
  if (!ref) return <span class="muted">&lt;none&gt;</span>;
  return (
    <span>
      {top && <><a href="#/workloads">{top.kind} {top.name}</a>{' via '}</>}
      <a href="#/workloads">{ref.kind} {ref.name}</a>
    </span>
  );
}

function DeletePod({ pod }: { pod: Obj }) {
  const { api } = useSession();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const terminating = !!pod.metadata.deletionTimestamp;
  const canDelete = useCan({ verb: 'delete', group: '', resource: 'pods', namespace: pod.metadata.namespace }) !== false;
  const remove = async () => {
    setBusy(true);
    setError('');
    try {
      await api.delete(objectPath('v1', 'pods', pod.metadata.namespace, pod.metadata.name));
      setConfirming(false);
    } catch (err) {
      setError(err instanceof ApiFailure ? err.message : String((err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="pod-delete">
      {terminating ? <span class="muted">Terminating…</span>
        : confirming ? (
          <div class="actions" role="group" aria-label="Confirm deletion" onKeyDown={(e) => e.key === 'Escape' && setConfirming(false)}>
            <span>Delete pod {pod.metadata.name}?</span>
            <button type="button" class="danger" disabled={busy} onClick={remove} autoFocus>{busy ? 'Deleting…' : 'Delete pod'}</button>
            <button type="button" class="secondary" onClick={() => setConfirming(false)}>Cancel</button>
          </div>
        ) : canDelete && <button type="button" class="danger" onClick={() => setConfirming(true)}>Delete</button>}
      {error && <p role="alert" class="error">{error}</p>}
    </div>
  );
}
