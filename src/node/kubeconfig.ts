// The kubeconfig `skiff serve` writes for its admin user (one cluster, one user, one context), and
// those `skiff user add` prints for other users.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';

export const KUBECONFIG_FILE = 'kubeconfig';

export interface KubeconfigInput {
  server: string; // https://HOST:PORT
  /** PEM; absent for a server whose certificate the system trusts (a Worker's). */
  caCert?: string;
  token: string;
  /** The user's name in the kubeconfig; 'admin' (context 'skiff') by default, else context USER@skiff. */
  user?: string;
}

export function renderKubeconfig({ server, caCert, token, user = 'admin' }: KubeconfigInput): string {
  const context = user === 'admin' ? 'skiff' : `${user}@skiff`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'skiff',
        cluster: { server, ...(caCert ? { 'certificate-authority-data': Buffer.from(caCert).toString('base64') } : {}) },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: context, context: { cluster: 'skiff', user } }],
    'current-context': context,
    preferences: {},
  });
}

/** The server and CA (PEM, when it names one) of a kubeconfig's first cluster. */
export function clusterOf(kubeconfig: string): { server?: string; caCert?: string } {
  const cluster = (parseYaml(kubeconfig) as { clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[] } | null)?.clusters?.[0]?.cluster;
  const ca = cluster?.['certificate-authority-data'];
  return { server: cluster?.server, ...(ca ? { caCert: Buffer.from(ca, 'base64').toString('utf8') } : {}) };
}

/** Writes DIR/kubeconfig (it holds the token, so only the owner may read it); returns its path. */
export function writeKubeconfig(dir: string, input: KubeconfigInput): string {
  const path = join(dir, KUBECONFIG_FILE);
  writeFileSync(path, renderKubeconfig(input), { mode: 0o600 });
  return path;
}

export function readKubeconfig(dir: string): string | undefined {
  const path = join(dir, KUBECONFIG_FILE);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
