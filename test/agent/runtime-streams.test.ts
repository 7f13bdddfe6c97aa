// The runtime side of kubectl logs / exec / attach / top, against real runtimes: the process runtime
// (always), docker (where a daemon answers; `.ci/run npx vitest run test/agent/runtime-streams.test.ts`
// starts one) and the simulated one. Logs with tail, since, timestamps and follow, the previous run's log,
// limitBytes, kubelet's errors, exec with stdin and a terminal, attach, and usage of a busy container.
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, promises as fs, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeletError, podLogs } from '../../src/agent/container-logs.js';
import type { ContainerConfig, ExecSession, Runtime, SandboxConfig } from '../../src/agent/runtime.js';
import { DockerRuntime } from '../../src/agent/runtimes/docker.js';
import { ContainerLog } from '../../src/agent/runtimes/process-logs.js';
import { ProcessRuntime } from '../../src/agent/runtimes/process.js';
import { SimulatedRuntime } from '../../src/agent/runtimes/simulated.js';
import { UsageSampler } from '../../src/agent/usage.js';
import type { LogsHead } from '../../src/tunnel/head.js';
import { dockerAvailable, startDockerTestEnv, type DockerTestEnv } from '../helpers/docker.js';

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** All of a stream, as text. */
async function collect(stream: Readable | undefined): Promise<string> {
  if (!stream) return '';
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a stream as it comes; `until` waits for text matching, `text` is what came so far. */
function reader(stream: Readable) {
  let text = '';
  let ended = false;
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  stream.once('end', () => (ended = true));
  stream.once('close', () => (ended = true));
  return {
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
    until: (re: RegExp, ms = 10_000) => waitFor(`${re} in ${JSON.stringify(text)}`, () => re.test(text), ms),
    end: (ms = 10_000) => waitFor('the stream to end', () => ended, ms),
  };
}

async function logs(rt: Runtime, id: string, opts: Partial<Parameters<Runtime['logs']>[1]> = {}): Promise<string> {
  return collect(await rt.logs(id, { follow: false, timestamps: false, ...opts }));
}

/** Time of a timestamped line. */
function timeOf(line: string): Date {
  return new Date(line.slice(0, line.indexOf(' ')));
}

function head(p: SandboxConfig, container: string, extra: Partial<LogsHead> = {}): LogsHead {
  return { op: 'logs', namespace: p.namespace, pod: p.name, uid: p.uid, container, ...extra };
}

// ---------------------------------------------------------------------------------------------
// The process runtime

describe('process runtime streams', () => {
  let dataDir: string;
  let rt: ProcessRuntime;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'skiff-streams-'));
    rt = new ProcessRuntime({ dataDir, hostIP: '127.0.0.1', version: '9.9.9' });
  });

  afterAll(async () => {
    const r = new ProcessRuntime({ dataDir, hostIP: '127.0.0.1' });
    for (const c of await r.listContainers()) await r.removeContainer(c.id).catch(() => undefined);
    await r.close();
    await rt.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  function pod(): SandboxConfig {
    const uid = randomUUID();
    return { uid, namespace: 'default', name: `pod-${uid.slice(0, 5)}`, hostNetwork: false, hostname: 'web-0', registryAuths: {} };
  }

  function container(over: Partial<ContainerConfig>): ContainerConfig {
    return { name: 'main', image: 'example/app:1', imagePullPolicy: 'IfNotPresent', env: [], mounts: [], attempt: 0, init: false, ...over };
  }

  it('serves logs with tail, since, timestamps, and follow until the container exits', async () => {
    const p = pod();
    const script = 'echo one; echo two >&2; echo three; sleep 1; echo four; while [ ! -e "$SKIFF_ROOT/go" ]; do sleep 0.05; done; echo five; sleep 0.3; echo six';
    const info = await rt.startContainer(p, container({ command: ['sh', '-c', script] }));
    await waitFor('four', async () => (await logs(rt, info.id)).includes('four'));

    expect(await logs(rt, info.id)).toBe('one\ntwo\nthree\nfour\n');
    expect(await logs(rt, info.id, { tailLines: 2 })).toBe('three\nfour\n');
    expect(await logs(rt, info.id, { tailLines: 0 })).toBe('');
    const stamped = (await logs(rt, info.id, { timestamps: true })).split('\n').filter(Boolean);
    expect(stamped).toHaveLength(4);
    for (const line of stamped) expect(line).toMatch(TS);
    expect(stamped.map((l) => l.replace(TS, ''))).toEqual(['one', 'two', 'three', 'four']);
    const three = timeOf(stamped[2]);
    const four = timeOf(stamped[3]);
    expect(four.getTime() - three.getTime()).toBeGreaterThan(500);
    expect(Math.abs(four.getTime() - Date.now())).toBeLessThan(10_000);
    expect(await logs(rt, info.id, { sinceTime: new Date(three.getTime() + 400) })).toBe('four\n');
    expect(await logs(rt, info.id, { tailLines: 3, sinceTime: new Date(three.getTime() + 400) })).toBe('four\n');

    const follow = reader(await rt.logs(info.id, { follow: true, tailLines: 1, timestamps: false }));
    await follow.until(/^four\n$/);
    await fs.writeFile(path.join(rt.rootPath(info.id), 'go'), '');
    await follow.until(/five\n/);
    expect(follow.ended).toBe(false);
    await follow.end(); // the program exits after "six"
    expect(follow.text).toBe('four\nfive\nsix\n');
    await rt.removeSandbox(p.uid);
  });

  it("keeps the previous run's log, and serves the runs as kubelet picks them, with limitBytes and kubelet's errors", async () => {
    const p = pod();
    const spec = { spec: { containers: [{ name: 'main' }], restartPolicy: 'Always' }, status: {} };
    await expect(podLogs(rt, head(p, 'main'), spec)).rejects.toMatchObject({
      status: 400,
      reason: 'BadRequest',
      message: 'container "main" in pod "' + p.name + '" is waiting to start: ContainerCreating',
    });
    await expect(podLogs(rt, head(p, 'nope'), spec)).rejects.toMatchObject({ status: 404, reason: 'NotFound', message: `container "nope" not found in pod "${p.name}"` });
    const waiting = { ...spec, status: { containerStatuses: [{ name: 'main', state: { waiting: { reason: 'ImagePullBackOff' } } }] } };
    await expect(podLogs(rt, head(p, 'main'), waiting)).rejects.toThrow(`container "main" in pod "${p.name}" is waiting to start: trying and failing to pull image`);

    const first = await rt.startContainer(p, container({ command: ['sh', '-c', 'echo first run; exit 1'] }));
    await waitFor('the first run to exit', async () => (await rt.listContainers(p.uid)).find((c) => c.id === first.id && c.state === 'exited'));
    // Crash-looping (restartPolicy Always): the exited run is both the current log and the previous.
    expect(await collect(await podLogs(rt, head(p, 'main', { previous: true })))).toBe('first run\n');
    expect(await collect(await podLogs(rt, head(p, 'main'), spec))).toBe('first run\n');
    // restartPolicy Never: a terminated container has no previous run.
    await expect(podLogs(rt, head(p, 'main', { previous: true }), { spec: { containers: [{ name: 'main' }], restartPolicy: 'Never' } })).rejects.toThrow(
      `previous terminated container "main" in pod "${p.name}" not found`,
    );

    const second = await rt.startContainer(p, container({ command: ['sh', '-c', 'echo second run; exec sleep 30'], attempt: 1 }));
    await waitFor('the second run to log', async () => (await logs(rt, second.id)).includes('second'));
    expect(await collect(await podLogs(rt, head(p, 'main'), spec))).toBe('second run\n');
    expect(await collect(await podLogs(rt, head(p, 'main', { previous: true }), spec))).toBe('first run\n');
    expect(await collect(await podLogs(rt, head(p, 'main', { limitBytes: 4 }), spec))).toBe('seco');
    const stamped = await collect(await podLogs(rt, head(p, 'main', { timestamps: true, limitBytes: 10 })));
    expect(stamped).toHaveLength(10);
    // Following with a limit ends at the limit, though the container keeps running.
    expect(await collect(await podLogs(rt, head(p, 'main', { follow: true, limitBytes: 6 })))).toBe('second');
    const since = await collect(await podLogs(rt, head(p, 'main', { sinceTime: new Date(Date.now() + 60_000).toISOString() })));
    expect(since).toBe('');

    // Without the previous run (kubelet keeps one; this one is gone), and for a pod with no such run.
    await rt.removeContainer(first.id);
    const err = await podLogs(rt, head(p, 'main', { previous: true })).catch((e) => e);
    expect(err).toBeInstanceOf(KubeletError);
    expect(err).toMatchObject({ status: 400, message: `previous terminated container "main" in pod "${p.name}" not found` });
    await rt.removeSandbox(p.uid);
  });

  it('stamps output written while no agent watched, and keeps logging across an agent restart', async () => {
    const p = pod();
    const info = await rt.startContainer(p, container({ command: ['sh', '-c', 'i=0; while [ $i -lt 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done; exec sleep 30'] }));
    await rt.close(); // the agent goes away; the program keeps writing
    await sleep(600);
    const fresh = new ProcessRuntime({ dataDir, hostIP: '127.0.0.1' });
    try {
      expect((await fresh.listContainers(p.uid))[0]).toMatchObject({ id: info.id, state: 'running' });
      await waitFor('all lines', async () => (await logs(fresh, info.id)).includes('line 39'));
      const lines = (await logs(fresh, info.id, { timestamps: true })).split('\n').filter(Boolean);
      expect(lines.map((l) => l.replace(TS, ''))).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i}`));
      for (const l of lines) expect(l).toMatch(TS);
      const times = lines.map((l) => timeOf(l).getTime());
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1]);
      await fresh.removeSandbox(p.uid);
    } finally {
      await fresh.close();
    }
  });

  it('rotates at the size limit by copy-truncate, and a follower carries on across the rotation', async () => {
    const dir = await fs.mkdtemp(path.join(dataDir, 'rotate-'));
    const log = new ContainerLog(dir, { maxBytes: 1000, maxFiles: 3 });
    const fd = openSync(log.file, 'a'); // O_APPEND, as the program's
    try {
      const write = (text: string) => writeSync(fd, text);
      let n = 0;
      const batch = (count: number) => {
        for (let i = 0; i < count; i++) write(`${String(n++).padStart(4, '0')} ${'x'.repeat(44)}\n`); // 50 bytes a line
      };
      batch(10);
      let alive = true;
      const follow = reader(Readable.from(log.stream({ follow: true, timestamps: false }, async () => alive), { objectMode: false }));
      await follow.until(/0009 x+\n$/);
      batch(25); // past 1000 bytes: the next update rotates
      await log.update();
      expect(existsSync(log.rotated(1))).toBe(true);
      expect((await fs.stat(log.file)).size).toBe(0);
      batch(5);
      await follow.until(/0039 x+\n$/);
      // Two rotations before the follower looks again: it reads the rest of log.2, then log.1.
      for (let round = 0; round < 2; round++) {
        batch(25);
        await log.update();
      }
      await follow.until(/0089 x+\n$/);
      batch(25);
      await log.update();
      expect(existsSync(log.rotated(2))).toBe(true);
      expect(existsSync(log.rotated(3))).toBe(false); // maxFiles 3: log, log.1, log.2
      batch(1);
      alive = false;
      await follow.end();
      const seen = follow.text.split('\n').filter(Boolean).map((l) => Number(l.slice(0, 4)));
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
    } finally {
      closeSync(fd);
    }
  });

  it('execs with stdin piped, stdout and stderr apart, and the exit code', async () => {
    const p = pod();
    const info = await rt.startContainer(p, container({ command: ['sleep', '30'], env: [{ name: 'GREETING', value: 'hi' }] }));
    const cat = await rt.execStream(info.id, ['cat'], { stdin: true, tty: false });
    const out = collect(cat.stdout);
    cat.stdin!.write('hello\n');
    cat.stdin!.end('world\n');
    expect(await out).toBe('hello\nworld\n');
    expect(await cat.exit).toBe(0);

    const sh = await rt.execStream(info.id, ['sh', '-c', 'echo "out $GREETING"; echo err >&2; exit 3'], { stdin: false, tty: false });
    expect(sh.stdin).toBeUndefined();
    const [o, e] = await Promise.all([collect(sh.stdout), collect(sh.stderr)]);
    expect(o).toBe('out hi\n');
    expect(e).toBe('err\n');
    expect(await sh.exit).toBe(3);

    const missing = await rt.execStream(info.id, ['no-such-command-skiff'], { stdin: false, tty: false });
    expect(await collect(missing.stderr)).toMatch(/executable file not found/);
    expect(await missing.exit).toBe(127);

    const long = await rt.execStream(info.id, ['sleep', '30'], { stdin: false, tty: false });
    const t0 = Date.now();
    long.close();
    expect(await long.exit).toBe(137);
    expect(Date.now() - t0).toBeLessThan(3000);
    await rt.removeSandbox(p.uid);
  });

  it('execs with a terminal that resize sets the size of', async () => {
    const p = pod();
    const info = await rt.startContainer(p, container({ command: ['sleep', '30'] }));
    const t = await rt.execStream(info.id, ['sh', '-c', 'tty; sleep 0.5; stty size; echo err >&2; exit 4'], { stdin: false, tty: true });
    expect(t.stderr).toBeUndefined();
    t.resize(100, 40);
    const text = await collect(t.stdout);
    expect(text).toMatch(/^\/dev\/pts\/\d+\r\n/);
    expect(text).toContain('40 100\r\n');
    expect(text).toContain('err\r\n');
    expect(await t.exit).toBe(4);

    const shell = await rt.execStream(info.id, ['sh'], { stdin: true, tty: true });
    const r = reader(shell.stdout);
    shell.stdin!.write('echo typed-$((6*7))\n');
    await r.until(/typed-42/);
    shell.stdin!.write('exit 5\n');
    expect(await shell.exit).toBe(5);
    await rt.removeSandbox(p.uid);
  });

  it("attaches to a container's output and stdin (stdinOnce: EOF after the first attach)", async () => {
    const p = pod();
    const info = await rt.startContainer(
      p,
      container({ command: ['sh', '-c', 'echo ready; while read line; do echo "got $line"; done; echo bye; exit 7'], stdin: true, stdinOnce: true }),
    );
    await waitFor('ready', async () => (await logs(rt, info.id)).includes('ready'));
    const a = await rt.attach(info.id, { stdin: true, tty: false });
    const out = reader(a.stdout);
    expect(await collect(a.stderr)).toBe('');
    a.stdin!.write('hi\n');
    await out.until(/got hi\n/);
    expect(out.text).toBe('got hi\n'); // from now on: not "ready"
    a.stdin!.end();
    expect(await a.exit).toBe(7);
    await out.end();
    expect(out.text).toBe('got hi\nbye\n');
    expect(await logs(rt, info.id)).toBe('ready\ngot hi\nbye\n');

    // Without stdinOnce the program never reads EOF: sessions come and go.
    const keep = await rt.startContainer(p, container({ name: 'keep', command: ['sh', '-c', 'while read line; do echo "got $line"; done; echo eof'], stdin: true }));
    for (const word of ['a', 'b']) {
      const s = await rt.attach(keep.id, { stdin: true, tty: false });
      const r = reader(s.stdout);
      s.stdin!.end(`${word}\n`);
      await r.until(new RegExp(`got ${word}\n`));
      s.close();
    }
    await sleep(300);
    expect(await logs(rt, keep.id)).toBe('got a\ngot b\n');

    const plain = await rt.startContainer(p, container({ name: 'plain', command: ['sleep', '30'] }));
    await expect(rt.attach(plain.id, { stdin: true, tty: false })).rejects.toThrow(/not started with stdin/);
    const watch = await rt.attach(plain.id, { stdin: false, tty: false });
    await rt.stopContainer(plain.id, 5);
    expect(await watch.exit).toBe(143);
    await rt.removeSandbox(p.uid);
  });

  it("reports a busy container's usage, and the sampler makes rates of it", async () => {
    const p = pod();
    const busy = await rt.startContainer(p, container({ command: ['sh', '-c', 'while :; do :; done'] }));
    const idle = await rt.startContainer(p, container({ name: 'idle', command: ['sleep', '30'] }));
    const sampler = new UsageSampler(rt, { firstWindowMs: 1000 });
    sampler.start();
    try {
      const stats = await sampler.stats([{ namespace: p.namespace, name: p.name, uid: p.uid }]);
      expect(stats.windowSeconds).toBeGreaterThan(0.9);
      expect(stats.node.cpuNanoCores).toBeGreaterThan(1e8);
      expect(stats.node.memoryBytes).toBeGreaterThan(0);
      const [podStats] = stats.pods;
      expect(podStats).toMatchObject({ namespace: p.namespace, name: p.name, uid: p.uid });
      const byName = Object.fromEntries(podStats.containers.map((c) => [c.name, c]));
      expect(byName.main.cpuNanoCores).toBeGreaterThan(2e8); // a spinning shell: up to a core
      expect(byName.main.memoryBytes).toBeGreaterThan(0);
      expect(byName.idle.cpuNanoCores).toBeLessThan(1e8);
      const usage = await rt.usage();
      expect(usage.find((u) => u.id === busy.id)!.cpuNanoSeconds).toBeGreaterThan(2e8);
      expect(usage.find((u) => u.id === idle.id)!.memoryBytes).toBeGreaterThan(0);
    } finally {
      sampler.stop();
      await rt.removeSandbox(p.uid);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The simulated runtime

describe('simulated runtime streams', () => {
  const p: SandboxConfig = { uid: randomUUID(), namespace: 'default', name: 'sim', hostNetwork: false, hostname: 'sim', registryAuths: {} };
  const c = (over: Partial<ContainerConfig> = {}): ContainerConfig => ({ name: 'main', image: 'x', imagePullPolicy: 'IfNotPresent', env: [], mounts: [], attempt: 0, init: false, ...over });

  it('logs its own lines, with tail, since and timestamps, and follows until the container stops', async () => {
    const rt = new SimulatedRuntime({ startDelayMs: 0 });
    const info = await rt.startContainer(p, c());
    expect(await logs(rt, info.id)).toBe('simulated container main started\n');
    expect(await logs(rt, info.id, { tailLines: 0 })).toBe('');
    const stamped = await logs(rt, info.id, { timestamps: true });
    expect(stamped).toMatch(TS);
    expect(Math.abs(timeOf(stamped).getTime() - Date.parse(info.startedAt!))).toBeLessThan(1000);
    expect(await logs(rt, info.id, { sinceTime: new Date(Date.now() + 1000) })).toBe('');
    const follow = reader(await rt.logs(info.id, { follow: true, timestamps: false }));
    await follow.until(/started\n$/);
    await sleep(50);
    expect(follow.ended).toBe(false);
    await rt.stopContainer(info.id);
    await follow.end();
    expect(follow.text).toBe('simulated container main started\nsimulated container main stopped\n');
    // The previous run's log, through podLogs.
    await rt.startContainer(p, c({ attempt: 1 }));
    expect(await collect(await podLogs(rt, head(p, 'main', { previous: true })))).toBe('simulated container main started\nsimulated container main stopped\n');
    expect(await collect(await podLogs(rt, head(p, 'main', { limitBytes: 9 })))).toBe('simulated');
    await rt.removeSandbox(p.uid);
  });

  it('runs its built-in commands in exec, and nothing else', async () => {
    const rt = new SimulatedRuntime({ startDelayMs: 0 });
    const info = await rt.startContainer(p, c());
    const run = async (command: string[], stdin?: string, tty = false) => {
      const s: ExecSession = await rt.execStream(info.id, command, { stdin: stdin !== undefined, tty });
      if (stdin !== undefined) s.stdin!.end(stdin);
      const [out, err] = await Promise.all([collect(s.stdout), collect(s.stderr)]);
      return { out, err, code: await s.exit };
    };
    expect(await run(['echo', 'hello', 'world'])).toEqual({ out: 'hello world\n', err: '', code: 0 });
    expect(await run(['cat'], 'piped\n')).toEqual({ out: 'piped\n', err: '', code: 0 });
    expect(await run(['sh', '-c', 'exit 3'])).toEqual({ out: '', err: '', code: 3 });
    expect(await run(['sh', '-c', "echo 'a  b' c"])).toEqual({ out: 'a  b c\n', err: '', code: 0 });
    expect(await run(['exit', '4'])).toMatchObject({ code: 4 });
    expect(await run(['true'])).toMatchObject({ code: 0 });
    expect(await run(['false'])).toMatchObject({ code: 1 });
    expect(await run(['ls', '-l'])).toEqual({ out: '', err: 'simulated runtime: cannot run "ls -l"\n', code: 126 });
    expect(await run(['sh', '-c', 'echo a; exit 2'])).toMatchObject({ code: 126 });
    expect(await run(['echo', 'tty'], undefined, true)).toEqual({ out: 'tty\r\n', err: '', code: 0 });
    await rt.stopContainer(info.id);
    await expect(rt.execStream(info.id, ['true'], { stdin: false, tty: false })).rejects.toThrow(/not running/);
  });

  it('attaches: nothing comes out until the container stops, then its exit code', async () => {
    const rt = new SimulatedRuntime({ startDelayMs: 0 });
    const info = await rt.startContainer(p, c());
    const a = await rt.attach(info.id, { stdin: true, tty: false });
    a.stdin!.write('ignored\n');
    const out = reader(a.stdout);
    let code: number | undefined;
    void a.exit.then((n) => (code = n));
    await sleep(50);
    expect(out.text).toBe('');
    expect(code).toBeUndefined();
    await rt.stopContainer(info.id);
    expect(await a.exit).toBe(0);
    await out.end();
    expect(out.text).toBe('');
  });

  it('reports deterministic usage: the CPU limit (or 1m) and 4 MiB, for the node too', async () => {
    const rt = new SimulatedRuntime({ startDelayMs: 0 });
    const q: SandboxConfig = { ...p, uid: randomUUID() };
    await rt.startContainer(q, c({ cpuLimitMillis: 250 }));
    await rt.startContainer(q, c({ name: 'small' }));
    const sampler = new UsageSampler(rt, { firstWindowMs: 300 });
    sampler.start();
    const stats = await sampler.stats([{ namespace: q.namespace, name: q.name, uid: q.uid }]);
    sampler.stop();
    const byName = Object.fromEntries(stats.pods[0].containers.map((x) => [x.name, x]));
    expect(byName.main.cpuNanoCores / 250e6).toBeCloseTo(1, 1);
    expect(byName.small.cpuNanoCores / 1e6).toBeCloseTo(1, 1);
    expect(byName.main.memoryBytes).toBe(4 * 1024 * 1024);
    // The node: its own 5m and 32 MiB plus its containers', not the host's.
    expect(stats.node.cpuNanoCores / 256e6).toBeCloseTo(1, 1);
    expect(stats.node.memoryBytes).toBe(40 * 1024 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------
// Docker

const docker = await dockerAvailable();
if (!docker) {
  console.warn(
    'runtime-streams docker tests skipped: no Docker Engine answers on ' +
      (process.env.DOCKER_HOST ?? '/var/run/docker.sock') +
      ' (`.ci/run npx vitest run test/agent/runtime-streams.test.ts` starts one)',
  );
}

describe.skipIf(!docker)('docker runtime streams', () => {
  let env: DockerTestEnv;
  let rt: DockerRuntime;
  const p: SandboxConfig = { uid: randomUUID(), namespace: 'skiff-test', name: 'streams', hostNetwork: false, hostname: 'streams', registryAuths: {} };
  const c = (over: Partial<ContainerConfig>): ContainerConfig => ({ name: 'main', image: env.image, imagePullPolicy: 'IfNotPresent', env: [], mounts: [], attempt: 0, init: false, ...over });

  beforeAll(async () => {
    env = await startDockerTestEnv();
    rt = new DockerRuntime({ labels: env.labels });
    await rt.ensureImage(env.image, 'IfNotPresent', {});
    await rt.ensureSandbox(p);
  });

  afterAll(async () => {
    await rt?.removeSandbox(p.uid).catch(() => undefined);
    await rt?.close();
    await env?.cleanup();
  });

  it('serves logs with tail, since, timestamps and follow, from a json-file log with rotation set', async () => {
    const info = await rt.startContainer(
      p,
      c({ name: 'logger', command: ['sh', '-c', 'echo one; echo two >&2; echo three; sleep 1; echo four; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo five; sleep 0.3'] }),
    );
    const inspect = await env.docker.getContainer(info.id.replace('docker://', '')).inspect();
    expect(inspect.HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } });
    await waitFor('four', async () => (await logs(rt, info.id)).includes('four'));
    expect((await logs(rt, info.id)).split('\n').filter(Boolean).sort()).toEqual(['four', 'one', 'three', 'two']);
    expect(await logs(rt, info.id, { tailLines: 1 })).toBe('four\n');
    const stamped = (await logs(rt, info.id, { timestamps: true })).split('\n').filter(Boolean);
    for (const l of stamped) expect(l).toMatch(TS);
    const four = stamped.find((l) => l.endsWith(' four'))!;
    expect(await logs(rt, info.id, { sinceTime: new Date(timeOf(four).getTime() - 300) })).toBe('four\n');
    const follow = reader(await rt.logs(info.id, { follow: true, tailLines: 1, timestamps: false }));
    await follow.until(/^four\n$/);
    const go = await rt.execStream(info.id, ['touch', '/tmp/go'], { stdin: false, tty: false });
    expect(await go.exit).toBe(0);
    await follow.until(/five\n/);
    await follow.end(); // the container exits
    expect(follow.text).toBe('four\nfive\n');
  });

  it('execs with stdin, stdout and stderr apart, exit codes, and a terminal', async () => {
    const info = await rt.startContainer(p, c({ name: 'sleeper', command: ['sleep', '60'] }));
    const cat = await rt.execStream(info.id, ['cat'], { stdin: true, tty: false });
    const out = collect(cat.stdout);
    cat.stdin!.end('hello\n');
    expect(await out).toBe('hello\n');
    expect(await cat.exit).toBe(0);

    const sh = await rt.execStream(info.id, ['sh', '-c', 'echo out; echo err >&2; exit 3'], { stdin: false, tty: false });
    const [o, e] = await Promise.all([collect(sh.stdout), collect(sh.stderr)]);
    expect([o, e]).toEqual(['out\n', 'err\n']);
    expect(await sh.exit).toBe(3);

    const t = await rt.execStream(info.id, ['sh', '-c', 'sleep 0.5; stty size; exit 4'], { stdin: false, tty: true });
    expect(t.stderr).toBeUndefined();
    t.resize(100, 40);
    expect(await collect(t.stdout)).toContain('40 100');
    expect(await t.exit).toBe(4);
    await rt.removeContainer(info.id);
  });

  it('attaches to a container created with stdin (stdinOnce closes it after the first attach)', async () => {
    const info = await rt.startContainer(
      p,
      c({ name: 'reader', command: ['sh', '-c', 'echo ready; while read line; do echo "got $line"; done; echo bye; exit 7'], stdin: true, stdinOnce: true }),
    );
    await waitFor('ready', async () => (await logs(rt, info.id)).includes('ready'));
    const a = await rt.attach(info.id, { stdin: true, tty: false });
    const out = reader(a.stdout);
    a.stdin!.write('hi\n');
    await out.until(/got hi\n/);
    a.stdin!.end();
    expect(await a.exit).toBe(7);
    await out.end();
    expect(out.text).toBe('got hi\nbye\n');

    const plain = await rt.startContainer(p, c({ name: 'plain', command: ['sleep', '60'] }));
    await expect(rt.attach(plain.id, { stdin: true, tty: false })).rejects.toThrow(/not created with stdin/);
    await rt.removeContainer(plain.id);
  });

  it("reports a busy container's CPU and working set", async () => {
    const busy = await rt.startContainer(p, c({ name: 'busy', command: ['sh', '-c', 'while :; do :; done'] }));
    const first = (await rt.usage()).find((u) => u.id === busy.id);
    await sleep(1000);
    const second = (await rt.usage()).find((u) => u.id === busy.id);
    expect(first).toBeDefined();
    expect(second!.cpuNanoSeconds - first!.cpuNanoSeconds).toBeGreaterThan(2e8);
    expect(second!.memoryBytes).toBeGreaterThan(0);
    await rt.removeContainer(busy.id);
  });
});
