// The Docker runtime: pods as containers of a Docker Engine (or Podman's Docker-compatible
// service), through the Engine API on its unix socket. Like kubelet's dockershim: one pause
// container per pod holds the network namespace (the sandbox) and the pod's containers join it,
// so they share localhost and the sandbox's address is the pod's IP: on the node's pod network (a
// Docker network whose subnet is the node's podCIDR, docker-network.ts) once the node has a podCIDR,
// else on Docker's default bridge.
// Everything the agent needs to find its containers again after a restart is in their labels.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { PassThrough, Readable, Writable, type Duplex } from 'node:stream';
import Docker from 'dockerode';
import {
  RuntimeError,
  type ContainerConfig,
  type ContainerInfo,
  type ContainerUsage,
  type ExecResult,
  type ExecSession,
  type LogOptions,
  type Runtime,
  type Sandbox,
  type SandboxConfig,
} from '../runtime.js';
import { demux } from './docker-mux.js';
import { DockerPodNetwork } from './docker-network.js';
import { defaultDockerSocket, dockerAnswers } from './docker-socket.js';
import { cgroupDirsOf, cgroupUsage } from './proc-usage.js';
import { PAUSE_IMAGE, PAUSE_IMAGE_CHANGES, PAUSE_IMAGE_REPO, PAUSE_IMAGE_VERSION, pauseImageTar } from './pause-image.js';

// Kubernetes' own labels (kubelet's dockershim used the same), then skiff's.
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';
/** 'podsandbox' or 'container', as dockershim labelled them. */
export const LABEL_TYPE = 'io.kubernetes.docker.type';
export const LABEL_MANAGED = 'io.skiff.managed';
export const LABEL_ATTEMPT = 'io.skiff.container.attempt';
export const LABEL_INIT = 'io.skiff.container.init';
export const LABEL_IMAGE_ID = 'io.skiff.container.image-id';

const TYPE_SANDBOX = 'podsandbox';
const TYPE_CONTAINER = 'container';
const ID_PREFIX = 'docker://';
const EXEC_OUTPUT_LIMIT = 10 * 1024;
/** kubelet's containerLogMaxSize and containerLogMaxFiles defaults, as json-file options. */
const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } };

export interface DockerRuntimeOptions {
  /** The Engine API's unix socket; default from DOCKER_HOST (unix://) or /var/run/docker.sock. */
  socketPath?: string;
  /** The node's address, the IP of hostNetwork pods; default: the first non-internal IPv4 of the host. */
  nodeIP?: string;
  /** Extra labels put on every container and sandbox (tests mark theirs to clean up). */
  labels?: Record<string, string>;
  /** The node's spec.podCIDR (IPv4): pods get their addresses from it, on a Docker network of the node's. */
  podCIDR?: string;
  /** That network's Linux bridge (and Docker network) name: bridgeFor(podCIDR) in agent.ts; default skiff0. */
  bridge?: string;
}

function bareId(id: string): string {
  return id.startsWith(ID_PREFIX) ? id.slice(ID_PREFIX.length) : id;
}

/** The Engine API's message for a failed call (dockerode puts the daemon's JSON body on err.json). */
function daemonMessage(err: unknown): string {
  const e = err as { json?: unknown; reason?: string; message?: string; statusCode?: number };
  if (e && typeof e.json === 'object' && e.json && typeof (e.json as { message?: unknown }).message === 'string') {
    return (e.json as { message: string }).message;
  }
  if (e && typeof e.json === 'string' && e.json.trim()) {
    try {
      const parsed = JSON.parse(e.json) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return e.json.trim();
    }
  }
  return e?.message ?? String(err);
}

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number })?.statusCode;
}

