import type { KObject } from '../kinds/types.js';
import { objectOf, type Guard, type WriteOp } from '../store/store.js';
import type { PassContext } from './context.js';

// Node IPAM, as kube-controller-manager's range allocator (--allocate-node-cidrs, --cluster-cidr,
// --node-cidr-mask-size): every Node without spec.podCIDR gets a free block of the cluster CIDR, the
// lowest first, in spec.podCIDR and spec.podCIDRs. What is in use is derived from the Nodes alone, so
// a deleted node's block is free again and no allocation record can drift from them.
// Round trips:
// 0. none of its own when every node has its CIDR: node lifecycle's health rows (read every pass)
//    say which lack one. Run without them (alone), one indexed probe.
// 1. when some lack one: the CIDRs in use, at most batchSize such Nodes whole, the CIDRNotAvailable
//    events of those, and the global revision, all in one read, so one snapshot.
// 2. the write. Each node's update is conditional on its resourceVersion and on no Node having been
//    written with that CIDR since the revision read. The resourceVersion alone is not enough: a pass
//    that saw only node B could give B the block that a pass which also saw an older node A (and read
//    before the first committed) gives A. With the second condition the later commit fails, and the
//    next pass, seeing the first's allocation, picks another block.

const COMPONENT = 'cidrAllocator';
/** kube-controller-manager records CIDRNotAvailable with nodeutil.RecordNodeStatusChange, as a Normal event. */
const NOT_AVAILABLE_TYPE = 'Normal';
const NOT_AVAILABLE = 'CIDRNotAvailable';
/** A node still waiting for a CIDR has its CIDRNotAvailable event counted again this often, not every pass. */
const NOT_AVAILABLE_RETRY_MS = 5 * 60_000;
/** Blocks per cluster CIDR at most, as the range allocator's cidrset (mask size - cluster prefix <= 16). */
const MAX_BLOCK_BITS = 16;

/** Nodes (alias `n`) without a pod CIDR, and not being deleted. */
const WITHOUT_CIDR = `n.kind = 'Node' AND n.namespace = '' AND COALESCE(n.object ->> '$.spec.podCIDR', '') = ''
  AND COALESCE(json_array_length(n.object, '$.spec.podCIDRs'), 0) = 0 AND n.object ->> '$.metadata.deletionTimestamp' IS NULL`;

const ANY_WITHOUT_SQL = `SELECT 1 FROM objects n WHERE ${WITHOUT_CIDR} LIMIT 1`;

const USED_SQL = `SELECT n.object ->> '$.spec.podCIDR' AS cidr FROM objects n WHERE n.kind = 'Node' AND n.namespace = '' AND n.object ->> '$.spec.podCIDR' > ''
  UNION SELECT c.value FROM objects n, json_each(n.object, '$.spec.podCIDRs') c WHERE n.kind = 'Node' AND n.namespace = ''`;

const NODES_SQL = `SELECT n.rv, n.object FROM objects n WHERE ${WITHOUT_CIDR} ORDER BY n.name LIMIT ?`;

/** When each node's CIDRNotAvailable event was last counted (events of a node are named "<node>.<hash>"). */
const EVENTS_SQL = `SELECT n.name, MAX(e.object ->> '$.lastTimestamp') AS last
  FROM objects n JOIN objects e ON e.kind = 'Event' AND e.namespace = 'default' AND e.name > n.name || '.' AND e.name < n.name || '/'
    AND e.object ->> '$.reason' = '${NOT_AVAILABLE}' AND e.object ->> '$.involvedObject.uid' = n.uid
  WHERE ${WITHOUT_CIDR} GROUP BY n.name`;

/**
 * No Node written after revision `rev` holds `cidr` (the change log is indexed by kind and revision,
 * so this reads only the few Node changes since), and none of those changes has been compacted away.
 */
function unclaimedSince(rev: number, cidr: string): Guard {
  return {
    sql: `(SELECT compacted FROM revision WHERE id = 1) <= ? AND NOT EXISTS (SELECT 1 FROM changes WHERE kind = 'Node' AND rev > ?
      AND (object ->> '$.spec.podCIDR' = ? OR object -> '$.spec.podCIDRs' ->> 0 = ?))`,
    args: [rev, rev, cidr, cidr],
  };
}

// ---- IPv4 blocks

function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets.reduce((n, o) => n * 256 + o, 0) : undefined;
}

function parseCidr(s: string): { base: number; prefix: number } | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  const ip = m ? parseIPv4(m[1]) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix <= 32)) return undefined;
  const size = 2 ** (32 - prefix);
  return { base: ip - (ip % size), prefix };
}

