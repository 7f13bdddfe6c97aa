// The API server's patch engines behind one entry. Every engine returns a new
// object and leaves its inputs untouched; every failure is a PatchError (code
// 400, 409 or 422), ApplyConflictError (409) being the apply conflict.
import { applyJsonPatch } from './json-patch.js';
import { PatchError, applyMergePatch, type JsonObject } from './merge-patch.js';
import { serverSideApply } from './server-side-apply.js';
import { applyStrategicMergePatch } from './strategic-merge.js';

export { PatchError, type JsonObject } from './merge-patch.js';
export {
  ApplyConflictError,
  updateManagedFields,
  type ConflictCause,
  type ManagedFieldsEntry,
  type UpdateOptions,
} from './server-side-apply.js';
export { STRATEGIES, strategiesOf, type FieldStrategy } from './merge-keys.js';

/** json: application/json-patch+json; merge: application/merge-patch+json;
 * strategic: application/strategic-merge-patch+json; apply: application/apply-patch+yaml. */
export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface PatchOptions {
  kind: string;
  /** The group/version of the resource, e.g. "apps/v1" (recorded in managedFields). */
  apiVersion: string;
  /** RFC 3339 time recorded in managedFields. */
  now: string;
  /** ?fieldManager; required for apply. */
  manager?: string;
  /** ?force, for apply. */
  force?: boolean;
  subresource?: string;
}

const CONTENT_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

/** The patch type of a Content-Type header (parameters ignored), or undefined (415). */
export function patchTypeOf(contentType: string | null | undefined): PatchType | undefined {
  const bare = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return Object.hasOwn(CONTENT_TYPES, bare) ? CONTENT_TYPES[bare] : undefined;
}

/**
 * Applies a parsed patch body to `current` (undefined only for an apply that
 * creates). Apply also maintains managedFields; for the other types call
 * updateManagedFields on the stored result.
 */
export function applyPatch(type: PatchType, current: object | undefined, patch: unknown, opts: PatchOptions): JsonObject {
  if (type === 'apply') {
    if (!opts.manager) throw new PatchError('fieldManager is required for apply requests', 400);
    return serverSideApply(current as JsonObject | undefined, patch, { ...opts, manager: opts.manager });
  }
  if (!current) throw new PatchError(`a ${type} patch needs an existing object`, 422);
  const cur = current as JsonObject;
  if (type === 'json') return applyJsonPatch(cur, patch);
  if (type === 'merge') return applyMergePatch(cur, patch);
  return applyStrategicMergePatch(cur, patch, opts.kind);
}
