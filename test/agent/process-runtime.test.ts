// The process runtime with real processes: env, working dir and mounts as the program sees them, exit
// codes, SIGTERM then SIGKILL on stop, re-adoption by a fresh runtime over the same data folder, exec,
// memory limits through cgroups (when root), and nothing left behind.
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError, type ContainerConfig, type SandboxConfig } from '../../src/agent/runtime.js';
import { ProcessRuntime } from '../../src/agent/runtimes/process.js';

const NODE = process.execPath;
let dataDir: string;
let volume: string;
const runtimes: ProcessRuntime[] = [];

function runtime(): ProcessRuntime {
  const r = new ProcessRuntime({ dataDir, hostIP: '127.0.0.1', version: '9.9.9' });
  runtimes.push(r);
  return r;
}

function pod(uid = crypto.randomUUID()): SandboxConfig {
  return { uid, namespace: 'default', name: `pod-${uid.slice(0, 5)}`, hostNetwork: false, hostname: 'web-0', registryAuths: {} };
}

function container(over: Partial<ContainerConfig>): ContainerConfig {
  return { name: 'main', image: 'example/app:1', imagePullPolicy: 'IfNotPresent', env: [], mounts: [], attempt: 0, init: false, ...over };
}

async function waitFor<T>(fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function exited(r: ProcessRuntime, id: string) {
  return waitFor(async () => {
    const c = (await r.listContainers()).find((x) => x.id === id);
    return c?.state === 'exited' ? c : undefined;
  });
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'skiff-process-'));
  volume = path.join(dataDir, 'volume');
  await fs.mkdir(volume);
});

