// The records of the cluster domain, answered as CoreDNS' kubernetes plugin answers them (the DNS
// schema of Kubernetes, https://github.com/kubernetes/dns/blob/master/docs/specification.md):
//
//   SVC.NS.svc.ZONE                       A: the ClusterIPs; headless: the ready endpoints' addresses;
//                                         ExternalName: CNAME to spec.externalName (plus its addresses)
//   HOST.SVC.NS.svc.ZONE                  A: the endpoint whose hostname (else dashed address) is HOST
//   _PORT._PROTO.SVC.NS.svc.ZONE          SRV per named port, at SVC.NS.svc.ZONE (ClusterIP) or at each
//                                         endpoint's HOST.SVC.NS.svc.ZONE (headless), addresses in additional
//   A-B-C-D.NS.pod.ZONE                   A: the address spelled in the name (the plugin's `pods insecure`)
//   D.C.B.A.in-addr.arpa                  PTR for ClusterIPs and endpoints; other addresses are not ours
//   dns-version.ZONE                      TXT 1.1.0
//   ZONE                                  SOA, NS ns.dns.ZONE
//
// A name in the zone that does not exist is NXDOMAIN, a name that exists without the asked type is
// NODATA; both carry the zone's SOA in the authority section. TTL 5 s.
import type { Answer, Question } from 'dns-packet';
import type { EndpointView, ServiceView } from '../cluster-catalog.js';

/** The part of the agent's ClusterCatalog the zone reads. */
export interface ServiceCatalog {
  services(): ServiceView[];
  service(namespace: string, name: string): ServiceView | undefined;
  endpoints(namespace: string, name: string): EndpointView[];
}

export interface ClusterZoneOptions {
  /** The cluster domain, e.g. cluster.local. */
  domain: string;
  catalog: ServiceCatalog;
  /** Whether the catalog has loaded: until then a name it lacks is SERVFAIL, not NXDOMAIN. */
  synced: () => boolean;
  /** The addresses of ns.dns.ZONE: where pods reach this server. */
  nameservers: () => string[];
  /** The SOA serial: when the catalog last changed (unix seconds). */
  serial: () => number;
  /** Resolves a name outside the zone (an ExternalName's target); [] when it does not resolve. */
  lookup: (name: string, type: 'A' | 'AAAA') => Promise<Answer[]>;
  ttl?: number;
}

export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';

export interface ZoneAnswer {
  rcode: Rcode;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

const DNS_SCHEMA_VERSION = '1.1.0';
const MAX_CNAME_CHAIN = 10;

/** One thing a name stands for: an address or a name (ExternalName), with the port and owner SRV uses. */
interface Entry {
  host: string;
  /** -1: no port (an endpoint of a slice with no ports). */
  port: number;
  /** The domain an SRV record points at. */
  key: string;
}

/** Entries of a name, or NXDOMAIN (null). An empty list is a name that exists with nothing to list. */
type Lookup = Entry[] | null;

interface Request {
  kind: '' | 'svc' | 'pod';
  namespace: string;
  service: string;
  endpoint: string;
  port: string;
  protocol: string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function isIPv4(s: string): boolean {
  const m = IPV4.exec(s);
  return !!m && m.slice(1).every((o) => Number(o) <= 255 && String(Number(o)) === o);
}

function isIP(s: string): boolean {
  return isIPv4(s) || (s.includes(':') && /^[0-9a-f:.]+$/i.test(s));
}

/** The name of an endpoint: its hostname, else its address with dashes. */
function endpointName(ep: EndpointView): string {
  if (ep.hostname) return ep.hostname;
  if (ep.ip.includes('.')) return ep.ip.replace(/\./g, '-');
  const dashed = ep.ip.replace(/:/g, '-');
  return dashed.endsWith('-') ? `${dashed}0` : dashed;
}

const lower = (s: string) => s.toLowerCase();
const stripUnderscore = (s: string) => (s.startsWith('_') ? s.slice(1) : s);

export class ClusterZone {
  readonly domain: string;
  private readonly ttl: number;

  constructor(private readonly opts: ClusterZoneOptions) {
    this.domain = lower(opts.domain.replace(/\.$/, ''));
    this.ttl = opts.ttl ?? 5;
  }

