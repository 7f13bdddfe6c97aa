import type { Readable, Writable } from 'node:stream';
import type { DNSConfig } from './dns/resolv-conf.js';

// The one interface every container runtime (docker, process, simulated) implements. The pod
// workers decide what runs and when (kubelet's job); a runtime only does it, and reports what it sees.

/** A mount, resolved to a directory (or file) on the node by the agent's volume manager. */
export interface Mount {
  /** Where the volume's content is on the node. */
  hostPath: string;
  /** The container's spec.volumeMounts[].mountPath (subPath already applied to hostPath). */
  containerPath: string;
  readOnly: boolean;
}

/** One container of a pod, with everything resolved: env values, mounts, limits. */
export interface ContainerConfig {
  name: string;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  command?: string[];
  args?: string[];
  workingDir?: string;
  env: { name: string; value: string }[];
  mounts: Mount[];
  /** Limits, already parsed: bytes and millicores. */
  memoryLimitBytes?: number;
  cpuLimitMillis?: number;
  /** How many times this container was started before (kubelet's restartCount / attempt). */
  attempt: number;
  /** init container, regular container */
  init: boolean;
  /** spec.containers[].stdin / stdinOnce / tty: a stdin that attach can write to, closed after the first attach; a terminal. */
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
}

/** The pod-wide part: the sandbox holds the network namespace the containers share. */
export interface SandboxConfig {
  uid: string;
  namespace: string;
  name: string;
  hostNetwork: boolean;
  /** Hostname inside the pod (spec.hostname or the pod's name). */
  hostname: string;
  /** Registry credentials from imagePullSecrets: dockerconfigjson `auths` entries merged. */
  registryAuths: Record<string, { username?: string; password?: string; auth?: string }>;
  /** A free address from the node's spec.podCIDR, where the runtime gives pods addresses of their own. */
  podIP?: string;
  /** The pod's resolver settings (kubelet's GetPodDNS), its /etc/resolv.conf; absent: the runtime's own. */
  dns?: DNSConfig;
}

export interface Sandbox {
  /** The pod's IP: the sandbox's own address, or the node's with host networking. */
  ip: string;
}

/** What the runtime knows of one container it started (also after the agent restarted). */
export interface ContainerInfo {
  id: string; // e.g. docker://<id>, process://<id>
  podUid: string;
  name: string;
  attempt: number;
  init: boolean;
  state: 'created' | 'running' | 'exited';
  startedAt?: string; // RFC 3339
  finishedAt?: string;
  exitCode?: number;
  /** For exited containers: OOMKilled, Error, Completed, ContainerStatusUnknown. */
  reason?: string;
  message?: string;
  image: string;
  imageID: string;
}

/** A failure with kubelet's reason (ErrImagePull, CreateContainerConfigError, CreateContainerError, RunContainerError, ErrImageNeverPull). */
export class RuntimeError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

/** kubelet's log options (the control plane turned sinceSeconds into sinceTime). */
export interface LogOptions {
  follow: boolean;
  /** Lines from the end, before following. */
  tailLines?: number;
  sinceTime?: Date;
  /** Each line prefixed with its RFC 3339 (nanosecond) time and a space, as kubelet does. */
  timestamps: boolean;
}

/** A command running in a container (exec), or a container's own process (attach), with its streams. */
export interface ExecSession {
  /** Present when stdin was asked for; ending it closes the process's stdin. */
  stdin?: Writable;
  /** With a terminal, its output (stderr merged in). */
  stdout: Readable;
  /** Absent with a terminal. */
  stderr?: Readable;
  /** Sets the terminal's size (no-op without a terminal). */
  resize(cols: number, rows: number): void;
  /** The exit code once the command ended (attach: the container's). */
  exit: Promise<number>;
  /** Ends the command (exec) or detaches (attach). */
  close(): void;
}

/** Usage of one container, sampled by the runtime. */
export interface ContainerUsage {
  id: string;
  /** Cumulative CPU time, in nanoseconds; usage is its rate between two samples. */
  cpuNanoSeconds: number;
  /** Working set: memory in use less inactive file cache, as cAdvisor reports it. */
  memoryBytes: number;
}

export interface Runtime {
  readonly name: 'docker' | 'process' | 'simulated';
  /** For nodeInfo.containerRuntimeVersion, e.g. docker://28.2.2, process://0.1.0. */
  version(): Promise<string>;
  /** Whether pods get an address of their own (from podIP); false: they share the node's network. */
  readonly podNetwork: boolean;
  /**
   * The node's address on the pods' network (their default gateway, which every pod's network
   * namespace reaches): where the agent serves the in-cluster API endpoint. Undefined when pods share
   * the host's network.
   */
  podGateway?(): Promise<string | undefined>;
  /** Creates the pod's sandbox, or finds the one already there (after an agent restart). */
  ensureSandbox(pod: SandboxConfig): Promise<Sandbox>;
  /** Removes the sandbox and everything of the pod still there (containers are stopped first by the caller). */
  removeSandbox(podUid: string): Promise<void>;
  /**
   * Makes the image present as imagePullPolicy says; returns its imageID. Throws RuntimeError
   * ErrImagePull (with the registry's message) or ErrImageNeverPull.
   */
  ensureImage(image: string, policy: ContainerConfig['imagePullPolicy'], auths: SandboxConfig['registryAuths']): Promise<string>;
  /** Creates and starts a container in the pod's sandbox. Throws RuntimeError on failure. */
  startContainer(pod: SandboxConfig, container: ContainerConfig): Promise<ContainerInfo>;
  /** Every container the runtime holds for a pod (or for all pods), running and exited. */
  listContainers(podUid?: string): Promise<ContainerInfo[]>;
  /** SIGTERM (or the image's stop signal), then SIGKILL after graceSeconds. Resolves once it is stopped. */
  stopContainer(id: string, graceSeconds: number): Promise<void>;
  /** Forgets an exited container (kubelet keeps the last one per container for lastState). */
  removeContainer(id: string): Promise<void>;
  /** Runs a command in a running container (exec probes, exec hooks); output is truncated to 10 KiB. */
  exec(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult>;
  /** The container's log (stdout and stderr interleaved as written), ending unless it follows. */
  logs(id: string, opts: LogOptions): Promise<Readable>;
  /** Starts a command in a running container with streams attached (kubectl exec). */
  execStream(id: string, command: string[], opts: { stdin: boolean; tty: boolean }): Promise<ExecSession>;
  /** Attaches to a running container's main process (kubectl attach). */
  attach(id: string, opts: { stdin: boolean; tty: boolean }): Promise<ExecSession>;
  /** Current usage of every running container of the runtime. */
  usage(): Promise<ContainerUsage[]>;
  /** Releases what the runtime holds open (connections), leaving containers running. */
  close(): Promise<void>;
}
