import { createContext } from 'preact';
import { useContext, useEffect, useMemo, useState } from 'preact/hooks';
import type { Api } from './api.js';
import { Collection } from './collection.js';

export interface Session {
  api: Api;
  /** Who the token is (SelfSubjectReview's user.username). */
  user: string;
  /** The namespace chosen in the header; '' for all namespaces. */
  namespace: string;
  signOut: () => void;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in console');
  return s;
}

// One Collection per path for the whole session, so views share their lists and watches. A
// collection nobody shows stops its watch (browsers allow six connections per host over HTTP/1.1)
// but keeps its objects and version, and resumes from there when shown again.
const collections = new WeakMap<Api, Map<string, Collection>>();

function shared(api: Api, path: string, query: string): Collection {
  let byPath = collections.get(api);
  if (!byPath) collections.set(api, (byPath = new Map()));
  const k = `${path}?${query}`;
  let c = byPath.get(k);
  if (!c) byPath.set(k, (c = new Collection(api, path, query)));
  return c;
}

/**
 * The live collection at `path` (null: none), re-rendering the caller when it changes. `query`
 * adds list/watch parameters such as a fieldSelector.
 */
export function useCollection(path: string | null, query = ''): Collection | undefined {
  const { api } = useSession();
  const [, rerender] = useState(0);
  const collection = useMemo(() => (path ? shared(api, path, query) : undefined), [api, path, query]);
  useEffect(() => collection?.subscribe(() => rerender((n) => n + 1)), [collection]);
  return collection;
}

/** The current time, refreshed every `ms`, for ages and heartbeat staleness. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** `compute` re-run only when one of the collections changed (by version), not on every render. */
export function useDerived<T>(compute: () => T, collections: (Collection | undefined)[], extra: unknown[] = []): T {
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(compute, [...collections.map((c) => c?.version ?? -1), ...extra]);
}
