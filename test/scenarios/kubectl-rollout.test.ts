// The whole loop with real parts: `skiff serve` running its own passes, two nodes played over HTTPS
// on a real-time interval, and kubectl creating, rolling out, inspecting and undoing a Deployment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchOver } from '../helpers/https.js';
import { NodeLoop } from '../helpers/node-loop.js';
import { NodePlayer } from '../helpers/node-player.js';
import { hasKubectl, startSkiff, type SkiffServer } from '../helpers/skiff-server.js';

const SYNC_INTERVAL_MS = 200;

describe.skipIf(!hasKubectl)('kubectl rollout against skiff serve', () => {
  let server: SkiffServer;
  let loop: NodeLoop;

  beforeAll(async () => {
    server = await startSkiff();
    // The server's own HTTPS client, which trusts only its CA.
    const request = fetchOver(server.request);
    const nodes = ['worker-1', 'worker-2'].map((name) => new NodePlayer(request, { name }));
    for (const n of nodes) await n.register();
    loop = new NodeLoop(nodes, SYNC_INTERVAL_MS);
    loop.start();
  });

  afterAll(async () => {
    await loop?.stop();
    await server?.stop();
  });

  const kubectl = async (...args: string[]) => {
    const r = await server.kubectl(args, { timeoutMs: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stdout}`).toBe(0);
    return r.stdout;
  };
  const rolledOut = async () =>
    expect(await kubectl('rollout', 'status', 'deployment/web', '--timeout=60s')).toContain('deployment "web" successfully rolled out');

  it('creates a Deployment and reports it rolled out', async () => {
    expect(await kubectl('create', 'deployment', 'web', '--image=nginx', '--replicas=3')).toBe('deployment.apps/web created\n');
    await rolledOut();
    const pods = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')).items;
    expect(pods).toHaveLength(3);
    expect(pods.every((p: any) => ['worker-1', 'worker-2'].includes(p.spec.nodeName) && p.status.phase === 'Running')).toBe(true);
  });

  it('rolls out a new image, lists two revisions, and undoes back to the first', async () => {
    expect(await kubectl('set', 'image', 'deployment/web', 'nginx=nginx:1.27')).toBe('deployment.apps/web image updated\n');
    await rolledOut();
    const history = await kubectl('rollout', 'history', 'deployment/web');
    expect(history.split('\n').filter((l) => /^\d+\s/.test(l)).map((l) => l.split(/\s+/)[0])).toEqual(['1', '2']);

    expect(await kubectl('rollout', 'undo', 'deployment/web')).toBe('deployment.apps/web rolled back\n');
    await rolledOut();
    expect(await kubectl('get', 'deployment', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}')).toBe('nginx');
    const sets = JSON.parse(await kubectl('get', 'replicasets', '-l', 'app=web', '-o', 'json')).items;
    expect(sets).toHaveLength(2); // the first ReplicaSet came back; no third one
    const revisions = Object.fromEntries(sets.map((rs: any) => [rs.spec.template.spec.containers[0].image, rs.metadata.annotations['deployment.kubernetes.io/revision']]));
    expect(revisions).toEqual({ nginx: '3', 'nginx:1.27': '2' });
    const pods = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')).items.filter((p: any) => !p.metadata.deletionTimestamp);
    expect(pods.map((p: any) => p.spec.containers[0].image)).toEqual(['nginx', 'nginx', 'nginx']);
    expect(loop.errors).toEqual([]);
  });
});
