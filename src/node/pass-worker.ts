// The reconcile passes of `skiff serve`, on a thread of their own with their own database
// connection, so a pass (seconds of work with a large backlog) never holds the API's event loop.
// The API thread kicks it after writes; it tells the API thread when it committed (watches wake) and
// what each pass cost.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { ControlOptions } from '../control/context.js';
import { PassScheduler, reconcile } from '../control/pass.js';
import { systemClock } from '../store/clock.js';
import { openClient } from '../store/db.js';
import { Store } from '../store/store.js';
import { filePath, passClient } from './db-thread.js';

export interface PassThreadData {
  url: string;
  authToken?: string;
  /** For a database file: a port to the process's writer thread, which takes this thread's writes. */
  writer?: MessagePort;
  control: ControlOptions;
  intervalMs: number;
}

export type PassThreadMessage =
  | { type: 'committed' }
  | {
      type: 'pass';
      cpuMicros: number;
      writes: number;
      roundTrips: number;
      skipped: boolean;
      ran?: [number, number];
      controllerSeconds?: [string, number][];
      schedulingAttempts?: number;
      scheduled?: number;
      /** This thread's database calls that failed during the pass. */
      dbErrors: number;
    }
  | { type: 'failed'; roundTrips: number; dbErrors: number };
export type PassThreadCommand = 'kick' | 'stop';

const { url, authToken, writer, control, intervalMs } = workerData as PassThreadData;
const port = parentPort!;
const store = new Store(writer ? passClient(filePath(url), writer) : openClient(url, authToken), systemClock);

// Where the system lets it (Linux), this thread yields the CPU to the API's threads: passes are
// background work, and with a backlog they would otherwise take a core from requests.
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 10);
} catch {
  // not Linux, or not allowed: passes run at the process's priority
}
const post = (m: PassThreadMessage) => port.postMessage(m);
store.onCommit(() => post({ type: 'committed' }));

// This thread's own CPU time where Node.js tells it (22.19 and later), for the share of a core passes take.
const threadCpu = () => {
  const usage = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage?.();
  return usage ? usage.user + usage.system : 0;
};

// A pass follows a write after this long: long enough that a stream of writes shares one (each pass
// takes and gives back the lease, two commits), short against kubelet's seconds.
const KICK_DEBOUNCE_MS = 50;

const passes = new PassScheduler(async () => {
  const before = threadCpu();
  const [trips, errors] = [store.roundTrips, store.errors];
  let result;
  try {
    result = await reconcile(store, systemClock, control);
  } catch (e) {
    post({ type: 'failed', roundTrips: store.roundTrips - trips, dbErrors: store.errors - errors });
    throw e;
  }
  const { writes, roundTrips, skipped, ran, controllerSeconds, schedulingAttempts, scheduled } = result;
  post({ type: 'pass', cpuMicros: threadCpu() - before, writes, roundTrips, skipped, ran, controllerSeconds, schedulingAttempts, scheduled, dbErrors: store.errors - errors });
  return result;
}, intervalMs, KICK_DEBOUNCE_MS);
passes.start();

port.on('message', (m: PassThreadCommand) => {
  if (m === 'kick') passes.kickAfterWrite();
  else if (m === 'stop') {
    void passes.stop().then(() => {
      store.close();
      port.close();
    });
  }
});