  /** Whether a name is in the cluster domain. */
  inZone(name: string): boolean {
    const n = lower(name.replace(/\.$/, ''));
    return n === this.domain || n.endsWith(`.${this.domain}`);
  }

  /**
   * The answer to a question, or undefined when it is not ours (a name outside the zone, or the
   * address of a reverse name is neither a ClusterIP nor an endpoint): the caller forwards it.
   */
  async answer(q: Question): Promise<ZoneAnswer | undefined> {
    if (q.class && q.class !== 'IN') return undefined;
    if (q.type === 'PTR' && lower(q.name).endsWith('.in-addr.arpa')) return this.reverse(q);
    if (!this.inZone(q.name)) return undefined;
    const name = q.name.replace(/\.$/, '');
    let records: Answer[] = [];
    let additionals: Answer[] = [];
    let found: boolean;
    switch (q.type) {
      case 'A':
      case 'AAAA': {
        const r = await this.address(name, q.type, []);
        found = r !== null;
        records = r ?? [];
        break;
      }
      case 'SRV': {
        const r = await this.srv(name);
        found = r !== null;
        if (r) ({ records, additionals } = r);
        break;
      }
      case 'CNAME': {
        const entries = this.find(name);
        found = entries !== null;
        const first = entries?.[0];
        if (first && !isIP(first.host)) records = [this.rr(name, 'CNAME', first.host)];
        break;
      }
      case 'TXT': {
        if (lower(name) === `dns-version.${this.domain}`) {
          records = [{ name, type: 'TXT', ttl: 28_800, class: 'IN', data: DNS_SCHEMA_VERSION }];
          found = true;
        } else {
          found = this.find(name) !== null;
        }
        break;
      }
      case 'SOA':
        // Only the apex has one; any other name answers NODATA, as the plugin does.
        found = true;
        if (this.isApex(name)) records = [this.soa(name)];
        break;
      case 'NS':
        if (this.isApex(name)) {
          found = true;
          const ns = `ns.dns.${this.domain}`;
          records = [this.rr(name, 'NS', ns)];
          additionals = this.opts.nameservers().filter(isIPv4).map((ip) => this.rr(ns, 'A', ip));
          break;
        }
        found = (await this.address(name, 'A', [])) !== null;
        break;
      case 'AXFR':
      case 'IXFR':
        return { rcode: 'REFUSED', answers: [], authorities: [], additionals: [] };
      default:
        // Any other type: NODATA when the name exists, told by an A lookup.
        found = (await this.address(name, 'A', [])) !== null;
    }
    if (!found) {
      // Not knowing yet is not knowing it does not exist.
      if (!this.opts.synced()) return { rcode: 'SERVFAIL', answers: [], authorities: [], additionals: [] };
      return { rcode: 'NXDOMAIN', answers: [], authorities: [this.soa(this.apexOf(name))], additionals: [] };
    }
    if (records.length === 0) return { rcode: 'NOERROR', answers: [], authorities: [this.soa(this.apexOf(name))], additionals: [] };
    return { rcode: 'NOERROR', answers: records, authorities: [], additionals };
  }

  private isApex(name: string): boolean {
    return lower(name) === this.domain;
  }

  /** The zone's apex in the query's own spelling. */
  private apexOf(name: string): string {
    return name.slice(name.length - this.domain.length);
  }

  private rr(name: string, type: 'A' | 'AAAA' | 'CNAME' | 'NS' | 'PTR', data: string): Answer {
    return { name, type, ttl: this.ttl, class: 'IN', data };
  }

  private soa(zone: string): Answer {
    return {
      name: zone,
      type: 'SOA',
      ttl: Math.min(this.ttl, 300),
      class: 'IN',
      data: {
        mname: `ns.dns.${this.domain}`,
        rname: `hostmaster.${this.domain}`,
        serial: this.opts.serial() >>> 0,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: this.ttl,
      },
    };
  }

