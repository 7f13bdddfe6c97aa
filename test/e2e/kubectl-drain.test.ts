// kubectl drain against a PodDisruptionBudget, with real parts: `skiff serve` running its own
// passes, two nodes played over HTTPS, and kubectl 1.32. With minAvailable equal to the Deployment's
// replicas, drain's evictions are refused (429) and it retries every 5 s; once the Deployment has one
// more replica, ready on the other node, an eviction goes through and the drain finishes.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchOver } from '../helpers/https.js';
import { NodeLoop } from '../helpers/node-loop.js';
import { NodePlayer } from '../helpers/node-player.js';
import { hasKubectl, kubectlPath, startSkiff, type SkiffServer } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

const SYNC_INTERVAL_MS = 200;
const VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget.";

const budget = {
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: 'web' },
  spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
};

/** A kubectl run whose output can be watched while it runs. */
function running(server: SkiffServer, args: string[]) {
  const child = spawn(kubectlPath, ['--cache-dir', server.cacheDir, ...args], { env: { ...process.env, KUBECONFIG: server.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out.stderr += s));
  const exit = new Promise<number | null>((resolve) => child.once('close', resolve));
  return { out, exit, kill: () => child.kill('SIGKILL') };
}

describe.skipIf(!hasKubectl)('kubectl drain against a PodDisruptionBudget', () => {
  let server: SkiffServer;
  let loop: NodeLoop;
  let drain: ReturnType<typeof running> | undefined;

  beforeAll(async () => {
    server = await startSkiff();
    const request = fetchOver(server.request);
    const nodes = ['worker-1', 'worker-2'].map((name) => new NodePlayer(request, { name }));
    for (const n of nodes) await n.register();
    loop = new NodeLoop(nodes, SYNC_INTERVAL_MS);
    loop.start();
  });

  afterAll(async () => {
    drain?.kill();
    await loop?.stop();
    await server?.stop();
  });

  const kubectl = async (args: string[], stdin?: string) => {
    const r = await server.kubectl(args, { timeoutMs: 90_000, stdin });
    expect(r.stderr).toBe('');
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stdout}`).toBe(0);
    return r.stdout;
  };
  const pods = async () => JSON.parse(await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json'])).items as any[];
  const ready = (p: any) => !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

  it('waits on 429 while the budget allows nothing, and drains once a new pod is ready elsewhere', async () => {
    await kubectl(['create', 'deployment', 'web', '--image=nginx', '--replicas=2']);
    expect(await kubectl(['rollout', 'status', 'deployment/web', '--timeout=60s'])).toContain('successfully rolled out');
    expect(await kubectl(['apply', '-f', '-'], JSON.stringify(budget))).toBe('poddisruptionbudget.policy/web created\n');
    await until('the budget counting 2 healthy pods', async () =>
      (await kubectl(['get', 'pdb', 'web', '-o', 'jsonpath={.status.currentHealthy}/{.status.expectedPods}'])) === '2/2');
    const table = (await kubectl(['get', 'pdb'])).split('\n');
    expect(table[0]).toMatch(/^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE$/);
    expect(table[1]).toMatch(/^web\s+2\s+N\/A\s+0\s+\d+s$/);
    const described = await kubectl(['describe', 'pdb', 'web']);
    for (const line of [/^Name:\s+web$/, /^Min available:\s+2$/, /^Selector:\s+app=web$/, /^\s+Allowed disruptions:\s+0$/, /^\s+Current:\s+2$/, /^\s+Desired:\s+2$/, /^\s+Total:\s+2$/]) {
      expect(described.split('\n').some((l) => line.test(l)), `${line} in:\n${described}`).toBe(true);
    }

    const victim = (await pods())[0];
    const node = victim.spec.nodeName as string;
    const other = node === 'worker-1' ? 'worker-2' : 'worker-1';
    const name = victim.metadata.name as string;

    drain = running(server, ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data']);
    const refused = `error when evicting pods/"${name}" -n "default" (will retry after 5s): ${VIOLATION}`;
    await until('drain to be refused by the budget', async () => drain!.out.stderr.includes(refused), 60_000);
    expect((await pods()).find((p) => p.metadata.name === name)?.metadata.deletionTimestamp).toBeUndefined();
    expect(JSON.parse(await kubectl(['get', 'node', node, '-o', 'json'])).spec.unschedulable).toBe(true);

    // One more replica: it can only land on the other node; once it is ready the budget allows one eviction.
    await kubectl(['scale', 'deployment/web', '--replicas=3']);
    expect(await drain.exit).toBe(0);
    expect(drain.out.stdout).toContain(`node/${node} cordoned`);
    expect(drain.out.stdout).toContain(`evicting pod default/${name}`);
    expect(drain.out.stdout).toContain(`pod/${name} evicted`);
    expect(drain.out.stdout).toContain(`node/${node} drained`);
    // Only the budget held the drain up: nothing but its refusals on stderr.
    expect(drain.out.stderr.split('\n').filter((l) => l && l !== refused && l !== `evicting pod default/${name}`)).toEqual([]);

    await until('three ready pods on the other node', async () => {
      const now = await pods();
      return now.length === 3 && now.every((p) => ready(p) && p.spec.nodeName === other);
    });
    expect(loop.errors).toEqual([]);
  });
});
