// Cards for the other workloads: DaemonSets (with rollout state and restart), Jobs (completions and
// status as `kubectl get jobs` shows them) and CronJobs (schedule, last runs, suspend / resume).
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Obj } from '../collection.js';
import { age, duration } from '../format.js';
import { useSession } from '../hooks.js';
import { Progress, RolloutBadge } from './rollout.js';
import { useCan } from '../access.js';
import { restartWorkload, setSuspended, useAction, type Action } from './workload-actions.js';
import { daemonSetRollout, images, jobCompletions, jobDurationMs, jobStatus, jobTone, nodeSelector } from './workload-status.js';

function Title({ o, children }: { o: Obj; children?: ComponentChildren }) {
  return (
    <header>
      <div class="wl-title">
        <h3 class="name" id={`wl-${o.metadata.uid}`}>{o.metadata.name}</h3>
        <span class="muted wl-ns">{o.metadata.namespace}</span>
      </div>
      {children}
    </header>
  );
}

function Feedback({ action }: { action: Action }) {
  return (
    <>
      {action.error && <p role="alert" class="error wl-feedback">{action.error}</p>}
      {action.note && <p role="status" class="muted wl-feedback">{action.note}</p>}
    </>
  );
}

/** " ago" after an age, or "never" when the time is unset. */
function since(ts: string | undefined, now: number): string {
  return ts ? `${age(ts, new Date(now))} ago` : 'never';
}

export function DaemonSetCard({ ds, now }: { ds: Obj; now: number }) {
  const { api } = useSession();
  const action = useAction();
  const [confirming, setConfirming] = useState(false);
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => confirmButton.current?.focus(), [confirming]);
  const s = ds.status ?? {};
  const canRestart = useCan({ verb: 'patch', group: 'apps', resource: 'daemonsets', namespace: ds.metadata.namespace }) !== false;
  const rollout = daemonSetRollout(ds);
  const want = s.desiredNumberScheduled ?? 0;
  const selector = nodeSelector(ds.spec?.template);
  return (
    <article class="card wl-card" data-testid={`daemonset-${ds.metadata.namespace}-${ds.metadata.name}`} aria-labelledby={`wl-${ds.metadata.uid}`}>
      <Title o={ds}><RolloutBadge state={rollout.state} /></Title>
      <Progress label="Ready" name="Ready pods" now={s.numberReady ?? 0} max={want} text={`${s.numberReady ?? 0} of ${want} ready`} />
      <dl class="wl-stats">
        <div><dt>Desired</dt><dd>{want}</dd></div>
        <div><dt>Current</dt><dd>{s.currentNumberScheduled ?? 0}</dd></div>
        <div><dt>Ready</dt><dd>{s.numberReady ?? 0}</dd></div>
        <div><dt>Up-to-date</dt><dd>{s.updatedNumberScheduled ?? 0}</dd></div>
        <div><dt>Available</dt><dd>{s.numberAvailable ?? 0}</dd></div>
        {(s.numberMisscheduled ?? 0) > 0 && <div><dt>Misscheduled</dt><dd>{s.numberMisscheduled}</dd></div>}
      </dl>
      <div class="wl-line">
        <span class="muted">Node selector: </span>
        {selector.length ? <span class="tags">{selector.map((x) => <span class="badge mono">{x}</span>)}</span> : <span>every node</span>}
      </div>
      <div class="wl-images mono" title="Images">{images(ds.spec?.template).join(', ')}</div>
      {rollout.state !== 'Complete' && <p class="wl-line wl-message">{rollout.message}</p>}
      {canRestart && <div class="actions">
        <button type="button" class="secondary" disabled={action.busy} onClick={() => { action.clear(); setConfirming(true); }}>Restart</button>
      </div>}
      {confirming && (
        <div class="wl-confirm" role="group" aria-label="Confirm restart">
          <p>Replace the pod of <b>{ds.metadata.name}</b> on every node with a rolling restart?</p>
          <div class="actions">
            <button type="button" ref={confirmButton} onClick={() => { setConfirming(false); void action.run(() => restartWorkload(api, ds, 'daemonsets')); }}>Restart now</button>
            <button type="button" class="secondary" onClick={() => setConfirming(false)}>Cancel</button>
          </div>
        </div>
      )}
      <Feedback action={action} />
    </article>
  );
}

