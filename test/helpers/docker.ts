// Helpers for tests that need a real Docker Engine: whether one answers, a local registry on a
// loopback port (Debian's docker-registry), and test images made from Debian's busybox-static
// (no image comes from the internet). Everything a test makes is marked with its run's label
// and removed by cleanup().
//
//   const env = await startDockerTestEnv();       // in beforeAll
//   env.image                                      // 127.0.0.1:PORT/skiff-test/busybox:1, in the registry only
//   new DockerRuntime({ labels: env.labels })      // containers the cleanup will find
//   await env.cleanup();                           // in afterAll
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import { tarArchive, type TarEntry } from '../../src/agent/runtimes/docker-tar.js';
import { DockerRuntime } from '../../src/agent/runtimes/docker.js';
import { defaultDockerSocket } from '../../src/agent/runtimes/docker-socket.js';
import { freePort } from './free-port.js';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';
export const BUSYBOX_BINARY = '/bin/busybox';
/** The label every container made through a test's runtime carries (value: the run's id). */
export const TEST_LABEL = 'io.skiff.test';

let availability: Promise<boolean> | undefined;

/** Whether a Docker Engine answers on DOCKER_HOST's unix socket or /var/run/docker.sock. */
export function dockerAvailable(): Promise<boolean> {
  availability ??= DockerRuntime.available(defaultDockerSocket(), 3000);
  return availability;
}

export function dockerClient(): Docker {
  return new Docker({ socketPath: defaultDockerSocket() });
}

/** Reads an Engine API progress stream to its end; rejects on an error entry. Returns the messages. */
export function drainProgress(stream: NodeJS.ReadableStream): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const out: Record<string, unknown>[] = [];
    let buf = '';
    stream.on('data', (c: Buffer) => {
      buf += c.toString();
    });
    stream.on('error', reject);
    stream.on('end', () => {
      for (const line of buf.split('\n')) {
        if (!line.trim()) continue;
        try {
          out.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: ignore
        }
      }
      const failed = out.find((m) => m.error || m.errorDetail);
      if (failed) reject(new Error(String(failed.error ?? JSON.stringify(failed.errorDetail))));
      else resolve(out);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A local registry

export interface LocalRegistry {
  /** 127.0.0.1:PORT: image names start with it. Loopback registries are insecure-allowed by dockerd. */
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts docker-registry on a free loopback port, its config and storage in a temp dir. */
export async function startRegistry(): Promise<LocalRegistry> {
  if (!existsSync(REGISTRY_BINARY)) throw new Error(`${REGISTRY_BINARY} is missing (apt-get install docker-registry)`);
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-registry-'));
    const port = await freePort();
    mkdirSync(join(dir, 'data'));
    writeFileSync(
      join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log:',
        '  level: error',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        `  secret: ${randomBytes(16).toString('hex')}`,
        '',
      ].join('\n'),
    );
    const child: ChildProcess = spawn(REGISTRY_BINARY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const stop = async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return { host: `127.0.0.1:${port}`, port, stop };
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    lastError = new Error(`docker-registry did not start on 127.0.0.1:${port}: ${stderr.trim()}`);
    await stop();
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// Images

function isStaticElf(file: string): boolean {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

/** A root filesystem with a static busybox, a link for each of its applets in /bin, and /www/index.html. */
export function busyboxRootfs(extra: TarEntry[] = []): Uint8Array {
  if (!existsSync(BUSYBOX_BINARY) || !isStaticElf(BUSYBOX_BINARY)) {
    throw new Error(`${BUSYBOX_BINARY} is not a static busybox (apt-get install busybox-static)`);
  }
  const applets = execFileSync(BUSYBOX_BINARY, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((a) => a.trim())
    .filter((a) => a && a !== 'busybox' && !a.includes('/'));
  return tarArchive([
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', content: readFileSync(BUSYBOX_BINARY), mode: 0o755 },
    ...applets.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' },
    { type: 'file', path: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'www' },
    { type: 'file', path: 'www/index.html', content: 'hello from skiff\n' },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'sys' },
    { type: 'dir', path: 'dev' },
    ...extra,
  ]);
}

/** Imports a root filesystem as repo:tag (the Engine API's image create from source); returns the image id. */
export async function importImage(docker: Docker, rootfs: Uint8Array, name: string, changes: string[] = []): Promise<string> {
  const colon = name.lastIndexOf(':');
  const repo = name.slice(0, colon);
  const tag = name.slice(colon + 1);
  const stream = await docker.importImage(Readable.from([Buffer.from(rootfs)]), { repo, tag, changes });
  await drainProgress(stream);
  return (await docker.getImage(name).inspect()).Id;
}

/** Pushes a local image to its registry; returns the manifest digest. */
export async function pushImage(docker: Docker, name: string): Promise<string> {
  const host = name.slice(0, name.indexOf('/'));
  const stream = await docker.getImage(name).push({ authconfig: { serveraddress: host } });
  const messages = await drainProgress(stream);
  for (const m of messages) {
    const aux = m.aux as { Digest?: string } | undefined;
    if (aux?.Digest) return aux.Digest;
  }
  throw new Error(`push of ${name} reported no digest`);
}

export async function removeImage(docker: Docker, name: string): Promise<void> {
  await docker
    .getImage(name)
    .remove({ force: true })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
}

/** Removes every container (running or not) carrying label=value. */
export async function removeLabelledContainers(docker: Docker, label: string, value?: string): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [value === undefined ? label : `${label}=${value}`] } });
  for (const c of list) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404) throw err;
      });
  }
  return list.length;
}

