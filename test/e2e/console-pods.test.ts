// The console's Pods, pod detail, Network and Events views in a real headless Chromium, against a real
// `skiff serve` and a real `skiff agent` (process runtime: the pod's command runs as a process on this
// machine). A pod's log streams while it prints; its events put warnings first; a Service shows the
// pod as its ready endpoint; Delete removes it. Skipped where no Chromium is installed (noChromium).
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { launchChromium, noChromium, openPage, screenshotPath, signIn } from '../helpers/browser.js';
import { runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const NODE = 'console-edge';
const POD = 'counter';
/** Prints a numbered line every second until stopped. */
/** A container that prints one line and fails, so it restarts (and has a previous run to read). */
const CRASH = { name: 'crash', image: 'node', command: [process.execPath, '-e', 'console.log(`crash run at ${Date.now()}`); setTimeout(() => process.exit(1), 300)'] };
const STEADY = { name: 'steady', image: 'node', command: [process.execPath, '-e', 'console.log("steady and well"); setInterval(() => {}, 1 << 30)'] };
const COUNTER = { name: 'count', image: 'node', command: [process.execPath, '-e', 'let i = 0; setInterval(() => console.log(`line ${++i}`), 1000)'] };

describe.skipIf(!!noChromium)('console: pods, a pod’s logs and events, network, events (Chromium, real agent)', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let browser: Browser;
  let page: Page;
  let podIP = '';

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  /** Waits until the element shows `text` (playwright-core has no expect of its own). */
  const showsText = (loc: Locator, text: string, timeout = 15_000) =>
    until(`"${text}" in ${loc}`, async () => (await loc.innerText({ timeout: 1000 })).includes(text), timeout);
  const go = async (hash: string) => {
    await page.evaluate((h) => (location.hash = h), hash);
  };

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '500ms'] });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    agent = startAgentProcess({ server: server.url, token: created.stdout.trim(), caHash: caCertHash(server.ca), name: NODE, data: tempDir('skiff-agent-') });
    await agent.ready;
    await until('the node to be Ready', async () => {
      const node = await api(`/api/v1/nodes/${NODE}`);
      return node.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
    });
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: POD, labels: { app: 'counter' } },
        spec: { terminationGracePeriodSeconds: 2, containers: [COUNTER] },
      },
    });
    // Restarting while the other tests run, so its previous run is there to read by then.
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crasher' }, spec: { terminationGracePeriodSeconds: 1, containers: [STEADY, CRASH] } },
    });
    await api('/api/v1/namespaces/default/services', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'counter' }, spec: { selector: { app: 'counter' }, ports: [{ port: 80, targetPort: 8080 }] } },
    });
    const pod = await until('the counter pod Ready', async () => {
      const p = await api(`/api/v1/namespaces/default/pods/${POD}`);
      return p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') && p;
    });
    podIP = pod.status.podIP;
    await until('the crasher pod started', async () => (await api('/api/v1/namespaces/default/pods/crasher')).status?.containerStatuses?.length === 2);
    expect(podIP).toBeTruthy();
    browser = await launchChromium();
    ({ page } = await openPage(browser, 1280));
    await signIn(page, server.url, server.token);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await server?.stop();
  });

  it('streams a pod’s log where the agent runs it: later lines appear without a reload', async () => {
    await go(`#/pods/default/${POD}`);
    await page.getByRole('heading', { name: POD, level: 2 }).waitFor();
    const logs = page.getByTestId('logs');
    await showsText(logs, 'line 1', 30_000);
    // A reload would drop this marker; streaming keeps it.
    await page.evaluate(() => ((window as any).__sameDocument = true));
    const seen = Math.max(...[...(await logs.innerText()).matchAll(/line (\d+)/g)].map((m) => Number(m[1])));
    const later = Math.max(5, seen + 3);
    await showsText(logs, `line ${later}`, 30_000);
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    // The lines are in order, each once (appended as they come, not redrawn twice).
    const numbers = [...(await logs.innerText()).matchAll(/line (\d+)/g)].map((m) => Number(m[1]));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0] + i));
    await page.getByText('Streaming').waitFor();
  }, 90_000);

  it('lists the pod with its node, Running, and READY as kubectl prints them', async () => {
    await go('#/pods');
    await page.getByLabel('Filter pods').fill('count');
    const row = page.getByRole('table', { name: 'Pods' }).getByRole('row').filter({ has: page.getByRole('link', { name: POD }) });
    await showsText(row, NODE);
    await showsText(row, 'Running');
    await showsText(row, '1/1');
    await showsText(row, podIP);
    // The filter matches node names too, and hides what it does not match.
    await page.getByLabel('Filter pods').fill(NODE);
    await row.waitFor();
    await page.getByLabel('Filter pods').fill('no-such-pod');
    await page.getByText('No pod matches the filter.').waitFor();
    await page.getByLabel('Filter pods').fill('');
    await row.getByRole('link', { name: POD }).click();
    await page.getByRole('heading', { name: POD, level: 2 }).waitFor();
    expect(await page.evaluate(() => location.hash)).toBe(`#/pods/default/${POD}`);
  });

  it('shows a Warning event about the pod above its Normal ones, in the pod detail and the Events view', async () => {
    const pod = await api(`/api/v1/namespaces/default/pods/${POD}`);
    // Older than the scheduler's and the agent's Normal events: first only because it is a warning.
    // (Not older than the server's event TTL, an hour, or it is collected at once.)
    const earlier = new Date(Date.now() - 600_000).toISOString();
    await api('/api/v1/namespaces/default/events', {
      method: 'POST',
      body: {
        apiVersion: 'v1', kind: 'Event',
        metadata: { name: `${POD}.disk-warning` },
        involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: 'default', name: POD, uid: pod.metadata.uid },
        type: 'Warning', reason: 'DiskPressureTest', message: 'the disk under counter is nearly full',
        source: { component: 'console-test' }, firstTimestamp: earlier, lastTimestamp: earlier, count: 3,
      },
    });
    await go(`#/pods/default/${POD}`);
    const table = page.getByRole('table', { name: 'Pod events' });
    await showsText(table, 'the disk under counter is nearly full');
    await showsText(table, 'Started');
    const types = await table.locator('tbody tr td:first-child').allInnerTexts();
    expect(types[0]).toBe('Warning');
    expect(types.slice(1).length).toBeGreaterThan(0);
    expect(types.slice(1).every((t) => t === 'Normal')).toBe(true);
    await page.screenshot({ path: screenshotPath('pod-1280'), fullPage: true });

    await go('#/events');
    const events = page.getByRole('table', { name: 'Events' });
    await showsText(events, 'DiskPressureTest');
    await showsText(events, 'Scheduled');
    const rows = await events.locator('tbody tr td:first-child').allInnerTexts();
    const firstNormal = rows.indexOf('Normal');
    expect(rows[0]).toBe('Warning');
    expect(rows.slice(firstNormal).includes('Warning')).toBe(false);
    await page.screenshot({ path: screenshotPath('events-1280'), fullPage: true });
    // The object links to the pod's detail.
    await events.getByRole('row').filter({ hasText: 'DiskPressureTest' }).getByRole('link', { name: `pod/${POD}` }).click();
    await page.getByRole('heading', { name: POD, level: 2 }).waitFor();
  });

  it('shows the Service’s ready endpoint: the pod’s address, from the EndpointSlice', async () => {
    await go('#/network');
    const row = page.getByRole('table', { name: 'Services' }).getByRole('row').filter({ hasText: 'app=counter' });
    await showsText(row, '1 ready', 30_000);
    await showsText(row.getByRole('list', { name: 'Endpoints of counter' }), podIP);
    await showsText(row, '80/TCP → 8080');
    await page.screenshot({ path: screenshotPath('network-1280'), fullPage: true });
    // The address links to the pod behind it.
    await row.getByRole('link', { name: podIP }).click();
    await page.getByRole('heading', { name: POD, level: 2 }).waitFor();
  });

  it('reads at 375 px: the pod detail with its log, and the lists (screenshots)', async () => {
    const phone = await openPage(browser, 375, 800);
    try {
      await signIn(phone.page, server.url, server.token);
      await phone.page.evaluate((h) => (location.hash = h), `#/pods/default/${POD}`);
      await showsText(phone.page.getByTestId('logs'), 'line', 30_000);
      // Nothing wider than the screen but the tables, which scroll inside their own box.
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await phone.page.screenshot({ path: screenshotPath('pod-375'), fullPage: true });
      // The other views of this file at the same width, for people to look at.
      for (const [hash, name, ready] of [['#/pods', 'pods-375', 'Pods'], ['#/network', 'network-375', 'Services'], ['#/events', 'events-375', 'Events']]) {
        await phone.page.evaluate((h) => (location.hash = h), hash);
        await phone.page.getByRole('table', { name: ready }).waitFor();
        expect(await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
        await phone.page.screenshot({ path: screenshotPath(name), fullPage: true });
      }
    } finally {
      await phone.context.close();
    }
  }, 60_000);

  it('picks a container of a multi-container pod, and reads the previous run of a restarted one', async () => {
    await until('the crash container restarted', async () => {
      const p = await api('/api/v1/namespaces/default/pods/crasher');
      return p.status?.containerStatuses?.find((c: any) => c.name === 'crash')?.restartCount >= 1;
    }, 60_000);
    await go('#/pods/default/crasher');
    const logs = page.getByTestId('logs');
    // The first container is the one kubectl logs picks.
    await showsText(logs, 'steady and well');
    await page.getByLabel('Container', { exact: true }).selectOption('crash');
    await showsText(logs, 'crash run at');
    await page.getByRole('button', { name: 'Previous' }).click();
    // One run's output, whole: the stream of a previous run ends (the log view reopens it when the
    // container restarts again, so this waits for a moment where both show).
    await until('the previous run, ended', async () =>
      (await page.getByText('End of the previous run').isVisible()) && (await logs.innerText()).match(/crash run at \d+/g)?.length === 1);
    expect(await page.getByRole('button', { name: 'Previous' }).getAttribute('aria-pressed')).toBe('true');
  }, 90_000);

  it('shows the API’s message instead of a log when the pod’s node cannot be reached', async () => {
    // A node registered through the API but with no agent behind it: the API cannot reach its
    // kubelet (503, not connected). (A pod bound to no Node at all would be collected at once.)
    await api('/api/v1/nodes', { method: 'POST', body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'nowhere' } } });
    await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stranded' }, spec: { nodeName: 'nowhere', containers: [{ name: 'c', image: 'node' }] } },
    });
    await go('#/pods/default/stranded');
    await showsText(page.getByRole('alert'), 'node "nowhere" is not connected');
    await page.getByTestId('logs').waitFor({ state: 'hidden' });
  });

  it('deletes the pod from its detail', async () => {
    await go(`#/pods/default/${POD}`);
    await page.getByRole('heading', { name: POD, level: 2 }).waitFor();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    // Cancel first: nothing is deleted without the confirmation.
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect((await server.request(`/api/v1/namespaces/default/pods/${POD}`)).status).toBe(200);
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('group', { name: 'Confirm deletion' }).getByRole('button', { name: 'Delete pod' }).click();
    await until('the pod gone from the API', async () => (await server.request(`/api/v1/namespaces/default/pods/${POD}`)).status === 404, 60_000);
    await page.getByText(`Pod ${POD} was deleted.`).waitFor();
  }, 90_000);
});