  /** The plugin's parseRequest; undefined: a name of the zone that cannot exist (NXDOMAIN). */
  private parse(name: string): Request | undefined {
    const base = lower(name).slice(0, -this.domain.length).replace(/\.$/, '');
    const r: Request = { kind: '', namespace: '', service: '', endpoint: '', port: '', protocol: '' };
    if (base === '' || base === 'svc' || base === 'pod') return r; // NODATA for these
    const segs = base.split('.');
    let last = segs.length - 1;
    const kind = segs[last]!;
    if (kind !== 'svc' && kind !== 'pod') return undefined;
    r.kind = kind;
    if (--last < 0) return r;
    r.namespace = segs[last]!;
    if (--last < 0) return r;
    r.service = segs[last]!;
    if (--last < 0) return r;
    if (last === 0) r.endpoint = segs[0]!;
    else if (last === 1) {
      r.protocol = stripUnderscore(segs[1]!);
      r.port = stripUnderscore(segs[0]!);
    } else return undefined; // too long to be anything
    return r;
  }

  /** A namespace exists (for names) when a Service lives in it: the catalog holds no Namespaces. */
  private namespaceExists(namespace: string): boolean {
    return this.opts.catalog.services().some((s) => s.namespace === namespace);
  }

  /** What a name stands for (the plugin's Records), or null for NXDOMAIN. */
  private find(name: string): Lookup {
    const lname = lower(name);
    if (lname === `ns.dns.${this.domain}`) {
      return this.opts.nameservers().map((ip) => ({ host: ip, port: -1, key: lname }));
    }
    if (lname === `dns-version.${this.domain}`) return [];
    const r = this.parse(name);
    if (!r) return null;
    if (r.kind === '') return [];
    if (r.kind === 'pod') return this.findPod(r);
    return this.findServices(r);
  }

  private findPod(r: Request): Lookup {
    if (!r.service) return [];
    if (r.endpoint || r.port) return null;
    // a-b-c-d: IPv4; otherwise dashes stand for an IPv6 address's colons.
    const ip = (r.service.split('-').length === 4 && !r.service.includes('--')) ? r.service.replace(/-/g, '.') : r.service.replace(/-/g, ':');
    if (!isIP(ip)) return null;
    return [{ host: ip, port: -1, key: `${r.service}.${r.namespace}.pod.${this.domain}` }];
  }

  private findServices(r: Request): Lookup {
    if (!r.service) return this.namespaceExists(r.namespace) ? [] : null;
    const svc = this.opts.catalog.service(r.namespace, r.service);
    if (!svc) return null;
    const zoneKey = `${svc.name}.${svc.namespace}.svc.${this.domain}`;
    const out: Entry[] = [];
    if (svc.type === 'ExternalName') {
      if (r.endpoint || r.port || r.protocol || !svc.externalName || isIP(svc.externalName)) return null;
      return [{ host: svc.externalName.replace(/\.$/, ''), port: 0, key: zoneKey }];
    }
    const portMatches = (name: string, protocol: string) =>
      (!r.port || lower(name) === r.port) && (!r.protocol || lower(protocol) === r.protocol);
    if (svc.headless || r.endpoint) {
      for (const ep of this.opts.catalog.endpoints(svc.namespace, svc.name)) {
        if (!ep.ready && !svc.publishNotReadyAddresses) continue;
        const host = endpointName(ep);
        if (r.endpoint && lower(host) !== r.endpoint) continue;
        // A slice without ports still names its addresses (the plugin's port -1).
        const ports = ep.ports.length ? ep.ports : [{ name: '', protocol: '', port: -1 }];
        for (const p of ports) {
          if (!portMatches(p.name, p.protocol)) continue;
          out.push({ host: ep.ip, port: p.port, key: `${lower(host)}.${zoneKey}` });
        }
      }
      return out.length ? out : null;
    }
    for (const p of svc.ports) {
      if (!portMatches(p.name, p.protocol)) continue;
      for (const ip of svc.clusterIPs) if (ip && ip !== 'None') out.push({ host: ip, port: p.port, key: zoneKey });
    }
    return out.length ? out : null;
  }

