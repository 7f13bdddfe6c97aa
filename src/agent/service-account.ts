// A pod's ServiceAccount credentials, as kubelet's token manager and the kube-api-access projected
// volume give them to client-go's and @kubernetes/client-node's in-cluster config: a folder with
// `token` (a TokenRequest for the pod's ServiceAccount, bound to the pod), `ca.crt` (the CA of the
// node-local API endpoint, api-proxy.ts, which is where KUBERNETES_SERVICE_HOST points) and
// `namespace`, mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container
// unless the pod (or its ServiceAccount) says automountServiceAccountToken: false.
//
// - Tokens are asked for as kubelet asks: expirationSeconds 3607, the API's default audiences, bound
//   to the Pod by name and uid; refreshed once 80% of their life has passed (or after 24 hours), with
//   up to 10 s of jitter so many pods do not all ask at once.
// - Files are written next to their final name and renamed over it, so a reader never sees half a
//   token; unchanged files are not written again.
// - While no new token can be had (control plane unreachable, or an error), the last one stays, in
//   memory and in the folder (also across an agent restart), and the pods keep running; a new pod
//   waits in ContainerCreating with kubelet's message until its first token comes. Unlike kubelet, a
//   pod whose ServiceAccount does not exist (404) runs without a token until it does, and so does
//   every pod where the control plane serves no TokenRequest.
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { ApiError } from './client.js';
import { RuntimeError, type Mount } from './runtime.js';
import { writeVolumeFiles } from './volumes.js';

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** kubelet's: a 1-hour token with 7 s more, which kube-apiserver may recognise as kubelet's. */
export const KUBELET_EXPIRATION_SECONDS = 3607;
const VOLUME = 'kube-api-access';
const MAX_TTL_MS = 24 * 3600 * 1000;
const MAX_JITTER_MS = 10_000;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;
/** How long a control plane without TokenRequest is believed before asking again. */
const UNSUPPORTED_RECHECK_MS = 60_000;

export interface TokenApi {
  create(path: string, body: unknown): Promise<any>;
}

export interface ServiceAccountReader {
  /** The object at an API path, undefined when it does not exist (Sources.read). */
  read(path: string): Promise<any | undefined>;
}

export interface ServiceAccountTokensOptions {
  api: TokenApi;
  sources: ServiceAccountReader;
  /** What goes in ca.crt: the node-local endpoint's CA (or the control plane's, without one). */
  caCert: () => string | undefined;
  log?: (line: string) => void;
  now?: () => number;
  random?: () => number;
}

interface Held {
  token: string;
  issuedAt: number;
  expiresAt: number;
  jitterMs: number;
}

interface Failure {
  count: number;
  retryAt: number;
  error: Error;
  /** The ServiceAccount (or the pod) was not found: the pod runs without a token meanwhile. */
  missing: boolean;
}

/** The pod's ServiceAccount: spec.serviceAccountName, else the deprecated spec.serviceAccount, else default. */
export function serviceAccountOf(pod: any): string {
  return pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
}

/** The control plane answered 404 for the path itself (no TokenRequest served), not for a missing ServiceAccount. */
function unsupported(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  if (err.status === 405) return true;
  return err.status === 404 && !err.body?.details?.name;
}

