// The credentials `skiff serve` keeps in its data folder: a CA, a server certificate signed by
// it, and the admin bearer token. Generated on first start and reused afterwards, so kubeconfigs
// handed out earlier keep working across restarts.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { isIP, isIPv6 } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface Credentials {
  caCert: string;
  serverCert: string;
  serverKey: string;
  token: string;
}

const files = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
  token: 'token',
} as const;

const DAY = 24 * 3600 * 1000;
const CA_LIFETIME = 10 * 365 * DAY;
const SERVER_LIFETIME = 2 * 365 * DAY;
// A server certificate this close to expiry is replaced at start.
const RENEW_BEFORE = 30 * DAY;

/** Loads the data folder's credentials, creating or renewing whatever is missing or unfit. */
export function ensureCredentials(dir: string, listenHost: string, now = new Date()): Credentials {
  const served = ensureServerCert(dir, requiredSans(listenHost), { caName: 'skiff-ca', commonName: 'skiff', lifetimeMs: SERVER_LIFETIME }, now);
  return { caCert: served.caCert, serverCert: served.certPem, serverKey: served.keyPem, token: ensureToken(dir) };
}

export interface ServerCertOptions {
  /** The CA's common name, when one is made. */
  caName: string;
  commonName: string;
  lifetimeMs: number;
}

/**
 * A CA in `dir` (made when absent, then kept: clients hold its certificate) and a serving
 * certificate it signed for `sans`, made again when a name is missing or it nears its end.
 * `skiff serve`'s own, and the agent's node-local API endpoint's.
 */
export function ensureServerCert(dir: string, sans: San[], opts: ServerCertOptions, now = new Date()): ServerCert & { caCert: string } {
  const ca = loadCa(dir) ?? createCa(dir, opts.caName, now);
  const server = loadServerCert(dir, ca.cert, sans, now) ?? createServerCert(dir, ca, sans, opts, now);
  return { caCert: forge.pki.certificateToPem(ca.cert), ...server };
}

/**
 * `sha256:` and the hex SHA-256 of the CA certificate's SubjectPublicKeyInfo (DER): kubeadm's
 * --discovery-token-ca-cert-hash, which a joining agent checks the CA from /cacerts against.
 */
export function caCertHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** The admin token, or undefined when the data folder has none yet. */
export function readToken(dir: string): string | undefined {
  const path = join(dir, files.token);
  if (!existsSync(path)) return undefined;
  return readFileSync(path, 'utf8').trim() || undefined;
}

function ensureToken(dir: string): string {
  const existing = readToken(dir);
  if (existing) return existing;
  const token = randomBytes(32).toString('hex');
  writeSecret(dir, files.token, token + '\n');
  return token;
}

interface Ca {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

function loadCa(dir: string): Ca | undefined {
  const certPath = join(dir, files.caCert);
  const keyPath = join(dir, files.caKey);
  if (!existsSync(certPath) || !existsSync(keyPath)) return undefined;
  return {
    cert: forge.pki.certificateFromPem(readFileSync(certPath, 'utf8')),
    key: forge.pki.privateKeyFromPem(readFileSync(keyPath, 'utf8')) as forge.pki.rsa.PrivateKey,
  };
}

function createCa(dir: string, caName: string, now: Date): Ca {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + CA_LIFETIME);
  const name = [{ name: 'commonName', value: caName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  writeSecret(dir, files.caKey, forge.pki.privateKeyToPem(keys.privateKey));
  writeFileSync(join(dir, files.caCert), forge.pki.certificateToPem(cert), { mode: 0o644 });
  return { cert, key: keys.privateKey };
}

export interface San {
  type: 2 | 7; // 2 = dNSName, 7 = iPAddress
  value: string;
}

/**
 * Names clients may use to reach the server: loopback always, plus the listen host. A wildcard
 * listen address (0.0.0.0, ::) adds this machine's hostname and interface addresses, so agents on
 * other machines can verify the certificate.
 */
export function requiredSans(listenHost: string): San[] {
  const sans: San[] = [san('127.0.0.1'), san('::1'), san('localhost')];
  const add = (host: string) => {
    const s = san(host);
    if (!sans.some((x) => x.type === s.type && x.value === s.value)) sans.push(s);
  };
  if (listenHost === '0.0.0.0' || listenHost === '::') {
    add(hostname());
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) add(a.address.replace(/%.*$/, ''));
    }
  } else {
    add(listenHost);
  }
  return sans;
}

export function san(host: string): San {
  return isIP(host)
    ? { type: 7, value: normalizeIp(host) }
    : { type: 2, value: host.toLowerCase() };
}

// One spelling per address (RFC 5952 for IPv6), so SANs compare as strings.
function normalizeIp(ip: string): string {
  return isIPv6(ip) ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : new URL(`http://${ip}`).hostname;
}

export interface ServerCert {
  certPem: string;
  keyPem: string;
}

function loadServerCert(dir: string, caCert: forge.pki.Certificate, sans: San[], now: Date): ServerCert | undefined {
  const certPath = join(dir, files.serverCert);
  const keyPath = join(dir, files.serverKey);
  if (!existsSync(certPath) || !existsSync(keyPath)) return undefined;
  const certPem = readFileSync(certPath, 'utf8');
  const cert = forge.pki.certificateFromPem(certPem);
  if (!caCert.verify(cert)) return undefined;
  if (cert.validity.notAfter.getTime() - now.getTime() < RENEW_BEFORE) return undefined;
  const present = certSans(cert);
  if (!sans.every((s) => present.some((p) => p.type === s.type && p.value === s.value))) return undefined;
  return { certPem, keyPem: readFileSync(keyPath, 'utf8') };
}

function certSans(cert: forge.pki.Certificate): San[] {
  const ext = cert.getExtension('subjectAltName') as { altNames?: { type: number; value?: string; ip?: string }[] } | null;
  return (ext?.altNames ?? []).flatMap((n): San[] => {
    if (n.type === 7 && n.ip) return [{ type: 7, value: normalizeIp(n.ip) }];
    if (n.type === 2 && n.value) return [{ type: 2, value: n.value.toLowerCase() }];
    return [];
  });
}

function createServerCert(dir: string, ca: Ca, sans: San[], opts: ServerCertOptions, now: Date): ServerCert {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + opts.lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: opts.commonName }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: sans.map((s) => (s.type === 7 ? { type: 7, ip: s.value } : { type: 2, value: s.value })) },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  const result = { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
  writeSecret(dir, files.serverKey, result.keyPem);
  writeFileSync(join(dir, files.serverCert), result.certPem, { mode: 0o644 });
  return result;
}

// A positive, minimally encoded DER integer: Go (kubectl) rejects negative serials and
// non-minimal encodings, so the first byte is kept in 0x01..0x7f.
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function writeSecret(dir: string, name: string, content: string): void {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600); // mode above applies only when the file is new
}
