// The agent's local record of the pods bound to its node: one JSON file per pod in the data
// folder, written before the pod is started. It is what lets the agent bring its pods back after
// a restart or a reboot while the control plane is unreachable.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class PodRecord {
  private readonly dir: string;
  private written = new Map<string, string>();

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'pod-records');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Every recorded pod. */
  load(): any[] {
    const pods: any[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const pod = JSON.parse(readFileSync(join(this.dir, name), 'utf8'));
        this.written.set(pod.metadata.uid, recordOf(pod));
        pods.push(pod);
      } catch {
        rmSync(join(this.dir, name), { force: true }); // half-written: the API has the pod anyway
      }
    }
    return pods;
  }

  /** Records the pod; only what the agent runs it from (not its status) decides whether to write. */
  save(pod: any): void {
    const text = recordOf(pod);
    if (this.written.get(pod.metadata.uid) === text) return;
    const file = join(this.dir, `${pod.metadata.uid}.json`);
    writeFileSync(file + '.tmp', text, { mode: 0o600 });
    renameSync(file + '.tmp', file);
    this.written.set(pod.metadata.uid, text);
  }

  forget(uid: string): void {
    rmSync(join(this.dir, `${uid}.json`), { force: true });
    this.written.delete(uid);
  }
}

function recordOf(pod: any): string {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = pod.metadata;
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata, spec: pod.spec, status: { startTime: pod.status?.startTime, qosClass: pod.status?.qosClass } });
}
