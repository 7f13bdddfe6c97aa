// Events: the namespace's (or every namespace's) core v1 events, warnings first, then newest first.
// events.k8s.io/v1 serves the same objects under other field names; the core API is what kubectl
// get events and describe read, and what every client writes.
import { useState } from 'preact/hooks';
import { collectionPath } from '../api.js';
import type { Obj } from '../collection.js';
import { useCollection, useDerived, useNow, useSession } from '../hooks.js';
import { ShowMore, useRowLimit } from '../row-limit.js';
import { EventTable, isWarning, sortEvents } from './event-list.js';

export function Events() {
  const { namespace } = useSession();
  const events = useCollection(collectionPath('v1', 'events', namespace));
  const [filter, setFilter] = useState('');
  const [warningsOnly, setWarningsOnly] = useState(false);
  const [limit, more] = useRowLimit([namespace, filter, warningsOnly]);
  const now = useNow(2000);

  const sorted = useDerived(() => {
    const list = sortEvents([...(events?.list() ?? [])]);
    const text = new Map<Obj, string>(list.map((e) => {
      const o = e.involvedObject ?? {};
      return [e, `${e.type}\n${e.reason}\n${o.kind}/${o.name}\n${e.message ?? ''}\n${e.metadata.namespace}`.toLowerCase()];
    }));
    return { list, text, warnings: list.filter(isWarning).length };
  }, [events]);

  const matched = useDerived(() => {
    const q = filter.trim().toLowerCase();
    if (!q && !warningsOnly) return sorted.list;
    return sorted.list.filter((e) => (!warningsOnly || isWarning(e)) && (!q || sorted.text.get(e)!.includes(q)));
  }, [events], [filter, warningsOnly, sorted]);

  const shown = matched.slice(0, limit);
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      {events?.error && <p role="alert" class="error">{events.error.message}</p>}
      <div class="summary">
        <div class="stat"><b>{sorted.list.length}</b><span>events</span></div>
        <div class="stat"><b class={sorted.warnings ? 'events-warn' : ''}>{sorted.warnings}</b><span>warnings</span></div>
      </div>
      <div class="toolbar">
        <input type="search" aria-label="Filter events" placeholder="Filter by reason, object or message (/)" value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <label class="check">
          <input type="checkbox" checked={warningsOnly} onChange={(e) => setWarningsOnly((e.target as HTMLInputElement).checked)} /> Warnings only
        </label>
      </div>
      {!events?.synced && !sorted.list.length && !events?.error ? <p class="empty">Loading events…</p>
        : !matched.length ? <p class="empty">{sorted.list.length ? 'No event matches the filter.' : `No events${namespace ? ` in ${namespace}` : ''}.`}</p>
          : <EventTable events={shown} now={new Date(now)} showNamespace={!namespace} />}
      <ShowMore shown={shown.length} total={matched.length} onMore={more} />
    </section>
  );
}
