// The API thread's side of the pass thread (pass-worker.ts): kicks, commit notices, shutdown, and
// each pass's counts for /metrics.
import type { MessagePort, Worker } from 'node:worker_threads';
import type { ControlOptions } from '../control/context.js';
import type { ServerMetrics } from '../api/server-metrics.js';
import type { PassThreadCommand, PassThreadData, PassThreadMessage } from './pass-worker.js';
import { startWorker } from './worker-script.js';

export interface PassThreadOptions {
  url: string;
  authToken?: string;
  control: ControlOptions;
  intervalMs: number;
  /** A pass committed: what waits on commits in this thread (watches) should look. */
  onCommit: () => void;
  /** For a database file: a new port to the API's writer thread, which takes the passes' writes too. */
  writerPort?: () => MessagePort;
  /** Where each pass is counted (/metrics). */
  metrics?: ServerMetrics;
  /** Log verbosity (--v): 4 and up prints a line per pass. */
  verbosity?: number;
}

export class PassThread {
  private worker!: Worker;
  private kicked = false;
  private alive = false;
  private stopping?: Promise<void>;

  constructor(private opts: PassThreadOptions) {
    this.start();
  }

  private start(): void {
    const writer = this.opts.writerPort?.();
    const data: PassThreadData = { url: this.opts.url, authToken: this.opts.authToken, writer, control: this.opts.control, intervalMs: this.opts.intervalMs };
    const worker = startWorker('pass-worker', { workerData: data, transferList: writer ? [writer] : [], name: 'skiff-passes' });
    this.worker = worker;
    this.alive = true;
    worker.on('message', (m: PassThreadMessage) => {
      if (m.type === 'committed') this.opts.onCommit();
      else if (m.type === 'failed') this.opts.metrics?.observeFailedPass(m);
      else if (m.type === 'pass') {
        this.opts.metrics?.observePass({ ...m, cpuSeconds: m.cpuMicros / 1e6 });
        if ((this.opts.verbosity ?? 0) >= 4) {
          const ran = m.ran ? ` ran ${m.ran[0]}-${m.ran[1]}` : '';
          console.log(`skiff: pass${m.skipped ? ' skipped (lease held elsewhere)' : ran} writes=${m.writes} roundTrips=${m.roundTrips} cpu=${(m.cpuMicros / 1000).toFixed(1)}ms`);
        }
      }
    });
    worker.on('error', (err) => console.error('skiff: the reconcile pass thread failed:', err));
    // A thread that died is started again: passes must go on for the cluster to converge.
    worker.on('exit', () => {
      this.alive = false;
      if (!this.stopping) setTimeout(() => this.stopping || this.start(), 1000).unref();
    });
  }

  /** Ask for a pass soon; many kicks in one turn of the event loop are one message. */
  kick(): void {
    if (this.kicked || this.stopping) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.worker.postMessage('kick' satisfies PassThreadCommand);
    });
  }

  /** Lets a running pass finish, then ends the thread. */
  stop(): Promise<void> {
    return (this.stopping ??= new Promise<void>((done) => {
      if (!this.alive) return done();
      this.worker.once('exit', () => done());
      this.worker.postMessage('stop' satisfies PassThreadCommand);
    }));
  }
}
