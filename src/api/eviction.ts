// pods/eviction, as kube-apiserver's EvictionREST (pkg/registry/core/pod/storage/eviction.go): a pod
// is deleted only if the one PodDisruptionBudget that selects it allows a disruption now. Spending
// that disruption (status.disruptionsAllowed down by one, the pod listed in status.disruptedPods)
// and deleting the pod are one database batch, each write conditional on what was read, so two
// evictions racing cannot both spend the last disruption, and neither write happens without the other.
import { updateDisruptionAllowedCondition, type PodDisruptionBudgetSpec, type PodDisruptionBudgetStatus } from '../kinds/poddisruptionbudget.js';
import type { KObject } from '../kinds/types.js';
import { selectorMatches } from '../kinds/validation.js';
import type { WriteOp } from '../store/store.js';
import { timestamp, type DeleteOptions, type ObjectWriter, type WriteContext, type WriteOptions } from './objects.js';
import type { ResourcePath } from './paths.js';
import { ApiError, badRequest, conflict, notFound, qualified } from './status.js';

/** MaxDisruptedPodSize: evictions a budget's controller has not yet confirmed, past which none is allowed. */
const MAX_DISRUPTED_PODS = 2000;
/** Reads and conditional writes tried before a client is told to come back (EvictionsRetry, without its sleeps). */
const ATTEMPTS = 5;
const EVICTION_VERSIONS = ['policy/v1', 'policy/v1beta1'];
const VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget.";

/** errors.NewTooManyRequests with a DisruptionBudget cause; a Retry-After when `retryAfter` is set. */
function tooManyRequests(cause: string, retryAfter = 0): ApiError {
  return new ApiError(429, 'TooManyRequests', VIOLATION, {
    causes: [{ reason: 'DisruptionBudget', message: cause }],
    ...(retryAfter ? { retryAfterSeconds: retryAfter } : {}),
  });
}

/** createTooManyRequestsError: the budget is being written or was not yet looked at by its controller. */
const stillProcessing = (pdb: string) => tooManyRequests(`The disruption budget ${pdb} is still being processed by the server.`, 10);

const forbidden = (pdb: string, why: string) =>
  new ApiError(403, 'Forbidden', `${qualified('poddisruptionbudget', 'policy')} "${pdb}" is forbidden: ${why}`, { name: pdb, group: 'policy', kind: 'poddisruptionbudget' });

/** A Status as kube-apiserver writes it, with Retry-After when the Status suggests one. */
function reply(err: ApiError): Response {
  const retry = err.details?.retryAfterSeconds;
  return Response.json(err.toStatus(), { status: err.code, headers: retry ? { 'retry-after': String(retry) } : {} });
}

const success = () => Response.json({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }, { status: 201 });

const phaseOf = (pod: KObject) => (pod.status as { phase?: string } | undefined)?.phase;

