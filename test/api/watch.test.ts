// Watch through client-node's Watch class and informer: synthetic ADDED events, resuming from a
// resourceVersion, selectors, bookmarks, timeoutSeconds, 410 Expired after compaction.
import { makeInformer, Watch, type CoreV1Api, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';

interface WatchEvent {
  type: string;
  object: KubernetesObject & Record<string, any>;
}

/** One open watch: the events so far, and a way to wait for more without sleeping blindly. */
class Stream {
  readonly events: WatchEvent[] = [];
  ended?: { err: unknown };
  controller?: AbortController;
  private wakers = new Set<() => void>();

  push(e: WatchEvent): void {
    this.events.push(e);
    this.wake();
  }

  end(err: unknown): void {
    this.ended = { err };
    this.wake();
  }

  private wake(): void {
    for (const w of this.wakers) w();
  }

  /** Resolves once `pred` holds; fails after `ms` with the events seen. */
  async until(pred: (events: WatchEvent[]) => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this.events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`watch condition not met; events: ${JSON.stringify(this.summary())}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wakers.add(done);
      });
    }
  }

  summary(): string[] {
    return this.events.map((e) => `${e.type} ${e.object?.metadata?.name ?? ''}@${e.object?.metadata?.resourceVersion ?? ''}`);
  }

  stop(): void {
    this.controller?.abort();
  }
}

const names = (events: WatchEvent[]) => events.map((e) => `${e.type} ${e.object.metadata?.name}`);

describe('watch', () => {
  let api: ApiServer;
  let core: CoreV1Api;
  const open: Stream[] = [];

  async function watch(path: string, params: Record<string, string | number | boolean | undefined> = {}): Promise<Stream> {
    const s = new Stream();
    open.push(s);
    s.controller = await new Watch(api.kubeConfig).watch(path, params, (type, object) => s.push({ type, object }), (err) => s.end(err));
    return s;
  }

  const cm = (name: string, labels: Record<string, string> = {}): V1ConfigMap => ({ metadata: { name, labels }, data: { v: '1' } });

  beforeAll(async () => {
    ({ api, core } = await startClientApi(['w-events', 'w-sel', 'w-marks', 'w-inf', 'w-gone'], { bookmarkIntervalMs: 50 }));
  });
  afterAll(async () => {
    for (const s of open) s.stop();
    await api.stop();
  });

  describe('events and resuming', () => {
    const path = '/api/v1/namespaces/w-events/configmaps';
    let all: Stream;

    it('starts with a synthetic ADDED for each existing object, then follows writes', async () => {
      const a = await core.createNamespacedConfigMap({ namespace: 'w-events', body: cm('a') });
      const b = await core.createNamespacedConfigMap({ namespace: 'w-events', body: cm('b') });
      all = await watch(path);
      await all.until((ev) => ev.length >= 2);
      expect(names(all.events)).toEqual(['ADDED a', 'ADDED b']);
      expect(all.events.map((e) => e.object.metadata?.resourceVersion)).toEqual([a.metadata?.resourceVersion, b.metadata?.resourceVersion]);
      expect(all.events[0].object.kind).toBe('ConfigMap');

      await core.createNamespacedConfigMap({ namespace: 'w-events', body: cm('c') });
      await core.patchNamespacedConfigMap({ namespace: 'w-events', name: 'a', body: [{ op: 'replace', path: '/data/v', value: '2' }] });
      await core.deleteNamespacedConfigMap({ namespace: 'w-events', name: 'b' });
      await all.until((ev) => ev.length >= 5);
      expect(names(all.events)).toEqual(['ADDED a', 'ADDED b', 'ADDED c', 'MODIFIED a', 'DELETED b']);
      expect(all.events[3].object.data).toEqual({ v: '2' });
      const rvs = all.events.slice(2).map((e) => Number(e.object.metadata?.resourceVersion));
      expect([...rvs].sort((x, y) => x - y)).toEqual(rvs);
      expect(new Set(rvs).size).toBe(3);
    });

    it('resuming from a seen resourceVersion replays exactly the later events', async () => {
      const from = all.events[2].object.metadata!.resourceVersion!; // after ADDED c
      const resumed = await watch(path, { resourceVersion: from });
      await resumed.until((ev) => ev.length >= 2);
      await core.createNamespacedConfigMap({ namespace: 'w-events', body: cm('d') });
      await resumed.until((ev) => ev.length >= 3);
      await all.until((ev) => ev.length >= 6);
      expect(resumed.summary()).toEqual(all.summary().slice(3));
      expect(names(resumed.events)).toEqual(['MODIFIED a', 'DELETED b', 'ADDED d']);
    });

    it('the legacy /watch/ path streams the same events', async () => {
      const from = all.events[4].object.metadata!.resourceVersion!;
      const res = await api.request(`/api/v1/watch/namespaces/w-events/configmaps?resourceVersion=${from}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      // Read up to the first event, then hang up.
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes('\n')) text += (await reader.read()).value ?? '';
      await reader.cancel();
      const first = JSON.parse(text.slice(0, text.indexOf('\n'))) as WatchEvent;
      expect(`${first.type} ${first.object.metadata?.name}`).toBe('ADDED d');
    });

    it('a watch on all namespaces sees every namespace', async () => {
      const everywhere = await watch('/api/v1/configmaps', { resourceVersion: all.events[5].object.metadata!.resourceVersion });
      await core.createNamespacedConfigMap({ namespace: 'w-sel', body: cm('elsewhere') });
      await core.createNamespacedConfigMap({ namespace: 'w-events', body: cm('here') });
      await everywhere.until((ev) => ev.length >= 2);
      expect(everywhere.events.map((e) => `${e.object.metadata?.namespace}/${e.object.metadata?.name}`)).toEqual(['w-sel/elsewhere', 'w-events/here']);
    });
  });

  it('honours label and field selectors', async () => {
    const start = await core.listNamespacedConfigMap({ namespace: 'w-sel' });
    const byLabel = await watch('/api/v1/namespaces/w-sel/configmaps', { resourceVersion: start.metadata?.resourceVersion, labelSelector: 'app in (web)' });
    const byName = await watch('/api/v1/namespaces/w-sel/configmaps', {
      resourceVersion: start.metadata?.resourceVersion,
      fieldSelector: 'metadata.name=db',
      allowWatchBookmarks: false,
    });
    await core.createNamespacedConfigMap({ namespace: 'w-sel', body: cm('web', { app: 'web' }) });
    await core.createNamespacedConfigMap({ namespace: 'w-sel', body: cm('db', { app: 'db' }) });
    await core.createNamespacedConfigMap({ namespace: 'w-sel', body: cm('web2', { app: 'web' }) });
    await core.deleteNamespacedConfigMap({ namespace: 'w-sel', name: 'db' });
    await byLabel.until((ev) => ev.length >= 2);
    await byName.until((ev) => ev.length >= 2);
    expect(names(byLabel.events)).toEqual(['ADDED web', 'ADDED web2']);
    expect(names(byName.events)).toEqual(['ADDED db', 'DELETED db']);
  });

  it('sends bookmarks with the current resourceVersion only when allowed', async () => {
    const last = await core.createNamespacedConfigMap({ namespace: 'w-marks', body: cm('m') });
    const plain = await watch('/api/v1/namespaces/w-marks/configmaps', { resourceVersion: last.metadata?.resourceVersion });
    const marked = await watch('/api/v1/namespaces/w-marks/configmaps', { resourceVersion: last.metadata?.resourceVersion, allowWatchBookmarks: true });
    await marked.until((ev) => ev.filter((e) => e.type === 'BOOKMARK').length >= 2);
    const bookmark = marked.events.find((e) => e.type === 'BOOKMARK')!;
    expect(bookmark.object.kind).toBe('ConfigMap');
    expect(bookmark.object.apiVersion).toBe('v1');
    expect(Number(bookmark.object.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(last.metadata?.resourceVersion));
    expect(plain.events).toEqual([]);
  });

  it('timeoutSeconds ends the stream cleanly', async () => {
    const started = Date.now();
    const s = await watch('/api/v1/namespaces/w-marks/configmaps', { timeoutSeconds: 1 });
    await s.until(() => s.ended !== undefined, 4000);
    expect(s.ended?.err).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(names(s.events)).toEqual(['ADDED m']);
  });

  it('an informer sees add, update and delete', async () => {
    const informer = makeInformer(api.kubeConfig, '/api/v1/namespaces/w-inf/configmaps', () => core.listNamespacedConfigMap({ namespace: 'w-inf' }));
    const seen: string[] = [];
    let changed = () => {};
    const record = (verb: string) => (obj: V1ConfigMap) => {
      seen.push(`${verb} ${obj.metadata?.name} ${obj.data?.v}`);
      changed();
    };
    informer.on('add', record('add'));
    informer.on('update', record('update'));
    informer.on('delete', record('delete'));
    const waitFor = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`informer saw ${JSON.stringify(seen)}`)), 5000);
        changed = () => {
          if (seen.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        changed();
      });

    await core.createNamespacedConfigMap({ namespace: 'w-inf', body: cm('before') });
    await informer.start();
    await waitFor(1);
    await core.createNamespacedConfigMap({ namespace: 'w-inf', body: cm('after') });
    await core.patchNamespacedConfigMap({ namespace: 'w-inf', name: 'before', body: [{ op: 'replace', path: '/data/v', value: '2' }] });
    await core.deleteNamespacedConfigMap({ namespace: 'w-inf', name: 'after' });
    await waitFor(4);
    await informer.stop();
    expect(seen).toEqual(['add before 1', 'add after 1', 'update before 2', 'delete after 1']);
    expect(informer.list('w-inf').map((o) => o.metadata?.name)).toEqual(['before']);
  });

  // Last: compaction drops the change log every other watch reads.
  it('a watch from a compacted resourceVersion gets an ERROR event with 410 Expired', async () => {
    const old = await core.createNamespacedConfigMap({ namespace: 'w-gone', body: cm('old') });
    await core.createNamespacedConfigMap({ namespace: 'w-gone', body: cm('new') });
    await api.store.compact(0);
    const s = await watch('/api/v1/namespaces/w-gone/configmaps', { resourceVersion: old.metadata?.resourceVersion });
    await s.until(() => s.ended !== undefined);
    expect(s.events).toHaveLength(1);
    const [event] = s.events;
    expect(event.type).toBe('ERROR');
    expect(event.object).toMatchObject({ kind: 'Status', status: 'Failure', code: 410, reason: 'Expired' });

    // A watch from now on still works.
    const now = await core.listNamespacedConfigMap({ namespace: 'w-gone' });
    const fresh = await watch('/api/v1/namespaces/w-gone/configmaps', { resourceVersion: now.metadata?.resourceVersion });
    await core.deleteNamespacedConfigMap({ namespace: 'w-gone', name: 'old' });
    await fresh.until((ev) => ev.length >= 1);
    expect(names(fresh.events)).toEqual(['DELETED old']);
  });
});
