// The agent's own small CA and the serving certificate of its node-local API endpoint (api-proxy.ts).
// Pods verify that endpoint with this CA (their ca.crt), not the control plane's: the control plane's
// certificate does not name the pod bridge's gateway, and on Workers it is not ours to issue. The CA is
// made once in the data folder and kept (pods hold its certificate); the serving certificate is made
// again when the addresses it must name change or it nears its end.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface ServingCert {
  /** The CA's certificate (PEM): what pods trust. */
  caCert: string;
  cert: string;
  key: string;
}

const DAY = 24 * 3600 * 1000;
const CA_LIFETIME = 10 * 365 * DAY;
const CERT_LIFETIME = 365 * DAY;
const RENEW_BEFORE = 30 * DAY;

/** Names every in-cluster client may use for the API besides the addresses: the `kubernetes` Service's DNS names. */
export const API_DNS_NAMES = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

/** The CA (made when absent) and a serving certificate naming `hosts` (IP addresses or DNS names), in `dir`. */
export function ensureServingCert(dir: string, hosts: string[], now = new Date()): ServingCert {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = loadCa(dir) ?? createCa(dir, now);
  const wanted = [...new Set(hosts.map((h) => h.toLowerCase()))];
  const kept = loadCert(dir, ca.cert, wanted, now);
  const served = kept ?? createCert(dir, ca, wanted, now);
  return { caCert: forge.pki.certificateToPem(ca.cert), ...served };
}

interface Ca {
  cert: forge.pki.Certificate;
  key: forge.pki.PrivateKey;
}

function loadCa(dir: string): Ca | undefined {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
  try {
    return { cert: forge.pki.certificateFromPem(readFileSync(certFile, 'utf8')), key: forge.pki.privateKeyFromPem(readFileSync(keyFile, 'utf8')) };
  } catch {
    return undefined; // unreadable: made again (pods get the new one on their next sync)
  }
}

function createCa(dir: string, now: Date): Ca {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + CA_LIFETIME);
  // A name of its own per agent, so two nodes' CAs are never mistaken for one another.
  const name = [{ name: 'commonName', value: `skiff-agent-ca@${Math.floor(now.getTime() / 1000)}` }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  writeFile(join(dir, 'ca.key'), forge.pki.privateKeyToPem(keys.privateKey), 0o600);
  writeFile(join(dir, 'ca.crt'), forge.pki.certificateToPem(cert), 0o644);
  return { cert, key: keys.privateKey };
}

function loadCert(dir: string, ca: forge.pki.Certificate, hosts: string[], now: Date): { cert: string; key: string } | undefined {
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
  try {
    const pem = readFileSync(certFile, 'utf8');
    const cert = forge.pki.certificateFromPem(pem);
    if (!ca.verify(cert)) return undefined;
    if (cert.validity.notAfter.getTime() - now.getTime() < RENEW_BEFORE) return undefined;
    const ext = cert.getExtension('subjectAltName') as { altNames?: { type: number; value?: string; ip?: string }[] } | null;
    const named = new Set((ext?.altNames ?? []).map((n) => (n.type === 7 ? n.ip : n.value?.toLowerCase())));
    if (!hosts.every((h) => named.has(h))) return undefined;
    return { cert: pem, key: readFileSync(keyFile, 'utf8') };
  } catch {
    return undefined;
  }
}

function createCert(dir: string, ca: Ca, hosts: string[], now: Date): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now.getTime() - 3600_000);
  cert.validity.notAfter = new Date(now.getTime() + CERT_LIFETIME);
  cert.setSubject([{ name: 'commonName', value: 'kubernetes' }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.key as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  const out = { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
  writeFile(join(dir, 'server.key'), out.key, 0o600);
  writeFile(join(dir, 'server.crt'), out.cert, 0o644);
  return out;
}

// Positive and minimally encoded: Go's x509 (client-go) refuses negative serials.
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

/** Write and rename: a crash never leaves half a key behind. */
function writeFile(path: string, content: string, mode: number): void {
  writeFileSync(`${path}.tmp`, content, { mode });
  chmodSync(`${path}.tmp`, mode);
  renameSync(`${path}.tmp`, path);
}
