// An HTTPS client for the benchmark: keep-alive connections verified against the server's CA,
// a bounded pool of concurrent requests, and a watch stream read line by line.
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';

export interface Reply {
  status: number;
  body: string;
}

export class ApiClient {
  private agent: Agent;

  constructor(
    private base: string,
    private token: string,
    private ca: string,
    connections: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: connections, ca });
  }

  request(method: string, path: string, body?: string, contentType = 'application/json'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = contentType;
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      const req = request(this.base + path, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Like request, but fails unless the status is `expected`. */
  async expect(expected: number, method: string, path: string, body?: string, contentType?: string): Promise<Reply> {
    const reply = await this.request(method, path, body, contentType);
    if (reply.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${reply.status}: ${reply.body.slice(0, 300)}`);
    return reply;
  }

  /**
   * Opens a watch on its own connection; `onEvent` gets each event with its arrival time
   * (performance.now()). Resolves once the response headers are in.
   */
  watch(path: string, onEvent: (event: { type: string; object: any }, at: number) => void): Promise<{ close(): void }> {
    const agent = new Agent({ ca: this.ca });
    return new Promise((resolve, reject) => {
      const req = request(this.base + path, { headers: { authorization: `Bearer ${this.token}` }, agent }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`watch ${path}: status ${res.statusCode}`));
        onWatchEvents(res, onEvent);
        res.on('error', () => {}); // ended by close()
        resolve({
          close: () => {
            req.destroy();
            agent.destroy();
          },
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs task(0..count-1) with at most `concurrency` in flight; returns each task's latency in ms. */
export async function timedPool(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number[]> {
  const latencies = new Array<number>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await task(i);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return latencies;
}

/**
 * Runs `task` one at a time, starting one every `everyMs` (at once when the last took longer), until
 * `count` have run or `durationMs` has passed; returns each one's latency in ms. A latency probe that
 * adds a steady, light load rather than queueing behind itself.
 */
export async function pacedProbe(task: () => Promise<unknown>, opts: { everyMs: number; count?: number; durationMs?: number }): Promise<number[]> {
  const latencies: number[] = [];
  const start = performance.now();
  let next = start;
  while ((opts.count === undefined || latencies.length < opts.count) && (opts.durationMs === undefined || performance.now() - start < opts.durationMs)) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    await task();
    latencies.push(performance.now() - t0);
    next = Math.max(next + opts.everyMs, t0);
  }
  return latencies;
}

/** Opens `connections` keep-alive connections (TLS handshakes done) by as many concurrent requests of `path`. */
export async function warmUp(api: ApiClient, connections: number, path = '/healthz'): Promise<void> {
  await Promise.all(Array.from({ length: connections }, () => api.request('GET', path)));
}

/** Each event of a watch response (newline-delimited JSON), with the time its chunk arrived (performance.now()). */
export function onWatchEvents(res: IncomingMessage, onEvent: (event: { type: string; object: any }, at: number) => void): void {
  let pending = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    const at = performance.now();
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim()) onEvent(JSON.parse(line), at);
    }
  });
}
