import type { KObject } from '../kinds/types.js';
import type { Guard, Store } from '../store/store.js';
import { ApiError } from './status.js';

// Cluster IPs and node ports for Services, allocated when a Service is written (as kube-apiserver's
// service REST storage does): a value is never given twice, user-chosen values are honoured or
// refused with 422, and a value is free again once its Service is gone. The write carries a guard,
// so two writers racing for one value cannot both win.

export interface ServiceRanges {
  /** --service-cluster-ip-range, IPv4 CIDR. */
  clusterIpRange: string;
  /** --service-node-port-range, inclusive. */
  nodePortRange: [number, number];
}

export const defaultServiceRanges: ServiceRanges = { clusterIpRange: '10.96.0.0/12', nodePortRange: [30000, 32767] };

interface Port {
  nodePort?: number;
}

interface Spec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: Port[];
}

function parseCidr(cidr: string): { base: number; size: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`invalid IPv4 CIDR ${cidr}`);
  const base = m.slice(1, 5).reduce((acc, o) => acc * 256 + Number(o), 0);
  const bits = Number(m[5]);
  const size = 2 ** (32 - bits);
  return { base: base - (base % size), size };
}

const ipToInt = (ip: string) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

function invalid(svc: KObject, field: string, value: unknown, detail: string): ApiError {
  const name = svc.metadata?.name ?? '';
  const message = `Invalid value: ${JSON.stringify(value)}: ${detail}`;
  return new ApiError(422, 'Invalid', `Service "${name}" is invalid: ${field}: ${message}`, {
    name,
    kind: 'Service',
    causes: [{ reason: 'FieldValueInvalid', message, field }],
  });
}

/** A free value from [lo, hi], probing from a random start. */
function pick(lo: number, hi: number, used: Set<number>): number | undefined {
  const span = hi - lo + 1;
  const start = crypto.getRandomValues(new Uint32Array(1))[0] % span;
  for (let i = 0; i < span; i++) {
    const v = lo + ((start + i) % span);
    if (!used.has(v)) return v;
  }
  return undefined;
}

/**
 * Fill in `svc`'s cluster IP and node ports (in place) and return the guard its write must carry.
 * `old` is the Service being updated, if any.
 */
export async function allocateService(store: Store, ranges: ServiceRanges, svc: KObject, old?: KObject): Promise<Guard | undefined> {
  const spec = (svc.spec ?? {}) as Spec;
  const type = spec.type ?? 'ClusterIP';
  const oldSpec = (old?.spec ?? {}) as Spec;
  const wantsIp = type !== 'ExternalName' && spec.clusterIP !== 'None' && (!old || spec.clusterIP !== oldSpec.clusterIP || !spec.clusterIP);
  const oldPorts = new Set((oldSpec.ports ?? []).map((p) => p.nodePort).filter(Boolean));
  const nodePorts = type === 'NodePort' || type === 'LoadBalancer';
  const newPorts = (spec.ports ?? []).filter((p) => nodePorts && !(p.nodePort && oldPorts.has(p.nodePort)));
  if (!wantsIp && newPorts.length === 0) return undefined;

  const [rows] = await store.rows([
    {
      sql: `SELECT json_extract(object, '$.spec.clusterIP') AS ip,
              (SELECT json_group_array(json_extract(value, '$.nodePort')) FROM json_each(object, '$.spec.ports')) AS ports
            FROM objects WHERE kind = 'Service' AND uid != ?`,
      args: [svc.metadata?.uid ?? ''],
    },
  ]);
  const usedIps = new Set(rows.map((r) => (r.ip ? ipToInt(String(r.ip)) : -1)));
  const usedPorts = new Set(rows.flatMap((r) => (JSON.parse(String(r.ports ?? '[]')) as (number | null)[]).filter((p): p is number => !!p)));

  const claimedPorts: number[] = [];
  let claimedIp: string | undefined;
  if (wantsIp) {
    const { base, size } = parseCidr(ranges.clusterIpRange);
    if (spec.clusterIP) {
      const n = ipToInt(spec.clusterIP);
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(spec.clusterIP) || n <= base || n >= base + size - 1) {
        throw invalid(svc, 'spec.clusterIPs', [spec.clusterIP], `failed to allocate IP ${spec.clusterIP}: the provided IP (${spec.clusterIP}) is not in the valid range. The range of valid IPs is ${ranges.clusterIpRange}`);
      }
      if (usedIps.has(n)) throw invalid(svc, 'spec.clusterIPs', [spec.clusterIP], `failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`);
      claimedIp = spec.clusterIP;
    } else {
      const n = pick(base + 1, base + size - 2, usedIps);
      if (n === undefined) throw new ApiError(500, 'InternalError', `Internal error occurred: failed to allocate a serviceIP: range is full`);
      claimedIp = intToIp(n);
      spec.clusterIP = claimedIp;
    }
    spec.clusterIPs = [claimedIp];
  }
  const [lo, hi] = ranges.nodePortRange;
  for (const [i, p] of (spec.ports ?? []).entries()) {
    if (!newPorts.includes(p)) continue;
    if (p.nodePort) {
      if (p.nodePort < lo || p.nodePort > hi) throw invalid(svc, `spec.ports[${i}].nodePort`, p.nodePort, `provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`);
      if (usedPorts.has(p.nodePort) || claimedPorts.includes(p.nodePort)) throw invalid(svc, `spec.ports[${i}].nodePort`, p.nodePort, 'provided port is already allocated');
    } else {
      const n = pick(lo, hi, new Set([...usedPorts, ...claimedPorts]));
      if (n === undefined) throw new ApiError(500, 'InternalError', 'Internal error occurred: failed to allocate a nodePort: range is full');
      p.nodePort = n;
    }
    claimedPorts.push(p.nodePort);
  }
  svc.spec = spec;
  return {
    sql: `NOT EXISTS (SELECT 1 FROM objects s WHERE s.kind = 'Service' AND s.uid != ? AND (json_extract(s.object, '$.spec.clusterIP') = ?
            OR EXISTS (SELECT 1 FROM json_each(s.object, '$.spec.ports') p WHERE json_extract(p.value, '$.nodePort') IN (SELECT value FROM json_each(?)))))`,
    args: [svc.metadata?.uid ?? '', claimedIp ?? '', JSON.stringify(claimedPorts)],
  };
}