/** Reads a stream of newline-delimited JSON progress messages; rejects on an `error` entry. */
function readProgress(stream: NodeJS.ReadableStream): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const messages: Record<string, unknown>[] = [];
    let buf = '';
    let failed: Error | undefined;
    const line = (text: string) => {
      const trimmed = text.trim();
      if (!trimmed) return;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(trimmed) as Record<string, unknown>;
      } catch {
        return;
      }
      messages.push(msg);
      if (!failed && (msg.error || msg.errorDetail)) {
        const detail = msg.errorDetail as { message?: string } | undefined;
        failed = new Error(String(msg.error ?? detail?.message ?? 'unknown error'));
      }
    };
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    stream.on('error', reject);
    stream.on('end', () => {
      line(buf);
      if (failed) reject(failed);
      else resolve(messages);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Image references and registry credentials

export interface ImageRef {
  /** Registry host as Docker normalizes it: docker.io for Docker Hub. */
  registry: string;
  /** Repository path in the registry: library/busybox for Docker Hub's official images. */
  path: string;
  /** The name to pull (without tag or digest), as written. */
  name: string;
  tag?: string;
  digest?: string;
}

export function parseImageRef(image: string): ImageRef {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry: string;
  let path: string;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    path = rest.slice(slash + 1);
  } else {
    registry = 'docker.io';
    path = slash >= 0 ? rest : `library/${rest}`;
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  return { registry, path, name: rest, tag, digest };
}

function normalizeRegistryHost(host: string): string {
  const h = host.toLowerCase();
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.includes('*')) return pattern === host;
  // kubelet's glob: '*' stands for one DNS label.
  const [pHost, pPort] = pattern.split(':');
  const [hHost, hPort] = host.split(':');
  if (pPort !== hPort) return false;
  const p = pHost!.split('.');
  const h = hHost!.split('.');
  return p.length === h.length && p.every((part, i) => part === '*' || part === h[i]);
}

export interface DockerAuthConfig {
  username?: string;
  password?: string;
  serveraddress: string;
}

/**
 * The credentials from a dockerconfigjson `auths` map that apply to an image, as kubelet
 * matches them: the key's registry host (and path prefix, if any) against the image's; the
 * most specific key wins. `auth` (base64 user:password) is decoded, as the daemon wants
 * username and password.
 */
export function registryAuthFor(image: string, auths: SandboxConfig['registryAuths']): DockerAuthConfig | undefined {
  const ref = parseImageRef(image);
  let best: { score: number; entry: SandboxConfig['registryAuths'][string] } | undefined;
  for (const [key, entry] of Object.entries(auths ?? {})) {
    let k = key.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    k = k.replace(/\/v[12]$/, '');
    const slash = k.indexOf('/');
    const host = normalizeRegistryHost(slash >= 0 ? k.slice(0, slash) : k);
    const path = slash >= 0 ? k.slice(slash + 1) : '';
    if (!hostMatches(host, ref.registry)) continue;
    if (path && ref.path !== path && !ref.path.startsWith(`${path}/`)) continue;
    const score = (host.includes('*') ? 0 : 1000) + path.length + 1;
    if (!best || score > best.score) best = { score, entry };
  }
  if (!best) return undefined;
  let { username, password } = best.entry;
  if ((username === undefined || password === undefined) && best.entry.auth) {
    const decoded = Buffer.from(best.entry.auth, 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    if (sep >= 0) {
      username ??= decoded.slice(0, sep);
      password ??= decoded.slice(sep + 1);
    }
  }
  const serveraddress = ref.registry === 'docker.io' ? 'https://index.docker.io/v1/' : ref.registry;
  return { username, password, serveraddress };
}

/** kubelet's imageID for an image: docker-pullable://repo@sha256:... when a RepoDigest exists, else docker://<image id>. */
export function imageIdOf(info: { Id: string; RepoDigests?: string[] }, image: string): string {
  const digests = info.RepoDigests ?? [];
  if (digests.length === 0) return `${ID_PREFIX}${info.Id}`;
  const ref = parseImageRef(image);
  const same = digests.find((d) => {
    const r = parseImageRef(d);
    return r.registry === ref.registry && r.path === ref.path;
  });
  return `docker-pullable://${same ?? digests[0]}`;
}

/** The node's address for hostNetwork pods: the first non-internal IPv4 not on a container bridge. */
export function defaultNodeIP(): string {
  const skip = /^(docker|br-|veth|cni|flannel|podman|virbr|lo)/;
  let fallback: string | undefined;
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      if (!skip.test(name)) return a.address;
      fallback ??= a.address;
    }
  }
  return fallback ?? '127.0.0.1';
}

