// Who a request is from, as Kubernetes' user.Info: a user name, groups, and where the authenticator
// knows them, a uid and extra attributes.
import type { Clock } from '../../store/clock.js';
import { CredentialStore, NODE_CREDENTIAL, sha256Hex, USER_TOKEN } from '../../store/credentials.js';
import type { Store } from '../../store/store.js';
import { AUTHENTICATED, ServiceAccountTokens } from './service-accounts.js';

export interface Identity {
  user: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
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
  /** How long a credential or token's objects found in the database are trusted without asking again. */
  cacheMs?: number;
  /** Who signs and checks ServiceAccount tokens; default: issuer DEFAULT_ISSUER over `store`. */
  serviceAccounts?: ServiceAccountTokens;
}

/** What TokenReview answers of a token. */
export type TokenReviewResult = { authenticated: true; identity: Identity; audiences: string[] } | { authenticated: false; error?: string };

/** A token's identity (undefined: no one), and the TokenReview and ServiceAccount token issuer behind it. */
export interface StoreAuthenticator {
  (token: string | undefined): Promise<Identity | undefined>;
  /** Who the token is for `audiences` (default the API's), or why not: what TokenReview reports. */
  review(token: string, audiences?: string[]): Promise<TokenReviewResult>;
  readonly serviceAccounts: ServiceAccountTokens;
}

/** Whether an app's `authenticate` is a store authenticator (tests pass plain functions). */
export function isStoreAuthenticator(fn: unknown): fn is StoreAuthenticator {
  return typeof fn === 'function' && 'review' in fn && 'serviceAccounts' in fn;
}

/** Most credentials remembered at once; past it the cache starts over. */
const CACHE_LIMIT = 10_000;

/**
 * Bearer tokens to identities: the admin token (compared in constant time), node credentials and
 * user tokens looked up by hash, and ServiceAccount tokens (JWTs) verified by signature, then
 * against the objects they name. A node's steady requests (lease renewals, status updates) would each
 * cost a round trip, so a credential found is remembered for `cacheMs` (10 s), as are the objects a
 * ServiceAccount token names: a revoked one keeps working that long in this process.
 */
export function storeAuthenticator(opts: AuthenticatorOptions): StoreAuthenticator {
  const credentials = new CredentialStore(opts.store);
  const serviceAccounts = opts.serviceAccounts ?? new ServiceAccountTokens({ store: opts.store, clock: opts.clock, cacheMs: opts.cacheMs });
  const cacheMs = opts.cacheMs ?? 10_000;
  const cache = new Map<string, { identity: Identity; until: number }>();

  /**
   * A node credential's or user token's identity, by hash (remembered). The memory of this process
   * keys it by the token itself: Web Crypto's digest is asynchronous (a thread hop, about a tenth
   * of a millisecond per request), and a token held in memory is not a token stored.
   */
  const byHash = async (token: string): Promise<Identity | undefined> => {
    const now = opts.clock.now().getTime();
    const hit = cache.get(token);
    if (hit && hit.until > now) return hit.identity;
    const key = await sha256Hex(token);
    let identity: Identity | undefined;
    if (NODE_CREDENTIAL.test(token)) {
      const nodeName = await credentials.nodeForCredentialHash(key);
      if (nodeName) identity = nodeIdentity(nodeName);
    } else {
      const user = await credentials.userForTokenHash(key);
      if (user) identity = { user: user.name, uid: user.uid, groups: [...user.groups.filter((g) => g !== AUTHENTICATED), AUTHENTICATED] };
    }
    if (!identity) {
      cache.delete(token);
      return undefined;
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(token, { identity, until: now + cacheMs });
    return identity;
  };

  const review = async (token: string, audiences?: string[]): Promise<TokenReviewResult> => {
    const verified = await serviceAccounts.verify(token, audiences);
    if (verified) return verified.ok ? { authenticated: true, identity: verified.identity, audiences: verified.audiences } : { authenticated: false, error: verified.error };
    let identity: Identity | undefined;
    if (opts.adminToken && sameSecret(token, opts.adminToken)) identity = ADMIN;
    else if (NODE_CREDENTIAL.test(token) || USER_TOKEN.test(token)) identity = await byHash(token);
    if (!identity) return { authenticated: false };
    // These tokens are for the API alone (kube-apiserver's audience-agnostic authenticators): they
    // serve the audiences asked for that are the API's.
    const api = serviceAccounts.apiAudiences();
    const granted = audiences?.length ? api.filter((a) => audiences.includes(a)) : api;
    if (granted.length === 0) return { authenticated: false, error: 'token audiences are invalid for the target audiences' };
    return { authenticated: true, identity, audiences: granted };
  };

  const authenticate = async (token: string | undefined): Promise<Identity | undefined> => {
    if (!token) return undefined;
    if (opts.adminToken && sameSecret(token, opts.adminToken)) return ADMIN;
    if (NODE_CREDENTIAL.test(token) || USER_TOKEN.test(token)) return byHash(token);
    const verified = await serviceAccounts.verify(token);
    return verified?.ok ? verified.identity : undefined;
  };
  return Object.assign(authenticate, { review, serviceAccounts });
}
