// The scenarios run in one home, on its own copy of the built cluster: here for `skiff serve`, and in
// a child process for the Worker, whose V8 heap is capped as a Worker isolate's (128 MB), so that a
// pass needing more would fail there instead of being reported from a roomy Node heap.
// Run as a script (the child), it takes a RunSpec as JSON in argv and prints the figures as JSON.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../src/store/clock.js';
import type { BuiltCluster, ClusterSize } from './edge-cluster.js';
import { runScenarios, type Scenario } from './edge-scenarios.js';
import { HeapPeak, openEdgeTarget, openServeTarget } from './edge-target.js';

export interface RunSpec {
  size: ClusterSize;
  maxPasses: number;
  cluster: BuiltCluster;
}

export interface HomeRun {
  scenarios: Scenario[];
  /** The largest collected heap before a pass, bytes. */
  heapBase: number;
}

/** Old space plus two semi-spaces: 100 + 2 x 8 MB, inside a Worker isolate's 128 MB. */
export const EDGE_HEAP_FLAGS = ['--max-old-space-size=100', '--max-semi-space-size=8'];

export async function scenariosIn(home: 'serve' | 'edge', file: string, run: RunSpec, log: (line: string) => void, liveHeap = false): Promise<HomeRun> {
  const clock = new ManualClock(run.cluster.now);
  const heap = new HeapPeak(liveHeap);
  const t = home === 'serve' ? openServeTarget(file, clock, heap) : await openEdgeTarget(file, clock, heap);
  try {
    const scenarios = await runScenarios(t, clock, heap, run.cluster, run.size, run.maxPasses, log);
    return { scenarios, heapBase: Math.max(...scenarios.flatMap((s) => s.passes.map((p) => p.heapBase))) };
  } finally {
    await t.close();
  }
}

/** The Worker's home in a child process with EDGE_HEAP_FLAGS; its progress lines go to this process's output. */
export async function scenariosInCappedProcess(file: string, run: RunSpec, liveHeap = false): Promise<HomeRun> {
  const child = spawn(process.execPath, [...EDGE_HEAP_FLAGS, '--import', 'tsx', fileURLToPath(import.meta.url), file, JSON.stringify(run), liveHeap ? 'live' : ''], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the edge home exited with ${code} (out of its capped heap?)`);
  return JSON.parse(out) as HomeRun;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, spec, live] = process.argv.slice(2);
  const result = await scenariosIn('edge', file, JSON.parse(spec) as RunSpec, (line) => console.error(line), live === 'live');
  process.stdout.write(JSON.stringify(result));
}
