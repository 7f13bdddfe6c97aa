// The reconcile passes of `skiff serve`, on a thread of their own with their own database
// connection, so a pass (seconds of work with a large backlog) never holds the API's event loop.
// The API thread kicks it after writes; it tells the API thread when it committed (watches wake) and
// what each pass cost.
import { parentPort, workerData } from 'node:worker_threads';
import type { ControlOptions } from '../control/context.js';
import { PassScheduler, reconcile } from '../control/pass.js';
import { systemClock } from '../store/clock.js';
import { openClient } from '../store/db.js';
import { Store } from '../store/store.js';

export interface PassThreadData {
  url: string;
  authToken?: string;
  control: ControlOptions;
  intervalMs: number;
}

export type PassThreadMessage =
  | { type: 'committed' }
  | { type: 'pass'; cpuMicros: number; writes: number; roundTrips: number; skipped: boolean; ran?: [number, number] }
  | { type: 'stopped' };
export type PassThreadCommand = 'kick' | 'stop';

const { url, authToken, control, intervalMs } = workerData as PassThreadData;
const port = parentPort!;
const store = new Store(openClient(url, authToken), systemClock);
const post = (m: PassThreadMessage) => port.postMessage(m);
store.onCommit(() => post({ type: 'committed' }));

// This thread's own CPU time where Node.js tells it (22.19 and later), for the share of a core passes take.
const threadCpu = () => {
  const usage = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage?.();
  return usage ? usage.user + usage.system : 0;
};

const passes = new PassScheduler(async () => {
  const before = threadCpu();
  const result = await reconcile(store, systemClock, control);
  post({ type: 'pass', cpuMicros: threadCpu() - before, writes: result.writes, roundTrips: result.roundTrips, skipped: result.skipped, ran: result.ran });
  return result;
}, intervalMs);
passes.start();

port.on('message', (m: PassThreadCommand) => {
  if (m === 'kick') passes.kick();
  else if (m === 'stop') {
    void passes.stop().then(() => {
      store.close();
      post({ type: 'stopped' });
      port.close();
    });
  }
});
