// Pods: every pod of the namespace picked in the header (or all), as `kubectl get pods -o wide`
// prints them, problem pods first. Derived once per change of the collection, so 10,000 pods cost one
// pass when something changes, not one per render; only the first rows are drawn.
import { useState } from 'preact/hooks';
import { collectionPath } from '../api.js';
import type { Obj } from '../collection.js';
import { age } from '../format.js';
import { useCollection, useDerived, useNow, useSession } from '../hooks.js';
import { ShowMore, useRowLimit } from '../row-limit.js';
import { podStatusCells } from '../../kinds/pod.js';
import { podProblem, podReady, StatusBadge } from './pod-status.js';

// A watch event replaces a pod's object, so a row computed for an object stays right for it: a
// change to one pod of 10,000 recomputes one row (STATUS does not depend on the time).
const rowCache = new WeakMap<Obj, Row>();

interface Row {
  pod: Obj;
  problem: boolean;
  /** What the filter box matches: name, node, status (and namespace), lower case. */
  text: string;
}

export const podHref = (ns: string | undefined, name: string) => `#/pods/${encodeURIComponent(ns ?? '')}/${encodeURIComponent(name)}`;

export function Pods() {
  const { namespace } = useSession();
  const pods = useCollection(collectionPath('v1', 'pods', namespace));
  const [filter, setFilter] = useState('');
  const [limit, more] = useRowLimit([namespace, filter]);
  const now = useNow(2000);

  const derived = useDerived(() => {
    const at = new Date();
    let ready = 0;
    const rows: Row[] = (pods?.list() ?? []).map((pod) => {
      if (podReady(pod)) ready++;
      let row = rowCache.get(pod);
      if (!row) {
        const { status } = podStatusCells(pod, at);
        const m = pod.metadata;
        row = { pod, problem: podProblem(pod, status), text: `${m.name}\n${pod.spec?.nodeName ?? ''}\n${status}\n${m.namespace}`.toLowerCase() };
        rowCache.set(pod, row);
      }
      return row;
    });
    // Plain comparisons, not localeCompare: this sorts 10,000 rows on every change.
    rows.sort((a, b) => {
      if (a.problem !== b.problem) return a.problem ? -1 : 1;
      const an = a.pod.metadata.namespace ?? '', bn = b.pod.metadata.namespace ?? '';
      if (an !== bn) return an < bn ? -1 : 1;
      const a1 = a.pod.metadata.name, b1 = b.pod.metadata.name;
      return a1 < b1 ? -1 : a1 > b1 ? 1 : 0;
    });
    return { rows, ready, problems: rows.filter((r) => r.problem).length };
  }, [pods]);

  const matched = useDerived(() => {
    const q = filter.trim().toLowerCase();
    return q ? derived.rows.filter((r) => r.text.includes(q)) : derived.rows;
  }, [pods], [filter, derived]);

  const at = new Date(now);
  const shown = matched.slice(0, limit);
  return (
    <section aria-labelledby="pods-title">
      <h2 id="pods-title">Pods</h2>
      {pods?.error && <p role="alert" class="error">{pods.error.message}</p>}
      <div class="summary">
        <div class="stat"><b>{derived.rows.length}</b><span>pods</span></div>
        <div class="stat"><b>{derived.ready}</b><span>ready</span></div>
        <div class="stat"><b class={derived.problems ? 'pods-bad' : ''}>{derived.problems}</b><span>need attention</span></div>
      </div>
      <div class="toolbar">
        <input type="search" aria-label="Filter pods" placeholder="Filter by name, node or status (/)" value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      </div>
      {!pods?.synced && !derived.rows.length && !pods?.error ? <p class="empty">Loading pods…</p>
        : !matched.length ? <p class="empty">{derived.rows.length ? 'No pod matches the filter.' : `No pods${namespace ? ` in ${namespace}` : ''}.`}</p>
          : (
            <div class="table-wrap">
              <table class="list pods-table" aria-label="Pods">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    {!namespace && <th scope="col">Namespace</th>}
                    <th scope="col">Ready</th>
                    <th scope="col">Status</th>
                    <th scope="col">Restarts</th>
                    <th scope="col">Node</th>
                    <th scope="col">IP</th>
                    <th scope="col">Age</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map(({ pod }) => {
                    // Recomputed for the drawn rows only, so RESTARTS' "(5m ago)" stays current.
                    const cells = podStatusCells(pod, at);
                    const m = pod.metadata;
                    return (
                      <tr key={m.uid}>
                        <td class="pod-name"><a href={podHref(m.namespace, m.name)}>{m.name}</a></td>
                        {!namespace && <td class="pod-ns">{m.namespace}</td>}
                        <td class="pod-ready">{cells.ready}</td>
                        <td class="pod-status"><StatusBadge pod={pod} status={cells.status} /></td>
                        <td class="pod-restarts">{cells.restarts}</td>
                        <td class="pod-node">{pod.spec?.nodeName || <span class="muted">&lt;none&gt;</span>}</td>
                        <td class="mono pod-ip">{pod.status?.podIP || <span class="muted">&lt;none&gt;</span>}</td>
                        <td class="pod-age">{age(m.creationTimestamp, at)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
      <ShowMore shown={shown.length} total={matched.length} onMore={more} />
    </section>
  );
}
