// A Store of its own for a test: a fresh libSQL file in a temporary folder, migrated and
// initialised, on a ManualClock so that time moves only when the test moves it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@libsql/client';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

export interface TempStore {
  dir: string;
  client: Client;
  clock: ManualClock;
  store: Store;
  /** Closes the store and removes its folder. */
  remove(): void;
}

export async function openTempStore(prefix: string, file = 'db'): Promise<TempStore> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const client = openClient(`file:${join(dir, file)}`);
  await migrate(client);
  const clock = new ManualClock();
  const store = new Store(client, clock);
  await store.init();
  return {
    dir,
    client,
    clock,
    store,
    remove() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