export function JobCard({ job, now }: { job: Obj; now: number }) {
  const s = job.status ?? {};
  const status = jobStatus(job);
  const c = jobCompletions(job);
  const ms = jobDurationMs(job, now);
  const owner = job.metadata.ownerReferences?.find((r) => r.controller);
  return (
    <article class={`card wl-card ${status === 'Failed' ? 'bad' : ''}`} data-testid={`job-${job.metadata.namespace}-${job.metadata.name}`} aria-labelledby={`wl-${job.metadata.uid}`}>
      <Title o={job}><span class={`badge ${jobTone(status)}`}>{status}</span></Title>
      <Progress label="Completions" now={c.done} max={c.of} text={`${c.done} of ${c.of} completions`} tone={status === 'Failed' ? 'bad' : ''} />
      <dl class="wl-stats">
        <div><dt>Completions</dt><dd>{c.text}</dd></div>
        <div><dt>Active</dt><dd>{s.active ?? 0}</dd></div>
        <div><dt>Failed</dt><dd>{s.failed ?? 0}</dd></div>
        <div><dt>Duration</dt><dd>{ms === undefined ? '—' : duration(ms)}</dd></div>
        <div><dt>Age</dt><dd>{age(job.metadata.creationTimestamp, new Date(now))}</dd></div>
      </dl>
      {owner && <p class="muted wl-line">Created by {owner.kind.toLowerCase()}/{owner.name}</p>}
      <div class="wl-images mono" title="Images">{images(job.spec?.template).join(', ')}</div>
    </article>
  );
}

export function CronJobCard({ cj, now }: { cj: Obj; now: number }) {
  const { api } = useSession();
  const action = useAction();
  const s = cj.status ?? {};
  const suspended = !!cj.spec?.suspend;
  const canSuspend = useCan({ verb: 'patch', group: 'batch', resource: 'cronjobs', namespace: cj.metadata.namespace }) !== false;
  const active = (s.active ?? []).length;
  return (
    <article class="card wl-card" data-testid={`cronjob-${cj.metadata.namespace}-${cj.metadata.name}`} aria-labelledby={`wl-${cj.metadata.uid}`}>
      <Title o={cj}>
        {suspended ? <span class="badge unknown">Suspended</span> : active ? <span class="badge warn">{active} active</span> : <span class="badge ok">Scheduled</span>}
      </Title>
      <dl class="wl-stats wl-stats-wide">
        <div><dt>Schedule</dt><dd class="mono">{cj.spec?.schedule}</dd></div>
        <div><dt>Time zone</dt><dd>{cj.spec?.timeZone ?? 'not set'}</dd></div>
        <div><dt>Suspend</dt><dd>{suspended ? 'True' : 'False'}</dd></div>
        <div><dt>Active</dt><dd>{active}</dd></div>
        <div><dt>Last schedule</dt><dd>{since(s.lastScheduleTime, now)}</dd></div>
        <div><dt>Last successful</dt><dd>{since(s.lastSuccessfulTime, now)}</dd></div>
      </dl>
      <div class="wl-images mono" title="Images">{images(cj.spec?.jobTemplate?.spec?.template).join(', ')}</div>
      {canSuspend && <div class="actions">
        <button type="button" class="secondary" disabled={action.busy} onClick={() => void action.run(() => setSuspended(api, cj, !suspended))}>
          {suspended ? 'Resume' : 'Suspend'}
        </button>
      </div>}
      <Feedback action={action} />
    </article>
  );
}
