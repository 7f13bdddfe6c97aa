import { describe, expect, it } from 'vitest';
import { cleanupHistory, constructHistory, revisionData, RevisionPool, type Revision } from '../../src/control/daemonset-history.js';
import { templateHash } from '../../src/control/rollout.js';
import { daemonSet as daemonSetKind } from '../../src/kinds/daemonset.js';

const NOW = new Date('2024-05-01T12:00:00Z');
const STAMP = '2024-05-01T12:00:00Z';

function daemonSet(image: string, extra: Record<string, unknown> = {}): any {
  const ds: any = {
    apiVersion: 'apps/v1', kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default', uid: 'ds-uid', resourceVersion: '7' },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image }] } } },
    ...extra,
  };
  daemonSetKind.defaults!(ds);
  return ds;
}

let rv = 100;
function stored(ds: any, revision: number, extra: { owner?: string | null; hash?: string | null } = {}): Revision {
  const hash = extra.hash === undefined ? templateHash(ds.spec.template) : extra.hash;
  const owner = extra.owner === undefined ? 'ds-uid' : extra.owner;
  return {
    apiVersion: 'apps/v1', kind: 'ControllerRevision',
    metadata: {
      name: `agent-${hash ?? `x${revision}`}`, namespace: 'default', uid: `cr-${revision}-${rv}`, resourceVersion: String(++rv),
      labels: { app: 'agent', ...(hash ? { 'controller-revision-hash': hash } : {}) },
      ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: owner, controller: true }] } : {}),
    },
    data: revisionData(ds.spec.template),
    revision,
  };
}

describe('DaemonSet revisions', () => {
  it('snapshots a new template as the next revision, holding the patch that restores it', () => {
    const v1 = daemonSet('agent:1');
    const pool = new RevisionPool([stored(v1, 1)]);
    const v2 = daemonSet('agent:2');
    const history = constructHistory(v2, pool, STAMP);
    const hash = templateHash(v2.spec.template);
    expect(history).toMatchObject({ hash, duplicates: [] });
    const [create] = pool.writes(NOW);
    expect(create).toMatchObject({ op: 'create' });
    const cr = (create as { object: Revision }).object;
    expect(cr.metadata).toMatchObject({
      name: `agent-${hash}`, labels: { app: 'agent', 'controller-revision-hash': hash },
      annotations: { 'deprecated.daemonset.template.generation': '1' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds-uid', controller: true, blockOwnerDeletion: true }],
    });
    expect(cr.revision).toBe(2);
    // Go's key order, and the null creationTimestamp a typed ObjectMeta always has.
    expect(JSON.stringify(cr.data)).toMatch(/^\{"spec":\{"template":\{"\$patch":"replace","metadata":\{"creationTimestamp":null,"labels":\{"app":"agent"\}\},"spec":\{"containers":\[\{"image":"agent:2","imagePullPolicy":"IfNotPresent","name":"agent",/);
  });

  it('finds the revision of a template it had before and renumbers it, adopting and labelling what it claims', () => {
    const v1 = daemonSet('agent:1');
    const v2 = daemonSet('agent:2');
    const old = stored(v1, 1, { owner: null, hash: null });
    const pool = new RevisionPool([old, stored(v2, 2)]);
    const history = constructHistory(v1, pool, STAMP);
    expect(history).toMatchObject({ hash: old.metadata!.name, duplicates: [] });
    const [update] = pool.writes(NOW);
    expect(update).toMatchObject({ op: 'update', rv: Number(old.metadata!.resourceVersion) });
    const cr = (update as { object: Revision }).object;
    expect(cr.revision).toBe(3);
    expect(cr.metadata!.labels!['controller-revision-hash']).toBe(old.metadata!.name);
    expect(cr.metadata!.ownerReferences).toEqual([expect.objectContaining({ uid: 'ds-uid', controller: true })]);
  });

  it('keeps the highest of duplicate revisions, and counts a collision when its name is another template\'s', () => {
    const v1 = daemonSet('agent:1');
    const pool = new RevisionPool([stored(v1, 1, { hash: 'aaa' }), stored(v1, 4, { hash: 'bbb' })]);
    expect(constructHistory(v1, pool, STAMP)).toMatchObject({ hash: 'bbb', duplicates: ['aaa'] });
    expect(pool.writes(NOW)).toEqual([{ op: 'delete', kind: 'ControllerRevision', namespace: 'default', name: 'agent-aaa', rv: expect.any(Number) }]);

    const v2 = daemonSet('agent:2');
    const squatter = stored(v1, 1, { hash: templateHash(v2.spec.template), owner: 'someone-else' });
    expect(constructHistory(v2, new RevisionPool([squatter]), STAMP)).toEqual({ collisionCount: 1 });
    const retried = daemonSet('agent:2', { status: { collisionCount: 1 } });
    expect(constructHistory(retried, new RevisionPool([squatter]), STAMP)).toMatchObject({ hash: templateHash(v2.spec.template, 1) });
  });

  it('cleans up old revisions beyond the limit, oldest first, never one a pod still runs', () => {
    const pool = new RevisionPool(['1', '2', '3', '4'].map((n, i) => stored(daemonSet(`agent:${n}`), i + 1)));
    const current = daemonSet('agent:5');
    const history = constructHistory(current, pool, STAMP);
    if (!('old' in history)) throw new Error('no history');
    cleanupHistory(1, history.old, new Set([templateHash(daemonSet('agent:1').spec.template)]));
    const deleted = pool.writes(NOW).filter((op) => op.op === 'delete').map((op) => (op as { name: string }).name);
    // Three of four to go: 1 is live, so 2, 3 and 4 go.
    expect(deleted.sort()).toEqual(['agent:2', 'agent:3', 'agent:4'].map((image) => `agent-${templateHash(daemonSet(image).spec.template)}`).sort());
  });
});
