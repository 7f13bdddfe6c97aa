// Lists through client-node: label selectors, field selectors, pagination, list resourceVersion.
import type { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClientApi, type ApiServer } from '../helpers/api-server.js';
import { failure } from '../helpers/status.js';

const NS = 'sel';
const OTHER = 'sel-other';

// name -> labels
const LABELLED: Record<string, Record<string, string>> = {
  'prod-web': { env: 'prod', tier: 'web', 'example.com/team': 'a' },
  'dev-web': { env: 'dev', tier: 'web' },
  'prod-only': { env: 'prod' },
  'qa-db': { env: 'qa', tier: 'db' },
  'bare': {},
};

describe('list selectors and pagination', () => {
  let api: ApiServer;
  let core: CoreV1Api;

  beforeAll(async () => {
    ({ api, core } = await startClientApi([NS, OTHER, 'pages']));
    for (const [name, labels] of Object.entries(LABELLED)) {
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name, labels }, data: {} } });
    }
    await core.createNamespacedConfigMap({ namespace: OTHER, body: { metadata: { name: 'prod-web', labels: { env: 'prod' } } } });
  });
  afterAll(() => api.stop());

  const names = async (labelSelector?: string, fieldSelector?: string) =>
    (await core.listNamespacedConfigMap({ namespace: NS, labelSelector, fieldSelector })).items.map((c) => c.metadata?.name).sort();

  describe('label selectors', () => {
    it.each([
      ['env=prod', ['prod-only', 'prod-web']],
      ['env==prod', ['prod-only', 'prod-web']],
      ['env!=prod', ['bare', 'dev-web', 'qa-db']],
      ['env in (dev,qa)', ['dev-web', 'qa-db']],
      ['env notin (prod, dev)', ['bare', 'qa-db']],
      ['tier', ['dev-web', 'prod-web', 'qa-db']],
      ['!tier', ['bare', 'prod-only']],
      ['env=prod,tier=web', ['prod-web']],
      ['env,!tier', ['prod-only']],
      ['tier in (web),env!=dev', ['prod-web']],
      ['env=nothing', []],
      ['example.com/team=a', ['prod-web']],
      ['example.com/team notin (a)', ['bare', 'dev-web', 'prod-only', 'qa-db']],
    ])('%s', async (selector, expected) => {
      expect(await names(selector)).toEqual(expected);
    });

    it('across all namespaces', async () => {
      const list = await core.listConfigMapForAllNamespaces({ labelSelector: 'env=prod' });
      expect(list.items.map((c) => `${c.metadata?.namespace}/${c.metadata?.name}`).sort()).toEqual([
        `${NS}/prod-only`, `${NS}/prod-web`, `${OTHER}/prod-web`,
      ].sort());
    });

    it('a malformed selector is 400', async () => {
      const res = await failure(core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'env in prod' }));
      expect(res.code).toBe(400);
      expect(res.status.reason).toBe('BadRequest');
      expect((await failure(core.listNamespacedConfigMap({ namespace: NS, labelSelector: 'bad key!=x' }))).code).toBe(400);
    });
  });

  describe('field selectors', () => {
    it('metadata.name and metadata.namespace', async () => {
      expect(await names(undefined, 'metadata.name=qa-db')).toEqual(['qa-db']);
      expect(await names(undefined, 'metadata.name!=qa-db')).toEqual(['bare', 'dev-web', 'prod-only', 'prod-web']);
      expect(await names('env=prod', 'metadata.name!=prod-web')).toEqual(['prod-only']);
      const all = await core.listConfigMapForAllNamespaces({ fieldSelector: `metadata.namespace=${OTHER}` });
      expect(all.items.map((c) => c.metadata?.name)).toEqual(['prod-web']);
      const byBoth = await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=prod-web' });
      expect(byBoth.items.map((c) => c.metadata?.namespace).sort()).toEqual([NS, OTHER]);
    });

    it('spec.nodeName and status.phase on pods', async () => {
      const pod = (name: string, nodeName?: string) => ({
        metadata: { name },
        spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}) },
      });
      await core.createNamespacedPod({ namespace: NS, body: pod('on-n1', 'n1') });
      await core.createNamespacedPod({ namespace: NS, body: pod('on-n2', 'n2') });
      await core.createNamespacedPod({ namespace: NS, body: pod('unscheduled') });
      const running = await core.readNamespacedPod({ namespace: NS, name: 'on-n2' });
      running.status = { ...running.status, phase: 'Running' };
      await core.replaceNamespacedPodStatus({ namespace: NS, name: 'on-n2', body: running });

      const podNames = async (fieldSelector: string) =>
        (await core.listNamespacedPod({ namespace: NS, fieldSelector })).items.map((p) => p.metadata?.name).sort();
      expect(await podNames('spec.nodeName=n1')).toEqual(['on-n1']);
      expect(await podNames('spec.nodeName=')).toEqual(['unscheduled']);
      expect(await podNames('spec.nodeName!=')).toEqual(['on-n1', 'on-n2']);
      expect(await podNames('status.phase=Running')).toEqual(['on-n2']);
      expect(await podNames('status.phase=Pending,spec.nodeName!=')).toEqual(['on-n1']);
      const everywhere = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n2' });
      expect(everywhere.items.map((p) => p.metadata?.name)).toEqual(['on-n2']);
    });

    it('involvedObject.name on events, as kubectl describe asks', async () => {
      const event = (name: string, about: string) => ({
        metadata: { name },
        involvedObject: { kind: 'Pod', name: about, namespace: NS, uid: `uid-${about}` },
        reason: 'Scheduled',
        message: `about ${about}`,
        type: 'Normal',
        source: { component: 'test' },
        count: 1,
      });
      await core.createNamespacedEvent({ namespace: NS, body: event('e1', 'on-n1') });
      await core.createNamespacedEvent({ namespace: NS, body: event('e2', 'on-n2') });
      const list = await core.listNamespacedEvent({
        namespace: NS,
        fieldSelector: `involvedObject.name=on-n1,involvedObject.namespace=${NS},involvedObject.uid=uid-on-n1`,
      });
      expect(list.items.map((e) => e.metadata?.name)).toEqual(['e1']);
    });

    it('an unsupported field is 400', async () => {
      const res = await failure(core.listNamespacedConfigMap({ namespace: NS, fieldSelector: 'data.k=v' }));
      expect(res.code).toBe(400);
      expect(res.status.message).toContain('data.k');
      expect((await failure(core.listNamespacedPod({ namespace: NS, fieldSelector: 'spec.nodeName' }))).code).toBe(400);
    });
  });

  describe('pagination', () => {
    const TOTAL = 25;

    beforeAll(async () => {
      for (let i = 0; i < TOTAL; i++) {
        const name = `cm-${String(i).padStart(2, '0')}`;
        await core.createNamespacedConfigMap({ namespace: 'pages', body: { metadata: { name, labels: { odd: String(i % 2 === 1) } } } });
      }
    });

    it('limit and continue walk every object once, at one resourceVersion', async () => {
      const seen: string[] = [];
      const sizes: number[] = [];
      const versions = new Set<string>();
      let cont: string | undefined;
      do {
        const page = await core.listNamespacedConfigMap({ namespace: 'pages', limit: 10, _continue: cont });
        sizes.push(page.items.length);
        versions.add(String(page.metadata?.resourceVersion));
        seen.push(...page.items.map((c) => c.metadata!.name!));
        cont = page.metadata?._continue;
      } while (cont);
      expect(sizes).toEqual([10, 10, 5]);
      expect(versions.size).toBe(1);
      expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => `cm-${String(i).padStart(2, '0')}`));
    });

    it('pages through a label selector', async () => {
      const seen: string[] = [];
      let cont: string | undefined;
      let pages = 0;
      do {
        const page = await core.listNamespacedConfigMap({ namespace: 'pages', labelSelector: 'odd=true', limit: 5, _continue: cont });
        expect(page.items.length).toBeLessThanOrEqual(5);
        seen.push(...page.items.map((c) => c.metadata!.name!));
        cont = page.metadata?._continue;
        pages++;
      } while (cont);
      expect(seen).toHaveLength(12);
      expect(pages).toBe(3);
      expect(seen.every((n) => Number(n.slice(3)) % 2 === 1)).toBe(true);
    });

    it('a last page has no continue token; a bad token is 400', async () => {
      const all = await core.listNamespacedConfigMap({ namespace: 'pages', limit: 100 });
      expect(all.items).toHaveLength(TOTAL);
      expect(all.metadata?._continue).toBeUndefined();
      const res = await failure(core.listNamespacedConfigMap({ namespace: 'pages', limit: 5, _continue: 'not-a-token' }));
      expect(res.code).toBe(400);
    });
  });

  it('a list carries the newest resourceVersion, which moves with writes', async () => {
    const before = await core.listNamespacedConfigMap({ namespace: NS });
    expect(before.metadata?.resourceVersion).toMatch(/^\d+$/);
    const newest = Math.max(...before.items.map((c) => Number(c.metadata?.resourceVersion)));
    expect(Number(before.metadata?.resourceVersion)).toBeGreaterThanOrEqual(newest);
    const written = await core.createNamespacedConfigMap({ namespace: OTHER, body: { metadata: { name: 'bump' } } });
    const after = await core.listNamespacedConfigMap({ namespace: NS });
    expect(after.metadata?.resourceVersion).toBe(written.metadata?.resourceVersion);
    expect(Number(after.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata?.resourceVersion));
  });
});
