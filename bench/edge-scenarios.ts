// The passes measured in each home, on identical copies of the settled cluster: one with nothing to
// do, a Deployment doubled, 10% of the nodes lost (detected, then their pods evicted and replaced).
// Every pass of a scenario is measured until one writes nothing; the limits apply per pass (a cron
// invocation runs one), so the report takes each scenario's worst pass.
import { defaultControlOptions, type ControlOptions } from '../src/control/context.js';
import { reconcile } from '../src/control/pass.js';
import type { ManualClock } from '../src/store/clock.js';
import { NS, renewLeases, replicasOf, type BuiltCluster, type ClusterSize } from './edge-cluster.js';
import { runKubelets } from './fixtures.js';
import { measuredPass, type PassFigures } from './edge-pass.js';
import type { HeapPeak, Target } from './edge-target.js';
import { cronJobObjects, daemonSetObject, msToNextMinute } from './workloads.js';

export interface Scenario {
  name: string;
  passes: PassFigures[];
  /** False when the last pass still wrote something (the cap was reached). */
  settled: boolean;
}

const LOST_FRACTION = 0.1;
/** CronJobs due in the same minute (issue 12's goal: 1,000 fit one cron invocation's limits). */
const CRONJOBS = 1000;

/** Passes until one writes nothing (or `maxPasses`), the kubelets that are up running between them. */
async function passesUntilIdle(t: Target, clock: ManualClock, heap: HeapPeak, maxPasses: number, down: string[], opts: ControlOptions): Promise<{ passes: PassFigures[]; settled: boolean }> {
  const passes: PassFigures[] = [];
  while (passes.length < maxPasses) {
    const pass = await measuredPass(t, clock, heap, opts);
    passes.push(pass);
    if (pass.writes === 0) return { passes, settled: true };
    await runKubelets(t.raw, clock.now(), down);
  }
  return { passes, settled: false };
}

export async function runScenarios(
  t: Target,
  clock: ManualClock,
  heap: HeapPeak,
  cluster: BuiltCluster,
  size: ClusterSize,
  maxPasses: number,
  log: (line: string) => void,
  opts: ControlOptions = defaultControlOptions,
): Promise<Scenario[]> {
  const scenarios: Scenario[] = [];
  const record = (name: string, run: { passes: PassFigures[]; settled: boolean }) => {
    scenarios.push({ name, ...run });
    const worst = Math.max(...run.passes.map((p) => p.wallMs));
    log(`  ${t.home}: ${name}: ${run.passes.length} pass${run.passes.length === 1 ? '' : 'es'}, the longest ${(worst / 1000).toFixed(1)} s${run.settled ? '' : ' (NOT SETTLED)'}`);
  };

  // The first pass of a fresh process compiles the code: run one before measuring.
  await reconcile(t.store, clock, opts);
  const idle = await measuredPass(t, clock, heap, opts);
  record('idle pass (steady state)', { passes: [idle], settled: idle.writes === 0 });

  const name = cluster.deploymentNames[0];
  const d = (await t.store.get('Deployment', NS, name))!;
  const doubled = structuredClone(d);
  (doubled.spec as { replicas: number }).replicas = 2 * replicasOf(size, 0);
  doubled.metadata!.generation = (d.metadata!.generation ?? 1) + 1;
  const [scaled] = await t.store.commit([{ op: 'update', object: doubled, rv: Number(d.metadata!.resourceVersion) }]);
  if (!scaled.ok) throw new Error('scaling the Deployment failed');
  record(`Deployment ${name} scaled ${replicasOf(size, 0)} -> ${2 * replicasOf(size, 0)}`, await passesUntilIdle(t, clock, heap, maxPasses, [], opts));

  const [ds] = await t.store.commit([{ op: 'create', object: daemonSetObject(NS, clock.now()) }]);
  if (!ds.ok) throw new Error('creating the DaemonSet failed');
  record(`DaemonSet over ${size.nodes} nodes`, await passesUntilIdle(t, clock, heap, maxPasses, [], opts));

  const made = await t.store.commit(cronJobObjects(NS, CRONJOBS, clock.now()).map((object) => ({ op: 'create' as const, object })));
  if (made.some((r) => !r.ok)) throw new Error('creating the CronJobs failed');
  await passesUntilIdle(t, clock, heap, maxPasses, [], opts);
  clock.advance(msToNextMinute(clock.now()));
  record(`${CRONJOBS} CronJobs due in the same minute`, await passesUntilIdle(t, clock, heap, maxPasses, [], opts));

  const lost = cluster.nodeNames.slice(0, Math.max(1, Math.round(size.nodes * LOST_FRACTION)));
  clock.advance((opts.nodeMonitorGracePeriodSeconds + 1) * 1000);
  await renewLeases(t.raw, clock.now(), lost);
  record(`${lost.length} nodes lost: detected`, await passesUntilIdle(t, clock, heap, maxPasses, lost, opts));

  clock.advance((opts.defaultUnreachableTolerationSeconds + 1) * 1000);
  await renewLeases(t.raw, clock.now(), lost);
  record(`${lost.length} nodes lost: pods evicted, replaced`, await passesUntilIdle(t, clock, heap, maxPasses, lost, opts));
  return scenarios;
}
