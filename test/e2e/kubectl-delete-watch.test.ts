// kubectl 1.32 get -w and delete against a real `skiff serve`, whose garbage collector and
// namespace controller finish what the deletes start.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { row } from '../helpers/kubectl-output.js';
import { KUBECTL_TIMEOUT_MS, kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl, kubectlPath, type SkiffServer } from '../helpers/skiff-server.js';

if (!hasKubectl) console.warn('kubectl-delete-watch.test.ts: skipped, /usr/bin/kubectl is absent');

/** A long-running kubectl (get -w) whose output can be waited on. */
interface Watcher {
  output(): string;
  /** Resolves once the output matches, rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function watchWith(server: SkiffServer, args: string[]): Watcher {
  const child = spawn(kubectlPath, ['--cache-dir', server.cacheDir, ...args], {
    env: { ...process.env, KUBECONFIG: server.kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const changed = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    for (const f of changed) f();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    output: () => out,
    waitFor: (pattern, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(out)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`kubectl ${args.join(' ')} did not print ${pattern} within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          changed.delete(check);
        };
        changed.add(check);
        check();
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

describe.skipIf(!hasKubectl)('kubectl get -w and delete (needs /usr/bin/kubectl)', () => {
  const session = kubectlSession();
  const { run, k, apply, jsonpath } = session;
  const missing = async (...args: string[]) => (await run(['get', ...args])).stderr.includes('(NotFound)');

  /**
   * A Deployment and a ConfigMap it owns, blocking its owner's deletion. A ConfigMap, not a
   * ReplicaSet: a deployment controller releases or scales ReplicaSets it did not make, but leaves
   * this one to the garbage collector alone.
   */
  async function deploymentWithDependent(ns: string, finalizers: string[] = []): Promise<void> {
    await k('create', 'namespace', ns);
    await k('create', 'deployment', 'web', '--image=nginx', '-n', ns);
    const uid = await jsonpath('{.metadata.uid}', 'deployment', 'web', '-n', ns);
    await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'web-config',
        namespace: ns,
        finalizers,
        // controller: true: skiff's garbage collector follows controller references only.
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid, controller: true, blockOwnerDeletion: true }],
      },
      data: { mode: 'production' },
    });
  }

  async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('get -w prints the list, then a row for each change', async () => {
    const ns = 'dw-watch';
    await k('create', 'namespace', ns);
    await k('create', 'configmap', 'before', '--from-literal=a=1', '-n', ns);
    const watch = watchWith(session.server, ['get', 'configmaps', '-n', ns, '-w']);
    try {
      await watch.waitFor(row('before', '1', /\d+s/));
      expect(watch.output()).toMatch(/^NAME\s+DATA\s+AGE\n/);
      await k('create', 'configmap', 'during', '--from-literal=a=1', '--from-literal=b=2', '-n', ns);
      await watch.waitFor(row('during', '2', /\d+s/));
      await k('patch', 'configmap', 'before', '--type', 'merge', '-p', '{"data":{"b":"2","c":"3"}}', '-n', ns);
      await watch.waitFor(row('before', '3', /\d+s/));
      // One header, and the existing object listed once (not replayed by the watch).
      expect(watch.output().match(/^NAME\s/gm)).toHaveLength(1);
      expect(watch.output().match(/^before\s+1\s/gm)).toHaveLength(1);
    } finally {
      await watch.stop();
    }
  });

  it('get -w --output-watch-events names each event, a deletion included', async () => {
    const ns = 'dw-events';
    await k('create', 'namespace', ns);
    const watch = watchWith(session.server, ['get', 'pods', '-n', ns, '-w', '--output-watch-events']);
    try {
      // Listed before the watch began or seen by it, the pod comes out as ADDED either way.
      await k('run', 'p', '--image=nginx', '-n', ns);
      await watch.waitFor(row('ADDED', 'p', '0/1', 'Pending', '0', /\d+s/));
      expect(watch.output()).toMatch(/^EVENT\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
      await k('label', 'pod', 'p', 'seen=yes', '-n', ns);
      await watch.waitFor(row('MODIFIED', 'p', '0/1', 'Pending', '0', /\d+s/));
      await k('delete', 'pod', 'p', '-n', ns, '--wait=false');
      await watch.waitFor(row('DELETED', 'p', '0/1', /\S+/, '0', /\d+s/));
    } finally {
      await watch.stop();
    }
  });

  it('delete --cascade=background deletes at once and the dependents follow', async () => {
    const ns = 'dw-background';
    await deploymentWithDependent(ns);
    expect(await k('delete', 'deployment', 'web', '-n', ns, '--cascade=background')).toBe('deployment.apps "web" deleted\n');
    expect(await missing('deployment', 'web', '-n', ns)).toBe(true);
    await eventually(() => missing('configmap', 'web-config', '-n', ns), 'the garbage collector to delete the ConfigMap');
  });

  it('delete --cascade=orphan keeps the dependents and drops their owner reference', async () => {
    const ns = 'dw-orphan';
    await deploymentWithDependent(ns);
    expect(await k('delete', 'deployment', 'web', '-n', ns, '--cascade=orphan')).toBe('deployment.apps "web" deleted\n');
    expect(await missing('deployment', 'web', '-n', ns)).toBe(true);
    expect(await jsonpath('{.metadata.name} owners={.metadata.ownerReferences}', 'configmap', 'web-config', '-n', ns)).toBe('web-config owners=');
  });

  it('delete --cascade=foreground waits until the dependents are gone, then the owner goes', async () => {
    const ns = 'dw-foreground';
    await deploymentWithDependent(ns);
    const started = Date.now();
    expect(await k('delete', 'deployment', 'web', '-n', ns, '--cascade=foreground')).toBe('deployment.apps "web" deleted\n');
    expect(Date.now() - started).toBeLessThan(KUBECTL_TIMEOUT_MS);
    expect(await missing('deployment', 'web', '-n', ns)).toBe(true);
    expect(await missing('configmap', 'web-config', '-n', ns)).toBe(true);
    // So went any ReplicaSet a deployment controller made for it.
    expect((await run(['get', 'replicasets', '-n', ns, '-o', 'name'])).stdout).toBe('');
  });

  it('delete --cascade=foreground keeps the owner while a dependent lingers', async () => {
    const ns = 'dw-foreground-held';
    await deploymentWithDependent(ns, ['e2e.skiff.dev/hold']);
    expect(await k('delete', 'deployment', 'web', '-n', ns, '--cascade=foreground', '--wait=false')).toBe('deployment.apps "web" deleted\n');
    // The collector deletes the dependent, whose finalizer holds it; the owner waits for it.
    await eventually(async () => (await jsonpath('{.metadata.deletionTimestamp}', 'configmap', 'web-config', '-n', ns)) !== '', 'the ConfigMap to be deleted');
    expect(await jsonpath('{.metadata.finalizers}', 'deployment', 'web', '-n', ns)).toBe('["foregroundDeletion"]');
    expect(await jsonpath('{.metadata.deletionTimestamp}', 'deployment', 'web', '-n', ns)).not.toBe('');
    await k('patch', 'configmap', 'web-config', '-n', ns, '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]');
    await eventually(() => missing('deployment', 'web', '-n', ns), 'the Deployment to go once its dependent went');
    expect(await missing('configmap', 'web-config', '-n', ns)).toBe(true);
  });

  it('deletes a pod, a configmap by label, and reports what is not there', async () => {
    const ns = 'dw-simple';
    await k('create', 'namespace', ns);
    await k('run', 'lonely', '--image=nginx', '-n', ns);
    expect(await k('delete', 'pod', 'lonely', '-n', ns)).toBe('pod "lonely" deleted\n');
    expect(await missing('pod', 'lonely', '-n', ns)).toBe(true);

    for (const name of ['a', 'b', 'c']) await k('create', 'configmap', name, '-n', ns);
    await k('label', 'configmap', 'a', 'b', 'doomed=yes', '-n', ns);
    expect(await k('delete', 'configmaps', '-l', 'doomed=yes', '-n', ns)).toBe('configmap "a" deleted\nconfigmap "b" deleted\n');
    expect(await k('get', 'configmaps', '-n', ns, '-o', 'name')).toBe('configmap/c\n');

    const again = await run(['delete', 'pod', 'lonely', '-n', ns]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('Error from server (NotFound): pods "lonely" not found\n');
    expect(await k('delete', 'pod', 'lonely', '-n', ns, '--ignore-not-found')).toBe('');
  });

  it('delete ns finishes once the namespace controller emptied it', async () => {
    const ns = 'dw-namespace';
    await deploymentWithDependent(ns);
    await k('create', 'configmap', 'settings', '--from-literal=a=b', '-n', ns);
    await k('run', 'p', '--image=nginx', '-n', ns);
    expect(await k('delete', 'namespace', ns)).toBe(`namespace "${ns}" deleted\n`);
    expect(await missing('namespace', ns)).toBe(true);
    for (const kind of ['deployments', 'replicasets', 'configmaps', 'pods']) {
      const r = await run(['get', kind, '-n', ns]);
      expect(r.stdout, kind).toBe('');
      expect(r.stderr, kind).toBe(`No resources found in ${ns} namespace.\n`);
    }
    // The name is free again.
    expect(await k('create', 'namespace', ns)).toBe(`namespace/${ns} created\n`);
  });

  it('a namespace stays Terminating while an object in it lingers, and refuses new content', async () => {
    const ns = 'dw-namespace-held';
    await k('create', 'namespace', ns);
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', namespace: ns, finalizers: ['e2e.skiff.dev/hold'] } });
    expect(await k('delete', 'namespace', ns, '--wait=false')).toBe(`namespace "${ns}" deleted\n`);
    await eventually(async () => (await jsonpath('{.metadata.deletionTimestamp}', 'configmap', 'held', '-n', ns)) !== '', 'the namespace controller to delete the ConfigMap');
    expect(await k('get', 'namespace', ns)).toMatch(row(ns, 'Terminating', /\d+s/));
    const refused = await run(['create', 'configmap', 'late', '-n', ns]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`error: failed to create configmap: configmaps "late" is forbidden: unable to create new content in namespace ${ns} because it is being terminated\n`);
    await k('patch', 'configmap', 'held', '-n', ns, '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]');
    await eventually(() => missing('namespace', ns), 'the namespace to go once emptied');
  });
});
