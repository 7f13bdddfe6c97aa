// A Deployment's card: its counts and rollout state as kubectl judges them, the ReplicaSets of the
// rollout (new and old, ready against desired, images) and the actions kubectl offers on it
// (scale, rollout restart / undo / pause / resume).
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from '../api.js';
import type { Obj } from '../collection.js';
import { age, percent } from '../format.js';
import { useSession } from '../hooks.js';
import { useCan } from '../access.js';
import { restartWorkload, scaleDeployment, setPaused, undoDeployment, useAction } from './workload-actions.js';
import {
  deploymentRollout, deploymentStrategy, images, previousRevision, revisionOf, revisionRows, rolloutTone, type RevisionRow,
} from './workload-status.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function RolloutBadge({ state, reason }: { state: string; reason?: string }) {
  return <span class={`badge ${rolloutTone(state as any)}`}>{reason ? `${state} (${reason})` : state}</span>;
}

/** A labelled progress bar: role=progressbar, so screen readers and tests read "3 of 4 ready". */
export function Progress({ label, name = label, now, max, text, tone = '', segments }: {
  label: string; now: number; max: number; text: string; tone?: string;
  /** The accessible name, when the visible label alone is ambiguous in its card. */
  name?: string;
  /** Stacked parts (new then old pods), in the same units as max; one fill of `now` when absent. */
  segments?: { value: number; tone: string }[];
}) {
  const parts = segments ?? [{ value: now, tone }];
  const scale = Math.max(max, parts.reduce((n, p) => n + p.value, 0));
  let left = 0;
  return (
    <div class="meter wl-progress">
      <span class="label">{label}</span>
      <div class="bar" role="progressbar" aria-label={name} aria-valuemin={0} aria-valuemax={max} aria-valuenow={Math.min(now, max)} aria-valuetext={text}>
        {parts.map((p) => {
          const width = percent(p.value, scale);
          const style = { left: `${left}%`, width: `${width}%` };
          left += width;
          return <div class={`fill ${p.tone}`} style={style} />;
        })}
      </div>
      <span class="wl-count">{`${now}/${max}`}</span>
    </div>
  );
}

function RevisionItem({ row }: { row: RevisionRow }) {
  const name = row.rs.metadata.name;
  const imgs = images(row.rs.spec?.template);
  return (
    <li class={`wl-rs ${row.isNew ? 'new' : 'old'}`} data-testid={`rs-${name}`}>
      <div class="wl-rs-head">
        <span class={`badge ${row.isNew ? 'ok' : ''}`}>{row.isNew ? 'new' : 'old'}</span>
        <b>Revision {row.revision}</b>
        <code class="muted wl-rs-name" title={name}>{name}</code>
      </div>
      <Progress label="Ready" name={`Revision ${row.revision} ready`} now={row.ready} max={row.desired} tone={row.isNew ? '' : 'old'}
        text={`${row.ready} of ${row.desired} ready${row.current > row.desired ? `, ${row.current - row.desired} terminating` : ''}`} />
      <div class="wl-images mono" title="Images">{imgs.join(', ') || '—'}</div>
    </li>
  );
}

function OlderRevisions({ rows }: { rows: RevisionRow[] }) {
  const [open, setOpen] = useState(false);
  if (!rows.length) return null;
  return (
    <div class="wl-older">
      <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {plural(rows.length, 'older revision')}
      </button>
      {open && (
        <ul class="wl-older-list">
          {rows.map((r) => (
            <li><b>Revision {r.revision}</b> <span class="mono">{images(r.rs.spec?.template).join(', ')}</span> <span class="muted">· {r.rs.metadata.name}</span></li>
          ))}
        </ul>
      )}
    </div>
  );
}

type Confirm = { kind: 'restart' } | { kind: 'undo'; revision: number; image: string } | null;

