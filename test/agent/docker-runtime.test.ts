// The Docker runtime against a real Docker Engine, with a local registry and images made from
// busybox-static (test/helpers/docker.ts). Skipped where no daemon answers, except on CI.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError, type ContainerConfig, type ContainerInfo, type SandboxConfig } from '../../src/agent/runtime.js';
import { DockerRuntime, LABEL_POD_UID, defaultNodeIP, imageIdOf, parseImageRef, registryAuthFor } from '../../src/agent/runtimes/docker.js';
import { pauseElf } from '../../src/agent/runtimes/pause-image.js';
import {
  TEST_LABEL,
  busyboxRootfs,
  containerLogs,
  dockerAvailable,
  importImage,
  pushImage,
  startDockerTestEnv,
  type DockerTestEnv,
} from '../helpers/docker.js';

const available = await dockerAvailable();
if (!available) {
  console.warn(
    'docker-runtime tests skipped: no Docker Engine answers on ' +
      (process.env.DOCKER_HOST ?? '/var/run/docker.sock') +
      ' (.ci/run starts one; locally: apt-get install docker.io docker-registry busybox-static, then start dockerd)',
  );
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('docker runtime: pure parts', () => {
  it('parses image references as Docker does', () => {
    expect(parseImageRef('busybox')).toMatchObject({ registry: 'docker.io', path: 'library/busybox', name: 'busybox', tag: undefined });
    expect(parseImageRef('nginx:1.27')).toMatchObject({ registry: 'docker.io', path: 'library/nginx', tag: '1.27' });
    expect(parseImageRef('me/app')).toMatchObject({ registry: 'docker.io', path: 'me/app' });
    expect(parseImageRef('127.0.0.1:5000/a/b:1')).toMatchObject({ registry: '127.0.0.1:5000', path: 'a/b', name: '127.0.0.1:5000/a/b', tag: '1' });
    expect(parseImageRef('localhost/x@sha256:abc')).toMatchObject({ registry: 'localhost', path: 'x', digest: 'sha256:abc', tag: undefined });
    expect(parseImageRef('ghcr.io/o/r:t@sha256:abc')).toMatchObject({ registry: 'ghcr.io', path: 'o/r', tag: 't', digest: 'sha256:abc' });
  });

  it('finds registry credentials the way kubelet matches dockerconfigjson keys', () => {
    const auths = {
      'https://index.docker.io/v1/': { username: 'hub', password: 'h' },
      'registry.example.com': { auth: Buffer.from('user:pa:ss').toString('base64') },
      'registry.example.com/team': { username: 'team', password: 't' },
      '*.corp.example': { username: 'wild', password: 'w' },
      'http://127.0.0.1:5000': { username: 'local', password: 'l' },
    };
    expect(registryAuthFor('busybox', auths)).toEqual({ username: 'hub', password: 'h', serveraddress: 'https://index.docker.io/v1/' });
    expect(registryAuthFor('registry.example.com/other/app:1', auths)).toEqual({ username: 'user', password: 'pa:ss', serveraddress: 'registry.example.com' });
    expect(registryAuthFor('registry.example.com/team/app:1', auths)?.username).toBe('team');
    expect(registryAuthFor('registry.example.com/teamster/app', auths)?.username).toBe('user');
    expect(registryAuthFor('a.corp.example/app', auths)?.username).toBe('wild');
    expect(registryAuthFor('127.0.0.1:5000/app', auths)?.username).toBe('local');
    expect(registryAuthFor('quay.io/app', auths)).toBeUndefined();
  });

  it("reports imageID as kubelet did: the repo digest, else the image's id", () => {
    const info = { Id: 'sha256:1111', RepoDigests: ['other/x@sha256:aaaa', '127.0.0.1:5000/a/b@sha256:bbbb'] };
    expect(imageIdOf(info, '127.0.0.1:5000/a/b:1')).toBe('docker-pullable://127.0.0.1:5000/a/b@sha256:bbbb');
    expect(imageIdOf({ Id: 'sha256:1111', RepoDigests: [] }, 'x')).toBe('docker://sha256:1111');
  });

  it('makes a pause program for x86_64 and aarch64', () => {
    for (const [arch, machine] of [
      ['amd64', 62],
      ['arm64', 183],
    ] as const) {
      const elf = pauseElf(arch);
      expect([...elf.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
      expect(new DataView(elf.buffer).getUint16(18, true)).toBe(machine);
      expect(elf.length).toBeLessThan(400);
    }
  });
});

// On CI a daemon must answer: .ci/run starts one.
it.runIf(!available && process.env.CI === 'true')('a Docker Engine answers on CI', () => {
  expect.fail('no Docker Engine answers on CI; .ci/run should have started dockerd');
});

describe.skipIf(!available)('docker runtime against a Docker Engine', () => {
  let env: DockerTestEnv;
  let rt: DockerRuntime;
  const tmpDirs: string[] = [];

  beforeAll(async () => {
    env = await startDockerTestEnv();
    rt = new DockerRuntime({ labels: env.labels });
  });

  afterAll(async () => {
    await rt?.close();
    await env?.cleanup();
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  });

  function pod(name: string, extra: Partial<SandboxConfig> = {}): SandboxConfig {
    return { uid: randomUUID(), namespace: 'skiff-test', name, hostNetwork: false, hostname: name, registryAuths: {}, ...extra };
  }

  function container(name: string, extra: Partial<ContainerConfig> = {}): ContainerConfig {
    return { name, image: env.image, imagePullPolicy: 'IfNotPresent', env: [], mounts: [], attempt: 0, init: false, ...extra };
  }

  function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'skiff-docker-test-'));
    tmpDirs.push(d);
    return d;
  }

  async function exited(podUid: string, id: string): Promise<ContainerInfo> {
    return waitFor(`container ${id} to exit`, async () => (await rt.listContainers(podUid)).find((c) => c.id === id && c.state === 'exited'));
  }

  it('reports its version and answers a ping', async () => {
    expect(await rt.version()).toMatch(/^docker:\/\/\d+\.\d+/);
    expect(await DockerRuntime.available()).toBe(true);
    expect(await DockerRuntime.available('/nonexistent/docker.sock')).toBe(false);
  });

  it('pulls from a registry as imagePullPolicy says', async () => {
    const repo = env.image.slice(0, env.image.lastIndexOf(':'));
    // Not present locally yet: Never refuses, with kubelet's message.
    const never = await rt.ensureImage(env.image, 'Never', {}).catch((e: unknown) => e);
    expect(never).toBeInstanceOf(RuntimeError);
    expect(never).toMatchObject({ reason: 'ErrImageNeverPull', message: `Container image "${env.image}" is not present with pull policy of Never` });

    // IfNotPresent pulls it (credentials for the registry go along and are ignored by it).
    const auths = { [`http://${env.registry.host}`]: { auth: Buffer.from('u:p').toString('base64') } };
    const id1 = await rt.ensureImage(env.image, 'IfNotPresent', auths);
    expect(id1).toBe(`docker-pullable://${repo}@${env.digest}`);
    expect(await rt.ensureImage(env.image, 'Never', {})).toBe(id1);

    // A tag the registry does not have, and a registry that is not there.
    const missing = await rt.ensureImage(`${repo}:nope`, 'IfNotPresent', {}).catch((e: unknown) => e);
    expect(missing).toMatchObject({ reason: 'ErrImagePull' });
    expect((missing as Error).message).toMatch(/not found|manifest unknown/);
    const unreachable = await rt.ensureImage('127.0.0.1:1/skiff-test/none:1', 'Always', {}).catch((e: unknown) => e);
    expect(unreachable).toMatchObject({ reason: 'ErrImagePull' });
    expect((unreachable as Error).message).toMatch(/connection refused|dial tcp/);

    // The registry gets a new image under the same tag; the node keeps the old one under it.
    const { docker } = env;
    const v1 = (await docker.getImage(env.image).inspect()).Id;
    await importImage(docker, busyboxRootfs([{ type: 'file', path: 'version', content: '2\n' }]), env.image, ['CMD ["sh"]', 'ENV PATH=/bin']);
    const digest2 = await pushImage(docker, env.image);
    expect(digest2).not.toBe(env.digest);
    await docker.getImage(v1).tag({ repo, tag: '1' });
    // IfNotPresent keeps what is there; Always pulls the new one.
    expect(await rt.ensureImage(env.image, 'IfNotPresent', {})).toBe(id1);
    expect(await rt.ensureImage(env.image, 'Always', {})).toBe(`docker-pullable://${repo}@${digest2}`);
    expect(await rt.ensureImage(`${repo}@${digest2}`, 'IfNotPresent', {})).toBe(`docker-pullable://${repo}@${digest2}`);
  });

  it('runs a pod whose containers share localhost, its IP reachable from the node, and re-adopts it', async () => {
    await rt.ensureImage(env.image, 'IfNotPresent', {});
    const p = pod('web');
    try {
      const [sandbox, twin] = await Promise.all([rt.ensureSandbox(p), rt.ensureSandbox(p)]); // one sandbox, not two
      expect(sandbox.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(twin).toEqual(sandbox);
      expect(await rt.ensureSandbox(p)).toEqual(sandbox); // idempotent
      expect(await env.docker.listContainers({ all: true, filters: { label: [`${LABEL_POD_UID}=${p.uid}`] } })).toHaveLength(1);

      const web = await rt.startContainer(p, container('web', { command: ['httpd', '-f', '-p', '8080', '-h', '/www'] }));
      const client = await rt.startContainer(p, container('client', { command: ['sleep', '3600'], attempt: 2 }));
      expect(web).toMatchObject({ podUid: p.uid, name: 'web', state: 'running', attempt: 0, init: false, image: env.image });
      expect(web.id).toMatch(/^docker:\/\/[0-9a-f]{64}$/);
      expect(web.imageID).toMatch(/^docker-pullable:\/\/127\.0\.0\.1:\d+\/skiff-test\/busybox@sha256:/);
      expect(web.startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      // From the other container, over the pod's localhost.
      const got = await waitFor('httpd on 127.0.0.1:8080', async () => {
        const r = await rt.exec(client.id, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 5);
        return r.exitCode === 0 ? r : undefined;
      });
      expect(got.output).toBe('hello from skiff\n');
      // From the node, at the pod's IP.
      const res = await fetch(`http://${sandbox.ip}:8080/`, { signal: AbortSignal.timeout(5000) });
      expect(await res.text()).toBe('hello from skiff\n');
      // The pod's hostname.
      expect((await rt.exec(client.id, ['hostname'], 5)).output.trim()).toBe('web');

      // A new runtime (the agent restarted) finds the same sandbox and containers.
      const again = new DockerRuntime({ labels: env.labels });
      expect(await again.ensureSandbox(p)).toEqual(sandbox);
      const adopted = await again.listContainers(p.uid);
      expect(adopted.map((c) => c.id).sort()).toEqual([web.id, client.id].sort());
      expect(adopted.find((c) => c.id === client.id)).toMatchObject({ name: 'client', attempt: 2, init: false, state: 'running', imageID: client.imageID });
      expect((await again.listContainers()).map((c) => c.id)).toEqual(expect.arrayContaining([web.id, client.id]));
      await again.close();
    } finally {
      await rt.removeSandbox(p.uid);
    }
    expect(await rt.listContainers(p.uid)).toEqual([]);
    expect(await env.docker.listContainers({ all: true, filters: { label: [`${LABEL_POD_UID}=${p.uid}`] } })).toEqual([]);
  });

  it('reports a breached memory limit as OOMKilled (137), and exits as Completed or Error', async () => {
    await rt.ensureImage(env.image, 'IfNotPresent', {});
    const p = pod('limits');
    try {
      await rt.ensureSandbox(p);
      const hog = await rt.startContainer(
        p,
        container('hog', { command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], memoryLimitBytes: 16 * 1024 * 1024, cpuLimitMillis: 500 }),
      );
      const inspected = await env.docker.getContainer(hog.id.slice('docker://'.length)).inspect();
      expect(inspected.HostConfig).toMatchObject({ Memory: 16 * 1024 * 1024, MemorySwap: 16 * 1024 * 1024, NanoCpus: 500_000_000 });
      expect(await exited(p.uid, hog.id)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled' });

      const ok = await rt.startContainer(p, container('ok', { command: ['true'], init: true }));
      const bad = await rt.startContainer(p, container('bad', { command: ['sh', '-c', 'exit 3'] }));
      const okDone = await exited(p.uid, ok.id);
      expect(okDone).toMatchObject({ exitCode: 0, reason: 'Completed', init: true });
      expect(okDone.finishedAt).toMatch(/Z$/);
      expect(await exited(p.uid, bad.id)).toMatchObject({ exitCode: 3, reason: 'Error' });

      // A command that is not there: the daemon's error, as RunContainerError.
      const missing = await rt.startContainer(p, container('missing', { command: ['/no/such/program'] })).catch((e: unknown) => e);
      expect(missing).toMatchObject({ reason: 'RunContainerError' });
      expect((missing as Error).message).toMatch(/no such file|not found/i);

      await rt.removeContainer(bad.id);
      expect((await rt.listContainers(p.uid)).map((c) => c.id)).not.toContain(bad.id);
    } finally {
      await rt.removeSandbox(p.uid);
    }
  });

  it('maps command and args onto the image entrypoint and cmd as Kubernetes does', async () => {
    const image = `skiff-test/echo:${env.runId}`;
    env.images.add(image);
    await importImage(env.docker, busyboxRootfs(), image, ['ENTRYPOINT ["/bin/echo", "entrypoint"]', 'CMD ["cmd"]']);
    const imageID = await rt.ensureImage(image, 'Never', {});
    expect(imageID).toMatch(/^docker:\/\/sha256:[0-9a-f]{64}$/); // no repo digest: imported, never pulled
    const p = pod('echo');
    try {
      await rt.ensureSandbox(p);
      const cases: [Partial<ContainerConfig>, string][] = [
        [{}, 'entrypoint cmd'],
        [{ args: ['a', 'b'] }, 'entrypoint a b'],
        [{ command: ['/bin/echo', 'command'] }, 'command'],
        [{ command: ['/bin/echo', 'command'], args: ['x'] }, 'command x'],
        [{ command: ['sh', '-c', 'echo "$GREETING from $(pwd)"'], env: [{ name: 'GREETING', value: 'hi' }], workingDir: '/www' }, 'hi from /www'],
      ];
      for (const [i, [extra, want]] of cases.entries()) {
        const c = await rt.startContainer(p, container(`c${i}`, { image, ...extra }));
        await exited(p.uid, c.id);
        expect(c.imageID).toBe(imageID);
        expect((await containerLogs(env.docker, c.id)).trim()).toBe(want);
      }
    } finally {
      await rt.removeSandbox(p.uid);
    }
  });

  it('stops with SIGTERM first and SIGKILL after the grace period', async () => {
    await rt.ensureImage(env.image, 'IfNotPresent', {});
    const dir = tempDir();
    const ro = tempDir();
    const p = pod('stopper');
    const mounts = [
      { hostPath: dir, containerPath: '/out', readOnly: false },
      { hostPath: ro, containerPath: '/ro', readOnly: true },
    ];
    try {
      await rt.ensureSandbox(p);
      const polite = await rt.startContainer(
        p,
        container('polite', {
          command: ['sh', '-c', 'trap "echo term > /out/signal; exit 0" TERM; touch /ro/x 2>/dev/null || echo ro > /out/ro; echo > /out/ready; while true; do sleep 0.1; done'],
          mounts,
        }),
      );
      await waitFor('the polite container to be ready', () => existsSync(join(dir, 'ready')));
      expect(readFileSync(join(dir, 'ro'), 'utf8')).toBe('ro\n'); // the read-only mount refused the write
      const t0 = Date.now();
      await rt.stopContainer(polite.id, 10);
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(readFileSync(join(dir, 'signal'), 'utf8')).toBe('term\n');
      expect((await rt.listContainers(p.uid)).find((c) => c.id === polite.id)).toMatchObject({ state: 'exited', exitCode: 0, reason: 'Completed' });
      await rt.stopContainer(polite.id, 10); // already stopped: fine

      const stubborn = await rt.startContainer(
        p,
        container('stubborn', { command: ['sh', '-c', 'trap "" TERM; echo > /out/ready2; while true; do sleep 0.1; done'], mounts }),
      );
      await waitFor('the stubborn container to be ready', () => existsSync(join(dir, 'ready2')));
      const t1 = Date.now();
      await rt.stopContainer(stubborn.id, 1);
      expect(Date.now() - t1).toBeGreaterThanOrEqual(900);
      expect((await rt.listContainers(p.uid)).find((c) => c.id === stubborn.id)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'Error' });
      // Also for a runtime that did not stop it itself (the daemon's kill events tell it was no OOM kill).
      const fresh = new DockerRuntime({ labels: env.labels });
      expect((await fresh.listContainers(p.uid)).find((c) => c.id === stubborn.id)).toMatchObject({ exitCode: 137, reason: 'Error' });
    } finally {
      await rt.removeSandbox(p.uid);
    }
  });

  it('execs a command: output, exit code, truncation, timeout', async () => {
    await rt.ensureImage(env.image, 'IfNotPresent', {});
    const p = pod('exec');
    try {
      await rt.ensureSandbox(p);
      const c = await rt.startContainer(p, container('sh', { command: ['sleep', '3600'], env: [{ name: 'FOO', value: 'bar' }], workingDir: '/tmp' }));
      const r = await rt.exec(c.id, ['sh', '-c', 'echo $FOO; pwd; echo err >&2; exit 3'], 5);
      expect(r.exitCode).toBe(3);
      // stdout and stderr come through separate pipes: their lines may interleave either way.
      expect(r.output.split('\n').filter((l) => l !== 'err')).toEqual(['bar', '/tmp', '']);
      expect(r.output).toContain('err\n');
      expect(await rt.exec(c.id, ['true'], 5)).toEqual({ exitCode: 0, output: '' });

      const big = await rt.exec(c.id, ['sh', '-c', 'head -c 50000 /dev/zero | tr "\\0" x'], 5);
      expect(big.exitCode).toBe(0);
      expect(big.output).toBe('x'.repeat(10 * 1024));

      const t0 = Date.now();
      await expect(rt.exec(c.id, ['sleep', '30'], 1)).rejects.toMatchObject({ reason: 'ExecTimeout' });
      expect(Date.now() - t0).toBeLessThan(5000);

      await expect(rt.exec(c.id, ['/no/such/program'], 5)).resolves.toMatchObject({ exitCode: 126 });
    } finally {
      await rt.removeSandbox(p.uid);
    }
  });

  it('runs a hostNetwork pod in the node network namespace', async () => {
    await rt.ensureImage(env.image, 'IfNotPresent', {});
    const p = pod('hostnet', { hostNetwork: true });
    const port = 20000 + Math.floor(Math.random() * 20000);
    try {
      const sandbox = await rt.ensureSandbox(p);
      expect(sandbox.ip).toBe(defaultNodeIP());
      await rt.startContainer(p, container('web', { command: ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/www'] }));
      const text = await waitFor('httpd on the node loopback', async () => {
        try {
          return await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })).text();
        } catch {
          return undefined;
        }
      });
      expect(text).toBe('hello from skiff\n');
    } finally {
      await rt.removeSandbox(p.uid);
    }
  });

  it('refuses to start a container without a sandbox', async () => {
    const p = pod('nosandbox');
    await expect(rt.startContainer(p, container('x'))).rejects.toMatchObject({ reason: 'CreateContainerError' });
  });

  it('leaves no container behind', async () => {
    expect(await env.docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${env.runId}`] } })).toEqual([]);
  });
});
