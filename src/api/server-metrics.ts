// What GET /metrics reports, in every home: the API's requests as kube-apiserver names them
// (apiserver_request_total, apiserver_request_duration_seconds, apiserver_longrunning_requests), the
// reconcile passes and their scheduler, nodes by condition and pods by phase (read at scrape time, one
// round trip), and the database's round trips and errors. Counts are the process's (`skiff serve`)
// or the isolate's (Workers) since it started.
import type { MiddlewareHandler } from 'hono';
import type { Store } from '../store/store.js';
import { Registry } from './metrics-registry.js';
import { parseResourcePath } from './paths.js';

/** kube-apiserver's buckets for apiserver_request_duration_seconds. */
const REQUEST_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
/** kube-scheduler's for scheduler_scheduling_attempt_duration_seconds: ExponentialBuckets(0.001, 2, 15). */
const SCHEDULER_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);
const PASS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const PROFILE = 'default-scheduler';
const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);
const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];
const CONDITION_STATUSES = ['True', 'False', 'Unknown'];

/** What a reconcile pass reports (pass.ts's PassResult, and on serve the pass thread's message). */
export interface PassReport {
  skipped: boolean;
  writes: number;
  roundTrips: number;
  cpuSeconds?: number;
  ran?: [number, number];
  controllerSeconds?: [string, number][];
  schedulingAttempts?: number;
  scheduled?: number;
  /** Where the pass has a database connection of its own (serve's pass thread): its failed calls. */
  dbErrors?: number;
}

type RequestLabels = Record<'verb' | 'dry_run' | 'group' | 'version' | 'resource' | 'subresource' | 'scope' | 'component', string>;

