// ServiceAccount tokens as kube-apiserver makes and checks its bound tokens: JWTs signed with the
// key kept in the database (ES256), with the claims of pkg/serviceaccount/claims.go (iss, sub, aud,
// exp, iat, nbf, jti, and `kubernetes.io` naming the namespace, the ServiceAccount and what the token
// is bound to), verified with Web Crypto (signature, issuer, audience, times) and against the objects
// the token names (the ServiceAccount, and the pod, secret or node it is bound to, with their uids).
import { isDNS1123Label, isDNS1123Subdomain } from '../../kinds/validation.js';
import type { Clock } from '../../store/clock.js';
import { importKey, loadSigningKeys, SIGNING_ALG, type StoredKey } from '../../store/service-account-keys.js';
import type { Store } from '../../store/store.js';
import type { Identity } from './identity.js';

/** What kubeadm sets --service-account-issuer to: the issuer of a home that is given none. */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const OPENID_CONFIG_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/openid/v1/jwks';

/** Past its expiry or before nbf, a token is still good this long (go-jose's jwt.DefaultLeeway, which kube-apiserver uses). */
const LEEWAY_S = 60;
/** Validation's bound on TokenRequest's spec.expirationSeconds: 2^32 seconds. */
export const MAX_EXPIRATION_SECONDS = 2 ** 32;
/** The shortest token a TokenRequest may ask for (10 minutes). */
export const MIN_EXPIRATION_SECONDS = 600;

const SA_PREFIX = 'system:serviceaccount:';
export const ALL_SERVICE_ACCOUNTS = 'system:serviceaccounts';
export const AUTHENTICATED = 'system:authenticated';

// The extra keys of a ServiceAccount's user.Info (k8s.io/apiserver/pkg/authentication/serviceaccount).
export const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
export const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';
export const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';
export const EXTRA_NODE_UID = 'authentication.kubernetes.io/node-uid';
export const EXTRA_CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';

export const serviceAccountUser = (namespace: string, name: string) => `${SA_PREFIX}${namespace}:${name}`;
export const serviceAccountGroups = (namespace: string) => [ALL_SERVICE_ACCOUNTS, `${ALL_SERVICE_ACCOUNTS}:${namespace}`];

/** The namespace and name of a user name `system:serviceaccount:NS:NAME` (serviceaccount.SplitUsername), or undefined. */
export function splitServiceAccountUser(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(SA_PREFIX)) return undefined;
  const parts = user.slice(SA_PREFIX.length).split(':');
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts as [string, string];
  if (isDNS1123Label(namespace).length || isDNS1123Subdomain(name).length) return undefined;
  return { namespace, name };
}

export interface ObjectRef {
  name: string;
  uid?: string;
}

/** What a token is made for (TokenRequest, after its checks). */
export interface TokenClaimsInput {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  audiences: string[];
  expirationSeconds: number;
  /** At most one of pod, secret and a node alone; a pod's node rides along as `node`. */
  pod?: { name: string; uid: string };
  secret?: { name: string; uid: string };
  node?: ObjectRef;
}

interface KubernetesClaims {
  namespace?: string;
  node?: ObjectRef;
  pod?: ObjectRef;
  secret?: ObjectRef;
  serviceaccount?: ObjectRef;
}

interface Claims {
  aud?: string | string[];
  exp?: number;
  iat?: number;
  iss?: string;
  jti?: string;
  nbf?: number;
  sub?: string;
  'kubernetes.io'?: KubernetesClaims;
}

export type Verification = { ok: true; identity: Identity; audiences: string[] } | { ok: false; error: string };

export interface ServiceAccountTokenOptions {
  store: Store;
  clock: Clock;
  /**
   * --service-account-issuer: the `iss` of the tokens made, and the only one accepted. A function
   * where it is known only once the server listens (`skiff serve` on port 0). Default DEFAULT_ISSUER.
   */
  issuer?: string | (() => string);
  /** --api-audiences: what a token must be for to authenticate to the API. Default: the issuer. */
  apiAudiences?: string[];
  /** --service-account-jwks-uri; default https://HOST/openid/v1/jwks, HOST as the request reached us. */
  jwksUri?: string;
  /** --service-account-max-token-expiration, in seconds: longer requests get this (0: no cap but validation's). */
  maxExpirationSeconds?: number;
  /** How long the objects a token names are trusted to still be there without asking again (10 s). */
  cacheMs?: number;
}

const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    return Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const encodeJson = (value: unknown) => base64url(new TextEncoder().encode(JSON.stringify(value)));

