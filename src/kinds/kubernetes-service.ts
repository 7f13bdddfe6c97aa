// The `kubernetes` Service in `default`, as kube-apiserver keeps it for in-cluster clients: type
// ClusterIP on the first address of --service-cluster-ip-range, port 443 named https. skiff creates it
// at startup (Store.init) and never changes it afterwards. It has no selector, so the endpoints
// controller leaves it alone, and skiff writes it no Endpoints: the API has no address of its own that
// pods could use (on Workers none at all; `skiff serve` listens on 127.0.0.1 by default). Pods reach the
// API at their node's local endpoint instead, where the agent points KUBERNETES_SERVICE_HOST/PORT.
import type { KObject } from './types.js';

export const KUBERNETES_SERVICE = 'kubernetes';
const DEFAULT_RANGE = '10.96.0.0/12';

/** The first address of an IPv4 CIDR (10.96.0.0/12: 10.96.0.1), the one kube-apiserver gives the Service. */
export function firstServiceIP(cidr: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`invalid IPv4 CIDR ${cidr}`);
  const size = 2 ** (32 - Number(m[5]));
  const base = m.slice(1, 5).reduce((acc, o) => acc * 256 + Number(o), 0);
  const first = base - (base % size) + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(first / 2 ** s) % 256).join('.');
}

export function kubernetesService(now: string, clusterIpRange = DEFAULT_RANGE): KObject {
  const ip = firstServiceIP(clusterIpRange);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: KUBERNETES_SERVICE,
      namespace: 'default',
      uid: crypto.randomUUID(),
      creationTimestamp: now,
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: ip,
      clusterIPs: [ip],
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: {} },
  };
}