export class ServerMetrics {
  readonly registry = new Registry();
  private requests = this.registry.counter('apiserver_request_total', 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.', ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component', 'code']);
  private latency = this.registry.histogram('apiserver_request_duration_seconds', 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.', ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component'], REQUEST_BUCKETS);
  private longRunning = this.registry.gauge('apiserver_longrunning_requests', 'Gauge of all active long-running apiserver requests (watches, connections to pods) broken out by verb, group, version, resource, scope and component.', ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component']);
  private passes = this.registry.counter('skiff_reconcile_passes_total', 'Reconcile passes this server ran, skipped ones included.');
  private skipped = this.registry.counter('skiff_reconcile_passes_skipped_total', 'Passes skipped because another server held the pass lease.');
  private failed = this.registry.counter('skiff_reconcile_passes_failed_total', 'Passes that ended in an error (the next pass carries on).');
  private writes = this.registry.counter('skiff_reconcile_writes_total', 'Objects written by reconcile passes.');
  private passRoundTrips = this.registry.counter('skiff_reconcile_round_trips_total', 'Database round trips of reconcile passes.');
  private cpu = this.registry.counter('skiff_reconcile_pass_cpu_seconds_total', 'CPU time of the reconcile pass thread spent in passes (where the runtime tells it).');
  private passDuration = this.registry.histogram('skiff_reconcile_pass_duration_seconds', 'How long the controllers of a pass (not skipped) took, seconds.', [], PASS_BUCKETS);
  private controllerDuration = this.registry.histogram('skiff_reconcile_controller_duration_seconds', 'How long each controller took in a pass, seconds.', ['controller'], PASS_BUCKETS);
  private attempts = this.registry.counter('scheduler_schedule_attempts_total', 'Number of attempts to schedule pods, by the result. \'unschedulable\' means a pod could not be scheduled.', ['result', 'profile']);
  private attemptDuration = this.registry.histogram('scheduler_scheduling_attempt_duration_seconds', 'Scheduling attempt latency in seconds (scheduling algorithm + binding): a pass decides its pods together, so each attempt counts the scheduler\'s time in that pass.', ['result', 'profile'], SCHEDULER_BUCKETS);
  private nodes = this.registry.gauge('skiff_nodes', 'Nodes by condition type and status, read at scrape time.', ['condition', 'status']);
  private pods = this.registry.gauge('skiff_pods', 'Pods by phase, read at scrape time.', ['phase']);
  private dbRoundTrips = this.registry.counter('skiff_db_round_trips_total', 'Database round trips (one execute or one batch) of the API and the reconcile passes.');
  private dbErrors = this.registry.counter('skiff_db_errors_total', 'Database calls that failed (errors, not failed conditions) of the API and the reconcile passes.');
  /** Round trips and errors of the passes' own connection (serve's pass thread), beyond the API store's. */
  private passConnection = { roundTrips: 0, errors: 0 };

  /** @param separatePasses the passes have a database connection of their own (not `store`). */
  constructor(
    private store: Store,
    private separatePasses = false,
  ) {
    for (const result of ['scheduled', 'unschedulable']) this.attempts.inc({ result, profile: PROFILE }, 0);
  }

  /** Hono middleware counting every request that reaches it, and the watches open. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const start = performance.now();
      const url = new URL(c.req.url);
      const labels = requestLabels(c.req.method, url, c.req.header('content-type'));
      const long = labels.verb === 'WATCH' || labels.verb === 'CONNECT';
      const { dry_run: _d, ...gaugeLabels } = labels;
      if (long) this.longRunning.inc(gaugeLabels);
      let done = false;
      const finish = (code: number) => {
        if (done) return;
        done = true;
        if (long) this.longRunning.dec(gaugeLabels);
        this.requests.inc({ ...labels, code: String(code) });
        this.latency.observe(labels, (performance.now() - start) / 1000);
      };
      try {
        await next();
      } catch (e) {
        finish(500);
        throw e;
      }
      const res = c.res;
      // A stream (a watch) is counted when it ends, as kube-apiserver counts it.
      if (long && res.body && res.status < 300) c.res = new Response(endsWith(res.body, () => finish(res.status)), res);
      else finish(res.status);
    };
  }

  /** After each reconcile pass this server (or isolate) ran. */
  observePass(p: PassReport): void {
    this.passes.inc();
    if (p.skipped) this.skipped.inc();
    this.writes.inc({}, p.writes);
    this.passRoundTrips.inc({}, p.roundTrips);
    if (p.cpuSeconds) this.cpu.inc({}, p.cpuSeconds);
    if (this.separatePasses) this.passConnection.roundTrips += p.roundTrips;
    this.passDbErrors(p.dbErrors);
    if (p.ran) this.passDuration.observe({}, (p.ran[1] - p.ran[0]) / 1000);
    let schedulerSeconds = 0;
    for (const [controller, seconds] of p.controllerSeconds ?? []) {
      this.controllerDuration.observe({ controller }, seconds);
      if (controller === 'scheduler') schedulerSeconds = seconds;
    }
    const tried = p.schedulingAttempts ?? 0;
    const placed = Math.min(p.scheduled ?? 0, tried);
    for (const [result, n] of [['scheduled', placed], ['unschedulable', tried - placed]] as const) {
      if (n <= 0) continue;
      this.attempts.inc({ result, profile: PROFILE }, n);
      this.attemptDuration.observe({ result, profile: PROFILE }, schedulerSeconds, n);
    }
  }

  /** A pass that failed: its round trips and database errors still count. */
  observeFailedPass(p: { roundTrips: number; dbErrors?: number }): void {
    this.passes.inc();
    this.failed.inc();
    this.passRoundTrips.inc({}, p.roundTrips);
    if (this.separatePasses) this.passConnection.roundTrips += p.roundTrips;
    this.passDbErrors(p.dbErrors);
  }

  private passDbErrors(n = 0): void {
    if (this.separatePasses) this.passConnection.errors += n;
  }

  /** The exposition: nodes and pods read now (one round trip), every count as of now. */
  async expose(): Promise<string> {
    const [pods, nodes] = await this.store.rows([
      { sql: "SELECT coalesce(json_extract(object, '$.status.phase'), 'Pending') AS phase, count(*) AS n FROM objects WHERE kind = 'Pod' GROUP BY 1", args: [] },
      {
        sql: `SELECT json_extract(c.value, '$.type') AS condition, coalesce(json_extract(c.value, '$.status'), 'Unknown') AS status, count(*) AS n
          FROM objects o, json_each(o.object, '$.status.conditions') c WHERE o.kind = 'Node' GROUP BY 1, 2`,
        args: [],
      },
    ]);
    this.pods.reset();
    for (const phase of POD_PHASES) this.pods.set({ phase }, 0);
    for (const r of pods!) this.pods.set({ phase: String(r.phase) }, Number(r.n));
    this.nodes.reset();
    for (const condition of new Set(nodes!.map((r) => String(r.condition)))) for (const status of CONDITION_STATUSES) this.nodes.set({ condition, status }, 0);
    for (const r of nodes!) this.nodes.set({ condition: String(r.condition), status: String(r.status) }, Number(r.n));
    // Counters set from the store's own counts: reset, then the current totals.
    this.dbRoundTrips.reset();
    this.dbRoundTrips.inc({}, this.store.roundTrips + this.passConnection.roundTrips);
    this.dbErrors.reset();
    this.dbErrors.inc({}, this.store.errors + this.passConnection.errors);
    return this.registry.expose();
  }
}

