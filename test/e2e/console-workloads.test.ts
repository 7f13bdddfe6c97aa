// The console's Workloads view in a real headless Chromium against a real `skiff serve` whose pods
// run on simulated nodes (`skiff agent --simulate`, pods Running and Ready without Docker): scaling
// from the console, a rollout started with kubectl watched through both ReplicaSets until it
// completes (screenshots at 1280 and 375 px while it runs), restart / undo / pause from the console
// checked against the API as kubectl would leave it, the DaemonSet / Job / CronJob tabs, and what
// a ServiceAccount that may only see Deployments gets (no actions, quiet notes).
// Needs Chromium (Debian's chromium) and /usr/bin/kubectl; skipped with a message otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { launchChromium, noChromium, openPage, screenshotPath, signIn } from '../helpers/browser.js';
import { hasKubectl, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const NODES = 3;
const APPS = '/apis/apps/v1/namespaces/default';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/;

function deployment(name: string, replicas: number, image: string, minReadySeconds = 0) {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas, minReadySeconds,
      selector: { matchLabels: { app: name } },
      // One new pod at a time, no old one gone before it is available: a rollout in visible steps.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image }] } },
    },
  };
}

const skip = noChromium || (hasKubectl ? '' : 'no /usr/bin/kubectl');
if (skip) console.warn(`console-workloads: skipped: ${skip}`);