/** RFC 3339 to the second, as Kubernetes writes times; undefined for Docker's zero time. */
function k8sTime(t: string | undefined): string | undefined {
  if (!t || t.startsWith('0001-01-01')) return undefined;
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return undefined;
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function dockerName(part: string): string {
  return part.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

// ---------------------------------------------------------------------------------------------

export class DockerRuntime implements Runtime {
  readonly name = 'docker' as const;
  readonly podNetwork = true;
  readonly socketPath: string;
  private readonly docker: Docker;
  private readonly nodeIP: string | undefined;
  private readonly extraLabels: Record<string, string>;
  private pauseImage?: Promise<void>;
  /** Containers this runtime asked to stop (a SIGKILL after the grace period is then no OOM kill). */
  private readonly stopRequested = new Set<string>();
  /** Decided OOM kills the daemon did not flag (see oomKilledUnflagged). */
  private readonly oomDecided = new Map<string, boolean>();
  private readonly sandboxOps = new Map<string, Promise<Sandbox>>();
  /** The node's pod network, when it has an (IPv4) podCIDR; else pods sit on Docker's default bridge. */
  readonly network?: DockerPodNetwork;

  constructor(options: DockerRuntimeOptions = {}) {
    this.socketPath = options.socketPath ?? defaultDockerSocket();
    this.docker = new Docker({ socketPath: this.socketPath });
    this.nodeIP = options.nodeIP;
    this.extraLabels = options.labels ?? {};
    if (options.podCIDR && !options.podCIDR.includes(':')) {
      this.network = new DockerPodNetwork({ docker: this.docker, podCIDR: options.podCIDR, bridge: options.bridge ?? 'skiff0', labels: this.extraLabels });
    }
  }

  /** Whether a daemon answers a ping on the socket within timeoutMs (for `--runtime auto`). */
  static available(socketPath?: string, timeoutMs?: number): Promise<boolean> {
    return dockerAnswers(socketPath, timeoutMs);
  }

  async version(): Promise<string> {
    const v = await this.docker.version();
    return `docker://${v.Version}`;
  }

  async close(): Promise<void> {
    // dockerode opens a connection per request; nothing stays open.
  }

  /** The node is the pods' gateway: the podCIDR's first host on the node's network, else docker0's address. */
  async podGateway(): Promise<string | undefined> {
    if (this.network) {
      await this.network.ensure();
      return this.network.gateway;
    }
    const net = (await this.docker.getNetwork('bridge').inspect()) as { IPAM?: { Config?: { Gateway?: string }[] } };
    return net.IPAM?.Config?.map((c) => c.Gateway).find((g): g is string => !!g && !g.includes(':'));
  }

  /**
   * Removes the node's pod network once no pod's sandbox is on it (the agent's pods are all gone);
   * returns whether it did (true without one).
   */
  async teardownNetwork(): Promise<boolean> {
    return this.network ? this.network.teardown() : true;
  }

  // -- sandboxes --------------------------------------------------------------------------------

  private async findSandboxes(podUid: string): Promise<Docker.ContainerInfo[]> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_POD_UID}=${podUid}`, `${LABEL_TYPE}=${TYPE_SANDBOX}`] },
    });
    // Running first, then newest.
    return list.sort((a, b) => Number(b.State === 'running') - Number(a.State === 'running') || b.Created - a.Created);
  }

  private async sandboxIP(id: string, hostNetwork: boolean): Promise<string> {
    if (hostNetwork) return this.nodeIP ?? defaultNodeIP();
    const info = await this.docker.getContainer(id).inspect();
    const own = this.network?.addressOf(info);
    if (own) return own;
    // A sandbox of before the node had a podCIDR, adopted: on Docker's default bridge.
    const settings = info.NetworkSettings as typeof info.NetworkSettings & { IPAddress?: string };
    if (settings.IPAddress) return settings.IPAddress;
    for (const net of Object.values(settings.Networks ?? {})) {
      if (net.IPAddress) return net.IPAddress;
    }
    throw new RuntimeError('CreatePodSandboxError', `pod sandbox ${id.slice(0, 12)} has no IP address`);
  }

  /** Imports skiff/pause:<version> from the program made in code, unless it is there. */
  private ensurePauseImage(): Promise<void> {
    this.pauseImage ??= (async () => {
      try {
        await this.docker.getImage(PAUSE_IMAGE).inspect();
        return;
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
      const { Arch } = await this.docker.version();
      const stream = await this.docker.importImage(Readable.from([Buffer.from(pauseImageTar(Arch))]), {
        repo: PAUSE_IMAGE_REPO,
        tag: PAUSE_IMAGE_VERSION,
        changes: PAUSE_IMAGE_CHANGES,
      });
      await readProgress(stream);
    })().catch((err) => {
      this.pauseImage = undefined;
      throw new RuntimeError('CreatePodSandboxError', `importing ${PAUSE_IMAGE}: ${daemonMessage(err)}`);
    });
    return this.pauseImage;
  }

  private podLabels(pod: SandboxConfig, containerName: string, type: string): Record<string, string> {
    return {
      ...this.extraLabels,
      [LABEL_MANAGED]: 'true',
      [LABEL_POD_UID]: pod.uid,
      [LABEL_POD_NAME]: pod.name,
      [LABEL_POD_NAMESPACE]: pod.namespace,
      [LABEL_CONTAINER_NAME]: containerName,
      [LABEL_TYPE]: type,
    };
  }

  async ensureSandbox(pod: SandboxConfig): Promise<Sandbox> {
    // One at a time per pod, so two callers cannot both create one.
    const previous = this.sandboxOps.get(pod.uid) ?? Promise.resolve();
    const op = previous.catch(() => {}).then(() => this.ensureSandboxNow(pod));
    this.sandboxOps.set(pod.uid, op);
    try {
      return await op;
    } finally {
      if (this.sandboxOps.get(pod.uid) === op) this.sandboxOps.delete(pod.uid);
    }
  }

  private async ensureSandboxNow(pod: SandboxConfig): Promise<Sandbox> {
    const existing = await this.findSandboxes(pod.uid);
    for (const s of existing) {
      try {
        if (s.State !== 'running') await this.docker.getContainer(s.Id).start();
        return { ip: await this.sandboxIP(s.Id, pod.hostNetwork) };
      } catch (err) {
        // Cannot be brought back: replace it.
        if (statusCode(err) === 304) return { ip: await this.sandboxIP(s.Id, pod.hostNetwork) };
        await this.docker.getContainer(s.Id).remove({ force: true }).catch(() => {});
      }
    }
    await this.ensurePauseImage();
    const networkMode = pod.hostNetwork ? 'host' : await this.sandboxNetwork();
    const name = `k8s_POD_${dockerName(pod.name)}_${dockerName(pod.namespace)}_${dockerName(pod.uid)}_0`;
    const create = () =>
      this.docker.createContainer({
        name,
        Image: PAUSE_IMAGE,
        Hostname: pod.hostNetwork ? undefined : pod.hostname,
        Labels: this.podLabels(pod, 'POD', TYPE_SANDBOX),
        HostConfig: {
          NetworkMode: networkMode,
          IpcMode: 'shareable',
          // The pod's resolv.conf: Docker writes the sandbox's from these, and the containers that join
          // its network namespace share that file.
          ...(pod.dns ? { Dns: pod.dns.servers, DnsSearch: pod.dns.searches, DnsOptions: pod.dns.options } : {}),
        },
      });
    let container: Docker.Container;
    try {
      container = await create();
    } catch (err) {
      if (statusCode(err) === 404 && this.network && !pod.hostNetwork) {
        // The pod network was removed under the agent (by hand): make it again.
        this.network.forget();
        await this.sandboxNetwork();
      } else if (statusCode(err) === 409) {
        // A sandbox by that name that the label search missed (created in a race): replace it.
        await this.docker.getContainer(name).remove({ force: true }).catch(() => {});
      } else {
        throw new RuntimeError('CreatePodSandboxError', daemonMessage(err));
      }
      container = await create().catch((e) => {
        throw new RuntimeError('CreatePodSandboxError', daemonMessage(e));
      });
    }
    try {
      await container.start();
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      throw new RuntimeError('CreatePodSandboxError', daemonMessage(err));
    }
    return { ip: await this.sandboxIP(container.id, pod.hostNetwork) };
  }

  /** The network a new sandbox joins: the node's pod network (made if need be), else Docker's default bridge. */
  private async sandboxNetwork(): Promise<string> {
    if (!this.network) return 'bridge';
    try {
      await this.network.ensure();
    } catch (err) {
      throw new RuntimeError('CreatePodSandboxError', `pod network ${this.network.name} (${this.network.podCIDR}): ${(err as Error).message}`);
    }
    return this.network.name;
  }

  async removeSandbox(podUid: string): Promise<void> {
    const all = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_POD_UID}=${podUid}`] } });
    // Containers first (they hold the sandbox's namespaces), then the sandbox.
    const ordered = [
      ...all.filter((c) => c.Labels[LABEL_TYPE] !== TYPE_SANDBOX),
      ...all.filter((c) => c.Labels[LABEL_TYPE] === TYPE_SANDBOX),
    ];
    for (const c of ordered) {
      try {
        await this.docker.getContainer(c.Id).remove({ force: true, v: true });
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
    }
  }

  // -- images -----------------------------------------------------------------------------------

  private async inspectImage(image: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.docker.getImage(image).inspect();
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  private async pull(image: string, auths: SandboxConfig['registryAuths']): Promise<void> {
    const ref = parseImageRef(image);
    const auth = registryAuthFor(image, auths);
    try {
      const stream = await this.docker.createImage(auth ?? {}, { fromImage: ref.name, tag: ref.digest ?? ref.tag ?? 'latest' });
      await readProgress(stream);
    } catch (err) {
      throw new RuntimeError('ErrImagePull', daemonMessage(err));
    }
  }

  async ensureImage(image: string, policy: ContainerConfig['imagePullPolicy'], auths: SandboxConfig['registryAuths']): Promise<string> {
    if (policy !== 'Always') {
      const present = await this.inspectImage(image);
      if (present) return imageIdOf(present, image);
      if (policy === 'Never') {
        throw new RuntimeError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
      }
    }
    await this.pull(image, auths);
    const pulled = await this.inspectImage(image);
    if (!pulled) throw new RuntimeError('ErrImagePull', `image "${image}" is not present after pulling it`);
    return imageIdOf(pulled, image);
  }

  // -- containers -------------------------------------------------------------------------------

  async startContainer(pod: SandboxConfig, c: ContainerConfig): Promise<ContainerInfo> {
    const sandbox = (await this.findSandboxes(pod.uid)).find((s) => s.State === 'running');
    if (!sandbox) throw new RuntimeError('CreateContainerError', `pod sandbox of ${pod.namespace}/${pod.name} is not running`);
    const image = await this.inspectImage(c.image);
    if (!image) throw new RuntimeError('CreateContainerError', `image "${c.image}" is not present`);
    const imageID = imageIdOf(image, c.image);

    const name = `k8s_${dockerName(c.name)}_${dockerName(pod.name)}_${dockerName(pod.namespace)}_${dockerName(pod.uid)}_${c.attempt}`;
    const hostConfig: Docker.HostConfig = {
      NetworkMode: `container:${sandbox.Id}`,
      IpcMode: `container:${sandbox.Id}`,
      Binds: c.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`),
      LogConfig: LOG_CONFIG,
    };
    if (c.memoryLimitBytes !== undefined && c.memoryLimitBytes > 0) {
      hostConfig.Memory = c.memoryLimitBytes;
      hostConfig.MemorySwap = c.memoryLimitBytes; // no swap, as kubelet
    }
    if (c.cpuLimitMillis !== undefined && c.cpuLimitMillis > 0) hostConfig.NanoCpus = c.cpuLimitMillis * 1_000_000;
    const options: Docker.ContainerCreateOptions = {
      name,
      Image: c.image,
      // Kubernetes: command replaces the image's ENTRYPOINT (and drops its CMD), args replace CMD.
      Entrypoint: c.command && c.command.length > 0 ? c.command : undefined,
      Cmd: c.args && c.args.length > 0 ? c.args : undefined,
      Env: c.env.map((e) => `${e.name}=${e.value}`),
      WorkingDir: c.workingDir || undefined,
      // For attach: a stdin to write to (closed after the first attach with stdinOnce), a terminal.
      OpenStdin: !!c.stdin,
      StdinOnce: !!c.stdin && !!c.stdinOnce,
      Tty: !!c.tty,
      Labels: {
        ...this.podLabels(pod, c.name, TYPE_CONTAINER),
        [LABEL_ATTEMPT]: String(c.attempt),
        [LABEL_INIT]: String(c.init),
        [LABEL_IMAGE_ID]: imageID,
      },
      HostConfig: hostConfig,
    };
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(options);
    } catch (err) {
      if (statusCode(err) !== 409) throw new RuntimeError('CreateContainerError', daemonMessage(err));
      // Left from a start the agent did not see through: the caller decides what runs, so replace it.
      await this.docker.getContainer(name).remove({ force: true }).catch(() => {});
      try {
        container = await this.docker.createContainer(options);
      } catch (e) {
        throw new RuntimeError('CreateContainerError', daemonMessage(e));
      }
    }
    try {
      await container.start();
    } catch (err) {
      // The container stays (created, with the daemon's error), as kubelet leaves it.
      throw new RuntimeError('RunContainerError', daemonMessage(err));
    }
    return this.describe(await container.inspect());
  }

  private describe(info: Docker.ContainerInspectInfo): ContainerInfo {
    const labels = info.Config.Labels ?? {};
    const s = info.State;
    let state: ContainerInfo['state'];
    if (s.Running || s.Status === 'running' || s.Status === 'paused' || s.Status === 'restarting') state = 'running';
    else if (s.Status === 'created' && !s.Error) state = 'created';
    else state = 'exited';
    const out: ContainerInfo = {
      id: `${ID_PREFIX}${info.Id}`,
      podUid: labels[LABEL_POD_UID] ?? '',
      name: labels[LABEL_CONTAINER_NAME] ?? info.Name.replace(/^\//, ''),
      attempt: Number(labels[LABEL_ATTEMPT] ?? 0),
      init: labels[LABEL_INIT] === 'true',
      state,
      startedAt: k8sTime(s.StartedAt),
      image: info.Config.Image,
      imageID: labels[LABEL_IMAGE_ID] ?? `${ID_PREFIX}${info.Image}`,
    };
    if (state === 'exited') {
      out.finishedAt = k8sTime(s.FinishedAt);
      if (s.Status === 'created') {
        // Never ran: the runtime could not start it (containerd's CRI reports StartError, 128).
        out.exitCode = s.ExitCode || 128;
        out.reason = 'StartError';
      } else {
        out.exitCode = s.ExitCode;
        out.reason = s.OOMKilled ? 'OOMKilled' : s.ExitCode === 0 ? 'Completed' : 'Error';
      }
      if (s.Error) out.message = s.Error;
    }
    return out;
  }

  async listContainers(podUid?: string): Promise<ContainerInfo[]> {
    const label = [`${LABEL_TYPE}=${TYPE_CONTAINER}`, `${LABEL_MANAGED}=true`];
    if (podUid !== undefined) label.push(`${LABEL_POD_UID}=${podUid}`);
    const list = await this.docker.listContainers({ all: true, filters: { label } });
    const infos = await Promise.all(
      list.map((c) =>
        this.docker
          .getContainer(c.Id)
          .inspect()
          .catch((err) => {
            if (statusCode(err) === 404) return undefined; // removed meanwhile
            throw err;
          }),
      ),
    );
    const found = infos.filter((i): i is Docker.ContainerInspectInfo => i !== undefined);
    return Promise.all(
      found.map(async (i) => {
        const info = this.describe(i);
        if (info.reason === 'Error' && info.exitCode === 137 && (await this.oomKilledUnflagged(i))) info.reason = 'OOMKilled';
        return info;
      }),
    );
  }

  /**
   * On cgroup v1 the kernel's OOM notification races the process's exit: now and then containerd
   * sees the exit first and reports no OOM, and Docker never sets State.OOMKilled. A container
   * with a memory limit that died of SIGKILL (137) that nobody sent, neither this runtime nor
   * anyone through the daemon (its `kill` events), was killed by the OOM killer.
   */
  private async oomKilledUnflagged(i: Docker.ContainerInspectInfo): Promise<boolean> {
    if (!(i.HostConfig.Memory && i.HostConfig.Memory > 0)) return false;
    if (this.stopRequested.has(i.Id)) return false;
    const known = this.oomDecided.get(i.Id);
    if (known !== undefined) return known;
    let killed = false;
    try {
      const since = Math.floor(new Date(i.Created).getTime() / 1000) - 1;
      const now = Date.now();
      const until = `${Math.floor(now / 1000)}.${String((now % 1000) * 1_000_000).padStart(9, '0')}`; // seconds.nanoseconds
      const stream = await this.docker.getEvents({
        since,
        until,
        filters: { type: ['container'], container: [i.Id], event: ['kill', 'oom'] },
      } as unknown as Docker.GetEventsOptions);
      const events = await readProgress(stream);
      const actions = events.map((e) => String(e.Action ?? e.status));
      killed = actions.includes('kill') && !actions.includes('oom');
    } catch {
      return false; // no events to go by: report what the daemon says
    }
    const oom = !killed;
    this.oomDecided.set(i.Id, oom);
    if (this.oomDecided.size > 1000) this.oomDecided.delete(this.oomDecided.keys().next().value!);
    return oom;
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    const t = Math.max(0, Math.ceil(graceSeconds));
    this.stopRequested.add(bareId(id));
    if (this.stopRequested.size > 1000) this.stopRequested.delete(this.stopRequested.values().next().value!);
    try {
      await this.docker.getContainer(bareId(id)).stop({ t });
    } catch (err) {
      const code = statusCode(err);
      if (code === 304 || code === 404) return; // already stopped, or gone
      throw new RuntimeError('StopContainerError', daemonMessage(err));
    }
  }

  async removeContainer(id: string): Promise<void> {
    this.stopRequested.delete(bareId(id));
    this.oomDecided.delete(bareId(id));
    try {
      await this.docker.getContainer(bareId(id)).remove({ force: true, v: true });
    } catch (err) {
      if (statusCode(err) !== 404) throw new RuntimeError('RemoveContainerError', daemonMessage(err));
    }
  }

  async exec(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult> {
    const container = this.docker.getContainer(bareId(id));
    let exec: Docker.Exec;
    let stream: NodeJS.ReadWriteStream;
    try {
      exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
      stream = await exec.start({ hijack: true, stdin: false, Detach: false, Tty: false });
    } catch (err) {
      throw new RuntimeError('ExecError', daemonMessage(err));
    }
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (b: Buffer) => {
      if (kept >= EXEC_OUTPUT_LIMIT) return;
      const part = b.subarray(0, EXEC_OUTPUT_LIMIT - kept);
      chunks.push(part);
      kept += part.length;
    };
    // Demultiplex Docker's framing: 8-byte header (stream, 0, 0, 0, size BE32), then the payload.
    let pending: Buffer = Buffer.alloc(0);
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        while (pending.length >= 8) {
          const size = pending.readUInt32BE(4);
          if (pending.length < 8 + size) break;
          keep(pending.subarray(8, 8 + size));
          pending = pending.subarray(8 + size);
        }
      });
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0.001, timeoutSeconds) * 1000);
    });
    try {
      const outcome = await Promise.race([done.then(() => 'done' as const), timeout]);
      if (outcome === 'timeout') {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        throw new RuntimeError('ExecTimeout', `command ${JSON.stringify(command)} timed out after ${timeoutSeconds}s`);
      }
    } finally {
      clearTimeout(timer);
    }
    // The stream ends as the process does; the exit code may lag a moment behind in inspect.
    let info = await exec.inspect();
    for (let i = 0; info.Running && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      info = await exec.inspect();
    }
    return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
  }

  // -- streams ----------------------------------------------------------------------------------

  private async inspectContainer(id: string): Promise<Docker.ContainerInspectInfo> {
    try {
      return await this.docker.getContainer(bareId(id)).inspect();
    } catch (err) {
      if (statusCode(err) === 404) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
      throw err;
    }
  }

  /**
   * The json-file log through the Engine API, stdout and stderr demultiplexed into one stream of plain
   * bytes (a container with a terminal has them merged already). With timestamps docker prefixes each
   * line with RFC 3339 to the nanosecond and a space, as kubelet does; sinceTime goes to docker as
   * seconds.nanoseconds, and docker applies tail before since, as kubelet does.
   */
  async logs(id: string, opts: LogOptions): Promise<Readable> {
    const info = await this.inspectContainer(id);
    const query: Record<string, unknown> = { stdout: true, stderr: true, follow: opts.follow, timestamps: opts.timestamps };
    if (opts.tailLines !== undefined && opts.tailLines >= 0) query.tail = opts.tailLines;
    if (opts.sinceTime) {
      const ms = opts.sinceTime.getTime();
      query.since = `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1_000_000).padStart(9, '0')}`;
    }
    let raw: NodeJS.ReadableStream | Buffer;
    try {
      raw = (await this.docker.getContainer(info.Id).logs(query as never)) as unknown as NodeJS.ReadableStream | Buffer;
    } catch (err) {
      throw new RuntimeError('LogsError', daemonMessage(err));
    }
    const source: NodeJS.ReadableStream = Buffer.isBuffer(raw) ? Readable.from([raw]) : raw;
    const out = new PassThrough();
    if (info.Config.Tty) source.pipe(out);
    else demux(source, out, undefined);
    // The reader going away ends docker's follow.
    out.once('close', () => (source as unknown as { destroy?: () => void }).destroy?.());
    return out;
  }

  /** Wraps a hijacked connection's stdout/stderr (demultiplexed without a terminal) and stdin. */
  private streams(sock: Duplex, opts: { stdin: boolean; tty: boolean }): Pick<ExecSession, 'stdin' | 'stdout' | 'stderr'> {
    const stdout = new PassThrough();
    const stderr = opts.tty ? undefined : new PassThrough();
    if (opts.tty) sock.pipe(stdout);
    else demux(sock, stdout, stderr);
    sock.on('error', () => undefined);
    let stdin: Writable | undefined;
    if (opts.stdin) {
      // Its end half-closes the connection: docker then closes the process's stdin.
      stdin = new Writable({
        write(chunk, _enc, cb) {
          if (sock.destroyed) return cb();
          sock.write(chunk, () => cb());
        },
        final(cb) {
          if (!sock.destroyed) sock.end();
          cb();
        },
      });
    }
    return { stdin, stdout, stderr };
  }

  /**
   * kubectl exec: an exec with the streams asked for, started hijacked. close() drops the connection and
   * kills the command's process when this host sees it as the container's (docker has no exec kill).
   */
  async execStream(id: string, command: string[], opts: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const container = this.docker.getContainer(bareId(id));
    let exec: Docker.Exec;
    let sock: Duplex;
    try {
      exec = await container.exec({ Cmd: command, AttachStdin: opts.stdin, AttachStdout: true, AttachStderr: true, Tty: opts.tty });
      sock = (await exec.start({ hijack: true, stdin: opts.stdin, Detach: false, Tty: opts.tty })) as unknown as Duplex;
    } catch (err) {
      if (statusCode(err) === 404) throw new RuntimeError('ContainerNotFound', `no such container: ${id}`);
      if (statusCode(err) === 409) throw new RuntimeError('ContainerNotRunning', daemonMessage(err));
      throw new RuntimeError('ExecError', daemonMessage(err));
    }
    const streams = this.streams(sock, opts);
    const ended = new Promise<void>((resolve) => {
      sock.once('end', resolve);
      sock.once('close', resolve);
    });
    const exit = ended.then(async () => {
      // The stream ends as the process does; the exit code may lag a moment behind in inspect.
      for (let i = 0; ; i++) {
        const info = await exec.inspect().catch(() => undefined);
        if (!info || !info.Running || i >= 100) return info?.ExitCode ?? 137;
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    return {
      ...streams,
      resize: (cols, rows) => {
        if (opts.tty) exec.resize({ w: cols, h: rows }).catch(() => undefined);
      },
      exit,
      close: () => {
        sock.destroy();
        void exec
          .inspect()
          .then((info) => {
            if (info.Running && info.Pid && isProcessOf(info.Pid, info.ContainerID)) process.kill(info.Pid, 'SIGKILL');
          })
          .catch(() => undefined);
      },
    };
  }

  /**
   * kubectl attach: the container's streams from now on (no earlier output). stdin only for a container
   * created with it (spec stdin: OpenStdin); docker closes it after the first attach with stdinOnce.
   * exit resolves with the container's exit code when it stops.
   */
  async attach(id: string, opts: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const info = await this.inspectContainer(id);
    if (!info.State.Running) throw new RuntimeError('ContainerNotRunning', `container ${info.Name.replace(/^\//, '')} is not running`);
    if (opts.stdin && !info.Config.OpenStdin) {
      throw new RuntimeError('AttachError', `container ${info.Config.Labels?.[LABEL_CONTAINER_NAME] ?? info.Name} was not created with stdin (spec.containers[].stdin: true)`);
    }
    const tty = !!info.Config.Tty;
    const container = this.docker.getContainer(info.Id);
    let sock: Duplex;
    try {
      sock = (await container.attach({ stream: true, logs: false, stdin: opts.stdin, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
    } catch (err) {
      throw new RuntimeError('AttachError', daemonMessage(err));
    }
    const abort = new AbortController();
    const exit = (container.wait({ abortSignal: abort.signal } as never) as unknown as Promise<{ StatusCode: number }>).then(
      (r) => r.StatusCode,
      () => new Promise<number>(() => undefined), // detached: nobody waits for it
    );
    return {
      ...this.streams(sock, { stdin: opts.stdin, tty }),
      resize: (cols, rows) => {
        if (tty) container.resize({ w: cols, h: rows }).catch(() => undefined);
      },
      exit,
      close: () => {
        sock.destroy();
        abort.abort();
      },
    };
  }

  /**
   * Each running container's cumulative CPU and working set, from its cgroup files found through its
   * main process (/proc/PID/cgroup), which takes microseconds; docker's one-shot stats (a second or two
   * each) where those files are not readable from here.
   */
  async usage(): Promise<ContainerUsage[]> {
    const list = await this.docker.listContainers({
      filters: { label: [`${LABEL_TYPE}=${TYPE_CONTAINER}`, `${LABEL_MANAGED}=true`], status: ['running'] },
    });
    const out = await Promise.all(
      list.map(async (c): Promise<ContainerUsage | undefined> => {
        try {
          const info = await this.docker.getContainer(c.Id).inspect();
          const dirs = info.State.Pid ? await cgroupDirsOf(info.State.Pid) : undefined;
          // Only folders of this container: elsewhere (a cgroup namespace) they would be someone else's.
          const own = dirs?.filter((d) => d.includes(c.Id));
          const cg = own?.length ? await cgroupUsage(own) : {};
          if (cg.cpuNanoSeconds !== undefined && cg.memoryBytes !== undefined) {
            return { id: `${ID_PREFIX}${c.Id}`, cpuNanoSeconds: cg.cpuNanoSeconds, memoryBytes: cg.memoryBytes };
          }
          const stats = (await this.docker.getContainer(c.Id).stats({ stream: false, 'one-shot': true } as never)) as unknown as DockerStats;
          const mem = stats.memory_stats ?? {};
          const inactive = mem.stats?.inactive_file ?? mem.stats?.total_inactive_file ?? 0;
          return {
            id: `${ID_PREFIX}${c.Id}`,
            cpuNanoSeconds: cg.cpuNanoSeconds ?? stats.cpu_stats?.cpu_usage?.total_usage ?? 0,
            memoryBytes: cg.memoryBytes ?? Math.max(0, (mem.usage ?? 0) - inactive),
          };
        } catch {
          return undefined; // stopped meanwhile
        }
      }),
    );
    return out.filter((u): u is ContainerUsage => u !== undefined);
  }

}

interface DockerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: { inactive_file?: number; total_inactive_file?: number } };
}

/** Whether this host's process PID belongs to the container (its cgroup names it): a pid from another namespace is not ours to kill. */
function isProcessOf(pid: number, containerId: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(containerId);
  } catch {
    return false;
  }
}