const formatIPv4 = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/** The cluster CIDR cut into blocks of the node mask size. */
export interface NodeCidrBlocks {
  base: number;
  /** Addresses per block. */
  size: number;
  count: number;
  maskSize: number;
}

/** The blocks of `clusterCidr` of `maskSize` bits, or why there are none (for the flags and vars that set them). */
export function nodeCidrBlocks(clusterCidr: string, maskSize: number): NodeCidrBlocks | string {
  const cluster = parseCidr(clusterCidr);
  if (!cluster) return `cluster CIDR "${clusterCidr}" is not an IPv4 CIDR`;
  if (!Number.isInteger(maskSize) || maskSize < cluster.prefix || maskSize > 32) {
    return `node CIDR mask size ${maskSize} must be between the cluster CIDR's prefix length (${cluster.prefix}) and 32`;
  }
  if (maskSize - cluster.prefix > MAX_BLOCK_BITS) {
    return `node CIDR mask size ${maskSize} is more than ${MAX_BLOCK_BITS} bits longer than the cluster CIDR's prefix length (${cluster.prefix})`;
  }
  return { base: cluster.base, size: 2 ** (32 - maskSize), count: 2 ** (maskSize - cluster.prefix), maskSize };
}

/** Blocks not overlapping any of `used` (CIDRs that are not IPv4 are ignored), lowest first. */
export function* freeBlocks(blocks: NodeCidrBlocks, used: Iterable<string>): Generator<string> {
  const { base, size, count, maskSize } = blocks;
  const top = base + size * count - 1;
  const taken = new Set<number>();
  for (const cidr of used) {
    const u = parseCidr(cidr);
    if (!u) continue;
    const [from, to] = [Math.max(u.base, base), Math.min(u.base + 2 ** (32 - u.prefix) - 1, top)];
    for (let i = Math.floor((from - base) / size); from <= to && i <= Math.floor((to - base) / size); i++) taken.add(i);
  }
  for (let i = 0; i < count; i++) if (!taken.has(i)) yield `${formatIPv4(base + i * size)}/${maskSize}`;
}

// ---- the controller

function withPodCidr(node: KObject, cidr: string): KObject {
  const next = structuredClone(node);
  next.spec = { ...(next.spec as object), podCIDR: cidr, podCIDRs: [cidr] };
  return next;
}

let warned = '';

export async function nodeIpam(ctx: PassContext): Promise<void> {
  const { batchSize, clusterCidr, nodeCidrMaskSize } = ctx.opts;
  const idle = ctx.nodesWithoutPodCidr ? ctx.nodesWithoutPodCidr.length === 0 : (await ctx.store.rows([ANY_WITHOUT_SQL]))[0].length === 0;
  if (idle) return;
  const blocks = nodeCidrBlocks(clusterCidr, nodeCidrMaskSize);
  if (typeof blocks === 'string') {
    // Settings are checked where they are read (skiff serve's flags); a Worker with bad vars says so
    // once per isolate and leaves the rest of the pass to run.
    if (warned !== blocks) console.error(`node IPAM is off: ${(warned = blocks)}`);
    return;
  }
  const [usedRows, nodeRows, eventRows, [head]] = await ctx.store.rows([
    USED_SQL,
    { sql: NODES_SQL, args: [batchSize] },
    EVENTS_SQL,
    'SELECT rev FROM revision WHERE id = 1',
  ]);
  const rev = Number(head.rev);
  const free = freeBlocks(blocks, usedRows.map((r) => String(r.cidr)));
  const lastEvent = new Map(eventRows.map((r) => [String(r.name), Date.parse(String(r.last))]));
  const ops: WriteOp[] = [];
  for (const node of nodeRows.map(objectOf)) {
    const name = node.metadata!.name!;
    const next = free.next();
    if (!next.done) {
      ops.push({ op: 'update', object: withPodCidr(node, next.value), rv: Number(node.metadata!.resourceVersion), guard: unclaimedSince(rev, next.value) });
    } else if (!((lastEvent.get(name) ?? -Infinity) > ctx.now().getTime() - NOT_AVAILABLE_RETRY_MS)) {
      ctx.event({ involved: node, type: NOT_AVAILABLE_TYPE, reason: NOT_AVAILABLE, message: `Node ${name} status is now: ${NOT_AVAILABLE}`, component: COMPONENT });
    }
  }
  await ctx.commit(ops);
}
