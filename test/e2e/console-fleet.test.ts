// The console's Fleet view in a real headless Chromium against a real `skiff serve` with a quick node
// lifecycle controller: a wrong token is refused; nodes registered through the API (as agents register
// them) appear under their region / zone; one whose lease stops being renewed turns stale, then
// Unknown when the controller marks it; requests of bound pods, cordon and taints show, usage shows
// for nodes of a real (simulated) agent; Cordon from the console sets spec.unschedulable; a token that
// may not list pods still sees the nodes, told why requests are missing. Screenshots at 1280 and 375 px.
// Skipped where there is no Chromium (Debian package chromium).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { microTime, kubeTime } from '../../src/agent/node-status.js';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { goto, launchChromium, noChromium, openPage, screenshotPath, signIn } from '../helpers/browser.js';
import { runSkiff, startSkiff, tempDir, type RequestInit, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

if (noChromium) console.warn(`console-fleet.test.ts: ${noChromium}`);

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
/** The test's nodes hold 10 s leases (stale after 5 s); the controller's grace is 15 s (agents renew every 10 s). */
const LEASE_SECONDS = 10;
const GRACE = '15s';
const MERGE = { 'content-type': 'application/merge-patch+json' };

interface TestNode {
  name: string;
  region?: string;
  zone?: string;
  ready?: boolean;
  cordoned?: boolean;
  taints?: { key: string; value?: string; effect: string }[];
  cpu?: string;
  memory?: string;
}

const NODES: TestNode[] = [
  { name: 'edge-a', region: 'eu-west', zone: 'eu-west-1a' },
  { name: 'edge-e', region: 'eu-west', zone: 'eu-west-1a', cpu: '2', memory: '4Gi' },
  { name: 'edge-b', region: 'eu-west', zone: 'eu-west-1b', cpu: '4', memory: '8Gi' },
  { name: 'edge-c', region: 'eu-west', zone: 'eu-west-1b', cordoned: true, taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] },
  { name: 'edge-d', ready: false },
];