afterAll(async () => {
  // Kill and forget everything any runtime instance started, then the folder.
  const r = new ProcessRuntime({ dataDir, hostIP: '127.0.0.1' });
  for (const c of await r.listContainers()) await r.removeContainer(c.id).catch(() => undefined);
  for (const x of runtimes) await x.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('ProcessRuntime', () => {
  it('reports its name, version and image ids without pulling', async () => {
    const r = runtime();
    expect(r.name).toBe('process');
    expect(r.podNetwork).toBe(false);
    expect(await r.version()).toBe('process://9.9.9');
    expect(await new ProcessRuntime({ dataDir }).version()).toMatch(/^process:\/\/\d+\.\d+\.\d+/);
    expect(await r.ensureImage('nginx:1.27', 'Always', {})).toBe('process://nginx:1.27');
    expect(await r.ensureImage('nginx:1.27', 'Never', {})).toBe('process://nginx:1.27');
    expect(await r.ensureSandbox(pod())).toEqual({ ip: '127.0.0.1' });
  });

  it('refuses a container without a command, and a command that is not there', async () => {
    const r = runtime();
    const p = pod();
    const err = await r.startContainer(p, container({ args: ['x'] })).catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.reason).toBe('CreateContainerConfigError');
    expect(err.message).toMatch(/process runtime needs a command/);
    const missing = await r.startContainer(p, container({ command: ['no-such-program-skiff'] })).catch((e) => e);
    expect(missing.reason).toBe('RunContainerError');
    expect(await r.listContainers(p.uid)).toEqual([]);
  });

  it('runs the program with its env, working dir and mounts, and reports its exit code', async () => {
    const r = runtime();
    const p = pod();
    const out = path.join(volume, 'run1');
    await fs.mkdir(out);
    const script = [
      `const fs = require('fs');`,
      `const root = process.env.SKIFF_ROOT;`,
      `fs.writeFileSync(root + '/out/env.json', JSON.stringify(process.env));`,
      `fs.writeFileSync(root + '/out/cwd', process.cwd());`,
      `fs.writeFileSync(root + '/out/argv.json', JSON.stringify(process.argv.slice(1)));`,
      `console.log('hello from the container'); console.error('and stderr');`,
      `process.exit(3);`,
    ].join('\n');
    const info = await r.startContainer(
      p,
      container({
        command: [NODE, '-e'],
        args: [script, 'a b', ''],
        workingDir: '/app/work',
        env: [
          { name: 'GREETING', value: 'hi there' },
          { name: 'EMPTY', value: '' },
        ],
        mounts: [{ hostPath: out, containerPath: '/out', readOnly: false }],
        attempt: 2,
      }),
    );
    expect(info).toMatchObject({ podUid: p.uid, name: 'main', attempt: 2, init: false, state: 'running', image: 'example/app:1', imageID: 'process://example/app:1' });
    expect(info.id).toMatch(/^process:\/\/[0-9a-f]{32}$/);
    const done = await exited(r, info.id);
    expect(done).toMatchObject({ state: 'exited', exitCode: 3, reason: 'Error' });
    expect(Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.startedAt!) - 1000);

    const root = r.rootPath(info.id);
    const env = JSON.parse(await fs.readFile(path.join(out, 'env.json'), 'utf8'));
    // Exactly the container's env plus PATH, HOSTNAME and SKIFF_ROOT: the wrapper adds nothing.
    expect(Object.keys(env).sort()).toEqual(['EMPTY', 'GREETING', 'HOSTNAME', 'PATH', 'SKIFF_ROOT']);
    expect(env).toMatchObject({ GREETING: 'hi there', EMPTY: '', HOSTNAME: 'web-0', PATH: process.env.PATH, SKIFF_ROOT: root });
    expect(await fs.readFile(path.join(out, 'cwd'), 'utf8')).toBe(path.join(root, 'app/work'));
    expect(JSON.parse(await fs.readFile(path.join(out, 'argv.json'), 'utf8'))).toEqual(['a b', '']);
    expect(await fs.readlink(path.join(root, 'out'))).toBe(out);
    const log = await fs.readFile(r.logPath(info.id), 'utf8');
    expect(log).toContain('hello from the container');
    expect(log).toContain('and stderr');

    const ok = await r.startContainer(p, container({ name: 'ok', command: ['sh', '-c', 'exit 0'] }));
    expect(await exited(r, ok.id)).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect((await r.listContainers(p.uid)).map((c) => c.name).sort()).toEqual(['main', 'ok']);

    await r.removeContainer(info.id);
    expect(existsSync(path.dirname(r.logPath(info.id)))).toBe(false);
    expect((await r.listContainers(p.uid)).map((c) => c.name)).toEqual(['ok']);
  });

  it('keeps PATH when the container sets one, and runs a builtin-named command as the program', async () => {
    const r = runtime();
    const p = pod();
    const out = path.join(volume, 'run2');
    await fs.mkdir(out);
    const info = await r.startContainer(
      p,
      container({
        command: ['sh', '-c', 'echo "$PATH|$HOSTNAME|$PWD" > "$SKIFF_ROOT/out/vars"; echo -n x > "$SKIFF_ROOT/out/n"'],
        env: [
          { name: 'PATH', value: '/usr/bin:/bin' },
          { name: 'HOSTNAME', value: 'mine' },
        ],
        mounts: [{ hostPath: out, containerPath: '/out', readOnly: false }],
      }),
    );
    expect(await exited(r, info.id)).toMatchObject({ exitCode: 0 });
    // sh itself sets PWD for its own children; HOSTNAME from the container wins.
    expect(await fs.readFile(path.join(out, 'vars'), 'utf8')).toBe(`/usr/bin:/bin|mine|${r.rootPath(info.id)}\n`);
    const echo = await r.startContainer(p, container({ name: 'echo', command: ['echo'], args: ['-n', 'plain'] }));
    await exited(r, echo.id);
    expect(await fs.readFile(r.logPath(echo.id), 'utf8')).toBe('plain');
  });

  it('delivers SIGTERM to the program on stop', async () => {
    const r = runtime();
    const p = pod();
    const out = path.join(volume, 'term');
    await fs.mkdir(out);
    const info = await r.startContainer(
      p,
      container({
        command: ['sh', '-c', 'trap "echo term > $SKIFF_ROOT/out/sig; exit 0" TERM; echo up > $SKIFF_ROOT/out/up; while :; do sleep 0.1; done'],
        mounts: [{ hostPath: out, containerPath: '/out', readOnly: false }],
      }),
    );
    await waitFor(async () => (existsSync(path.join(out, 'up')) ? true : undefined));
    const t0 = Date.now();
    await r.stopContainer(info.id, 10);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await fs.readFile(path.join(out, 'sig'), 'utf8')).toBe('term\n');
    expect((await r.listContainers(p.uid))[0]).toMatchObject({ state: 'exited', exitCode: 0, reason: 'Completed' });
  });

  it('sends SIGKILL after the grace period to a program that ignores SIGTERM', async () => {
    const r = runtime();
    const p = pod();
    const out = path.join(volume, 'kill');
    await fs.mkdir(out);
    const info = await r.startContainer(
      p,
      container({
        command: ['sh', '-c', 'trap "" TERM; echo up > $SKIFF_ROOT/out/up; while :; do sleep 0.1; done'],
        mounts: [{ hostPath: out, containerPath: '/out', readOnly: false }],
      }),
    );
    await waitFor(async () => (existsSync(path.join(out, 'up')) ? true : undefined));
    const t0 = Date.now();
    await r.stopContainer(info.id, 1);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(5000);
    expect((await r.listContainers(p.uid))[0]).toMatchObject({ state: 'exited', exitCode: 137, reason: 'Error' });
  });

  it('is re-adopted by a fresh runtime over the same data folder', async () => {
    const first = runtime();
    const p = pod();
    const long = await first.startContainer(p, container({ name: 'long', command: ['sleep', '300'] }));
    const quick = await first.startContainer(p, container({ name: 'quick', command: ['sh', '-c', 'sleep 0.5; exit 7'] }));
    // Not a shell-safe env name: no wrapper, so an exit nobody watched is unknown.
    const bare = await first.startContainer(p, container({ name: 'bare', command: ['sleep', '0.5'], env: [{ name: 'a.b', value: '1' }] }));
    await first.close();

    const second = runtime();
    const seen = await second.listContainers(p.uid);
    expect(seen.find((c) => c.id === long.id)).toMatchObject({ name: 'long', state: 'running', startedAt: long.startedAt });
    expect(await exited(second, quick.id)).toMatchObject({ exitCode: 7, reason: 'Error' });
    expect(await exited(second, bare.id)).toMatchObject({ exitCode: 137, reason: 'ContainerStatusUnknown' });

    const r = await second.exec(long.id, ['sh', '-c', 'echo in; exit 4'], 5);
    expect(r).toEqual({ exitCode: 4, output: 'in\n' });

    const t0 = Date.now();
    await second.stopContainer(long.id, 10);
    expect(Date.now() - t0).toBeLessThan(5000);
    // sleep dies of SIGTERM: 128 + 15, seen through the wrapper's status file.
    expect(await exited(second, long.id)).toMatchObject({ exitCode: 143, reason: 'Error' });
    // A third instance sees the same, recorded outcome.
    const third = runtime();
    expect((await third.listContainers(p.uid)).find((c) => c.id === long.id)).toMatchObject({ state: 'exited', exitCode: 143 });
    await third.removeSandbox(p.uid);
    expect(await third.listContainers(p.uid)).toEqual([]);
  });

  it('runs exec with the container env and working dir, truncates output and enforces the timeout', async () => {
    const r = runtime();
    const p = pod();
    const info = await r.startContainer(p, container({ command: ['sleep', '300'], workingDir: '/w', env: [{ name: 'FOO', value: 'bar' }] }));
    expect(await r.exec(info.id, ['sh', '-c', 'echo "$FOO $(pwd)"'], 5)).toEqual({ exitCode: 0, output: `bar ${path.join(r.rootPath(info.id), 'w')}\n` });
    expect((await r.exec(info.id, ['false'], 5)).exitCode).toBe(1);
    const big = await r.exec(info.id, ['sh', '-c', 'head -c 50000 /dev/zero | tr "\\0" a'], 5);
    expect(big.output.length).toBe(10 * 1024);
    const t0 = Date.now();
    const slow = await r.exec(info.id, ['sh', '-c', 'echo started; sleep 30'], 1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(slow.exitCode).toBe(137);
    expect(slow.output).toMatch(/started\ncommand timed out/);
    await r.removeSandbox(p.uid);
    const err = await r.exec(info.id, ['true'], 1).catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
  });

  const root = process.getuid?.() === 0;
  it.skipIf(!root)('applies a memory limit through cgroups and reports OOMKilled (root only)', async () => {
    const r = runtime();
    const p = pod();
    const info = await r.startContainer(
      p,
      container({
        command: [NODE, '-e', 'const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1));'],
        memoryLimitBytes: 96 * 1024 * 1024,
      }),
    );
    const done = await exited(r, info.id);
    const cgroups = (JSON.parse(await fs.readFile(path.join(path.dirname(r.logPath(info.id)), 'record.json'), 'utf8')) as { cgroups: string[] }).cgroups;
    if (cgroups.length === 0) {
      console.warn('no writable cgroup hierarchy: memory limits are not applied here');
      return;
    }
    expect(done).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    await r.removeContainer(info.id);
    for (const dir of cgroups) expect(existsSync(dir)).toBe(false);
  });
});
