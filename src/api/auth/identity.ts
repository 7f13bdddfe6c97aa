// Who a request is from, as Kubernetes' user.Info: a user name and groups.
import type { Clock } from '../../store/clock.js';
import { CredentialStore, NODE_CREDENTIAL, sha256Hex } from '../../store/credentials.js';
import type { Store } from '../../store/store.js';

export interface Identity {
  user: string;
  groups: string[];
}

export const ADMIN: Identity = { user: 'admin', groups: ['system:masters', 'system:authenticated'] };

const NODE_USER_PREFIX = 'system:node:';

export function nodeIdentity(nodeName: string): Identity {
  return { user: NODE_USER_PREFIX + nodeName, groups: ['system:nodes', 'system:authenticated'] };
}

/** The node name of a node identity (user system:node:NAME in group system:nodes), as the Node authorizer reads it. */
export function nodeNameOf(identity: Identity): string | undefined {
  if (!identity.groups.includes('system:nodes') || !identity.user.startsWith(NODE_USER_PREFIX)) return undefined;
  return identity.user.slice(NODE_USER_PREFIX.length) || undefined;
}

export const isMaster = (identity: Identity) => identity.groups.includes('system:masters');

/** Equal strings, in time that depends on their length only. */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export interface AuthenticatorOptions {
  store: Store;
  clock: Clock;
  /** The admin bearer token; no admin when empty or absent. */
  adminToken?: string;
  /** How long a node credential found in the database is trusted without asking again. */
  cacheMs?: number;
}

/** Most node credentials remembered at once; past it the cache starts over. */
const CACHE_LIMIT = 10_000;

/**
 * Bearer tokens to identities: the admin token, and node credentials looked up by hash. A node's
 * steady requests (lease renewals, status updates) would each cost a round trip, so a credential
 * found is remembered for `cacheMs` (10 s): a revoked one keeps working that long in this process.
 */
export function storeAuthenticator(opts: AuthenticatorOptions): (token: string | undefined) => Promise<Identity | undefined> {
  const credentials = new CredentialStore(opts.store);
  const cacheMs = opts.cacheMs ?? 10_000;
  const cache = new Map<string, { identity: Identity; until: number }>();
  return async (token) => {
    if (!token) return undefined;
    if (opts.adminToken && sameSecret(token, opts.adminToken)) return ADMIN;
    if (!NODE_CREDENTIAL.test(token)) return undefined;
    const key = await sha256Hex(token);
    const now = opts.clock.now().getTime();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.identity;
    const nodeName = await credentials.nodeForCredentialHash(key);
    if (!nodeName) {
      cache.delete(key);
      return undefined;
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    const identity = nodeIdentity(nodeName);
    cache.set(key, { identity, until: now + cacheMs });
    return identity;
  };
}