describe.skipIf(!!noChromium)('console: the Fleet view', { timeout: 120_000 }, () => {
  let server: SkiffServer;
  let agent: AgentProcess;
  let browser: Browser;
  let page: Page;
  /** Nodes whose leases the test renews every second, as their agents would every 10 s. */
  const beating = new Set<string>();
  let heart: ReturnType<typeof setInterval> | undefined;

  const api = async (path: string, init?: RequestInit) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };

  /** Registers a Node as an agent does: the Node with its labels, its status through the status subresource, its Lease. */
  async function register(n: TestNode): Promise<void> {
    const labels: Record<string, string> = { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' };
    if (n.region) labels['topology.kubernetes.io/region'] = n.region;
    if (n.zone) labels['topology.kubernetes.io/zone'] = n.zone;
    const spec: Record<string, unknown> = {};
    if (n.cordoned) spec.unschedulable = true;
    if (n.taints) spec.taints = n.taints;
    const node = await api('/api/v1/nodes', { method: 'POST', body: { apiVersion: 'v1', kind: 'Node', metadata: { name: n.name, labels }, spec } });
    const stamp = kubeTime();
    const resources = { cpu: n.cpu ?? '4', memory: n.memory ?? '8Gi', pods: '110', 'ephemeral-storage': '100Gi' };
    const ready = n.ready === false
      ? { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'container runtime is down' }
      : { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' };
    const pressures = ['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({ type, status: 'False', reason: `KubeletHasNo${type}`, message: '' }));
    await api(`/api/v1/nodes/${n.name}/status`, {
      method: 'PATCH',
      headers: MERGE,
      body: {
        status: {
          capacity: resources,
          allocatable: resources,
          conditions: [...pressures, ready].map((c) => ({ ...c, lastHeartbeatTime: stamp, lastTransitionTime: stamp })),
          addresses: [{ type: 'InternalIP', address: `192.168.7.${10 + NODES.indexOf(n)}` }, { type: 'Hostname', address: n.name }],
          nodeInfo: { kubeletVersion: 'v1.32.0-skiff-test', operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'docker://28.2.2' },
        },
      },
    });
    await api(LEASES, {
      method: 'POST',
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: n.name, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: n.name, uid: node.metadata.uid }] },
        spec: { holderIdentity: n.name, leaseDurationSeconds: LEASE_SECONDS, renewTime: microTime() },
      },
    });
    beating.add(n.name);
  }

  async function pod(name: string, nodeName: string, cpu: string, memory: string): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { nodeName, containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu, memory } } }] },
    };
    // The namespace's default ServiceAccount may still be on its way just after the server started.
    await until(`pod ${name} created`, () => api('/api/v1/namespaces/default/pods', { method: 'POST', body }), 20_000);
  }

  const card = (name: string) => page.getByTestId(`node-${name}`);
  /** Waits until the card's attributes match, e.g. { 'data-stale': 'true' }. */
  const cardWith = (name: string, attrs: Record<string, string>, timeout = 30_000) =>
    page.locator(`[data-testid="node-${name}"]${Object.entries(attrs).map(([k, v]) => `[${k}="${v}"]`).join('')}`).waitFor({ timeout });

  beforeAll(async () => {
    server = await startSkiff({ args: ['--node-monitor-grace-period', GRACE, '--reconcile-interval', '500ms'] });
    const token = (await runSkiff(['token', 'create', '--data', server.data])).stdout.trim();
    // A real agent's simulated nodes: heartbeats of their own, and usage for metrics.k8s.io.
    agent = startAgentProcess({
      server: server.url, token, caHash: caCertHash(server.ca), name: 'sim', data: tempDir('skiff-fleet-sim-'),
      args: ['--simulate', '2', '--labels', 'topology.kubernetes.io/region=us-east,topology.kubernetes.io/zone=us-east-1a'],
    });
    for (const n of NODES) await register(n);
    let renewing = false;
    heart = setInterval(() => {
      if (renewing) return;
      renewing = true;
      void Promise.all([...beating].map((name) => server.request(`${LEASES}/${name}`, { method: 'PATCH', headers: MERGE, body: { spec: { renewTime: microTime() } } })))
        .finally(() => (renewing = false));
    }, 1000);
    await pod('web-1', 'edge-b', '500m', '1Gi');
    await pod('web-2', 'edge-b', '500m', '1Gi');
    await pod('web-3', 'edge-b', '1', '2Gi');
    await pod('cache-1', 'edge-e', '250m', '512Mi');
    await agent.ready;
    // Bound only once the Node exists: pod GC removes pods bound to a node that does not.
    await until('node sim-0 registered', () => api('/api/v1/nodes/sim-0'), 30_000);
    await pod('sim-web-1', 'sim-0', '2', '4Gi');
    browser = await launchChromium();
    ({ page } = await openPage(browser, 1280));
  }, 120_000);

  afterAll(async () => {
    if (heart) clearInterval(heart);
    await browser?.close();
    await agent?.stop();
    await server?.stop();
  });

  it('refuses a wrong token', async () => {
    await goto(page, `${server.url}/ui`);
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/refused.*401/);
    expect(await page.getByRole('navigation', { name: 'Views' }).count()).toBe(0);
  });

  it('shows a node registered through the API as Ready under its region / zone; stale, then Unknown, once its lease stops', async () => {
    await signIn(page, server.url, server.token);
    await page.locator('[data-testid="fleet"][data-loaded="true"]').waitFor();
    const group = page.getByRole('region', { name: 'eu-west / eu-west-1a', exact: true });
    await group.getByTestId('node-edge-a').waitFor();
    await cardWith('edge-a', { 'data-status': 'Ready', 'data-stale': 'false' });
    expect(await group.getByTestId('node-edge-a').getByText('Ready', { exact: true }).count()).toBe(1);
    expect(await card('edge-a').getByText(/^Heartbeat \d+s ago$/).count()).toBe(1);
    // Nodes without topology labels come last, in a group of their own.
    const headings = await page.locator('.fleet-group h2 > span:first-child').allTextContents();
    expect(headings).toEqual(['eu-west / eu-west-1a', 'eu-west / eu-west-1b', 'us-east / us-east-1a', 'No region or zone']);

    // The agent goes silent: stale once half its lease has passed, while the controller still has it Ready.
    beating.delete('edge-a');
    await cardWith('edge-a', { 'data-stale': 'true' });
    expect(await card('edge-a').getAttribute('data-status')).toBe('Ready');
    expect(await card('edge-a').getAttribute('class')).toContain('stale');
    expect(await card('edge-a').getByText('stale', { exact: true }).count()).toBe(1);
    // Then the node lifecycle controller's grace period runs out, and it marks the node Unknown.
    await cardWith('edge-a', { 'data-status': 'Unknown', 'data-stale': 'true' });
    expect(await card('edge-a').getByText('Unknown', { exact: true }).count()).toBe(1);
    const node = await api('/api/v1/nodes/edge-a');
    expect(node.status.conditions.find((c: any) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    // Problem nodes sort first in their group.
    expect(await group.locator('[data-testid^="node-"]').first().getAttribute('data-testid')).toBe('node-edge-a');
    const stat = (label: string) => page.locator('.summary .stat').filter({ has: page.getByText(label, { exact: true }) }).locator('b').textContent();
    expect(await stat('Unknown')).toBe('1');
    expect(await stat('NotReady')).toBe('1');
    expect(await stat('cordoned')).toBe('1');
  });

  it('shows requests against allocatable, usage, cordon and taints; filters; cordons from the console', async () => {
    // edge-b: 2 cpu and 4Gi requested of 4 and 8Gi.
    const cpuB = card('edge-b').getByRole('meter', { name: 'cpu requested' });
    expect(await cpuB.getAttribute('aria-valuenow')).toBe('2000');
    expect(await cpuB.getAttribute('aria-valuetext')).toMatch(/^2 requested of 4 allocatable \(50%\)/);
    expect(await card('edge-b').getByRole('meter', { name: 'memory requested' }).getAttribute('aria-valuetext')).toMatch(/^4Gi requested of 8Gi allocatable \(50%\)/);
    expect(await card('edge-b').getByRole('meter', { name: 'pods requested' }).getAttribute('aria-valuenow')).toBe('3');
    // edge-c: cordoned and tainted.
    expect(await card('edge-c').getByText('SchedulingDisabled', { exact: true }).count()).toBe(1);
    expect(await card('edge-c').getByRole('list', { name: 'Taints' }).textContent()).toContain('dedicated=gpu:NoSchedule');
    // edge-d reports Ready=False: NotReady, with the controller's not-ready taint.
    await cardWith('edge-d', { 'data-status': 'NotReady' });
    await card('edge-d').getByText('node.kubernetes.io/not-ready:NoSchedule').waitFor();
    // The simulated agent's node: its pod's requests, and what it uses from metrics.k8s.io (asked every 15 s).
    await cardWith('sim-0', { 'data-status': 'Ready' });
    const cpuSim = card('sim-0').getByRole('meter', { name: 'cpu requested' });
    await until('sim-0 requests counted', async () => (await cpuSim.getAttribute('aria-valuenow')) === '2000', 30_000);
    await card('sim-0').locator('.meter .used').first().waitFor({ timeout: 45_000 });
    expect(await cpuSim.getAttribute('aria-valuetext')).toMatch(/; \d+m used$/);

    // Filter by name or label, and by status.
    const filter = page.getByRole('searchbox', { name: 'Filter nodes' });
    await filter.fill('eu-west-1b');
    await until('only eu-west-1b nodes', async () => (await page.locator('[data-testid^="node-"]').count()) === 2, 10_000);
    await filter.fill('');
    await page.getByRole('combobox', { name: 'Status' }).selectOption('Unknown');
    await until('only the Unknown node', async () => (await page.locator('[data-testid^="node-"]').count()) === 1, 10_000);
    expect(await page.locator('[data-testid^="node-"]').getAttribute('data-testid')).toBe('node-edge-a');
    await page.getByRole('combobox', { name: 'Status' }).selectOption('All');

    // Cordon from the console: spec.unschedulable in the API, SchedulingDisabled on the card; then back.
    await card('edge-e').getByRole('button', { name: 'Cordon edge-e', exact: true }).click();
    await until('edge-e cordoned in the API', async () => (await api('/api/v1/nodes/edge-e')).spec?.unschedulable === true, 10_000);
    await card('edge-e').getByText('SchedulingDisabled', { exact: true }).waitFor();
    await card('edge-e').getByRole('button', { name: 'Uncordon edge-e', exact: true }).click();
    await until('edge-e uncordoned in the API', async () => !(await api('/api/v1/nodes/edge-e')).spec?.unschedulable, 10_000);
    await card('edge-e').getByRole('button', { name: 'Cordon edge-e', exact: true }).waitFor();
  });

  it('saves screenshots at 1280 and 375 px wide', async () => {
    await page.locator('[data-testid="fleet"][data-loaded="true"]').waitFor();
    await page.screenshot({ path: screenshotPath('fleet-1280'), fullPage: true });
    const phone = await openPage(browser, 375);
    try {
      await signIn(phone.page, server.url, server.token);
      await phone.page.locator('[data-testid="fleet"][data-loaded="true"]').waitFor();
      await phone.page.getByTestId('node-edge-a').waitFor();
      // No sideways scrolling on a phone.
      expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await phone.page.screenshot({ path: screenshotPath('fleet-375'), fullPage: true });
    } finally {
      await phone.context.close();
    }
  });

  it('shows the nodes to a token that may not list pods, saying why requests are missing', async () => {
    await api('/api/v1/namespaces/default/serviceaccounts', { method: 'POST', body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'fleet-viewer' } } });
    await api('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      method: 'POST',
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'fleet-viewer' },
        rules: [
          { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] },
        ],
      },
    });
    await api('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      method: 'POST',
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'fleet-viewer' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'fleet-viewer' },
        subjects: [{ kind: 'ServiceAccount', name: 'fleet-viewer', namespace: 'default' }],
      },
    });
    const tr = await api('/api/v1/namespaces/default/serviceaccounts/fleet-viewer/token', {
      method: 'POST',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    });
    const viewer = await openPage(browser, 1280);
    try {
      await signIn(viewer.page, server.url, tr.status.token);
      const fleet = viewer.page.locator('[data-testid="fleet"][data-loaded="true"]');
      await fleet.waitFor();
      await viewer.page.getByTestId('node-edge-b').waitFor();
      const notice = viewer.page.getByRole('alert').filter({ hasText: 'Requested cpu, memory and pods are unavailable' });
      await notice.waitFor();
      expect(await notice.textContent()).toMatch(/forbidden/i);
      expect(await viewer.page.getByTestId('node-edge-b').getByRole('meter', { name: 'cpu requested' }).getAttribute('aria-valuetext')).toMatch(/^requested unknown of 4 allocatable/);
      // Not allowed to patch nodes: no Cordon button is offered.
      expect(await viewer.page.getByTestId('node-edge-b').getByRole('button', { name: /cordon/i }).count()).toBe(0);
    } finally {
      await viewer.context.close();
    }
  });
});
