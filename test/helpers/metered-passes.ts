// One controller's passes, measured against the bounds of a pass: its database round trips, how many
// whole objects it read (rows carrying an `object` column) and how many objects it wrote (events aside).
import { defaultControlOptions, PassContext, type ControlOptions } from '../../src/control/context.js';
import type { Clock } from '../../src/store/clock.js';
import type { Store } from '../../src/store/store.js';

export interface PassCost {
  roundTrips: number;
  wholeReads: number;
  writes: number;
}

export type Controller = (ctx: PassContext) => Promise<void>;

export interface MeteredPasses {
  /** One pass of the controller. */
  pass(): Promise<PassCost>;
  /** Passes until one writes nothing: the costs of those that wrote. Throws past `max`. */
  untilIdle(max?: number): Promise<PassCost[]>;
}

export function meteredPasses(store: Store, clock: Clock, controller: Controller, control: Partial<ControlOptions>): MeteredPasses {
  const opts = { ...defaultControlOptions, ...control };
  let cost: PassCost = { roundTrips: 0, wholeReads: 0, writes: 0 };
  const [query, rows, commit] = [store.query.bind(store), store.rows.bind(store), store.commit.bind(store)];
  store.query = async (stmts) => {
    const result = await query(stmts);
    cost.wholeReads += result.flat().length;
    return result;
  };
  store.rows = async (stmts) => {
    const result = await rows(stmts);
    cost.wholeReads += result.flat().filter((r) => r.object !== null && r.object !== undefined).length;
    return result;
  };
  store.commit = async (ops) => {
    cost.writes += ops.filter((o) => o.op !== 'event').length;
    return commit(ops);
  };

  const pass = async (): Promise<PassCost> => {
    cost = { roundTrips: 0, wholeReads: 0, writes: 0 };
    const before = store.roundTrips;
    await controller(new PassContext(store, clock, opts));
    cost.roundTrips = store.roundTrips - before;
    return cost;
  };
  return {
    pass,
    async untilIdle(max = 100) {
      const costs: PassCost[] = [];
      for (let i = 0; i < max; i++) {
        const c = await pass();
        if (c.writes === 0) return costs;
        costs.push(c);
      }
      throw new Error(`still writing after ${max} passes`);
    },
  };
}