describe.skipIf(!!skip)('console: workloads', () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let page: Page;

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const kubectl = async (...args: string[]) => {
    const r = await server.kubectl(args, { timeoutMs: 120_000 });
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** The Deployment's ReplicaSets by revision, from the API. */
  const replicaSets = async (name: string) => {
    const d = await api(`${APPS}/deployments/${name}`);
    const items = (await api(`${APPS}/replicasets`)).items.filter((rs: any) => rs.metadata.ownerReferences?.some((o: any) => o.uid === d.metadata.uid));
    return new Map<number, any>(items.map((rs: any) => [Number(rs.metadata.annotations['deployment.kubernetes.io/revision']), rs]));
  };
  const attribute = (loc: Locator, name: string, want: string) =>
    until(`${name}="${want}"`, async () => (await loc.getAttribute(name, { timeout: 1000 })) === want);
  const openWorkloads = async (width: number, token = server.token) => {
    const { context, page: p } = await openPage(browser, width);
    contexts.push(context);
    await signIn(p, server.url, token);
    await p.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Workloads' }).click();
    await p.getByRole('tablist', { name: 'Workload kind' }).waitFor();
    return p;
  };

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '300ms'] });
    const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
    agent = startAgentProcess({
      server: server.url, token, caHash: caCertHash(server.ca), name: 'sim', data: tempDir('skiff-sim-'),
      args: ['--simulate', String(NODES), '--simulate-start-delay', '200ms'],
    });
    await agent.ready;
    await until('the simulated nodes Ready', async () => {
      const nodes = (await api('/api/v1/nodes')).items;
      return nodes.filter((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length === NODES;
    });
    await api(`${APPS}/deployments`, { method: 'POST', body: deployment('web', 2, 'registry.example/web:1') });
    browser = await launchChromium();
    page = await openWorkloads(1280);
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await agent?.stop();
    await server?.stop();
  });

  it('scales a Deployment from the console and shows it reaching the new ready count', async () => {
    const card = page.getByTestId('deployment-default-web');
    const ready = card.getByRole('progressbar', { name: 'Ready pods' });
    await attribute(ready, 'aria-valuetext', '2 of 2 ready');
    await card.getByText('Complete', { exact: true }).waitFor();
    await card.getByLabel('Replicas', { exact: true }).fill('4');
    await card.getByRole('button', { name: 'Scale' }).click();
    await card.getByRole('status').getByText('Scaled to 4.').waitFor();
    expect((await api(`${APPS}/deployments/web`)).spec.replicas).toBe(4);
    await attribute(ready, 'aria-valuetext', '4 of 4 ready');
    await card.getByText('4/4', { exact: true }).first().waitFor();
    await card.getByText('Complete', { exact: true }).waitFor();
  }, 90_000);

  it('shows a kubectl rollout through its old and new ReplicaSets until it completes', async () => {
    // Slow enough to watch: each new pod must stay Ready 4 s before an old one goes.
    await api(`${APPS}/deployments/web`, { method: 'PATCH', body: { spec: { minReadySeconds: 4 } }, headers: { 'content-type': 'application/merge-patch+json' } });
    const phone = await openWorkloads(375);
    await phone.getByTestId('deployment-default-web').getByText('Complete', { exact: true }).waitFor();

    await kubectl('set', 'image', 'deployment/web', 'web=registry.example/web:2');
    const rss = await until('revision 2 created', async () => {
      const m = await replicaSets('web');
      return m.has(1) && m.has(2) && m;
    });
    const oldName = rss.get(1).metadata.name;
    const newName = rss.get(2).metadata.name;
    for (const [p, name] of [[page, 'rollout-1280'], [phone, 'rollout-375']] as const) {
      const card = p.getByTestId('deployment-default-web');
      const oldRow = card.getByTestId(`rs-${oldName}`);
      const newRow = card.getByTestId(`rs-${newName}`);
      // Both rows while the new pods come up: the new one gaining, the old one still serving.
      await until('the new ReplicaSet with a ready pod beside the old one', async () =>
        (await newRow.getByRole('progressbar').getAttribute('aria-valuenow', { timeout: 1000 })) !== '0' && (await oldRow.isVisible()));
      await card.getByText('Progressing', { exact: true }).waitFor();
      expect(await newRow.getByText('new', { exact: true }).isVisible()).toBe(true);
      expect(await newRow.getByText('Revision 2').isVisible()).toBe(true);
      expect(await newRow.getByText('registry.example/web:2').isVisible()).toBe(true);
      expect(await oldRow.getByText('old', { exact: true }).isVisible()).toBe(true);
      expect(await oldRow.getByText('registry.example/web:1').isVisible()).toBe(true);
      await p.screenshot({ path: screenshotPath(name), fullPage: true });
      // Still mid-rollout after the shot, so it shows both.
      expect(await oldRow.isVisible()).toBe(true);
      expect((await api(`${APPS}/deployments/web`)).status.updatedReplicas).toBeLessThan(4);
    }

    const card = page.getByTestId('deployment-default-web');
    await card.getByText('Complete', { exact: true }).waitFor({ timeout: 90_000 });
    await attribute(card.getByTestId(`rs-${newName}`).getByRole('progressbar'), 'aria-valuetext', '4 of 4 ready');
    await card.getByTestId(`rs-${oldName}`).waitFor({ state: 'detached' });
    await card.getByRole('button', { name: '1 older revision' }).waitFor();
    await attribute(card.getByRole('progressbar', { name: 'Ready pods' }), 'aria-valuetext', '4 of 4 ready');
    await phone.getByTestId('deployment-default-web').getByText('Complete', { exact: true }).waitFor();
    expect((await kubectl('rollout', 'status', 'deployment/web', '--timeout=10s'))).toContain('successfully rolled out');
  }, 150_000);

  it('undoes a rollout from the console as kubectl rollout undo does', async () => {
    await api(`${APPS}/deployments/web`, { method: 'PATCH', body: { spec: { minReadySeconds: 0 } }, headers: { 'content-type': 'application/merge-patch+json' } });
    const before = await replicaSets('web');
    const card = page.getByTestId('deployment-default-web');
    await card.getByRole('button', { name: 'Undo' }).click();
    const confirm = card.getByRole('group', { name: 'Confirm undo' });
    await confirm.getByText('revision 1').waitFor();
    await confirm.getByRole('button', { name: 'Roll back' }).click();
    await card.getByRole('status').getByText('Rolled back to revision 1.').waitFor();

    const d = await api(`${APPS}/deployments/web`);
    expect(d.spec.template.spec.containers[0].image).toBe('registry.example/web:1');
    // Revision 1's template, less the ReplicaSet's pod-template-hash label.
    const { 'pod-template-hash': hash, ...labels } = before.get(1).spec.template.metadata.labels;
    expect(hash).toBeTruthy();
    expect(d.spec.template.metadata.labels).toEqual(labels);
    expect(d.spec.template.spec).toEqual(before.get(1).spec.template.spec);
    // The controller takes revision 1's ReplicaSet back as revision 3, as after kubectl's undo.
    await until('revision 1 back as revision 3', async () => (await replicaSets('web')).get(3)?.metadata.name === before.get(1).metadata.name);
    await kubectl('rollout', 'status', 'deployment/web', '--timeout=60s');
    const history = await kubectl('rollout', 'history', 'deployment/web');
    expect(history).toMatch(/^2\s/m);
    expect(history).toMatch(/^3\s/m);
    await card.getByText('Complete', { exact: true }).waitFor();
    await card.getByTestId(`rs-${before.get(1).metadata.name}`).getByText('Revision 3').waitFor();
  }, 120_000);

  it('restarts a Deployment from the console as kubectl rollout restart does', async () => {
    const card = page.getByTestId('deployment-default-web');
    const started = Date.now();
    await card.getByRole('button', { name: 'Restart' }).click();
    await card.getByRole('group', { name: 'Confirm restart' }).getByRole('button', { name: 'Restart now' }).click();
    await card.getByRole('status').getByText(/^Restarted at/).waitFor();
    const d = await api(`${APPS}/deployments/web`);
    const at = d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'];
    expect(at).toMatch(RFC3339);
    expect(Math.abs(Date.parse(at) - started)).toBeLessThan(60_000);
    // A new revision whose pods carry the stamp, rolled out.
    await until('a ReplicaSet with the restart stamp', async () =>
      [...(await replicaSets('web')).values()].some((rs) => rs.spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'] === at));
    await kubectl('rollout', 'status', 'deployment/web', '--timeout=60s');
    await card.getByText('Complete', { exact: true }).waitFor();
  }, 120_000);

  it('pauses and resumes a rollout, and refuses an undo without a previous revision', async () => {
    const card = page.getByTestId('deployment-default-web');
    await card.getByRole('button', { name: 'Pause' }).click();
    await card.getByText('Paused', { exact: true }).waitFor();
    expect((await api(`${APPS}/deployments/web`)).spec.paused).toBe(true);
    // kubectl refuses to restart a paused Deployment; so does the console.
    await card.getByRole('button', { name: 'Restart' }).click();
    await card.getByRole('button', { name: 'Restart now' }).click();
    await card.getByRole('alert').getByText("can't restart paused deployment (run rollout resume first)").waitFor();
    await card.getByRole('button', { name: 'Resume' }).click();
    await card.getByText('Complete', { exact: true }).waitFor();
    expect((await api(`${APPS}/deployments/web`)).spec.paused).toBe(false);

    await api(`${APPS}/deployments`, { method: 'POST', body: deployment('solo', 1, 'registry.example/solo:1') });
    const solo = page.getByTestId('deployment-default-solo');
    await solo.getByText('Complete', { exact: true }).waitFor();
    await solo.getByRole('button', { name: 'Undo' }).click();
    await solo.getByRole('alert').getByText('no rollout history found for deployment "solo"').waitFor();
    expect((await api(`${APPS}/deployments/solo`)).metadata.annotations['deployment.kubernetes.io/revision']).toBe('1');
  }, 90_000);

  it('shows a rollout past its progress deadline as failed, as kubectl rollout status does', async () => {
    const stuck = deployment('stuck', 1, 'registry.example/stuck:1');
    // No node has this label: the pod stays Pending and the rollout stops making progress.
    Object.assign(stuck.spec, { progressDeadlineSeconds: 2 });
    Object.assign(stuck.spec.template.spec, { nodeSelector: { 'example.com/nowhere': 'true' } });
    await api(`${APPS}/deployments`, { method: 'POST', body: stuck });
    const card = page.getByTestId('deployment-default-stuck');
    await card.getByText('Failed (ProgressDeadlineExceeded)', { exact: true }).waitFor();
    await card.getByText(/has timed out progressing/).waitFor();
    const status = await server.kubectl(['rollout', 'status', 'deployment/stuck', '--timeout=10s']);
    expect(status.stderr).toContain('exceeded its progress deadline');
    await api(`${APPS}/deployments/stuck`, { method: 'DELETE' });
    await card.waitFor({ state: 'detached' });
  }, 60_000);

  it('shows DaemonSets, Jobs and CronJobs behind keyboard-usable tabs, with their actions', async () => {
    await api(`${APPS}/daemonsets`, {
      method: 'POST',
      body: {
        apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'collector' },
        spec: { selector: { matchLabels: { app: 'collector' } }, template: { metadata: { labels: { app: 'collector' } }, spec: { containers: [{ name: 'c', image: 'registry.example/collector:1' }] } } },
      },
    });
    await api('/apis/batch/v1/namespaces/default/jobs', {
      method: 'POST',
      body: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'backfill' }, spec: { completions: 2, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'b', image: 'registry.example/backfill:1' }] } } } },
    });
    await api('/apis/batch/v1/namespaces/default/cronjobs', {
      method: 'POST',
      body: {
        apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' },
        spec: { schedule: '0 3 * * *', timeZone: 'Etc/UTC', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'n', image: 'registry.example/nightly:1' }] } } } } },
      },
    });

    await page.getByRole('tab', { name: 'DaemonSets' }).click();
    const ds = page.getByTestId('daemonset-default-collector');
    await ds.getByText('Complete', { exact: true }).waitFor();
    await attribute(ds.getByRole('progressbar', { name: 'Ready pods' }), 'aria-valuetext', `${NODES} of ${NODES} ready`);
    await ds.getByText('every node').waitFor();
    await ds.getByRole('button', { name: 'Restart' }).click();
    await ds.getByRole('button', { name: 'Restart now' }).click();
    await ds.getByRole('status').getByText(/^Restarted at/).waitFor();
    expect((await api(`${APPS}/daemonsets/collector`)).spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toMatch(RFC3339);
    expect(page.url()).toContain('#/workloads/daemonsets');

    // Arrow keys move between tabs (and select), as in any tab list.
    await page.getByRole('tab', { name: 'DaemonSets' }).press('ArrowRight');
    const jobsTab = page.getByRole('tab', { name: 'Jobs', exact: true });
    await attribute(jobsTab, 'aria-selected', 'true');
    expect(await jobsTab.evaluate((el) => el === document.activeElement)).toBe(true);
    const job = page.getByTestId('job-default-backfill');
    await job.getByText('Running', { exact: true }).waitFor();
    await job.getByText('0/2', { exact: true }).first().waitFor();
    await until('the Job active', async () => (await job.locator('dd').nth(1).textContent()) !== '0');

    await jobsTab.press('ArrowRight');
    await attribute(page.getByRole('tab', { name: 'CronJobs' }), 'aria-selected', 'true');
    const cj = page.getByTestId('cronjob-default-nightly');
    await cj.getByText('0 3 * * *').waitFor();
    await cj.getByText('Etc/UTC').waitFor();
    await cj.getByRole('button', { name: 'Suspend' }).click();
    await cj.getByText('Suspended', { exact: true }).waitFor();
    expect((await api('/apis/batch/v1/namespaces/default/cronjobs/nightly')).spec.suspend).toBe(true);
    await cj.getByRole('button', { name: 'Resume' }).click();
    await cj.getByText('Scheduled', { exact: true }).waitFor();
    expect((await api('/apis/batch/v1/namespaces/default/cronjobs/nightly')).spec.suspend).toBe(false);

    // The filter narrows the list by name or image.
    await page.getByRole('tab', { name: 'Deployments' }).click();
    await page.getByRole('searchbox', { name: 'Filter workloads' }).fill('solo:1');
    await page.getByTestId('deployment-default-solo').waitFor();
    await page.getByTestId('deployment-default-web').waitFor({ state: 'detached' });
    await page.getByRole('searchbox', { name: 'Filter workloads' }).fill('');
    await page.getByTestId('deployment-default-web').waitFor();
  }, 90_000);

  it('offers a ServiceAccount that may only read Deployments no actions, and quiet notes where it may not look', async () => {
    await kubectl('create', 'serviceaccount', 'watcher');
    await kubectl('create', 'role', 'deployment-reader', '--verb=get,list,watch', '--resource=deployments,replicasets');
    await kubectl('create', 'rolebinding', 'watcher-reads', '--role=deployment-reader', '--serviceaccount=default:watcher');
    const token = (await kubectl('create', 'token', 'watcher')).trim();
    const p = await openWorkloads(1280, token);
    // The console starts a ServiceAccount in its own namespace, where it may read Deployments.
    const card = p.getByTestId('deployment-default-web');
    await card.getByText('Complete', { exact: true }).waitFor();
    await card.getByTestId(/^rs-/).first().waitFor();
    // What RBAC refuses is not offered (asked with SelfSubjectAccessReviews).
    await card.getByText('Read-only: this token may not change Deployments in default.').waitFor();
    expect(await card.getByRole('button').filter({ hasText: /^(Scale|Restart|Undo|Pause)$/ }).count()).toBe(0);
    await p.getByRole('tab', { name: 'DaemonSets' }).click();
    await p.getByText(/DaemonSets are not visible to you: .*forbidden/).waitFor();
    // All namespaces (the picker is a text box: namespaces may not be listed) are refused quietly too.
    await p.getByRole('tab', { name: 'Deployments' }).click();
    const picker = p.getByLabel('Namespace');
    await picker.fill('');
    await picker.press('Tab');
    await p.getByText(/Deployments are not visible to you: .*forbidden/).waitFor();
    await card.waitFor({ state: 'detached' });
    expect(await p.getByRole('alert').count()).toBe(0);
  }, 90_000);
});
