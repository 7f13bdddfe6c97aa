import { apiVersionOf } from '../kinds/registry.js';
import type { KindDef, KObject } from '../kinds/types.js';

// Server-side printing: kubectl asks for a meta.k8s.io Table and prints its rows.

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function wantsTable(accept: string | null): boolean {
  // kubectl lists the Table first in its Accept; a client that prefers plain JSON gets JSON.
  return !!accept && /as=Table/.test(accept.split(',')[0] ?? '');
}

function rowObject(def: KindDef, obj: KObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return { apiVersion: apiVersionOf(def), kind: def.kind, ...obj };
  const { managedFields: _m, ...metadata } = obj.metadata ?? {};
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
}

export function toTable(
  def: KindDef,
  objects: KObject[],
  now: Date,
  opts: { include: IncludeObject; resourceVersion: string; continue?: string; headers?: boolean },
): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: opts.resourceVersion, ...(opts.continue ? { continue: opts.continue } : {}) },
    ...(opts.headers === false ? {} : { columnDefinitions: def.columns }),
    rows: objects.map((obj) => {
      let cells: unknown[];
      try {
        cells = def.row(obj, now);
      } catch {
        cells = [obj.metadata?.name, ...def.columns.slice(1).map(() => '<unknown>')];
      }
      const object = rowObject(def, obj, opts.include);
      return object === undefined ? { cells } : { cells, object };
    }),
  };
}
