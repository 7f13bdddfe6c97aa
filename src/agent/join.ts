// Joining: trade a short-lived join token for the node's own credential (system:node:NAME), once,
// and keep it in the data folder (credential.json, mode 0600) for every later start. Whom to trust:
// --ca-cert FILE; or --ca-hash sha256:HEX, which pins the CA served unauthenticated at /cacerts
// (as kubeadm's --discovery-token-ca-cert-hash); or neither: the system's CAs (the Worker, whose
// certificate is publicly trusted).
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { ApiClient, ApiError, createAgent, UnreachableError } from './client.js';

export interface Credential {
  server: string;
  nodeName: string;
  /** Bearer token of system:node:NAME. */
  token: string;
  /** CA certificate(s) trusted for the server (PEM); the system's CAs when absent. */
  ca?: string;
}

export interface JoinOptions {
  server: string;
  /** Join token, [a-z0-9]{6}.[a-z0-9]{16}; needed only when there is no credential yet. */
  token?: string;
  /** --ca-cert: the CA certificate file to trust. */
  caCertFile?: string;
  /** --ca-hash: sha256:HEX of the CA's SubjectPublicKeyInfo (one or more). */
  caHash?: string | string[];
  nodeName: string;
  dataDir: string;
  timeoutMs?: number;
}

/** A failure to join, with a message for the operator. */
export class JoinError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'JoinError';
  }
}

export const JOIN_TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
export const CREDENTIAL_FILE = 'credential.json';

const normalizeServer = (s: string) => s.trim().replace(/\/+$/, '');

/** Each certificate of a PEM bundle. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** sha256:HEX of a certificate's SubjectPublicKeyInfo (DER), as kubeadm's --discovery-token-ca-cert-hash. */
export function caCertHash(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(der).digest('hex');
}

export function credentialPath(dataDir: string): string {
  return joinPath(dataDir, CREDENTIAL_FILE);
}

/** The stored credential, when there is one (undefined when absent; throws when unreadable). */
export function readCredential(dataDir: string): Credential | undefined {
  const path = credentialPath(dataDir);
  if (!existsSync(path)) return undefined;
  let cred: Credential;
  try {
    cred = JSON.parse(readFileSync(path, 'utf8')) as Credential;
  } catch (err) {
    throw new JoinError(`${path} is not a credential (${(err as Error).message}); remove it to join again`, err);
  }
  if (!cred?.server || !cred.nodeName || !cred.token) throw new JoinError(`${path} lacks server, nodeName or token; remove it to join again`);
  return cred;
}

/** Writes credential.json (0600) in dataDir (created 0700), replacing any there at once. */
export function writeCredential(dataDir: string, cred: Credential): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = credentialPath(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(cred, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

/** The CA PEM served at GET /cacerts, fetched without verifying the server (it is checked against a pin after). */
export async function fetchCaCerts(server: string, timeoutMs = 15_000): Promise<string | undefined> {
  const agent = createAgent(undefined, { insecure: true });
  try {
    const pem = await new ApiClient({ server, agent, timeoutMs }).get<string>('/cacerts');
    return typeof pem === 'string' ? pem : undefined;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  } finally {
    agent.destroy();
  }
}

/** The CA to trust for `server` (PEM), or undefined for the system's CAs. */
export async function trustedCa(opts: Pick<JoinOptions, 'server' | 'caCertFile' | 'caHash' | 'timeoutMs'>): Promise<string | undefined> {
  if (opts.caCertFile) {
    let pem: string;
    try {
      pem = readFileSync(opts.caCertFile, 'utf8');
    } catch (err) {
      throw new JoinError(`cannot read the CA certificate ${opts.caCertFile}: ${(err as Error).message}`, err);
    }
    if (!splitPem(pem).length) throw new JoinError(`${opts.caCertFile} holds no PEM certificate`);
    return pem;
  }
  const pins = (Array.isArray(opts.caHash) ? opts.caHash : opts.caHash ? [opts.caHash] : []).map((h) => h.trim().toLowerCase());
  if (!pins.length) return undefined;
  for (const pin of pins) {
    if (!/^sha256:[0-9a-f]{64}$/.test(pin)) throw new JoinError(`invalid --ca-hash "${pin}": expected sha256: and 64 hex digits`);
  }
  let pem: string | undefined;
  try {
    pem = await fetchCaCerts(opts.server, opts.timeoutMs);
  } catch (err) {
    throw unreachableJoin(opts.server, err);
  }
  if (!pem) {
    throw new JoinError(`${opts.server} serves no CA certificate at /cacerts: its certificate should be publicly trusted; join without --ca-hash`);
  }
  const certs = splitPem(pem);
  const hashes = certs.map((c) => {
    try {
      return caCertHash(c);
    } catch {
      return '';
    }
  });
  // Trust only the pinned certificates: a man in the middle could add a CA of its own to the bundle.
  const trusted = certs.filter((_, i) => pins.includes(hashes[i]!));
  if (!trusted.length) {
    throw new JoinError(
      `the CA certificate of ${opts.server} does not match --ca-hash: it is ${hashes.filter(Boolean).join(', ') || 'unreadable'}, expected ${pins.join(' or ')}. ` +
        'Check the hash (skiff prints it with the join token); someone may be intercepting the connection',
    );
  }
  return trusted.join('\n') + '\n';
}

function unreachableJoin(server: string, err: unknown): JoinError {
  if (err instanceof JoinError) return err;
  const code = (err as UnreachableError)?.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code)) {
    return new JoinError(
      `the certificate of ${server} is not trusted (${code}): pass --ca-hash sha256:... (printed with the join token) or --ca-cert FILE`,
      err,
    );
  }
  return new JoinError(`cannot reach ${server}: ${(err as Error)?.message ?? String(err)}`, err);
}

