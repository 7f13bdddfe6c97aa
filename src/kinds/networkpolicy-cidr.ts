// IP addresses and CIDRs as NetworkPolicy's ipBlock reads them: parsed as Go's
// netutils.ParseCIDRSloppy does (IPv4 octets may carry leading zeros, the address may have bits set
// past the prefix), compared, and a block minus its `except` blocks turned into plain CIDRs, which
// is what a packet filter without set operations needs. Runtime-neutral (BigInt arithmetic).

export interface ParsedIP {
  v6: boolean;
  value: bigint;
}

export interface ParsedCidr {
  v6: boolean;
  /** The address as written (bits past the prefix kept). */
  ip: bigint;
  /** The address with the bits past the prefix cleared. */
  network: bigint;
  prefix: number;
}

const bitsOf = (v6: boolean) => (v6 ? 128 : 32);

function parseIPv4Sloppy(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256n + BigInt(Number(p));
  }
  return n;
}

function parseIPv6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined;
  let text = s;
  let tail: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = parseIPv4Sloppy(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (![...head, ...rest].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  let n = 0n;
  for (const g of all) n = n * 65536n + BigInt(parseInt(g, 16));
  if (tail !== undefined) n = (n & ~0xffffffffn) | tail;
  return n;
}

/** An IPv4 or IPv6 address (IPv4 octets may have leading zeros, as ParseIPSloppy allows). */
export function parseIP(s: string): ParsedIP | undefined {
  const v4 = parseIPv4Sloppy(s);
  if (v4 !== undefined) return { v6: false, value: v4 };
  const v6 = parseIPv6(s);
  return v6 === undefined ? undefined : { v6: true, value: v6 };
}

const maskOf = (v6: boolean, prefix: number): bigint => {
  const bits = BigInt(bitsOf(v6));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
};

/** "ADDRESS/PREFIX", as ParseCIDRSloppy reads it; undefined when it is not one. */
export function parseCidr(s: string): ParsedCidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bitsOf(ip.v6)) return undefined;
  return { v6: ip.v6, ip: ip.value, network: ip.value & maskOf(ip.v6, prefix), prefix };
}

/** Whether `ip` lies in `cidr` (never across families, as net.IPNet.Contains). */
export function cidrContains(cidr: ParsedCidr, ip: ParsedIP): boolean {
  return cidr.v6 === ip.v6 && (ip.value & maskOf(cidr.v6, cidr.prefix)) === cidr.network;
}

/** Whether `inner` is a block inside `outer` (the same or smaller). */
function covers(outer: ParsedCidr, inner: ParsedCidr): boolean {
  return outer.v6 === inner.v6 && outer.prefix <= inner.prefix && (inner.network & maskOf(outer.v6, outer.prefix)) === outer.network;
}

function overlaps(a: ParsedCidr, b: ParsedCidr): boolean {
  return covers(a, b) || covers(b, a);
}

export function formatIP(ip: ParsedIP): string {
  if (!ip.v6) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 255n)).join('.');
  const groups: string[] = [];
  for (let i = 7n; i >= 0n; i--) groups.push(((ip.value >> (i * 16n)) & 0xffffn).toString(16));
  return groups.join(':');
}

/** The canonical "NETWORK/PREFIX" of a block. */
export function formatCidr(c: ParsedCidr): string {
  return `${formatIP({ v6: c.v6, value: c.network })}/${c.prefix}`;
}

/**
 * The blocks covering `cidr` minus every block in `except`, as few CIDRs as the split allows (at
 * most a prefix length's worth per except). Excepts of another family are ignored.
 */
export function subtractCidrs(cidr: ParsedCidr, except: ParsedCidr[]): ParsedCidr[] {
  const out: ParsedCidr[] = [];
  const bits = bitsOf(cidr.v6);
  const visit = (block: ParsedCidr) => {
    const hits = except.filter((e) => overlaps(block, e));
    if (hits.length === 0) return void out.push(block);
    if (hits.some((e) => covers(e, block))) return;
    const prefix = block.prefix + 1;
    const half = 1n << BigInt(bits - prefix);
    for (const network of [block.network, block.network | half]) visit({ v6: block.v6, ip: network, network, prefix });
  };
  if (cidr.prefix <= bits) visit({ ...cidr, ip: cidr.network });
  return out;
}
