// The workload actions, sending what kubectl sends: `kubectl scale` (the scale subresource),
// `kubectl rollout restart|pause|resume|undo`, and `kubectl patch cronjob -p '{"spec":{"suspend":…}}'`.
// Each resolves to a short note for the user or throws the API's failure (shown as its Status message).
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, collectionPath, objectPath, type Api } from '../api.js';
import type { Obj } from '../collection.js';
import { controllerUid, previousRevision, RESTARTED_AT, revisionOf, rfc3339, rollbackPatch } from './workload-status.js';

const deploymentPath = (d: Obj) => objectPath('apps/v1', 'deployments', d.metadata.namespace, d.metadata.name);

/** kubectl scale: a merge patch of the scale subresource, so only the replica count is touched. */
export async function scaleDeployment(api: Api, d: Obj, replicas: number): Promise<string> {
  await api.patch(`${deploymentPath(d)}/scale`, { spec: { replicas } }, 'merge');
  return `Scaled to ${replicas}.`;
}

/** kubectl rollout restart: stamp the pod template, so every pod is replaced by a rollout. */
export async function restartWorkload(api: Api, o: Obj, resource: 'deployments' | 'daemonsets'): Promise<string> {
  if (resource === 'deployments' && o.spec?.paused) throw new ApiFailure(0, 'Paused', "can't restart paused deployment (run rollout resume first)");
  const at = rfc3339();
  await api.patch(objectPath('apps/v1', resource, o.metadata.namespace, o.metadata.name),
    { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } }, 'strategic');
  return `Restarted at ${at}.`;
}

/** kubectl rollout pause / resume. */
export async function setPaused(api: Api, d: Obj, paused: boolean): Promise<string> {
  await api.patch(deploymentPath(d), { spec: { paused } }, 'strategic');
  return paused ? 'Rollout paused.' : 'Rollout resumed.';
}

/**
 * kubectl rollout undo (to the previous revision), reading the Deployment and its ReplicaSets afresh
 * as kubectl does, so a revision that changed since the page drew is not rolled back to blindly.
 */
export async function undoDeployment(api: Api, d: Obj): Promise<string> {
  const ns = d.metadata.namespace;
  const fresh = await api.get<Obj>(deploymentPath(d));
  const list = await api.get<{ items: Obj[] }>(collectionPath('apps/v1', 'replicasets', ns));
  const owned = list.items.filter((rs) => controllerUid(rs) === fresh.metadata.uid);
  const target = previousRevision(owned);
  if (!target) throw new ApiFailure(0, 'NoHistory', `no rollout history found for deployment "${d.metadata.name}"`);
  if (fresh.spec?.paused) throw new ApiFailure(0, 'Paused', "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again");
  const revision = revisionOf(target);
  const patch = rollbackPatch(fresh, target);
  if (!patch) return `Skipped rollback (current template already matches revision ${revision}).`;
  await api.patch(deploymentPath(d), patch, 'json');
  return `Rolled back to revision ${revision}.`;
}

/** kubectl patch cronjob NAME -p '{"spec":{"suspend":true}}' (or false). */
export async function setSuspended(api: Api, cj: Obj, suspend: boolean): Promise<string> {
  await api.patch(objectPath('batch/v1', 'cronjobs', cj.metadata.namespace, cj.metadata.name), { spec: { suspend } }, 'merge');
  return suspend ? 'Suspended: no new Jobs will be scheduled.' : 'Resumed.';
}

export interface Action {
  busy: boolean;
  error: string;
  note: string;
  /** Runs one action at a time, keeping its note or its error for the user. */
  run: (fn: () => Promise<string>) => Promise<boolean>;
  clear: () => void;
}

const NOTE_MS = 15_000;

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  // A note of success fades after a while: it says what was done, not what is (the card says that).
  useEffect(() => {
    if (!note) return;
    const t = setTimeout(() => setNote(''), NOTE_MS);
    return () => clearTimeout(t);
  }, [note]);
  const run = async (fn: () => Promise<string>) => {
    setBusy(true);
    setError('');
    setNote('');
    try {
      setNote(await fn());
      return true;
    } catch (err) {
      setError(err instanceof ApiFailure ? err.message : String((err as Error)?.message ?? err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, note, run, clear: () => { setError(''); setNote(''); } };
}
