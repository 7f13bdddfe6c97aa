// Issue 12's workloads on real machines: two real `skiff agent`s (process runtime) joined to a real
// `skiff serve`. A Job whose command exits 0 completes; a DaemonSet runs a pod on every agent; and
// kubectl's tables and `describe` of DaemonSets, Jobs, CronJobs, budgets and autoscalers read as
// Kubernetes' do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../src/node/certs.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent.js';
import { hasKubectl, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const NODES = ['shop-1', 'shop-2'];
const SERVE_ARGS = ['--reconcile-interval', '500ms'];
/** A container that runs until stopped. */
const SLEEPER = { name: 'agent', image: 'node', command: [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'] };

describe.skipIf(!hasKubectl)('DaemonSets, Jobs and the other workloads with real agents', () => {
  let server: SkiffServer;
  const agents: AgentProcess[] = [];

  const api = async (path: string, init?: Parameters<SkiffServer['request']>[1]) => {
    const r = await server.request(path, init);
    if (r.status >= 400) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${r.text}`);
    return r.json();
  };
  const kubectl = async (...args: string[]) => {
    const r = await server.kubectl(args, { timeoutMs: 90_000 });
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    server = await startSkiff({ args: SERVE_ARGS });
    const created = await runSkiff(['token', 'create', '--data', server.data]);
    expect(created.code, created.stderr).toBe(0);
    for (const name of NODES) {
      const agent = startAgentProcess({ server: server.url, token: created.stdout.trim(), caHash: caCertHash(server.ca), name, data: tempDir('skiff-agent-') });
      agents.push(agent);
      await agent.ready;
    }
    await until('both nodes to be Ready', async () => {
      const nodes = (await api('/api/v1/nodes')).items;
      return nodes.filter((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length === NODES.length;
    });
  }, 120_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
  });

  it('completes a Job whose command exits 0', async () => {
    await api('/apis/batch/v1/namespaces/default/jobs', {
      method: 'POST',
      body: {
        apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once' },
        spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'once', image: 'node', command: [process.execPath, '-e', 'process.exit(0)'] }] } } },
      },
    });
    expect(await kubectl('wait', '--for=condition=complete', 'job/once', '--timeout=60s')).toBe('job.batch/once condition met\n');
    const job = await api('/apis/batch/v1/namespaces/default/jobs/once');
    expect(job.status).toMatchObject({ succeeded: 1, ready: 0 });
    expect(job.status.completionTime).toBeTruthy();
    const pods = (await api('/api/v1/namespaces/default/pods?labelSelector=job-name%3Donce')).items;
    expect(pods.map((p: any) => p.status.phase)).toEqual(['Succeeded']);
    expect(pods[0].status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  }, 90_000);

  it('runs a DaemonSet pod on every agent', async () => {
    await api('/apis/apps/v1/namespaces/default/daemonsets', {
      method: 'POST',
      body: {
        apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'collector' },
        spec: { selector: { matchLabels: { app: 'collector' } }, template: { metadata: { labels: { app: 'collector' } }, spec: { containers: [SLEEPER] } } },
      },
    });
    expect(await kubectl('rollout', 'status', 'daemonset/collector', '--timeout=60s')).toContain('daemon set "collector" successfully rolled out');
    const pods = (await api('/api/v1/namespaces/default/pods?labelSelector=app%3Dcollector')).items;
    expect(pods.map((p: any) => p.spec.nodeName).sort()).toEqual(NODES);
    expect(pods.every((p: any) => p.status.phase === 'Running')).toBe(true);
    const ds = await api('/apis/apps/v1/namespaces/default/daemonsets/collector');
    expect(ds.status).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberMisscheduled: 0 });
  }, 90_000);

  it("prints the workloads' tables and descriptions as Kubernetes does", async () => {
    await kubectl('create', 'deployment', 'web', '--image=node', '--replicas=1', '--', process.execPath, '-e', 'setInterval(() => {}, 1 << 30)');
    await kubectl('create', 'cronjob', 'nightly', '--image=node', '--schedule=0 3 * * *', '--', process.execPath, '-e', 'process.exit(0)');
    await kubectl('create', 'poddisruptionbudget', 'web', '--selector=app=web', '--min-available=1');
    await kubectl('autoscale', 'deployment', 'web', '--cpu-percent=50', '--min=1', '--max=3');

    const tables = await kubectl('get', 'ds,jobs,cronjobs,pdb,hpa');
    const blocks = tables.trim().split(/\n\s*\n/).map((b) => b.split('\n').map((l) => l.trim().split(/\s{2,}/)));
    const block = (first: string) => blocks.find((b) => b[1]?.[0]?.startsWith(first));
    expect(block('daemonset.apps/collector')).toEqual([
      ['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE'],
      ['daemonset.apps/collector', '2', '2', '2', '2', '2', '<none>', expect.stringMatching(/^\d+s$/)],
    ]);
    expect(block('job.batch/once')).toEqual([
      ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE'],
      ['job.batch/once', 'Complete', '1/1', expect.stringMatching(/^\d+s$/), expect.stringMatching(/^\d+s$/)],
    ]);
    expect(block('cronjob.batch/nightly')).toEqual([
      ['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE'],
      ['cronjob.batch/nightly', '0 3 * * *', '<none>', 'False', '0', '<none>', expect.stringMatching(/^\d+s$/)],
    ]);
    await until('the budget to count the pod', async () => (await api('/apis/policy/v1/namespaces/default/poddisruptionbudgets/web')).status?.currentHealthy === 1);
    const pdb = (await kubectl('get', 'pdb', 'web')).trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(pdb).toEqual([
      ['NAME', 'MIN AVAILABLE', 'MAX UNAVAILABLE', 'ALLOWED DISRUPTIONS', 'AGE'],
      ['web', '1', 'N/A', '0', expect.stringMatching(/^\d+s$/)],
    ]);
    expect(block('horizontalpodautoscaler.autoscaling/web')?.[0]).toEqual(['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE']);
    expect(block('horizontalpodautoscaler.autoscaling/web')?.[1].slice(0, 5)).toEqual(['horizontalpodautoscaler.autoscaling/web', 'Deployment/web', expect.stringMatching(/^cpu: .+\/50%$/), '1', '3']);

    const ds = await kubectl('describe', 'daemonset', 'collector');
    expect(ds).toMatch(/^Name:\s+collector$/m);
    expect(ds).toMatch(/^Selector:\s+app=collector$/m);
    expect(ds).toMatch(/^Desired Number of Nodes Scheduled: 2$/m);
    expect(ds).toMatch(/^Number of Nodes Scheduled with Up-to-date Pods: 2$/m);
    expect(ds).toMatch(/^Pods Status:\s+2 Running \/ 0 Waiting \/ 0 Succeeded \/ 0 Failed$/m);
    expect(ds).toMatch(/SuccessfulCreate\s+.*Created pod: collector-/);

    const job = await kubectl('describe', 'job', 'once');
    expect(job).toMatch(/^Completions:\s+1$/m);
    expect(job).toMatch(/^Pods Statuses:\s+0 Active \(0 Ready\) \/ 1 Succeeded \/ 0 Failed$/m);
    expect(job).toMatch(/Completed\s+.*Job completed/);

    const cj = await kubectl('describe', 'cronjob', 'nightly');
    expect(cj).toMatch(/^Schedule:\s+0 3 \* \* \*$/m);
    expect(cj).toMatch(/^Concurrency Policy:\s+Allow$/m);
    expect(cj).toMatch(/^Suspend:\s+False$/m);

    const budget = await kubectl('describe', 'pdb', 'web');
    expect(budget).toMatch(/^Min available:\s+1$/m);
    expect(budget).toMatch(/^Selector:\s+app=web$/m);
    expect(budget).toMatch(/^Status:\n\s+Allowed disruptions:\s+0\n\s+Current:\s+1\n\s+Desired:\s+1\n\s+Total:\s+1$/m);

    const hpa = await kubectl('describe', 'hpa', 'web');
    expect(hpa).toMatch(/^Reference:\s+Deployment\/web$/m);
    expect(hpa).toMatch(/^Min replicas:\s+1$/m);
    expect(hpa).toMatch(/^Max replicas:\s+3$/m);
  }, 120_000);
});
