// One node in the Fleet: status, heartbeat, cordon and taints, requests (and usage) against
// allocatable, and the Cordon / Uncordon action. Cards render again only when their own props change
// (MemoNodeCard), so a fleet of 1,000 ticks its heartbeats without re-rendering every card.
import { Component } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { ApiFailure, objectPath, type Api } from '../api.js';
import { bytes, cpu, duration, percent } from '../format.js';
import { useClock } from './fleet-clock.js';
import type { NodeFacts, Requested, Usage } from './fleet-model.js';

export interface NodeCardProps {
  api: Api;
  facts: NodeFacts;
  /** undefined: no pods bound (or requests unknown, see requestsKnown). */
  requested: Requested | undefined;
  /** False when the pods could not be listed: requests are then not shown as zero. */
  requestsKnown: boolean;
  usage: Usage | undefined;
  /** Last sign of life in ms (NaN: none yet). */
  heartbeat: number;
  stale: boolean;
  /** RBAC allows patching nodes (the button is left out otherwise). */
  canCordon: boolean;
}

/** kubectl's cpu ("250m", "2"), with none as "0" rather than "0m". */
const cores = (milli: number) => (milli === 0 ? '0' : cpu(milli));

const BADGE = { Ready: 'ok', NotReady: 'bad', Unknown: 'unknown' } as const;

/** "12s ago", ticking. */
function Since({ at }: { at: number }) {
  const now = useClock();
  // Formatting dates is dear next to the rest of a tick: once per heartbeat, not once a second.
  const [iso, local] = useMemo(() => {
    const d = new Date(at);
    return [d.toISOString(), d.toLocaleString()];
  }, [at]);
  return <time dateTime={iso} title={local}>{duration(Math.max(0, now - at))} ago</time>;
}

function Meter({ label, requested, allocatable, used, format }: {
  label: string;
  requested: number | undefined;
  allocatable: number;
  used?: number;
  format: (n: number) => string;
}) {
  const pct = requested === undefined ? 0 : percent(requested, allocatable);
  const over = requested !== undefined && allocatable > 0 && requested > allocatable;
  const level = over || pct >= 100 ? 'bad' : pct >= 90 ? 'warn' : '';
  const req = requested === undefined ? '?' : format(requested);
  const text = `${req} / ${format(allocatable)}`;
  const valueText = requested === undefined
    ? `requested unknown of ${format(allocatable)} allocatable`
    : `${req} requested of ${format(allocatable)} allocatable (${Math.round(allocatable ? (requested / allocatable) * 100 : 0)}%)`;
  return (
    <div class="meter">
      <span class="label">{label}</span>
      <div class="bar" role="meter" aria-label={`${label} requested`} aria-valuemin={0} aria-valuemax={allocatable}
        aria-valuenow={requested ?? 0} aria-valuetext={used === undefined ? valueText : `${valueText}; ${format(used)} used`}>
        {requested !== undefined && <div class={`fill ${level}`} style={{ width: `${pct}%` }} />}
        {used !== undefined && <div class="used" style={{ left: `max(0px, calc(${percent(used, allocatable)}% - 2px))` }} />}
      </div>
      <span class="value">
        {text}
        {used !== undefined && <small class="used-text">{format(used)} used</small>}
      </span>
    </div>
  );
}

export function NodeCard({ api, facts: f, requested, requestsKnown, usage, heartbeat, stale, canCordon }: NodeCardProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const toggleCordon = async () => {
    setBusy(true);
    setError('');
    try {
      // kubectl cordon / uncordon: a merge patch of spec.unschedulable (null removes it, as false is omitted).
      await api.patch(objectPath('v1', 'nodes', undefined, f.name), { spec: { unschedulable: f.unschedulable ? null : true } }, 'merge');
    } catch (err) {
      setError(err instanceof ApiFailure ? err.message : String((err as Error)?.message ?? err));
    } finally {
      setBusy(false);
    }
  };
  const titleId = `node-title-${f.name}`;
  const req = requested ?? (requestsKnown ? { cpu: 0, memory: 0, pods: 0 } : undefined);
  const classes = ['card', 'node-card', f.status !== 'Ready' && 'bad', stale && 'stale'].filter(Boolean).join(' ');
  return (
    <article class={classes} aria-labelledby={titleId} data-testid={`node-${f.name}`} data-status={f.status} data-stale={String(stale)}>
      <header>
        <h3 class="name" id={titleId}>{f.name}</h3>
        <span class="badges">
          <span class={`badge ${BADGE[f.status]}`} title={f.reason}>{f.status}</span>
          {stale && <span class="badge warn" title="No heartbeat for over half the lease duration">stale</span>}
          {f.unschedulable && <span class="badge warn" title="Cordoned: spec.unschedulable">SchedulingDisabled</span>}
        </span>
      </header>
      <p class="heartbeat">
        {Number.isNaN(heartbeat) ? <span class="muted">No heartbeat yet</span> : <>Heartbeat <Since at={heartbeat} /></>}
      </p>
      {f.taints.length > 0 && (
        <ul class="tags taints" aria-label="Taints">
          {f.taints.map((t) => <li class="badge mono">{t}</li>)}
        </ul>
      )}
      <div class="meters">
        <Meter label="cpu" requested={req?.cpu} allocatable={f.allocatable.cpu} used={usage?.cpu} format={cores} />
        <Meter label="memory" requested={req?.memory} allocatable={f.allocatable.memory} used={usage?.memory} format={bytes} />
        <Meter label="pods" requested={req?.pods} allocatable={f.allocatable.pods} format={String} />
      </div>
      <p class="node-info">
        {[f.roles.join(','), f.kubelet, f.os, f.ip].filter(Boolean).join(' · ') || 'no node info posted'}
      </p>
      {canCordon && <div class="actions">
        <button type="button" class="secondary" disabled={busy} onClick={toggleCordon}
          aria-label={`${f.unschedulable ? 'Uncordon' : 'Cordon'} ${f.name}`}>
          {f.unschedulable ? 'Uncordon' : 'Cordon'}
        </button>
      </div>}
      {error && <p role="alert" class="error">{error}</p>}
    </article>
  );
}

const KEYS: (keyof NodeCardProps)[] = ['api', 'facts', 'requested', 'requestsKnown', 'usage', 'heartbeat', 'stale', 'canCordon'];
const same = (a: unknown, b: unknown) => a === b || (Number.isNaN(a) && Number.isNaN(b));

/** NodeCard, rendered again only when one of its props changed (Preact's core has no memo). */
export class MemoNodeCard extends Component<NodeCardProps> {
  override shouldComponentUpdate(next: NodeCardProps): boolean {
    return KEYS.some((k) => !same(this.props[k], next[k]));
  }
  override render() {
    return <NodeCard {...this.props} />;
  }
}
