// The simulated runtime (as KWOK's default stages): a container "starts" after a delay and runs
// until it is stopped; nothing is executed. Pods get addresses from the node's podCIDR. Used for
// scale tests and demos (`skiff agent --simulate N`).
import { randomUUID } from 'node:crypto';
import type { ContainerConfig, ContainerInfo, ExecResult, Runtime, Sandbox, SandboxConfig } from '../runtime.js';

export class SimulatedRuntime implements Runtime {
  readonly name = 'simulated' as const;
  readonly podNetwork = true;
  private containers = new Map<string, ContainerInfo>();
  private ips = new Map<string, string>();
  private nextHost = 2;

  constructor(
    /** podCIDR: the node's, once it has one (asked again until then). */
    private readonly opts: { startDelayMs: number; podCIDR?: () => Promise<string | undefined> },
  ) {}

  async version(): Promise<string> {
    return 'simulated://1.0';
  }

  async ensureSandbox(pod: SandboxConfig): Promise<Sandbox> {
    let ip = this.ips.get(pod.uid);
    if (!ip) {
      ip = addressIn((await this.opts.podCIDR?.()) ?? '10.254.0.0/16', this.nextHost++);
      this.ips.set(pod.uid, ip);
    }
    return { ip };
  }

  async removeSandbox(podUid: string): Promise<void> {
    this.ips.delete(podUid);
    for (const [id, c] of this.containers) if (c.podUid === podUid) this.containers.delete(id);
  }

  async ensureImage(image: string): Promise<string> {
    return `simulated://${image}`;
  }

  async startContainer(pod: SandboxConfig, c: ContainerConfig): Promise<ContainerInfo> {
    if (this.opts.startDelayMs > 0) await new Promise((r) => setTimeout(r, this.opts.startDelayMs));
    const info: ContainerInfo = {
      id: `simulated://${randomUUID()}`,
      podUid: pod.uid,
      name: c.name,
      attempt: c.attempt,
      init: c.init,
      // Init containers complete at once; the others run until stopped.
      state: c.init ? 'exited' : 'running',
      startedAt: new Date().toISOString(),
      ...(c.init ? { finishedAt: new Date().toISOString(), exitCode: 0, reason: 'Completed' } : {}),
      image: c.image,
      imageID: `simulated://${c.image}`,
    };
    this.containers.set(info.id, info);
    return info;
  }

  async listContainers(podUid?: string): Promise<ContainerInfo[]> {
    return [...this.containers.values()].filter((c) => podUid === undefined || c.podUid === podUid);
  }

  async stopContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (c?.state === 'running') Object.assign(c, { state: 'exited', finishedAt: new Date().toISOString(), exitCode: 0, reason: 'Completed' });
  }

  async removeContainer(id: string): Promise<void> {
    this.containers.delete(id);
  }

  async exec(): Promise<ExecResult> {
    return { exitCode: 0, output: '' };
  }

  async close(): Promise<void> {}
}

/** The n-th address of an IPv4 CIDR (wrapping within it). */
export function addressIn(cidr: string, n: number): string {
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  const start = base.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const host = 2 + ((n - 2) % Math.max(1, size - 3));
  const v = start + host;
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}