/** `body`, calling `ended` once when it is read to its end, fails, or is cancelled. */
function endsWith(body: ReadableStream<Uint8Array>, ended: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          ended();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        ended();
        controller.error(e);
      }
    },
    cancel(reason) {
      ended();
      return reader.cancel(reason);
    },
  });
}

/** Known paths outside the resources, reported as they are (kube-apiserver puts them in `subresource`). */
const NON_RESOURCE = new Set(['/', '/api', '/apis', '/healthz', '/livez', '/readyz', '/version', '/metrics', '/cacerts', '/openapi/v2', '/openapi/v3', '/.well-known/openid-configuration', '/openid/v1/jwks']);

const SKIFF_PATHS = new Set(['/skiff/v1/join', '/skiff/v1/tunnel', '/skiff/v1/relay']);

/** A request's labels as kube-apiserver reports them (verb LIST vs GET, WATCH, APPLY, CONNECT, ...). */
export function requestLabels(method: string, url: URL, contentType: string | undefined): RequestLabels {
  const component = 'apiserver';
  const dry_run = url.searchParams.getAll('dryRun').length ? 'All' : '';
  let rp: ReturnType<typeof parseResourcePath>;
  try {
    rp = parseResourcePath(url.pathname);
  } catch {
    rp = undefined; // not a resource skiff serves: a 404, counted below as another path
  }
  if (rp) {
    const watch = rp.watch || ['true', '1'].includes(url.searchParams.get('watch') ?? '');
    let verb: string;
    if (rp.subresource && CONNECT_SUBRESOURCES.has(rp.subresource)) verb = 'CONNECT';
    else if (method === 'GET' || method === 'HEAD') verb = watch ? 'WATCH' : rp.name ? 'GET' : 'LIST';
    else if (method === 'PATCH') verb = contentType?.split(';')[0].trim() === 'application/apply-patch+yaml' ? 'APPLY' : 'PATCH';
    else if (method === 'DELETE') verb = rp.name ? 'DELETE' : 'DELETECOLLECTION';
    else verb = method;
    // kube-apiserver's CleanScope: a named object (or a create) is "resource".
    const scope = rp.name || verb === 'POST' ? 'resource' : rp.namespace !== undefined ? 'namespace' : 'cluster';
    return { verb, dry_run, group: rp.group, version: rp.version, resource: rp.def.plural, subresource: rp.subresource ?? '', scope, component };
  }
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  let subresource = 'other';
  if (NON_RESOURCE.has(path)) subresource = path;
  else if (/^\/api\/[^/]+$/.test(path)) subresource = '/api/*';
  else if (/^\/apis\/[^/]+\/[^/]+$/.test(path)) subresource = '/apis/*';
  else if (path.startsWith('/openapi/v3/')) subresource = '/openapi/v3/*';
  else if (path.startsWith('/apis/metrics.k8s.io/')) subresource = '/apis/metrics.k8s.io/*';
  else if (SKIFF_PATHS.has(path)) subresource = path;
  else if (/^\/skiff\/v1\/nodes\/[^/]+\/usage$/.test(path)) subresource = '/skiff/v1/nodes/*/usage';
  return { verb: method, dry_run, group: '', version: '', resource: '', subresource, scope: '', component };
}