function DeploymentActions({ d, owned }: { d: Obj; owned: Obj[] }) {
  const { api } = useSession();
  const action = useAction();
  const desired = d.spec?.replicas ?? 1;
  const [draft, setDraft] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const uid = d.metadata.uid;
  const paused = !!d.spec?.paused;
  useEffect(() => confirmButton.current?.focus(), [confirm]);
  // Offered only as far as RBAC allows (kubectl scale needs deployments/scale, the rest a patch).
  const ns = d.metadata.namespace;
  const canScale = useCan({ verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale', namespace: ns }) !== false;
  const canPatch = useCan({ verb: 'patch', group: 'apps', resource: 'deployments', namespace: ns }) !== false;

  const scale = async (e: Event) => {
    e.preventDefault();
    const raw = (draft ?? String(desired)).trim();
    if (!/^\d+$/.test(raw)) {
      await action.run(() => Promise.reject(new ApiFailure(0, 'Invalid', 'Replicas must be a whole number, 0 or more.')));
      return;
    }
    if (await action.run(() => scaleDeployment(api, d, Number(raw)))) setDraft(null);
  };
  const undo = () => {
    const target = previousRevision(owned);
    if (!target) {
      setConfirm(null);
      void action.run(() => Promise.reject(new ApiFailure(0, 'NoHistory', `no rollout history found for deployment "${d.metadata.name}"`)));
      return;
    }
    action.clear();
    setConfirm({ kind: 'undo', revision: revisionOf(target), image: images(target.spec?.template).join(', ') });
  };
  const confirmed = async () => {
    const c = confirm;
    setConfirm(null);
    if (c?.kind === 'restart') await action.run(() => restartWorkload(api, d, 'deployments'));
    else if (c?.kind === 'undo') await action.run(() => undoDeployment(api, d));
  };

  if (!canScale && !canPatch) return <p class="muted wl-feedback">Read-only: this token may not change Deployments in {ns}.</p>;
  return (
    <div class="wl-actions">
      <div class="actions">
        {canScale && <form class="wl-scale" onSubmit={scale} noValidate>
          <label for={`replicas-${uid}`}>Replicas</label>
          <input id={`replicas-${uid}`} type="number" min={0} step={1} inputMode="numeric" value={draft ?? String(desired)}
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
          <button type="submit" disabled={action.busy}>Scale</button>
        </form>}
        {canPatch && <div class="wl-buttons" role="group" aria-label="Rollout">
          <button type="button" class="secondary" disabled={action.busy} onClick={() => { action.clear(); setConfirm({ kind: 'restart' }); }}>Restart</button>
          <button type="button" class="secondary" disabled={action.busy} onClick={undo}>Undo</button>
          <button type="button" class="secondary" disabled={action.busy} onClick={() => { setConfirm(null); void action.run(() => setPaused(api, d, !paused)); }}>
            {paused ? 'Resume' : 'Pause'}
          </button>
        </div>}
      </div>
      {confirm && (
        <div class="wl-confirm" role="group" aria-label={confirm.kind === 'restart' ? 'Confirm restart' : 'Confirm undo'}>
          <p>
            {confirm.kind === 'restart'
              ? <>Replace every pod of <b>{d.metadata.name}</b> with a rolling restart?</>
              : <>Roll <b>{d.metadata.name}</b> back to revision {confirm.revision} (<span class="mono">{confirm.image}</span>)?</>}
          </p>
          <div class="actions">
            <button type="button" ref={confirmButton} onClick={confirmed}>{confirm.kind === 'restart' ? 'Restart now' : 'Roll back'}</button>
            <button type="button" class="secondary" onClick={() => setConfirm(null)}>Cancel</button>
          </div>
        </div>
      )}
      {action.error && <p role="alert" class="error wl-feedback">{action.error}</p>}
      {action.note && <p role="status" class="muted wl-feedback">{action.note}</p>}
    </div>
  );
}

export function DeploymentCard({ d, owned, rsError, now }: { d: Obj; owned: Obj[]; rsError?: ApiFailure; now: number }) {
  const ns = d.metadata.namespace ?? '';
  const name = d.metadata.name;
  const s = d.status ?? {};
  const desired = d.spec?.replicas ?? 1;
  const rollout = deploymentRollout(d);
  const { shown, older } = revisionRows(owned);
  const newRow = shown.find((r) => r.isNew);
  const oldReady = shown.filter((r) => !r.isNew).reduce((n, r) => n + r.ready, 0);
  const ready = s.readyReplicas ?? 0;
  const minReady = d.spec?.minReadySeconds ? ` · min ready ${d.spec.minReadySeconds}s` : '';
  const headingId = `deployment-${d.metadata.uid}`;
  return (
    <article class={`card wl-card ${rollout.state === 'Failed' ? 'bad' : ''}`} data-testid={`deployment-${ns}-${name}`} aria-labelledby={headingId}>
      <header>
        <div class="wl-title">
          <h3 class="name" id={headingId}>{name}</h3>
          <span class="muted wl-ns">{ns}</span>
        </div>
        <RolloutBadge state={rollout.state} reason={rollout.reason} />
      </header>
      <Progress label="Ready" name="Ready pods" now={ready} max={desired} text={`${ready} of ${desired} ready`}
        segments={newRow ? [{ value: newRow.ready, tone: '' }, { value: oldReady, tone: 'old' }] : undefined} />
      <dl class="wl-stats">
        <div><dt>Ready</dt><dd>{`${ready}/${desired}`}</dd></div>
        <div><dt>Up-to-date</dt><dd>{s.updatedReplicas ?? 0}</dd></div>
        <div><dt>Available</dt><dd>{s.availableReplicas ?? 0}</dd></div>
        <div><dt>Age</dt><dd>{age(d.metadata.creationTimestamp, new Date(now))}</dd></div>
      </dl>
      <p class="muted wl-line">{deploymentStrategy(d)}{minReady}</p>
      {rollout.state !== 'Complete' && <p class={`wl-line wl-message ${rollout.state === 'Failed' ? 'bad' : ''}`}>{rollout.message}</p>}
      {rsError ? (
        <p class="muted wl-line">ReplicaSets not shown: {rsError.message}</p>
      ) : (
        <ul class="wl-revisions" aria-label={`ReplicaSets of ${name}`}>
          {shown.map((row) => <RevisionItem key={row.rs.metadata.uid} row={row} />)}
        </ul>
      )}
      <OlderRevisions rows={older} />
      <DeploymentActions d={d} owned={owned} />
    </article>
  );
}
