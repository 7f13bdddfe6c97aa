// One pod's worker, as kubelet's pod workers and syncPod: sandbox, volumes, init containers in
// order, then the containers; restarts by restartPolicy with CrashLoopBackOff; probes; status;
// on deletion the preStop hooks, SIGTERM, the grace period, SIGKILL, and the final delete.
import { join } from 'node:path';
import { milliValue, parseQuantity } from '../kinds/quantity.js';
import { containerEnv, expand } from './env.js';
import { kubeTime } from './node-status.js';
import { podStatus, type Observed } from './pod-status.js';
import { Prober, runHandler, type ProbeTarget } from './probes.js';
import type { DNSConfig } from './dns/resolv-conf.js';
import { RuntimeError, type ContainerConfig, type ContainerInfo, type Runtime, type SandboxConfig } from './runtime.js';
import { serviceAccountMount, type ServiceAccountTokens } from './service-account.js';
import type { Sources } from './sources.js';
import { containerMounts, removeVolumes, setUpVolumes } from './volumes.js';

export interface WorkerDeps {
  runtime: Runtime;
  sources: Sources;
  hostIP: () => string;
  allocatable: () => Record<string, string>;
  /** Folder for this pod's volumes. */
  podDir: (uid: string) => string;
  /** A new status to write (the manager coalesces: the latest wins). */
  report: (pod: any, status: any) => void;
  /** The final delete of a pod that was terminating, once everything has stopped. */
  finalDelete: (pod: any) => Promise<void>;
  event: (pod: any, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  /** How often a running pod is synced when nothing else wakes it. */
  resyncMs: number;
  /** Probes are not run (the simulated runtime has nothing to probe). */
  probes: boolean;
  /** Pods' ServiceAccount tokens (absent: none are mounted, as on simulated nodes). */
  serviceAccounts?: ServiceAccountTokens;
  /** Where a pod reaches the API (the node-local endpoint), for KUBERNETES_SERVICE_HOST/PORT; undefined: not served. */
  apiEndpoint?: (pod: any) => { host: string; port: number } | undefined;
  /** The pod's resolver settings (kubelet's GetPodDNS); warn posts what kubelet posts as events. Absent: the runtime's own. */
  podDNS?: (pod: any, warn: (reason: string, message: string) => void) => DNSConfig;
}

// kubelet's back-off: 10 s doubling to 5 minutes, reset after 10 minutes of running.
const BACKOFF_START_S = 10;
const BACKOFF_MAX_S = 300;
const BACKOFF_RESET_S = 600;

interface Backoff {
  seconds: number;
  /** When the container (or pull) last failed; restarts wait until this plus `seconds`. */
  since: number;
  /** The BackOff event of this wait was recorded (once per wait, as kubelet's are aggregated). */
  told?: boolean;
}

interface Probes {
  containerId: string;
  liveness?: Prober;
  readiness?: Prober;
  startup?: Prober;
  /** The liveness or startup probe failed: the container is to be killed and restarted. */
  unhealthy?: string;
}

const key = (init: boolean, name: string) => `${init ? 'init' : 'app'}/${name}`;

export class PodWorker {
  pod: any;
  /** Gone from the API (deleted, or not in a fresh list): stop everything, no final delete. */
  private gone = false;
  private finished = false;
  private syncing?: Promise<void>;
  private again = false;
  private timer?: NodeJS.Timeout;
  private podIP?: string;
  /** The pod's ServiceAccount token folder, once written (undefined: the pod does not automount it). */
  private serviceAccountDir?: string;
  private sandboxReady = false;
  /** The pod's resolver settings, once formed (see dns()). */
  private dnsConfig?: { value?: DNSConfig };
  private readonly startTime: string;
  private backoffs = new Map<string, Backoff>();
  private pullBackoffs = new Map<string, Backoff>();
  private waiting = new Map<string, { reason: string; message?: string }>();
  private probes = new Map<string, Probes>();
  private failed?: { reason: string; message: string };
  private terminalAt?: number;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    pod: any,
    private readonly deps: WorkerDeps,
  ) {
    this.pod = pod;
    this.startTime = pod.status?.startTime ?? kubeTime();
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get uid(): string {
    return this.pod.metadata.uid;
  }

  /** Resolves when the pod is stopped and forgotten. */
  get stopped(): Promise<void> {
    return this.done;
  }

  update(pod: any): void {
    this.pod = pod;
    this.kick();
  }

  /** The API no longer has the pod: stop it without a final delete. */
  remove(): void {
    this.gone = true;
    this.kick();
  }

  /** Stops the worker's timers, leaving the pod's containers running (agent shutdown). */
  detach(): void {
    this.finished = true;
    clearTimeout(this.timer);
    for (const p of this.probes.values()) this.stopProbes(p);
  }

  kick(): void {
    if (this.finished) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.syncing = this.sync()
      .catch((err) => console.error(`skiff agent: pod ${this.describe()}: ${(err as Error).message}`))
      .finally(() => {
        this.syncing = undefined;
        if (this.finished) return;
        if (this.again) {
          this.again = false;
          this.kick();
        } else {
          this.timer = setTimeout(() => this.kick(), this.deps.resyncMs);
        }
      });
  }

  private describe(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  private sandboxConfig(auths: SandboxConfig['registryAuths'] = {}): SandboxConfig {
    const { pod } = this;
    return {
      uid: pod.metadata.uid,
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      hostNetwork: !!pod.spec.hostNetwork,
      hostname: pod.spec.hostname ?? pod.metadata.name,
      registryAuths: auths,
      dns: this.dns(),
    };
  }

  /** Formed once per worker, as kubelet does when it creates the sandbox (dnsPolicy and dnsConfig do not change). */
  private dns(): DNSConfig | undefined {
    this.dnsConfig ??= { value: this.deps.podDNS?.(this.pod, (reason, message) => this.deps.event(this.pod, 'Warning', reason, message)) };
    return this.dnsConfig.value;
  }

  private async sync(): Promise<void> {
    const { pod, deps } = this;
    if (this.gone || pod.metadata.deletionTimestamp) return this.terminate();
    if (this.terminalAt !== undefined) return; // Succeeded or Failed: nothing runs again

    const deadline = pod.spec.activeDeadlineSeconds;
    if (deadline !== undefined && Date.now() - Date.parse(this.startTime) >= deadline * 1000) {
      this.failed = { reason: 'DeadlineExceeded', message: `Pod was active on the node longer than the specified deadline` };
      deps.event(pod, 'Normal', 'DeadlineExceeded', this.failed.message);
      await this.killAll(this.gracePeriod());
      return this.report(await this.observe());
    }

    const auths = await this.registryAuths();
    try {
      const sandbox = await deps.runtime.ensureSandbox(this.sandboxConfig(auths));
      this.podIP = sandbox.ip;
      this.sandboxReady = true;
    } catch (err) {
      this.sandboxReady = false;
      this.setWaitingAll('ContainerCreating', (err as Error).message);
      return this.report(await this.observe());
    }

    let dirs: Map<string, string>;
    const tokens = deps.serviceAccounts;
    try {
      dirs = await setUpVolumes({
        pod,
        podIP: this.podIP!,
        hostIP: deps.hostIP(),
        allocatable: deps.allocatable(),
        sources: deps.sources,
        podDir: deps.podDir(this.uid),
        serviceAccountToken: tokens && ((audiences, seconds) => tokens.token(this.pod, audiences, seconds)),
      });
      // Every sync: the token is refreshed here once 80% of its life has passed.
      this.serviceAccountDir = await tokens?.volume(pod, join(deps.podDir(this.uid), 'serviceaccount'));
    } catch (err) {
      this.setWaitingAll('ContainerCreating', (err as Error).message);
      return this.report(await this.observe());
    }
    // The sandbox and volumes are there now: what kept containers from being created is past.
    for (const [k, w] of this.waiting) if (w.reason === 'ContainerCreating') this.waiting.delete(k);

    let seen = await this.observe();
    let initDone = true;
    for (const c of pod.spec.initContainers ?? []) {
      const o = seen.init.get(c.name)!;
      if (o.latest?.state === 'exited' && o.latest.exitCode === 0) continue;
      initDone = false;
      if (!o.latest) await this.start(c, true, 0, dirs, auths);
      else if (o.latest.state === 'exited') await this.restart(c, true, o.latest, dirs, auths);
      break;
    }
    if (initDone) {
      for (const c of pod.spec.containers ?? []) {
        const o = seen.containers.get(c.name)!;
        if (!o.latest) await this.start(c, false, 0, dirs, auths);
        else if (o.latest.state === 'running') await this.watchRunning(c, o.latest);
        else await this.restart(c, false, o.latest, dirs, auths);
      }
    }
    seen = await this.observe();
    this.report(seen);
  }

  /** What the runtime holds for this pod, per container, with the worker's own knowledge added. */
  private async observe(): Promise<{ init: Map<string, Observed>; containers: Map<string, Observed>; initDone: boolean }> {
    const infos = await this.deps.runtime.listContainers(this.uid);
    const pick = (c: any, init: boolean): Observed => {
      const runs = infos.filter((i) => i.name === c.name && i.init === init).sort((a, b) => b.attempt - a.attempt);
      const latest = runs[0];
      const probes = this.probes.get(key(init, c.name));
      const running = latest?.state === 'running';
      const started = running && (init || !c.startupProbe || !this.deps.probes || probes?.startup?.result === true);
      const readiness = probes?.readiness;
      const ready = running && started && !init && (!c.readinessProbe || !this.deps.probes || !!readiness?.result);
      const waiting = running ? undefined : this.waiting.get(key(init, c.name));
      return { latest, previous: runs[1], waiting, started, ready };
    };
    const init = new Map<string, Observed>((this.pod.spec.initContainers ?? []).map((c: any) => [c.name, pick(c, true)]));
    const containers = new Map<string, Observed>((this.pod.spec.containers ?? []).map((c: any) => [c.name, pick(c, false)]));
    const initDone = [...init.values()].every((o) => o.latest?.state === 'exited' && o.latest.exitCode === 0);
    return { init, containers, initDone };
  }

  private report(seen: Awaited<ReturnType<PodWorker['observe']>>): void {
    const status = podStatus({
      pod: this.pod,
      podIP: this.podIP,
      hostIP: this.deps.hostIP(),
      startTime: this.startTime,
      sandboxReady: this.sandboxReady,
      initDone: seen.initDone,
      init: seen.init,
      containers: seen.containers,
      failed: this.failed,
      now: kubeTime(),
    });
    if ((status.phase === 'Succeeded' || status.phase === 'Failed') && this.terminalAt === undefined) {
      this.terminalAt = Date.now();
      for (const p of this.probes.values()) this.stopProbes(p);
      void this.killAll(this.gracePeriod()); // containers of a finished pod do not run on
    }
    this.deps.report(this.pod, status);
  }

  private setWaitingAll(reason: string, message: string): void {
    for (const c of this.pod.spec.initContainers ?? []) this.waiting.set(key(true, c.name), { reason, message });
    for (const c of this.pod.spec.containers ?? []) this.waiting.set(key(false, c.name), { reason, message });
  }

  private async registryAuths(): Promise<SandboxConfig['registryAuths']> {
    const auths: SandboxConfig['registryAuths'] = {};
    for (const ref of this.pod.spec.imagePullSecrets ?? []) {
      const secret = await this.deps.sources.secret(this.pod.metadata.namespace, ref.name).catch(() => undefined);
      const raw = secret?.data?.['.dockerconfigjson'] ?? secret?.data?.['.dockercfg'];
      if (!raw) continue;
      try {
        const parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
        Object.assign(auths, parsed.auths ?? parsed);
      } catch {
        // a malformed pull secret is skipped, as kubelet does
      }
    }
    return auths;
  }

  private async restart(c: any, init: boolean, last: ContainerInfo, dirs: Map<string, string>, auths: SandboxConfig['registryAuths']): Promise<void> {
    const policy = this.pod.spec.restartPolicy ?? 'Always';
    const failed = (last.exitCode ?? 0) !== 0;
    // Init containers of an Always pod restart only on failure, as with OnFailure.
    const restart = policy === 'Always' ? !init || failed : policy === 'OnFailure' ? failed : false;
    if (!restart) return;
    const k = key(init, c.name);
    const finished = last.finishedAt ? Date.parse(last.finishedAt) : Date.now();
    let b = this.backoffs.get(k);
    const ran = last.startedAt ? finished - Date.parse(last.startedAt) : 0;
    if (b && ran >= BACKOFF_RESET_S * 1000) {
      this.backoffs.delete(k);
      b = undefined;
    }
    if (b && Date.now() < b.since + b.seconds * 1000) {
      const { metadata } = this.pod;
      this.waiting.set(k, { reason: 'CrashLoopBackOff', message: `back-off ${b.seconds}s restarting failed container=${c.name} pod=${metadata.name}_${metadata.namespace}(${metadata.uid})` });
      if (!b.told) {
        b.told = true;
        this.deps.event(this.pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${metadata.name}_${metadata.namespace}(${metadata.uid})`);
      }
      this.wakeAt(b.since + b.seconds * 1000);
      return;
    }
    const started = await this.start(c, init, last.attempt + 1, dirs, auths);
    if (started) this.backoffs.set(k, { seconds: b ? Math.min(b.seconds * 2, BACKOFF_MAX_S) : BACKOFF_START_S, since: Date.now() });
  }

  private wakeAt(ms: number): void {
    const delay = Math.max(0, ms - Date.now()) + 20;
    setTimeout(() => this.kick(), delay).unref();
  }

  /** Starts one container; false when it could not (the reason is kept for its status). */
  private async start(c: any, init: boolean, attempt: number, dirs: Map<string, string>, auths: SandboxConfig['registryAuths']): Promise<boolean> {
    const { deps, pod } = this;
    const k = key(init, c.name);
    const policy = c.imagePullPolicy ?? (String(c.image).endsWith(':latest') || !/:[^/]+$/.test(String(c.image)) ? 'Always' : 'IfNotPresent');
    const pull = this.pullBackoffs.get(c.image);
    if (pull && Date.now() < pull.since + pull.seconds * 1000) {
      this.waiting.set(k, { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` });
      this.wakeAt(pull.since + pull.seconds * 1000);
      return false;
    }
    try {
      await deps.runtime.ensureImage(c.image, policy, auths);
      this.pullBackoffs.delete(c.image);
    } catch (err) {
      const reason = err instanceof RuntimeError ? err.reason : 'ErrImagePull';
      if (reason === 'ErrImagePull') this.pullBackoffs.set(c.image, { seconds: pull ? Math.min(pull.seconds * 2, BACKOFF_MAX_S) : BACKOFF_START_S, since: Date.now() });
      this.waiting.set(k, { reason, message: (err as Error).message });
      deps.event(pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${(err as Error).message}`);
      return false;
    }
    let config: ContainerConfig;
    try {
      const env = await containerEnv(c, { pod, podIP: this.podIP!, hostIP: deps.hostIP(), allocatable: deps.allocatable(), sources: deps.sources, apiEndpoint: deps.apiEndpoint?.(pod) });
      const token = serviceAccountMount(c, this.serviceAccountDir);
      const vars = new Map(env.map((e) => [e.name, e.value]));
      config = {
        name: c.name,
        image: c.image,
        imagePullPolicy: policy,
        command: c.command?.map((s: string) => expand(s, vars)),
        args: c.args?.map((s: string) => expand(s, vars)),
        workingDir: c.workingDir,
        env,
        mounts: token ? [...containerMounts(c, dirs), token] : containerMounts(c, dirs),
        memoryLimitBytes: parseQuantity(c.resources?.limits?.memory),
        cpuLimitMillis: milliValue(c.resources?.limits?.cpu),
        attempt,
        init,
        stdin: !!c.stdin,
        stdinOnce: !!c.stdinOnce,
        tty: !!c.tty,
      };
    } catch (err) {
      this.waiting.set(k, { reason: err instanceof RuntimeError ? err.reason : 'CreateContainerConfigError', message: (err as Error).message });
      deps.event(pod, 'Warning', 'Failed', `Error: ${(err as Error).message}`);
      return false;
    }
    let info: ContainerInfo;
    try {
      info = await deps.runtime.startContainer(this.sandboxConfig(auths), config);
    } catch (err) {
      this.waiting.set(k, { reason: err instanceof RuntimeError ? err.reason : 'RunContainerError', message: (err as Error).message });
      deps.event(pod, 'Warning', 'Failed', `Error: ${(err as Error).message}`);
      return false;
    }
    this.waiting.delete(k);
    deps.event(pod, 'Normal', 'Started', `Started container ${c.name}`);
    await this.pruneOld(c.name, init, info.attempt);
    if (c.lifecycle?.postStart) {
      const ok = await this.runHook(c.lifecycle.postStart, c, info.id, 30);
      if (!ok) {
        deps.event(pod, 'Warning', 'FailedPostStartHook', `PostStartHook failed`);
        await deps.runtime.stopContainer(info.id, this.gracePeriod());
      }
    }
    return true;
  }

  /** kubelet keeps one dead container per container name, for lastState. */
  private async pruneOld(name: string, init: boolean, attempt: number): Promise<void> {
    const infos = await this.deps.runtime.listContainers(this.uid);
    for (const i of infos) if (i.name === name && i.init === init && i.attempt < attempt - 1 && i.state !== 'running') await this.deps.runtime.removeContainer(i.id);
  }

  /** Probes of a running container; kills it when its liveness or startup probe failed. */
  private async watchRunning(c: any, info: ContainerInfo): Promise<void> {
    if (!this.deps.probes) return;
    const k = key(false, c.name);
    let p = this.probes.get(k);
    if (p && p.containerId !== info.id) {
      this.stopProbes(p);
      p = undefined;
    }
    if (!p) {
      p = this.newProbes(c, info);
      this.probes.set(k, p);
    }
    if (p.unhealthy) {
      const reason = p.unhealthy;
      this.stopProbes(p);
      this.probes.delete(k);
      this.deps.event(this.pod, 'Normal', 'Killing', `Container ${c.name} failed ${reason} probe, will be restarted`);
      if (c.lifecycle?.preStop) await this.runHook(c.lifecycle.preStop, c, info.id, this.gracePeriod());
      await this.deps.runtime.stopContainer(info.id, this.gracePeriod());
      this.kick();
    }
  }

  /** Startup first; liveness and readiness once it succeeded (or at once, counting initialDelaySeconds from the start). */
  private newProbes(c: any, info: ContainerInfo): Probes {
    const target: ProbeTarget = { runtime: this.deps.runtime, containerId: info.id, podIP: this.podIP!, container: c };
    const p: Probes = { containerId: info.id };
    const startedAt = info.startedAt ? new Date(info.startedAt) : new Date();
    const prober = (kind: 'liveness' | 'readiness' | 'startup', spec: any, onResult: (ok: boolean) => void) =>
      new Prober(kind, spec, target, (ok) => {
        if (!ok) this.deps.event(this.pod, 'Warning', 'Unhealthy', `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed`);
        onResult(ok);
        this.kick();
      });
    const startOthers = (from: Date) => {
      if (c.livenessProbe) {
        p.liveness = prober('liveness', c.livenessProbe, (ok) => {
          if (!ok) p.unhealthy = 'liveness';
        });
        p.liveness.start(from);
      }
      if (c.readinessProbe) {
        p.readiness = prober('readiness', c.readinessProbe, () => {});
        p.readiness.start(from);
      }
    };
    if (c.startupProbe) {
      p.startup = prober('startup', c.startupProbe, (ok) => {
        if (ok) startOthers(new Date());
        else p.unhealthy = 'startup';
      });
      p.startup.start(startedAt);
    } else {
      startOthers(startedAt);
    }
    return p;
  }

  private stopProbes(p: Probes): void {
    p.liveness?.stop();
    p.readiness?.stop();
    p.startup?.stop();
  }

  private async runHook(hook: any, c: any, containerId: string, timeoutSeconds: number): Promise<boolean> {
    if (hook.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(hook.sleep.seconds, timeoutSeconds) * 1000));
      return true;
    }
    try {
      return await runHandler(hook, { runtime: this.deps.runtime, containerId, podIP: this.podIP ?? this.deps.hostIP(), container: c }, timeoutSeconds);
    } catch {
      return false;
    }
  }

  private gracePeriod(): number {
    const { metadata, spec } = this.pod;
    return metadata.deletionGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
  }

  /** preStop hooks, then SIGTERM, the grace period, SIGKILL, for every running container at once. */
  private async killAll(grace: number): Promise<void> {
    for (const p of this.probes.values()) this.stopProbes(p);
    this.probes.clear();
    const infos = (await this.deps.runtime.listContainers(this.uid)).filter((i) => i.state === 'running');
    const deadline = Date.now() + grace * 1000;
    await Promise.all(
      infos.map(async (info) => {
        const spec = [...(this.pod.spec.containers ?? []), ...(this.pod.spec.initContainers ?? [])].find((c: any) => c.name === info.name);
        if (spec?.lifecycle?.preStop && grace > 0) await this.runHook(spec.lifecycle.preStop, spec, info.id, grace);
        const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
        this.deps.event(this.pod, 'Normal', 'Killing', `Stopping container ${info.name}`);
        await this.deps.runtime.stopContainer(info.id, left);
      }),
    );
  }

  /** Deletion (or removal from the API): stop everything, free the sandbox, then the final delete. */
  private async terminate(): Promise<void> {
    await this.killAll(this.gracePeriod());
    for (const info of await this.deps.runtime.listContainers(this.uid)) await this.deps.runtime.removeContainer(info.id);
    await this.deps.runtime.removeSandbox(this.uid);
    removeVolumes(this.pod, this.deps.podDir(this.uid));
    this.deps.serviceAccounts?.forget(this.uid);
    if (!this.gone) await this.deps.finalDelete(this.pod);
    this.finished = true;
    this.resolveDone();
  }
}

export const podDirOf = (dataDir: string) => (uid: string) => join(dataDir, 'pods', uid);
