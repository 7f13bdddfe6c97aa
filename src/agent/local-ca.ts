// The agent's own small CA and the serving certificate of its node-local API endpoint (api-proxy.ts).
// Pods verify that endpoint with this CA (their ca.crt), not the control plane's: the control plane's
// certificate does not name the pod bridge's gateway, and on Workers it is not ours to issue. The CA is
// made once in the data folder and kept (pods hold its certificate); the serving certificate is made
// again when the addresses it must name change or it nears its end (src/node/certs.ts does both).
import { mkdirSync } from 'node:fs';
import { ensureServerCert, san } from '../node/certs.js';

export interface ServingCert {
  /** The CA's certificate (PEM): what pods trust. */
  caCert: string;
  cert: string;
  key: string;
}

const CERT_LIFETIME = 365 * 24 * 3600 * 1000;

/** Names every in-cluster client may use for the API besides the addresses: the `kubernetes` Service's DNS names. */
export const API_DNS_NAMES = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

/** The CA (made when absent) and a serving certificate naming `hosts` (IP addresses or DNS names), in `dir`. */
export function ensureServingCert(dir: string, hosts: string[], now = new Date()): ServingCert {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sans = [...new Map(hosts.map((h) => san(h)).map((s) => [`${s.type}/${s.value}`, s])).values()];
  // A CA name of its own per agent, so two nodes' CAs are never mistaken for one another.
  const caName = `skiff-agent-ca@${Math.floor(now.getTime() / 1000)}`;
  const served = ensureServerCert(dir, sans, { caName, commonName: 'kubernetes', lifetimeMs: CERT_LIFETIME }, now);
  return { caCert: served.caCert, cert: served.certPem, key: served.keyPem };
}