/** A container's output so far (stdout and stderr together), from the json-file log. */
export async function containerLogs(docker: Docker, id: string): Promise<string> {
  const buf = (await docker.getContainer(id.replace(/^docker:\/\//, '')).logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(at + 4);
    parts.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// The usual setup

export interface DockerTestEnv {
  docker: Docker;
  registry: LocalRegistry;
  /** Unique per setup; the value of TEST_LABEL on this run's containers. */
  runId: string;
  /** Pass to `new DockerRuntime({ labels })` so cleanup() finds the containers. */
  labels: Record<string, string>;
  /** 127.0.0.1:PORT/skiff-test/busybox:1: pushed to the registry and not present locally (a first ensureImage pulls it). */
  image: string;
  /** Its manifest digest in the registry. */
  digest: string;
  /** Images to remove at cleanup (the test image is already listed). */
  images: Set<string>;
  cleanup(): Promise<void>;
}

export async function startDockerTestEnv(): Promise<DockerTestEnv> {
  const docker = dockerClient();
  const registry = await startRegistry();
  const runId = randomBytes(6).toString('hex');
  const image = `${registry.host}/skiff-test/busybox:1`;
  const images = new Set<string>([image]);
  const env: DockerTestEnv = {
    docker,
    registry,
    runId,
    labels: { [TEST_LABEL]: runId },
    image,
    digest: '',
    images,
    async cleanup() {
      await removeLabelledContainers(docker, TEST_LABEL, runId);
      for (const name of images) await removeImage(docker, name);
      // Images pulled by digest or left untagged from this registry.
      const left = await docker.listImages({ all: false });
      for (const i of left) {
        const names = [...(i.RepoTags ?? []), ...(i.RepoDigests ?? [])];
        if (names.some((n) => n.startsWith(`${registry.host}/`))) {
          await docker.getImage(i.Id).remove({ force: true }).catch(() => {});
        }
      }
      await registry.stop();
    },
  };
  try {
    await importImage(docker, busyboxRootfs(), image, ['CMD ["sh"]', 'ENV PATH=/bin']);
    env.digest = await pushImage(docker, image);
    await removeImage(docker, image);
  } catch (err) {
    await env.cleanup().catch(() => {});
    throw err;
  }
  return env;
}