  /** A or AAAA records of a name, following an ExternalName's CNAME; null: NXDOMAIN. */
  private async address(name: string, type: 'A' | 'AAAA', chain: Answer[]): Promise<Answer[] | null> {
    const entries = this.find(name);
    if (entries === null) return null;
    const records: Answer[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      if (!isIP(e.host)) {
        if (lower(e.host) === lower(name) || chain.length > MAX_CNAME_CHAIN) continue;
        const cname = this.rr(name, 'CNAME', e.host);
        if (chain.some((c) => lower(c.name) === lower(name) && lower(String((c as { data: unknown }).data)) === lower(e.host))) continue;
        if (this.inZone(e.host)) {
          const next = await this.address(e.host, type, [...chain, cname]);
          if (next && next.length) records.push(cname, ...next);
          continue;
        }
        // The target is outside the zone: resolve it as a recursor would, so the client gets a whole answer.
        const upstream = await this.opts.lookup(e.host, type).catch(() => undefined);
        if (!upstream) continue;
        records.push(cname, ...upstream);
        continue;
      }
      const v4 = isIPv4(e.host);
      if ((type === 'A') !== v4 || seen.has(e.host)) continue;
      seen.add(e.host);
      records.push(this.rr(name, type, e.host));
    }
    return records;
  }

  /** SRV records with the targets' addresses; null: NXDOMAIN. */
  private async srv(name: string): Promise<{ records: Answer[]; additionals: Answer[] } | null> {
    const entries = this.find(name);
    if (entries === null) return null;
    const records: Answer[] = [];
    const additionals: Answer[] = [];
    const withPort = entries.filter((e) => e.port !== -1);
    // Equal shares of 100 among the records (all at priority 0), at least 1.
    const weight = Math.max(1, Math.floor(100 / Math.max(1, entries.length)));
    const seenSrv = new Set<string>();
    const seenAddr = new Set<string>();
    const looked = new Set<string>();
    for (const e of withPort) {
      if (!isIP(e.host)) {
        records.push({ name, type: 'SRV', ttl: this.ttl, class: 'IN', data: { priority: 0, weight, port: e.port, target: e.host } });
        if (looked.has(e.host)) continue;
        looked.add(e.host);
        if (!this.inZone(e.host)) additionals.push(...(await this.opts.lookup(e.host, 'A').catch(() => [])));
        continue;
      }
      if (!seenSrv.has(`${e.key}:${e.port}`)) {
        seenSrv.add(`${e.key}:${e.port}`);
        records.push({ name, type: 'SRV', ttl: this.ttl, class: 'IN', data: { priority: 0, weight, port: e.port, target: e.key } });
      }
      if (!seenAddr.has(`${e.key}:${e.host}`)) {
        seenAddr.add(`${e.key}:${e.host}`);
        additionals.push(this.rr(e.key, isIPv4(e.host) ? 'A' : 'AAAA', e.host));
      }
    }
    return { records, additionals };
  }

  /** PTR for a ClusterIP or an endpoint's address; undefined (not ours) for any other address. */
  private reverse(q: Question): ZoneAnswer | undefined {
    const labels = lower(q.name).replace(/\.$/, '').slice(0, -'.in-addr.arpa'.length).split('.');
    if (labels.length !== 4) return undefined;
    const ip = labels.reverse().join('.');
    if (!isIPv4(ip)) return undefined;
    const services = this.opts.catalog.services();
    const svc = services.find((s) => s.clusterIPs.includes(ip));
    if (svc) return { rcode: 'NOERROR', answers: [this.rr(q.name, 'PTR', `${svc.name}.${svc.namespace}.svc.${this.domain}`)], authorities: [], additionals: [] };
    const answers: Answer[] = [];
    const seen = new Set<string>();
    for (const s of services) {
      for (const ep of this.opts.catalog.endpoints(s.namespace, s.name)) {
        if (ep.ip !== ip || (!ep.ready && !s.publishNotReadyAddresses)) continue;
        const target = `${endpointName(ep)}.${s.name}.${s.namespace}.svc.${this.domain}`;
        if (seen.has(target)) continue;
        seen.add(target);
        answers.push(this.rr(q.name, 'PTR', target));
      }
    }
    return answers.length ? { rcode: 'NOERROR', answers, authorities: [], additionals: [] } : undefined;
  }
}
