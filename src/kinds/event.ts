// core/v1 Event: validation (legacyValidateEvent), printEvent and the field
// selectors `kubectl describe` and `kubectl events` use.
import type { Cause, KindDef } from './types.js';
import { age } from './format.js';
import { each, invalid, isDNS1123Subdomain, isQualifiedName, required, validateMetadata } from './validation.js';

const REPORTING_INSTANCE_LIMIT = 128;
const ACTION_LIMIT = 128;
const REASON_LIMIT = 128;
const NOTE_LIMIT = 1024;

function validateEvent(ev: any): Cause[] {
  const causes = validateMetadata(ev);
  const namespace = ev.metadata?.namespace ?? '';
  const involvedNamespace = ev.involvedObject?.namespace ?? '';
  const mismatch = () => invalid('involvedObject.namespace', involvedNamespace, 'does not match event.namespace');
  if (!ev.eventTime) {
    // Old-style events: the namespaces must agree ("default" is tolerated for cluster-scoped objects).
    if (!involvedNamespace ? namespace !== '' && namespace !== 'default' : namespace !== involvedNamespace) causes.push(mismatch());
  } else {
    if (!involvedNamespace && namespace !== 'default' && namespace !== 'kube-system') causes.push(mismatch());
    const controller = ev.reportingComponent ?? '';
    if (!controller) causes.push(required('reportingComponent'));
    causes.push(...each('reportingComponent', controller, isQualifiedName(controller)));
    const instance = ev.reportingInstance ?? '';
    if (!instance) causes.push(required('reportingInstance'));
    if (instance.length > REPORTING_INSTANCE_LIMIT) causes.push(invalid('reportingInstance', '', `can have at most ${REPORTING_INSTANCE_LIMIT} characters`));
    if (!ev.action) causes.push(required('action'));
    if ((ev.action ?? '').length > ACTION_LIMIT) causes.push(invalid('action', '', `can have at most ${ACTION_LIMIT} characters`));
    if (!ev.reason) causes.push(required('reason'));
    if ((ev.reason ?? '').length > REASON_LIMIT) causes.push(invalid('reason', '', `can have at most ${REASON_LIMIT} characters`));
    if ((ev.message ?? '').length > NOTE_LIMIT) causes.push(invalid('message', '', `can have at most ${NOTE_LIMIT} characters`));
  }
  causes.push(...each('namespace', namespace, isDNS1123Subdomain(namespace)));
  return causes;
}

/** formatEventSource: "component, host", falling back to the reporting controller and instance. */
function source(ev: any): string {
  const component = ev?.source?.component || ev?.reportingComponent || '';
  const host = ev?.source?.host || ev?.reportingInstance || '';
  return host ? `${component}, ${host}` : component;
}

function printEvent(ev: any, now: Date): unknown[] {
  const first = ev?.firstTimestamp ? age(ev.firstTimestamp, now) : age(ev?.eventTime, now);
  let last = ev?.lastTimestamp ? age(ev.lastTimestamp, now) : first;
  let count = ev?.count ?? 0;
  if (ev?.series) {
    last = age(ev.series.lastObservedTime, now);
    count = ev.series.count ?? 0;
  } else if (count === 0) {
    count = 1; // singleton events of the new API carry no count
  }
  const kind = String(ev?.involvedObject?.kind ?? '').toLowerCase();
  const name = ev?.involvedObject?.name;
  return [
    last,
    ev?.type ?? '',
    ev?.reason ?? '',
    name ? `${kind}/${name}` : kind,
    ev?.involvedObject?.fieldPath ?? '',
    source(ev),
    String(ev?.message ?? '').trim(),
    first,
    count,
    ev?.metadata?.name ?? '',
  ];
}

export const event: KindDef = {
  kind: 'Event',
  group: '',
  version: 'v1',
  plural: 'events',
  singular: 'event',
  namespaced: true,
  shortNames: ['ev'],
  nameRule: 'subdomain',
  validate: validateEvent,
  columns: [
    { name: 'Last Seen', type: 'string', description: 'The time at which the most recent occurrence of this event was recorded.', priority: 0 },
    { name: 'Type', type: 'string', description: 'Type of this event (Normal, Warning), new types could be added in the future', priority: 0 },
    { name: 'Reason', type: 'string', description: 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.', priority: 0 },
    { name: 'Object', type: 'string', description: 'The object that this event is about.', priority: 0 },
    { name: 'Subobject', type: 'string', description: 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].', priority: 1 },
    { name: 'Source', type: 'string', description: 'The component reporting this event. Should be a short machine understandable string.', priority: 1 },
    { name: 'Message', type: 'string', description: 'A human-readable description of the status of this operation.', priority: 0 },
    { name: 'First Seen', type: 'string', description: 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', priority: 1 },
    { name: 'Count', type: 'string', description: 'The number of times this event has occurred.', priority: 1 },
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 1 },
  ],
  row: printEvent,
  fields: {
    'involvedObject.kind': (e) => e?.involvedObject?.kind ?? '',
    'involvedObject.namespace': (e) => e?.involvedObject?.namespace ?? '',
    'involvedObject.name': (e) => e?.involvedObject?.name ?? '',
    'involvedObject.uid': (e) => e?.involvedObject?.uid ?? '',
    'involvedObject.apiVersion': (e) => e?.involvedObject?.apiVersion ?? '',
    'involvedObject.resourceVersion': (e) => e?.involvedObject?.resourceVersion ?? '',
    'involvedObject.fieldPath': (e) => e?.involvedObject?.fieldPath ?? '',
    reason: (e) => e?.reason ?? '',
    reportingComponent: (e) => e?.reportingComponent ?? '',
    source: (e) => e?.source?.component || e?.reportingComponent || '',
    type: (e) => e?.type ?? '',
  },
};