function isReady(pod: KObject): boolean {
  const conditions = (pod.status as { conditions?: { type?: string; status?: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** canIgnorePDB: a pod that finished, has not started, or is already going disrupts nothing more. */
const canIgnoreBudget = (pod: KObject) => ['Succeeded', 'Failed', 'Pending'].includes(phaseOf(pod) ?? '') || !!pod.metadata?.deletionTimestamp;

/** shouldEnforceResourceVersion: deleting a pod that may yet become ready must not race with it doing so. */
const enforceResourceVersion = (pod: KObject) => !['Succeeded', 'Failed'].includes(phaseOf(pod) ?? '') && !pod.metadata?.deletionTimestamp;

function pinned(options: DeleteOptions, pod: KObject): DeleteOptions {
  return { ...options, preconditions: { ...options.preconditions, resourceVersion: pod.metadata!.resourceVersion } };
}

/** The body's DeleteOptions with the request's dryRun in (propagateDryRun). */
function deleteOptionsOf(body: Record<string, unknown>, opts: WriteOptions): DeleteOptions {
  const options = { ...((body.deleteOptions ?? {}) as DeleteOptions) };
  const query = opts.dryRun ? ['All'] : [];
  const own = options.dryRun ?? [];
  if (own.some((d) => d !== 'All')) throw badRequest(`Invalid dryRun value: ${own.join(',')}; only "All" is supported`);
  if (own.length === 0) options.dryRun = query;
  else if (query.length && JSON.stringify(query) !== JSON.stringify(own)) {
    throw new ApiError(500, 'InternalError', `Internal error occurred: Non-matching dry-run options in request and content: [${query.join(' ')}] and [${own.join(' ')}]`);
  }
  return options;
}

/** The DisruptionTarget condition the eviction leaves on a pod it deletes gracefully (PodDisruptionConditions). */
function withDisruptionTarget(op: WriteOp, now: string): WriteOp {
  if (op.op !== 'update') return op;
  const pod = op.object;
  const status = ((pod.status ??= {}) as { conditions?: Record<string, unknown>[] });
  const old = status.conditions?.find((c) => c.type === 'DisruptionTarget');
  const condition = {
    type: 'DisruptionTarget',
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: old?.status === 'True' ? old.lastTransitionTime : now,
    reason: 'EvictionByEvictionAPI',
    message: 'Eviction API: evicting',
  };
  status.conditions = old ? status.conditions!.map((c) => (c === old ? condition : c)) : [...(status.conditions ?? []), condition];
  return op;
}

export class Eviction {
  constructor(
    private ctx: WriteContext,
    private writer: ObjectWriter,
  ) {}

  private now(): string {
    return timestamp(this.ctx.clock);
  }

  /** POST pods/NAME/eviction with a policy/v1 (or v1beta1) Eviction: 201, or why not. */
  async evict(rp: ResourcePath, body: Record<string, unknown>, opts: WriteOptions): Promise<Response> {
    if (body.kind !== undefined && body.kind !== 'Eviction') throw badRequest(`expected an Eviction, got ${String(body.kind)}`);
    if (body.apiVersion !== undefined && !EVICTION_VERSIONS.includes(String(body.apiVersion))) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (policy/v1)`);
    }
    const meta = (body.metadata ?? {}) as { name?: string; namespace?: string };
    if (meta.namespace && meta.namespace !== rp.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    if (meta.name !== rp.name) throw badRequest('name in URL does not match name in Eviction object');
    const options = deleteOptionsOf(body, opts);
    try {
      return await this.attempts(rp, options);
    } catch (e) {
      if (e instanceof ApiError && e.code === 429) return reply(e);
      throw e;
    }
  }

  private async attempts(rp: ResourcePath, options: DeleteOptions): Promise<Response> {
    const namespace = rp.namespace!;
    const name = rp.name!;
    const userPinned = !!options.preconditions?.resourceVersion;
    for (let attempt = 1; ; attempt++) {
      // One round trip: the pod and the namespace's budgets.
      const [[pod], budgets] = await this.ctx.store.query([
        { sql: "SELECT rv, object FROM objects WHERE kind = 'Pod' AND namespace = ? AND name = ?", args: [namespace, name] },
        { sql: "SELECT rv, object FROM objects WHERE kind = 'PodDisruptionBudget' AND namespace = ?", args: [namespace] },
      ]);
      if (!pod) throw notFound('pods', '', name);
      const last = attempt >= ATTEMPTS;

      if (canIgnoreBudget(pod)) {
        const done = await this.deletePod(rp, pod, enforceResourceVersion(pod) && !userPinned ? pinned(options, pod) : options);
        if (done) return success();
        if (userPinned || last) throw conflict('pods', '', name);
        continue;
      }

      const labels = pod.metadata?.labels ?? {};
      const matching = budgets.filter((b) => selectorMatches((b.spec as PodDisruptionBudgetSpec | undefined)?.selector, labels));
      if (matching.length > 1) {
        const message = 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.';
        return Response.json({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code: 500 }, { status: 500 });
      }
      if (matching.length === 0) {
        if (await this.deletePod(rp, pod, options)) return success();
        if (last) throw conflict('pods', '', name);
        continue;
      }

      const pdb = matching[0];
      const pdbName = pdb.metadata!.name!;
      const spec = (pdb.spec ?? {}) as PodDisruptionBudgetSpec;
      const status = (pdb.status ?? {}) as PodDisruptionBudgetStatus;
      // A pod that is not ready counts for nothing: evicting it spends no disruption, where the budget allows.
      if (!isReady(pod)) {
        const healthy = (status.currentHealthy ?? 0) >= (status.desiredHealthy ?? 0) && (status.desiredHealthy ?? 0) > 0;
        if (spec.unhealthyPodEvictionPolicy === 'AlwaysAllow' || healthy) {
          if (await this.deletePod(rp, pod, pinned(options, pod))) return success();
          throw userPinned ? conflict('pods', '', name) : stillProcessing(pdbName);
        }
      }

      // checkAndDecrement
      if ((status.observedGeneration ?? 0) < (pdb.metadata!.generation ?? 0)) throw stillProcessing(pdbName);
      const allowed = status.disruptionsAllowed ?? 0;
      if (allowed < 0) throw forbidden(pdbName, 'pdb disruptions allowed is negative');
      if (Object.keys(status.disruptedPods ?? {}).length > MAX_DISRUPTED_PODS) {
        throw forbidden(pdbName, 'DisruptedPods map too big - too many evictions not confirmed by PDB controller');
      }
      if (allowed === 0) {
        throw tooManyRequests(`The disruption budget ${pdbName} needs ${status.desiredHealthy ?? 0} healthy pods and has ${status.currentHealthy ?? 0} currently`);
      }
      if (await this.spendAndDelete(rp, pdb, pod, options)) return success();
      if (last) throw stillProcessing(pdbName);
    }
  }

  /** The pod deleted as `options` say; false when it changed since it was read. */
  private async deletePod(rp: ResourcePath, pod: KObject, options: DeleteOptions): Promise<boolean> {
    const plan = this.writer.planDelete(rp.def, pod, options);
    if (!plan.op || options.dryRun?.length) return true;
    const [res] = await this.ctx.store.commit([withDisruptionTarget(plan.op, this.now())]);
    if (res.ok) this.ctx.onWrite?.(rp.def.kind);
    return res.ok;
  }

  /**
   * One disruption of `pdb` spent on `pod`, and the pod deleted, in one batch: the budget's write is
   * conditional on its resourceVersion and on the pod's, the pod's on the budget's write having just
   * happened (changes() of the statement before it), so both happen or neither. False on a conflict.
   */
  private async spendAndDelete(rp: ResourcePath, pdb: KObject, pod: KObject, options: DeleteOptions): Promise<boolean> {
    const plan = this.writer.planDelete(rp.def, pod, options);
    if (options.dryRun?.length) return true;
    const now = this.now();
    const old = (pdb.status ?? {}) as PodDisruptionBudgetStatus;
    const status: PodDisruptionBudgetStatus = {
      ...old,
      disruptedPods: { ...old.disruptedPods, [pod.metadata!.name!]: now },
      disruptionsAllowed: (old.disruptionsAllowed ?? 0) - 1,
    };
    if (status.disruptionsAllowed === 0) status.conditions = updateDisruptionAllowedCondition(status, now);
    const podMeta = pod.metadata!;
    const ops: WriteOp[] = [{
      op: 'update',
      object: { ...pdb, status },
      rv: Number(pdb.metadata!.resourceVersion),
      guard: { sql: "EXISTS (SELECT 1 FROM objects WHERE kind = 'Pod' AND namespace = ? AND name = ? AND rv = ?)", args: [podMeta.namespace!, podMeta.name!, Number(podMeta.resourceVersion)] },
    }];
    if (plan.op) {
      const op = withDisruptionTarget(plan.op, now);
      if (op.op === 'update' || op.op === 'delete') ops.push({ ...op, guard: { sql: 'changes() = 1', args: [] } });
    }
    const results = await this.ctx.store.commit(ops);
    if (!results.every((r) => r.ok)) return false;
    this.ctx.onWrite?.('PodDisruptionBudget');
    this.ctx.onWrite?.(rp.def.kind);
    return true;
  }
}