export class ServiceAccountTokens {
  private readonly held = new Map<string, Held>();
  private readonly failures = new Map<string, Failure>();
  private unsupportedUntil = 0;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: ServiceAccountTokensOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => {});
  }

  /** The pod's own automountServiceAccountToken wins; else its ServiceAccount's; else true. */
  async automount(pod: any): Promise<boolean> {
    const own = pod.spec?.automountServiceAccountToken;
    if (own === true || own === false) return own;
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${serviceAccountOf(pod)}`;
    const sa = await this.opts.sources.read(path).catch(() => undefined);
    return sa?.automountServiceAccountToken !== false;
  }

  /**
   * A token for the pod's ServiceAccount bound to the pod: the one held while it is fresh, a new one
   * once 80% of its life has passed, the last one while no new one can be had. Undefined when the
   * control plane serves no TokenRequest; throws when there is no token at all to give.
   */
  async token(pod: any, audiences: string[] = [], expirationSeconds = KUBELET_EXPIRATION_SECONDS): Promise<string | undefined> {
    const { uid, namespace, name } = pod.metadata;
    const key = `${uid}|${audiences.join(',')}|${expirationSeconds}`;
    const now = this.now();
    const held = this.held.get(key);
    if (held && !this.stale(held, now)) return held.token;
    if (now < this.unsupportedUntil) return held?.token;
    const failed = this.failures.get(key);
    if (failed && now < failed.retryAt) {
      if (held || failed.missing) return held?.token;
      throw failed.error;
    }
    const sa = serviceAccountOf(pod);
    try {
      const answer = await this.opts.api.create(`/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        metadata: { name: sa, namespace },
        spec: { audiences, expirationSeconds, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name, uid } },
      });
      const token = answer?.status?.token;
      const expiresAt = Date.parse(answer?.status?.expirationTimestamp ?? '');
      if (typeof token !== 'string' || !token || Number.isNaN(expiresAt)) throw new Error('the TokenRequest answer has no status.token and status.expirationTimestamp');
      // The life granted may differ from the one asked for: the answer's spec tells.
      const seconds = Number(answer?.spec?.expirationSeconds) || expirationSeconds;
      this.held.set(key, { token, issuedAt: expiresAt - seconds * 1000, expiresAt, jitterMs: this.random() * MAX_JITTER_MS });
      if (failed && held) this.log(`pod ${namespace}/${name}: a new ServiceAccount token again`);
      this.failures.delete(key);
      return token;
    } catch (err) {
      if (unsupported(err)) {
        if (this.unsupportedUntil === 0) this.log(`the control plane serves no TokenRequest (${(err as Error).message}): pods get no ServiceAccount token`);
        this.unsupportedUntil = now + UNSUPPORTED_RECHECK_MS;
        return held?.token;
      }
      const count = (failed?.count ?? 0) + 1;
      const error = new Error(`failed to fetch token: ${(err as Error).message}`);
      // Where nothing creates a namespace's `default` ServiceAccount, holding every pod back for it
      // would stop them all: the pod runs without a token, which comes once the ServiceAccount does.
      const missing = err instanceof ApiError && err.status === 404;
      this.failures.set(key, { count, retryAt: now + Math.min(RETRY_MIN_MS * 2 ** (count - 1), RETRY_MAX_MS), error, missing });
      if (held) {
        if (count === 1) this.log(`pod ${namespace}/${name}: keeping its last ServiceAccount token (${error.message})`);
        return held.token;
      }
      if (missing) {
        if (count === 1) this.log(`pod ${namespace}/${name} runs without a ServiceAccount token for now: ${error.message}`);
        return undefined;
      }
      throw error;
    }
  }

  /** kubelet's rule: past 80% of the token's life, or older than 24 hours, less a jitter. */
  private stale(h: Held, now: number): boolean {
    const life = h.expiresAt - h.issuedAt;
    return now >= h.expiresAt - life * 0.2 - h.jitterMs || now >= h.issuedAt + MAX_TTL_MS - h.jitterMs;
  }

  /**
   * Writes (or refreshes) token, ca.crt and namespace in `dir`; returns `dir`, or undefined when the
   * pod does not automount its token. Throws (a ContainerCreating reason) when there is no token yet.
   */
  async volume(pod: any, dir: string): Promise<string | undefined> {
    if (!(await this.automount(pod))) return undefined;
    let token: string | undefined;
    try {
      token = await this.token(pod);
    } catch (err) {
      // The folder as written before (by this agent before a restart, say) serves until a new token
      // comes: a pod that ran before runs again (also after a reboot while offline); only a pod
      // never set up here waits.
      const file = join(dir, 'token');
      if (existsSync(file)) token = readFileSync(file, 'utf8');
      else if (!existsSync(join(dir, 'namespace'))) throw new RuntimeError('ContainerCreating', `MountVolume.SetUp failed for volume "${VOLUME}" : ${(err as Error).message}`);
    }
    const files = new Map<string, { data: string; mode: number }>();
    if (token) files.set('token', { data: token, mode: 0o644 });
    const ca = this.opts.caCert();
    if (ca) files.set('ca.crt', { data: ca, mode: 0o644 });
    files.set('namespace', { data: pod.metadata.namespace, mode: 0o644 });
    writeVolumeFiles(dir, files);
    return dir;
  }

  /** Drops what is held for a pod that is gone. */
  forget(uid: string): void {
    for (const map of [this.held, this.failures]) for (const key of map.keys()) if (key.startsWith(`${uid}|`)) map.delete(key);
  }
}

/** The read-only mount of the pod's token folder, unless the container mounts something of its own there. */
export function serviceAccountMount(container: any, dir: string | undefined): Mount | undefined {
  if (!dir) return undefined;
  const at = (p: string) => posix.normalize(`/${p}`).replace(/\/+$/, '');
  if ((container.volumeMounts ?? []).some((m: any) => at(String(m.mountPath ?? '')) === SERVICE_ACCOUNT_MOUNT)) return undefined;
  return { hostPath: dir, containerPath: SERVICE_ACCOUNT_MOUNT, readOnly: true };
}
