// The two homes a reconcile pass runs in, side by side: `skiff serve`'s Store over a `file:` database,
// and the Worker's Store over @libsql/client/web talking Hrana over HTTP to the local endpoint (in a
// child process, so this process's CPU is the pass's own). Both count their HTTP requests (the
// Worker's subrequests) and sample the heap around every database call.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Client } from '@libsql/client';
import { createClient } from '@libsql/client/web';
import type { Clock } from '../src/store/clock.js';
import { openClient } from '../src/store/db.js';
import { Store } from '../src/store/store.js';
import { startEndpointProcess } from './edge-endpoint.js';
import { sampledClient } from './fixtures.js';

// A real gc() for heap baselines, whether or not node was started with --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export const MiB = (bytes: number) => bytes / 1024 / 1024;

/**
 * Peak of V8's used heap, sampled at every database call and between controllers. By default also on
 * a timer while the pass waits for I/O, and garbage not yet collected counts (as it does against an
 * isolate's limit until V8 collects it). `live` collects garbage before each sample instead, which
 * gives the heap the pass really holds at those points but spoils its timings: a run of its own.
 */
export class HeapPeak {
  peak = 0;
  /** Peak since the last beginStep(): one controller's. */
  stepPeak = 0;
  private timer?: ReturnType<typeof setInterval>;

  constructor(readonly live = false) {}

  sample(): void {
    if (this.live) gc();
    const used = getHeapStatistics().used_heap_size;
    this.peak = Math.max(this.peak, used);
    this.stepPeak = Math.max(this.stepPeak, used);
  }

  beginStep(): void {
    this.stepPeak = 0;
  }

  /** Collect garbage, start sampling from the heap that is left; returns that heap, bytes. */
  start(): number {
    gc();
    this.peak = 0;
    this.sample();
    const base = this.peak;
    if (!this.live) this.timer = setInterval(() => this.sample(), 2);
    return base;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

export interface Target {
  home: 'serve' | 'edge';
  /** The store controllers use, its calls sampled for the heap. */
  store: Store;
  /** The same connection, unsampled: for setup and the simulated kubelets. */
  raw: Client;
  /** HTTP requests sent to the database so far (the Worker's subrequests); 0 for a file. */
  httpRequests(): number;
  /** CPU the database endpoint process has used so far, ms; NaN when the database is in-process. */
  databaseCpuMs(): number;
  close(): Promise<void>;
}


/** `skiff serve`: the database file in-process. */
export function openServeTarget(file: string, clock: Clock, heap: HeapPeak): Target {
  const raw = openClient(`file:${file}`);
  return {
    home: 'serve',
    store: new Store(sampledClient(raw, heap), clock),
    raw,
    httpRequests: () => 0,
    databaseCpuMs: () => NaN,
    close: async () => raw.close(),
  };
}

/** The Worker: the client worker.ts uses, over HTTP to the endpoint serving `file` from a child process. */
export async function openEdgeTarget(file: string, clock: Clock, heap: HeapPeak): Promise<Target> {
  const endpoint = await startEndpointProcess(file);
  let requests = 0;
  const countingFetch = (input: RequestInfo | URL, init?: RequestInit) => {
    requests++;
    return fetch(input, init);
  };
  const raw = createClient({ url: endpoint.url, authToken: endpoint.authToken, fetch: countingFetch }) as unknown as Client;
  return {
    home: 'edge',
    store: new Store(sampledClient(raw, heap), clock),
    raw,
    httpRequests: () => requests,
    databaseCpuMs: () => endpoint.cpuMs(),
    close: async () => {
      raw.close();
      await endpoint.stop();
    },
  };
}
