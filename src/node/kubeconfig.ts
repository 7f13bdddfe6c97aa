// The kubeconfig `skiff serve` writes for its admin user: one cluster, one user, one context.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const KUBECONFIG_FILE = 'kubeconfig';

export interface KubeconfigInput {
  server: string; // https://HOST:PORT
  caCert: string; // PEM
  token: string;
}

export function renderKubeconfig({ server, caCert, token }: KubeconfigInput): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'skiff',
        cluster: { server, 'certificate-authority-data': Buffer.from(caCert).toString('base64') },
      },
    ],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'skiff', context: { cluster: 'skiff', user: 'admin' } }],
    'current-context': 'skiff',
    preferences: {},
  });
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
