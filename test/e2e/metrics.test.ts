// GET /metrics on a real `skiff serve`: after a workload (pods, a Deployment, lists, a watch, an
// apply) the request counters moved by what the test did, as kube-apiserver names them; the passes,
// the scheduler, nodes, pods and the database are reported; `promtool check metrics` (Debian's
// prometheus package) accepts the exposition; a user without the nonResourceURL is refused.
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sumOf } from '../helpers/prometheus-text.js';
import { runSkiff, startSkiff, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
if (!hasPromtool) console.warn('metrics.test.ts: promtool absent (Debian package prometheus), skipping `promtool check metrics`');

const pod = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'metrics' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
};
const resource = (verb: string, resource: string, extra: Record<string, string> = {}) => ({ verb, resource, component: 'apiserver', ...extra });

describe('GET /metrics on skiff serve', { timeout: 120_000 }, () => {
  let server: SkiffServer;
  const scrape = async () => {
    const res = await server.request('/metrics');
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    return res.text;
  };

  beforeAll(async () => {
    server = await startSkiff({ args: ['--reconcile-interval', '200ms'] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('counts the requests made, by verb, resource and code, and the watches open', async () => {
    const before = await scrape();
    const requests = 'apiserver_request_total';
    for (const name of ['m1', 'm2', 'm3']) expect((await server.request('/api/v1/namespaces/default/pods', { method: 'POST', body: pod(name) })).status).toBe(201);
    expect((await server.request('/api/v1/namespaces/default/pods', { method: 'POST', body: pod('m1') })).status).toBe(409);
    expect((await server.request('/apis/apps/v1/namespaces/default/deployments', { method: 'POST', body: deployment })).status).toBe(201);
    for (let i = 0; i < 2; i++) expect((await server.request('/api/v1/namespaces/default/pods')).status).toBe(200);
    expect((await server.request('/api/v1/pods')).status).toBe(200);
    expect((await server.request('/api/v1/namespaces/default/pods/m1')).status).toBe(200);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { a: '1' } };
    const applied = await server.request('/api/v1/namespaces/default/configmaps/applied?fieldManager=metrics-test', { method: 'PATCH', body: JSON.stringify(cm), headers: { 'content-type': 'application/apply-patch+yaml' } });
    expect(applied.status, applied.text).toBe(201);
    // A watch open is a long-running request; it is counted once it ends.
    const watch = server.request('/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=2');
    const open = await until('the watch shows as long-running', async () => sumOf(await scrape(), 'apiserver_longrunning_requests', resource('WATCH', 'pods')) === 1 || undefined, 10_000);
    expect(open).toBe(true);
    expect((await watch).status).toBe(200);

    const after = await scrape();
    const moved = (name: string, labels: Record<string, string>) => sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(moved(requests, resource('POST', 'pods', { code: '201', scope: 'resource', version: 'v1', group: '' }))).toBe(3);
    expect(moved(requests, resource('POST', 'pods', { code: '409' }))).toBe(1);
    expect(moved(requests, resource('POST', 'deployments', { code: '201', group: 'apps' }))).toBe(1);
    expect(moved(requests, resource('LIST', 'pods', { code: '200', scope: 'namespace' }))).toBe(2);
    expect(moved(requests, resource('LIST', 'pods', { code: '200', scope: 'cluster' }))).toBe(1);
    expect(moved(requests, resource('GET', 'pods', { code: '200', scope: 'resource' }))).toBe(1);
    expect(moved(requests, resource('APPLY', 'configmaps', { code: '201' }))).toBe(1);
    expect(moved(requests, resource('WATCH', 'pods', { code: '200' }))).toBe(1);
    expect(sumOf(after, 'apiserver_longrunning_requests', resource('WATCH', 'pods'))).toBe(0);
    // The scrapes before this one, as non-resource requests.
    expect(moved(requests, { verb: 'GET', subresource: '/metrics', code: '200' })).toBeGreaterThanOrEqual(2);
    // Durations: one observation per request counted, the watch's about as long as it stayed open.
    expect(moved('apiserver_request_duration_seconds_count', resource('LIST', 'pods'))).toBe(3);
    expect(moved('apiserver_request_duration_seconds_sum', resource('WATCH', 'pods'))).toBeGreaterThan(1.5);
    expect(sumOf(after, 'apiserver_request_duration_seconds_bucket', { ...resource('WATCH', 'pods'), le: '+Inf' })).toBeGreaterThanOrEqual(1);
    expect(sumOf(after, 'skiff_db_round_trips_total')).toBeGreaterThan(sumOf(before, 'skiff_db_round_trips_total'));
    expect(after).toMatch(/^skiff_db_errors_total 0$/m);
  });

  it('reports passes per controller, the scheduler, nodes by condition and pods by phase', async () => {
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'metrics-node' }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: '' }] } };
    expect((await server.request('/api/v1/nodes', { method: 'POST', body: node })).status).toBe(201);
    const text = await until('the Deployment\'s pods and a scheduling attempt', async () => {
      const t = await scrape();
      return sumOf(t, 'skiff_pods', { phase: 'Pending' }) >= 5 && sumOf(t, 'scheduler_schedule_attempts_total') > 0 ? t : undefined;
    });
    expect(sumOf(text, 'skiff_reconcile_passes_total')).toBeGreaterThan(0);
    expect(sumOf(text, 'skiff_reconcile_writes_total')).toBeGreaterThan(0);
    expect(sumOf(text, 'skiff_reconcile_round_trips_total')).toBeGreaterThan(0);
    expect(text).toMatch(/^skiff_reconcile_passes_skipped_total \d+$/m);
    for (const controller of ['deployment', 'replicaset', 'scheduler']) expect(sumOf(text, 'skiff_reconcile_controller_duration_seconds_count', { controller })).toBeGreaterThan(0);
    expect(sumOf(text, 'scheduler_scheduling_attempt_duration_seconds_count')).toBe(sumOf(text, 'scheduler_schedule_attempts_total'));
    expect(sumOf(text, 'skiff_nodes', { condition: 'Ready' })).toBe(1);
    expect(text).toMatch(/^skiff_pods\{phase="Running"\} 0$/m);
  });

  it.skipIf(!hasPromtool)('passes `promtool check metrics`', async () => {
    const text = await scrape();
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(checked.status, `${checked.stdout}${checked.stderr}`).toBe(0);
  });

  it('refuses a user without the nonResourceURL /metrics, and serves one bound to system:monitoring', async () => {
    const added = await runSkiff(['user', 'add', 'watcher', '--data', server.data]);
    expect(added.code, added.stderr).toBe(0);
    const token = (parseYaml(added.stdout) as any).users[0].user.token as string;
    const refused = await server.request('/metrics', { token });
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ kind: 'Status', reason: 'Forbidden', message: 'forbidden: User "watcher" cannot get path "/metrics"' });
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'watcher-monitoring' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:monitoring' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'watcher' }] };
    expect((await server.request('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { method: 'POST', body: binding })).status).toBe(201);
    await until('the binding lets the user scrape', async () => (await server.request('/metrics', { token })).status === 200, 10_000);
    const after = await scrape();
    expect(sumOf(after, 'apiserver_request_total', { verb: 'GET', subresource: '/metrics', code: '403' })).toBeGreaterThanOrEqual(1);
    // A user of the system:monitoring group scrapes with no binding of their own.
    const monitor = await runSkiff(['user', 'add', 'prometheus', '--group', 'system:monitoring', '--data', server.data]);
    expect(monitor.code, monitor.stderr).toBe(0);
    const scraped = await server.request('/metrics', { token: (parseYaml(monitor.stdout) as any).users[0].user.token });
    expect(scraped.status).toBe(200);
  });
});