function decodeJson(part: string): Record<string, unknown> | undefined {
  const bytes = fromBase64url(part);
  if (!bytes) return undefined;
  try {
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Go's %q of a string list, as kube-apiserver's audience error prints it. */
const goList = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;

/** A ref with name and a uid, as kube-apiserver writes one (both omitempty). */
const ref = (r: ObjectRef): ObjectRef => ({ name: r.name, ...(r.uid ? { uid: r.uid } : {}) });

type Imported = Awaited<ReturnType<typeof importKey>>;

/** Most checks of named objects remembered at once; past it the cache starts over. */
const CACHE_LIMIT = 10_000;

/** The ServiceAccount token issuer and authenticator of one home (one per isolate on Workers). */
export class ServiceAccountTokens {
  private keys?: { rows: StoredKey[]; keys: Imported[] };
  private checked = new Map<string, { until: number; error?: string }>();

  constructor(private readonly opts: ServiceAccountTokenOptions) {}

  get store(): Store {
    return this.opts.store;
  }

  get clock(): Clock {
    return this.opts.clock;
  }

  issuer(): string {
    const iss = this.opts.issuer;
    return (typeof iss === 'function' ? iss() : iss) || DEFAULT_ISSUER;
  }

  /** The API's audiences: tokens without one of them do not authenticate to it. */
  apiAudiences(): string[] {
    return this.opts.apiAudiences?.length ? this.opts.apiAudiences : [this.issuer()];
  }

  get maxExpirationSeconds(): number {
    return this.opts.maxExpirationSeconds ?? 0;
  }

  /** Where the JWKS is published, for a request that reached us at `requestUrl`. */
  jwksUri(requestUrl: string): string {
    return this.opts.jwksUri ?? `https://${new URL(requestUrl).host}${JWKS_PATH}`;
  }

  /**
   * The keys, read from the database once per instance. What is kept is the keys, never a read in
   * flight: on Workers a request must not wait on another request's I/O, so requests that miss at
   * once each read (a failed read is simply tried again by the next).
   */
  private async loadKeys(): Promise<{ rows: StoredKey[]; keys: Imported[] }> {
    if (this.keys) return this.keys;
    const rows = await loadSigningKeys(this.opts.store, this.opts.clock.now().getTime());
    const keys = await Promise.all(rows.map(importKey));
    this.keys ??= { rows, keys };
    return this.keys;
  }

  /** The public keys as a JWKS (what /openid/v1/jwks serves). */
  async jwks(): Promise<{ keys: JsonWebKey[] }> {
    return { keys: (await this.loadKeys()).rows.map((r) => r.publicJwk) };
  }

  /** A signed token for `input`, and when it expires (seconds since the epoch). */
  async issue(input: TokenClaimsInput): Promise<{ token: string; expires: number }> {
    const [key] = (await this.loadKeys()).keys;
    if (!key) throw new Error('no ServiceAccount signing key');
    const now = Math.floor(this.opts.clock.now().getTime() / 1000);
    const exp = now + input.expirationSeconds;
    const k8s: KubernetesClaims = { namespace: input.namespace };
    if (input.node) k8s.node = ref(input.node);
    if (input.pod) k8s.pod = ref(input.pod);
    if (input.secret) k8s.secret = ref(input.secret);
    k8s.serviceaccount = ref(input.serviceAccount);
    // Keys in sorted order, as go-jose writes the claims it merges.
    const claims: Claims = {
      aud: input.audiences,
      exp,
      iat: now,
      iss: this.issuer(),
      jti: crypto.randomUUID(),
      'kubernetes.io': k8s,
      nbf: now,
      sub: serviceAccountUser(input.namespace, input.serviceAccount.name),
    };
    const signingInput = `${encodeJson({ alg: SIGNING_ALG, kid: key.kid })}.${encodeJson(claims)}`;
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.sign, new TextEncoder().encode(signingInput));
    return { token: `${signingInput}.${base64url(new Uint8Array(signature))}`, expires: exp };
  }

  /**
   * Who a token is, for `audiences` (default the API's), or why not; undefined when it is not a
   * token of this issuer (not a JWT, or another `iss`), so other authenticators may take it.
   */
  async verify(token: string, audiences?: string[]): Promise<Verification | undefined> {
    const parts = token.split('.');
    if (parts.length !== 3 || token.trimStart().startsWith('{')) return undefined;
    const [head, body, sig] = parts as [string, string, string];
    // Unverified, as kube-apiserver's hasCorrectIssuer reads it: only to tell whose token it is.
    const claims = decodeJson(body) as Claims | undefined;
    if (!claims || claims.iss !== this.issuer()) return undefined;
    const header = decodeJson(head);
    const signature = fromBase64url(sig);
    if (!header || !signature || header.alg !== SIGNING_ALG) return { ok: false, error: 'invalid signature' };
    const keys = (await this.loadKeys()).keys.filter((k) => typeof header.kid !== 'string' || header.kid === '' || k.kid === header.kid);
    if (keys.length === 0) return { ok: false, error: 'invalid signature, no keys found' };
    const signed = new TextEncoder().encode(`${head}.${body}`);
    let valid = false;
    for (const key of keys) {
      if (await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key.verify, signature, signed)) {
        valid = true;
        break;
      }
    }
    if (!valid) return { ok: false, error: 'invalid signature' };

    const tokenAudiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.map(String) : [];
    const implicit = this.apiAudiences();
    const requested = audiences?.length ? audiences : implicit;
    const granted = (tokenAudiences.length ? tokenAudiences : implicit).filter((a) => requested.includes(a));
    if (granted.length === 0) return { ok: false, error: `token audiences ${goList(tokenAudiences)} is invalid for the target audiences ${goList(requested)}` };

    const now = this.opts.clock.now().getTime() / 1000;
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    const [exp, nbf, iat] = [num(claims.exp), num(claims.nbf), num(claims.iat)];
    if (exp !== undefined && now - LEEWAY_S > exp) return { ok: false, error: 'service account token has expired' };
    if (nbf !== undefined && now + LEEWAY_S < nbf) return { ok: false, error: 'service account token is not valid yet' };
    if (iat !== undefined && now + LEEWAY_S < iat) return { ok: false, error: 'service account token claims could not be validated: token issued in the future' };

    const k8s = claims['kubernetes.io'];
    const namespace = k8s?.namespace;
    const sa = k8s?.serviceaccount;
    if (typeof namespace !== 'string' || !namespace || typeof sa?.name !== 'string' || typeof sa.uid !== 'string') {
      return { ok: false, error: 'service account token claims could not be validated due to unexpected private claim' };
    }
    const error = await this.checkObjects(namespace, k8s!);
    if (error) return { ok: false, error };

    const extra: Record<string, string[]> = {};
    if (k8s!.pod?.name && k8s!.pod.uid) {
      extra[EXTRA_POD_NAME] = [k8s!.pod.name];
      extra[EXTRA_POD_UID] = [k8s!.pod.uid];
    }
    if (typeof claims.jti === 'string' && claims.jti) extra[EXTRA_CREDENTIAL_ID] = [`JTI=${claims.jti}`];
    if (k8s!.node?.name) {
      extra[EXTRA_NODE_NAME] = [k8s!.node.name];
      if (k8s!.node.uid) extra[EXTRA_NODE_UID] = [k8s!.node.uid];
    }
    const identity: Identity = {
      user: serviceAccountUser(namespace, sa.name),
      uid: sa.uid,
      groups: [...serviceAccountGroups(namespace), AUTHENTICATED],
      ...(Object.keys(extra).length ? { extra } : {}),
    };
    return { ok: true, identity, audiences: granted };
  }

  /**
   * Whether the objects a token names are still there with the uids it holds (the validator of
   * claims.go): one round trip, then trusted for `cacheMs`, as node credentials are.
   */
  private async checkObjects(namespace: string, k8s: KubernetesClaims): Promise<string | undefined> {
    const sa = k8s.serviceaccount!;
    // A pod's node is for information only; a token bound to a node alone is checked against it.
    const node = !k8s.pod && !k8s.secret ? k8s.node : undefined;
    const key = JSON.stringify([namespace, sa, k8s.pod ?? null, k8s.secret ?? null, node ?? null]);
    const now = this.opts.clock.now().getTime();
    const hit = this.checked.get(key);
    if (hit && hit.until > now) return hit.error;

    const wanted: [string, string, string][] = [['ServiceAccount', namespace, sa.name!]];
    if (k8s.pod?.name) wanted.push(['Pod', namespace, k8s.pod.name]);
    if (k8s.secret?.name) wanted.push(['Secret', namespace, k8s.secret.name]);
    if (node?.name) wanted.push(['Node', '', node.name]);
    const sql = wanted
      .map(() => `SELECT kind, uid, json_extract(object, '$.metadata.deletionTimestamp') AS deleting FROM objects WHERE kind = ? AND namespace = ? AND name = ?`)
      .join(' UNION ALL ');
    const [rows] = await this.opts.store.rows([{ sql, args: wanted.flat() }]);
    const found = new Map(rows!.map((r) => [String(r.kind), { uid: String(r.uid), deleting: r.deleting ? Date.parse(String(r.deleting)) : undefined }]));
    // Deleted before now - leeway: gone, as claims.go counts it (a graceful deletion still in progress is not).
    const goneBefore = now - LEEWAY_S * 1000;
    const deleted = (o: { deleting?: number }) => o.deleting !== undefined && o.deleting < goneBefore;

    let error: string | undefined;
    const account = found.get('ServiceAccount');
    if (!account) error = `serviceaccounts "${sa.name}" not found`;
    else if (deleted(account)) error = `service account ${namespace}/${sa.name} has been deleted`;
    else if (account.uid !== sa.uid) error = `service account UID (${account.uid}) does not match claim (${sa.uid})`;
    const bound: [string, string, ObjectRef | undefined][] = [['Secret', 'secret', k8s.secret], ['Pod', 'pod', k8s.pod], ['Node', 'node', node]];
    for (const [kind, what, claim] of bound) {
      if (error || !claim?.name) continue;
      const obj = found.get(kind);
      if (!obj || deleted(obj)) error = 'service account token has been invalidated';
      else if (obj.uid !== claim.uid) error = `${what} UID (${obj.uid}) does not match service account ${what} ref claim (${claim.uid ?? ''})`;
    }
    if (this.checked.size >= CACHE_LIMIT) this.checked.clear();
    this.checked.set(key, { until: now + (this.opts.cacheMs ?? 10_000), ...(error ? { error } : {}) });
    return error;
  }
}