/** POST /skiff/v1/join: the node credential for `nodeName`. */
export async function join(opts: JoinOptions & { ca?: string }): Promise<Credential> {
  const server = normalizeServer(opts.server);
  if (!opts.token) {
    throw new JoinError(`no credential in ${credentialPath(opts.dataDir)} for ${server}: pass a join token (--token) to join`);
  }
  if (!JOIN_TOKEN.test(opts.token)) throw new JoinError('invalid join token: expected the form abcdef.0123456789abcdef ([a-z0-9]{6}.[a-z0-9]{16})');
  const agent = createAgent(opts.ca);
  let answer: { nodeName?: string; token?: string };
  try {
    const client = new ApiClient({ server, token: opts.token, agent, timeoutMs: opts.timeoutMs ?? 30_000 });
    answer = await client.create('/skiff/v1/join', { nodeName: opts.nodeName });
  } catch (err) {
    if (err instanceof ApiError) {
      if (err.status === 401) throw new JoinError(`the join token was refused by ${server}: it has expired or was deleted; make a new one`, err);
      if (err.status === 409) {
        throw new JoinError(
          `node name "${opts.nodeName}" already has a credential on ${server}: choose another --node-name, or remove the old one with \`skiff token delete node/${opts.nodeName}\``,
          err,
        );
      }
      if (err.status === 422) throw new JoinError(`invalid node name "${opts.nodeName}": ${err.message}`, err);
      if (err.status === 404) throw new JoinError(`${server} does not offer joining (/skiff/v1/join not found): is it a skiff control plane?`, err);
      throw new JoinError(`joining ${server} failed: ${err.status} ${err.reason}: ${err.message}`, err);
    }
    throw unreachableJoin(server, err);
  } finally {
    agent.destroy();
  }
  if (!answer?.token) throw new JoinError(`${server} answered the join without a credential`);
  return { server, nodeName: answer.nodeName ?? opts.nodeName, token: answer.token, ...(opts.ca ? { ca: opts.ca } : {}) };
}

/**
 * The node's credential: the one stored in dataDir for this server and node name, or a new one
 * from joining with the join token (stored before it is returned).
 */
export async function loadOrJoin(opts: JoinOptions): Promise<Credential> {
  const server = normalizeServer(opts.server);
  const stored = readCredential(opts.dataDir);
  if (stored && normalizeServer(stored.server) === server && stored.nodeName === opts.nodeName) return stored;
  const ca = await trustedCa({ ...opts, server });
  const cred = await join({ ...opts, server, ca });
  writeCredential(opts.dataDir, cred);
  return cred;
}
