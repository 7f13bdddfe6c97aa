// Core v1 Events as a table, warnings first, then newest first: shared by the Events view and a pod's
// detail. Times and counts read both the old fields (lastTimestamp, count) and the new API's
// (series, eventTime), as kubectl's printEvent does.
import type { Obj } from '../collection.js';
import { age } from '../format.js';
import { podHref } from './pods.js';

/** When the event last happened, in ms: lastTimestamp, the series' last observation, eventTime, creation. */
export function eventTime(e: Obj): number {
  const t = e.lastTimestamp || e.series?.lastObservedTime || e.eventTime || e.firstTimestamp || e.metadata.creationTimestamp;
  const ms = t ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

/** How many times it happened: the series' count, count, or 1 for a singleton of the new API. */
export function eventCount(e: Obj): number {
  return e.series?.count || e.count || 1;
}

export const isWarning = (e: Obj) => e.type === 'Warning';

/** Warnings first, then newest first; sorts in place and returns the array. */
export function sortEvents(list: Obj[]): Obj[] {
  const time = new Map(list.map((e) => [e, eventTime(e)]));
  return list.sort((a, b) => {
    const wa = isWarning(a), wb = isWarning(b);
    if (wa !== wb) return wa ? -1 : 1;
    return time.get(b)! - time.get(a)!;
  });
}

/** Where the console shows the event's object: a pod's detail, the fleet for nodes, workloads for theirs. */
function objectHref(e: Obj): string | undefined {
  const o = e.involvedObject ?? {};
  if (!o.name) return undefined;
  if (o.kind === 'Pod') return podHref(o.namespace ?? e.metadata.namespace, o.name);
  if (o.kind === 'Node') return '#/fleet';
  if (['Deployment', 'ReplicaSet', 'DaemonSet', 'StatefulSet', 'Job', 'CronJob'].includes(o.kind)) return '#/workloads';
  if (['Service', 'Ingress', 'EndpointSlice', 'Endpoints'].includes(o.kind)) return '#/network';
  return undefined;
}

export function EventObject({ event }: { event: Obj }) {
  const o = event.involvedObject ?? {};
  const text = o.name ? `${String(o.kind ?? '').toLowerCase()}/${o.name}` : String(o.kind ?? '');
  const href = objectHref(event);
  return href ? <a href={href}>{text}</a> : <span>{text}</span>;
}

/** A table of events (already sorted); `showObject` false on an object's own page. */
export function EventTable({ events, now, showObject = true, showNamespace = false, label = 'Events' }: {
  events: Obj[];
  now: Date;
  showObject?: boolean;
  showNamespace?: boolean;
  label?: string;
}) {
  return (
    <div class="table-wrap">
      <table class="list events-table" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Reason</th>
            {showNamespace && <th scope="col">Namespace</th>}
            {showObject && <th scope="col">Object</th>}
            <th scope="col">Message</th>
            <th scope="col">Count</th>
            <th scope="col">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => {
            const t = eventTime(e);
            return (
              <tr key={e.metadata.uid} class={isWarning(e) ? 'warning' : undefined}>
                <td class="ev-type"><span class={`badge ${isWarning(e) ? 'warn' : ''}`}>{e.type || 'Normal'}</span></td>
                <td class="ev-reason">{e.reason}</td>
                {showNamespace && <td class="ev-ns">{e.metadata.namespace}</td>}
                {showObject && <td class="ev-object"><EventObject event={e} /></td>}
                <td class="wrap ev-message">{String(e.message ?? e.note ?? '').trim()}</td>
                <td class="ev-count">{eventCount(e)}</td>
                <td class="ev-age" title={t ? new Date(t).toISOString() : undefined}>{t ? age(new Date(t).toISOString(), now) : '<unknown>'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
