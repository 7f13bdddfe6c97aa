// A pod watch for `npm run bench:agent` that notes when each pod is first seen Running with
// Ready=True. It resumes from the last resourceVersion whenever the server ends the stream (a Worker
// ends its watches after a number of polls), and re-lists after 410 Gone.
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { onWatchEvents, type ApiClient } from './client.js';

export function isRunningReady(pod: any): boolean {
  return pod?.status?.phase === 'Running' && !!pod.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
}

export class PodWatch {
  /** performance.now() when each pod (by name) was first seen Running and Ready. */
  readonly readyAt = new Map<string, number>();
  private closed = false;
  private req?: ReturnType<typeof request>;
  private readonly agent: Agent;
  private waiters: { names: Set<string> | number; resolve: () => void }[] = [];
  private done: Promise<void>;
  /** Streams opened (1 + resumptions). */
  streams = 0;

  private constructor(
    private readonly base: string,
    private readonly token: string,
    ca: string,
    private readonly path: string,
    private rv: string,
  ) {
    this.agent = new Agent({ ca, keepAlive: false });
    this.done = this.loop();
  }

  /** Lists, then watches from the list's resourceVersion. */
  static async start(api: ApiClient, base: string, token: string, ca: string, path: string): Promise<PodWatch> {
    const list = JSON.parse((await api.expect(200, 'GET', path)).body);
    const w = new PodWatch(base, token, ca, path, list.metadata.resourceVersion);
    for (const pod of list.items) w.see(pod, performance.now());
    return w;
  }

  private see(pod: any, at: number): void {
    const name = pod?.metadata?.name;
    if (!name || this.readyAt.has(name) || !isRunningReady(pod)) return;
    this.readyAt.set(name, at);
    this.waiters = this.waiters.filter((w) => {
      const met = typeof w.names === 'number' ? this.readyAt.size >= w.names : [...w.names].every((n) => this.readyAt.has(n));
      if (met) w.resolve();
      return !met;
    });
  }

  /** Resolves once every named pod (or `count` pods in all) has been seen Running and Ready. */
  until(names: string[] | number, timeoutMs: number): Promise<boolean> {
    const set = typeof names === 'number' ? names : new Set(names);
    const met = typeof set === 'number' ? this.readyAt.size >= set : [...set].every((n) => this.readyAt.has(n));
    if (met) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        names: set,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        const gone = await this.stream();
        if (gone && !this.closed) {
          // 410 Gone: list again (pods that became Ready meanwhile count from now).
          const res = await new Promise<string>((resolve, reject) => {
            const req = request(this.base + this.path, { headers: { authorization: `Bearer ${this.token}` }, agent: this.agent }, (r) => {
              let text = '';
              r.setEncoding('utf8').on('data', (s: string) => (text += s)).on('end', () => resolve(text));
            });
            req.on('error', reject);
            req.end();
          });
          const list = JSON.parse(res);
          this.rv = list.metadata.resourceVersion;
          for (const pod of list.items) this.see(pod, performance.now());
        }
      } catch {
        if (!this.closed) await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** One watch stream, until the server ends it; true on 410 Gone. */
  private stream(): Promise<boolean> {
    this.streams++;
    const sep = this.path.includes('?') ? '&' : '?';
    const url = `${this.base}${this.path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${this.rv}`;
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { authorization: `Bearer ${this.token}` }, agent: this.agent }, (res) => {
        if (res.statusCode === 410) {
          res.resume();
          return resolve(true);
        }
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`watch: status ${res.statusCode}`));
        }
        let gone = false;
        onWatchEvents(res, (event, at) => {
          if (event.type === 'ERROR') {
            if (event.object?.code === 410) gone = true;
            return;
          }
          const rv = event.object?.metadata?.resourceVersion;
          if (rv) this.rv = rv;
          if (event.type === 'ADDED' || event.type === 'MODIFIED') this.see(event.object, at);
        });
        res.on('end', () => resolve(gone));
        res.on('error', reject);
      });
      this.req = req;
      req.on('error', reject);
      req.end();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.req?.destroy();
    this.agent.destroy();
    await this.done.catch(() => {});
  }
}
