// The node's DNS server answering as CoreDNS' kubernetes plugin, over real UDP and TCP on 127.0.0.1:
// Services and endpoints from a catalog of the ClusterCatalog's shape, other names relayed to an
// upstream this test runs on loopback.
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointView, ServiceView } from '../../src/agent/cluster-catalog.js';
import { startClusterDNS } from '../../src/agent/dns/cluster-dns.js';
import { ClusterZone, type ServiceCatalog } from '../../src/agent/dns/cluster-zone.js';
import { Forwarder } from '../../src/agent/dns/forwarder.js';
import { DnsServer } from '../../src/agent/dns/server.js';

type Reply = DecodedPacket & { rcode: string };

function svc(namespace: string, name: string, spec: Partial<ServiceView>): ServiceView {
  return {
    namespace, name, uid: `${namespace}-${name}`, type: 'ClusterIP', clusterIPs: [], headless: false, ports: [],
    sessionAffinity: 'None', affinityTimeoutSeconds: 10800, publishNotReadyAddresses: false, ...spec,
  };
}
function ep(ip: string, ready: boolean, ports: EndpointView['ports'], more: Partial<EndpointView> = {}): EndpointView {
  return { ip, ready, serving: ready, terminating: false, ports, ...more };
}

/** The ClusterCatalog's read side, filled by the test. */
class FakeCatalog implements ServiceCatalog {
  svcs = new Map<string, ServiceView>();
  eps = new Map<string, EndpointView[]>();
  put(s: ServiceView, endpoints: EndpointView[] = []): void {
    this.svcs.set(`${s.namespace}/${s.name}`, s);
    this.eps.set(`${s.namespace}/${s.name}`, endpoints);
  }
  services(): ServiceView[] {
    return [...this.svcs.values()];
  }
  service(namespace: string, name: string): ServiceView | undefined {
    return this.svcs.get(`${namespace}/${name}`);
  }
  endpoints(namespace: string, name: string): EndpointView[] {
    return this.eps.get(`${namespace}/${name}`) ?? [];
  }
}

const http = { name: 'http', protocol: 'TCP', port: 8080 };
const catalog = new FakeCatalog();
catalog.put(svc('demo', 'web', { clusterIPs: ['10.96.0.50'], ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }, { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 }] }), [
  ep('10.244.1.5', true, [http]),
  ep('10.244.1.6', false, [http]),
]);
catalog.put(svc('demo', 'db', { clusterIPs: ['None'], headless: true, ports: [{ name: 'pg', protocol: 'TCP', port: 5432, targetPort: 5432 }] }), [
  ep('10.244.1.7', true, [{ name: 'pg', protocol: 'TCP', port: 5432 }], { hostname: 'db-0' }),
  ep('10.244.1.8', true, [{ name: 'pg', protocol: 'TCP', port: 5432 }]),
  ep('10.244.1.9', false, [{ name: 'pg', protocol: 'TCP', port: 5432 }], { hostname: 'db-2' }),
]);
catalog.put(svc('demo', 'ext', { type: 'ExternalName', externalName: 'example.test' }));
catalog.put(svc('demo', 'portless', { clusterIPs: ['None'], headless: true }), [ep('10.244.1.10', true, [])]);
catalog.put(svc('demo', 'early', { clusterIPs: ['None'], headless: true, publishNotReadyAddresses: true }), [ep('10.244.1.11', false, [])]);
catalog.put(svc('demo', 'many', { clusterIPs: ['None'], headless: true }), Array.from({ length: 60 }, (_, i) => ep(`10.244.2.${i + 1}`, true, [])));
catalog.put(svc('default', 'kubernetes', { clusterIPs: ['10.96.0.1'], ports: [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 6443 }] }));

/** A resolver of the machine's, on loopback: example.test and big.test exist, nothing else. */
class FakeUpstream {
  readonly asked: string[] = [];
  private udp = dgram.createSocket('udp4');
  private tcp = net.createServer((s) => this.serveTcp(s));
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((r) => this.tcp.listen(0, '127.0.0.1', () => r()));
    this.port = (this.tcp.address() as net.AddressInfo).port;
    await new Promise<void>((r) => this.udp.bind(this.port, '127.0.0.1', () => r()));
    this.udp.on('message', (m, rinfo) => this.udp.send(this.answer(m), rinfo.port, rinfo.address));
  }
  private serveTcp(s: net.Socket): void {
    let buf = Buffer.alloc(0);
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) {
        const reply = this.answer(buf.subarray(2, buf.readUInt16BE(0) + 2));
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        s.end(Buffer.concat([len, reply]));
      }
    });
  }
  private answer(m: Buffer): Buffer {
    const q = packet.decode(m);
    const question = q.questions![0]!;
    this.asked.push(`${question.type} ${question.name}`);
    const answers: Answer[] = [];
    if (question.name === 'example.test' && question.type === 'A') answers.push({ name: question.name, type: 'A', ttl: 60, data: '192.0.2.10' });
    const known = question.name === 'example.test';
    return packet.encode({ type: 'response', id: q.id, flags: packet.RECURSION_AVAILABLE | (q.flags! & packet.RECURSION_DESIRED) | (known ? 0 : 3), questions: q.questions, answers });
  }
  async close(): Promise<void> {
    this.udp.close();
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}

let nextId = 1;
function query(name: string, type: RecordType, opts: { edns?: number } = {}): Buffer {
  return packet.encode({
    type: 'query',
    id: nextId++,
    flags: packet.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as unknown as Answer] : [],
  });
}

async function overUdp(port: number, msg: Buffer): Promise<Reply> {
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<Reply>((resolve, reject) => {
      socket.once('message', (m) => resolve(packet.decode(m) as Reply));
      socket.once('error', reject);
      socket.send(msg, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function overTcp(port: number, msgs: Buffer[]): Promise<Reply[]> {
  const socket = net.connect(port, '127.0.0.1');
  const out: Reply[] = [];
  let buf = Buffer.alloc(0);
  return new Promise<Reply[]>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) {
        out.push(packet.decode(buf.subarray(2, buf.readUInt16BE(0) + 2)) as Reply);
        buf = buf.subarray(buf.readUInt16BE(0) + 2);
      }
      if (out.length === msgs.length) {
        socket.end();
        resolve(out);
      }
    });
    for (const m of msgs) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(m.length);
      socket.write(Buffer.concat([len, m]));
    }
  });
}

const data = (answers: Answer[] | undefined, type?: string) => (answers ?? []).filter((a) => !type || a.type === type).map((a) => (a as { data: unknown }).data);

describe('the node DNS server (CoreDNS kubernetes plugin semantics)', () => {
  const upstream = new FakeUpstream();
  let server: DnsServer;
  let synced = true;
  let port: number;
  const ask = (name: string, type: RecordType, opts?: { edns?: number }) => overUdp(port, query(name, type, opts));

  beforeAll(async () => {
    await upstream.start();
    const forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.port }], timeoutMs: 2_000 });
    const zone = new ClusterZone({
      domain: 'cluster.local',
      catalog,
      synced: () => synced,
      nameservers: () => ['10.244.9.1'],
      serial: () => 1_700_000_000,
      lookup: (name, type) => forwarder.lookup(name, type),
    });
    server = new DnsServer({ zone, forwarder, addresses: ['127.0.0.1'], port: 0 });
    await server.start();
    port = server.port;
  });
  afterAll(async () => {
    await server?.close();
    await upstream.close();
  });

  it('answers a ClusterIP Service with its ClusterIP, authoritatively, TTL 5 s, over UDP and TCP', async () => {
    const udp = await ask('web.demo.svc.cluster.local', 'A');
    expect(udp.rcode).toBe('NOERROR');
    expect(udp.flag_aa).toBe(true);
    expect(udp.answers).toEqual([{ name: 'web.demo.svc.cluster.local', type: 'A', ttl: 5, class: 'IN', flush: false, data: '10.96.0.50' }]);
    const [tcp, kube] = await overTcp(port, [query('web.demo.svc.cluster.local', 'A'), query('kubernetes.default.svc.cluster.local', 'A')]);
    expect(data(tcp!.answers)).toEqual(['10.96.0.50']);
    expect(data(kube!.answers)).toEqual(['10.96.0.1']);
    // Names are case-insensitive; the answer keeps the question's spelling.
    const mixed = await ask('Web.DEMO.svc.Cluster.Local', 'A');
    expect(mixed.answers![0]).toMatchObject({ name: 'Web.DEMO.svc.Cluster.Local', data: '10.96.0.50' });
  });

  it('answers a headless Service with its ready endpoints, and each endpoint by hostname or dashed address', async () => {
    expect(data((await ask('db.demo.svc.cluster.local', 'A')).answers).sort()).toEqual(['10.244.1.7', '10.244.1.8']);
    expect(data((await ask('db-0.db.demo.svc.cluster.local', 'A')).answers)).toEqual(['10.244.1.7']);
    expect(data((await ask('10-244-1-8.db.demo.svc.cluster.local', 'A')).answers)).toEqual(['10.244.1.8']);
    // Not ready: not published.
    expect((await ask('db-2.db.demo.svc.cluster.local', 'A')).rcode).toBe('NXDOMAIN');
    // publishNotReadyAddresses publishes them; a slice without ports still names its addresses.
    expect(data((await ask('early.demo.svc.cluster.local', 'A')).answers)).toEqual(['10.244.1.11']);
    expect(data((await ask('portless.demo.svc.cluster.local', 'A')).answers)).toEqual(['10.244.1.10']);
    // An endpoint of a ClusterIP Service has a name too.
    expect(data((await ask('10-244-1-5.web.demo.svc.cluster.local', 'A')).answers)).toEqual(['10.244.1.5']);
  });

  it('answers SRV for named ports: at the Service name, or at each endpoint of a headless Service, addresses in additional', async () => {
    const web = await ask('_http._tcp.web.demo.svc.cluster.local', 'SRV');
    expect(data(web.answers)).toEqual([{ priority: 0, weight: 100, port: 80, target: 'web.demo.svc.cluster.local' }]);
    expect(web.additionals!.filter((a) => a.type === 'A')).toMatchObject([{ name: 'web.demo.svc.cluster.local', data: '10.96.0.50' }]);
    expect(data((await ask('_dns._udp.web.demo.svc.cluster.local', 'SRV')).answers)).toEqual([{ priority: 0, weight: 100, port: 53, target: 'web.demo.svc.cluster.local' }]);
    // Every port when the name has no port part.
    expect(data((await ask('web.demo.svc.cluster.local', 'SRV')).answers)).toHaveLength(2);
    const db = await ask('_pg._tcp.db.demo.svc.cluster.local', 'SRV');
    expect(data(db.answers)).toEqual([
      { priority: 0, weight: 50, port: 5432, target: 'db-0.db.demo.svc.cluster.local' },
      { priority: 0, weight: 50, port: 5432, target: '10-244-1-8.db.demo.svc.cluster.local' },
    ]);
    expect(db.additionals!.filter((a) => a.type === 'A').map((a) => [a.name, (a as { data: string }).data])).toEqual([
      ['db-0.db.demo.svc.cluster.local', '10.244.1.7'],
      ['10-244-1-8.db.demo.svc.cluster.local', '10.244.1.8'],
    ]);
    expect((await ask('_nope._tcp.web.demo.svc.cluster.local', 'SRV')).rcode).toBe('NXDOMAIN');
    expect((await ask('_http._udp.web.demo.svc.cluster.local', 'SRV')).rcode).toBe('NXDOMAIN');
  });

  it('answers an ExternalName Service with a CNAME, and its target\'s addresses from the machine\'s resolvers', async () => {
    const a = await ask('ext.demo.svc.cluster.local', 'A');
    expect(a.answers!.map((r) => [r.type, r.name, (r as { data: string }).data])).toEqual([
      ['CNAME', 'ext.demo.svc.cluster.local', 'example.test'],
      ['A', 'example.test', '192.0.2.10'],
    ]);
    expect(data((await ask('ext.demo.svc.cluster.local', 'CNAME')).answers)).toEqual(['example.test']);
  });

  it('answers pod names a-b-c-d.NS.pod.ZONE with the address they spell', async () => {
    expect(data((await ask('10-244-1-99.demo.pod.cluster.local', 'A')).answers)).toEqual(['10.244.1.99']);
    expect((await ask('not-an-ip.demo.pod.cluster.local', 'A')).rcode).toBe('NXDOMAIN');
  });

  it('says NXDOMAIN with the zone\'s SOA for names of the zone that do not exist', async () => {
    for (const name of ['nope.demo.svc.cluster.local', 'web.nons.svc.cluster.local', 'a.b.c.d.web.demo.svc.cluster.local', 'web.demo.what.cluster.local', 'kubernetes.default.demo.svc.cluster.local']) {
      const r = await ask(name, 'A');
      expect(r.rcode, name).toBe('NXDOMAIN');
      expect(r.flag_aa).toBe(true);
      expect(r.answers).toEqual([]);
      expect(r.authorities).toEqual([
        {
          name: 'cluster.local', type: 'SOA', ttl: 5, class: 'IN', flush: false,
          data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1_700_000_000, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 },
        },
      ]);
    }
  });

  it('says NODATA (NOERROR, no answers, the SOA) for names that exist without the asked type', async () => {
    for (const [name, type] of [['web.demo.svc.cluster.local', 'AAAA'], ['web.demo.svc.cluster.local', 'MX'], ['demo.svc.cluster.local', 'A'], ['svc.cluster.local', 'A'], ['cluster.local', 'A'], ['db.demo.svc.cluster.local', 'TXT']] as const) {
      const r = await ask(name, type);
      expect(r.rcode, `${type} ${name}`).toBe('NOERROR');
      expect(r.answers).toEqual([]);
      expect(r.authorities!.map((a) => a.type)).toEqual(['SOA']);
    }
    // An unknown type (HTTPS, 65) is NODATA too, and NXDOMAIN for a name that is not there.
    expect((await ask('web.demo.svc.cluster.local', 'UNKNOWN_65' as RecordType)).rcode).toBe('NOERROR');
    expect((await ask('nope.demo.svc.cluster.local', 'UNKNOWN_65' as RecordType)).rcode).toBe('NXDOMAIN');
  });

  it('answers the zone\'s SOA, NS, dns-version, and refuses zone transfers', async () => {
    const soa = await ask('cluster.local', 'SOA');
    expect(soa.answers!.map((a) => a.type)).toEqual(['SOA']);
    const ns = await ask('cluster.local', 'NS');
    expect(data(ns.answers)).toEqual(['ns.dns.cluster.local']);
    expect(ns.additionals!.filter((a) => a.type === 'A')).toMatchObject([{ name: 'ns.dns.cluster.local', data: '10.244.9.1' }]);
    expect(data((await ask('ns.dns.cluster.local', 'A')).answers)).toEqual(['10.244.9.1']);
    const txt = await ask('dns-version.cluster.local', 'TXT');
    expect(data(txt.answers)).toEqual([[Buffer.from('1.1.0')]]);
    expect((await ask('cluster.local', 'AXFR')).rcode).toBe('REFUSED');
  });

  it('answers PTR for ClusterIPs and endpoints; other reverse names go to the machine\'s resolvers', async () => {
    expect(data((await ask('50.0.96.10.in-addr.arpa', 'PTR')).answers)).toEqual(['web.demo.svc.cluster.local']);
    expect(data((await ask('7.1.244.10.in-addr.arpa', 'PTR')).answers)).toEqual(['db-0.db.demo.svc.cluster.local']);
    expect(data((await ask('8.1.244.10.in-addr.arpa', 'PTR')).answers)).toEqual(['10-244-1-8.db.demo.svc.cluster.local']);
    const before = upstream.asked.length;
    expect((await ask('1.2.0.192.in-addr.arpa', 'PTR')).rcode).toBe('NXDOMAIN');
    expect(upstream.asked.slice(before)).toEqual(['PTR 1.2.0.192.in-addr.arpa']);
  });

  it('relays other names to the machine\'s resolvers over the client\'s transport, and never cluster names', async () => {
    const before = upstream.asked.length;
    const r = await ask('example.test', 'A');
    expect(r.rcode).toBe('NOERROR');
    expect(data(r.answers)).toEqual(['192.0.2.10']);
    const [tcp] = await overTcp(port, [query('missing.test', 'A')]);
    expect(tcp!.rcode).toBe('NXDOMAIN');
    await ask('nope.demo.svc.cluster.local', 'A');
    expect(upstream.asked.slice(before)).toEqual(['A example.test', 'A missing.test']);
  });

  it('truncates an answer too big for a datagram (TC), and gives it whole over TCP and within the client\'s EDNS size', async () => {
    const small = await ask('many.demo.svc.cluster.local', 'A');
    expect(small.flag_tc).toBe(true);
    expect(small.answers).toEqual([]);
    const edns = await ask('many.demo.svc.cluster.local', 'A', { edns: 4096 });
    expect(edns.flag_tc).toBe(false);
    expect(edns.answers).toHaveLength(60);
    expect(edns.additionals!.some((a) => a.type === 'OPT')).toBe(true);
    const [tcp] = await overTcp(port, [query('many.demo.svc.cluster.local', 'A')]);
    expect(tcp!.answers).toHaveLength(60);
  });

  it('serves a stock resolver (c-ares: search-less queries, SRV, CNAME, TCP fallback on truncation)', async () => {
    const resolver = new Resolver({ timeout: 2_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    expect(await resolver.resolve4('web.demo.svc.cluster.local')).toEqual(['10.96.0.50']);
    expect((await resolver.resolve4('db.demo.svc.cluster.local')).sort()).toEqual(['10.244.1.7', '10.244.1.8']);
    expect(await resolver.resolveSrv('_pg._tcp.db.demo.svc.cluster.local')).toHaveLength(2);
    expect(await resolver.resolveCname('ext.demo.svc.cluster.local')).toEqual(['example.test']);
    expect(await resolver.resolve4('many.demo.svc.cluster.local')).toHaveLength(60);
    await expect(resolver.resolve4('nope.demo.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('follows the catalog as it changes', async () => {
    catalog.put(svc('demo', 'late', { clusterIPs: ['10.96.0.77'], ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 80 }] }));
    expect(data((await ask('late.demo.svc.cluster.local', 'A')).answers)).toEqual(['10.96.0.77']);
    catalog.svcs.delete('demo/late');
    expect((await ask('late.demo.svc.cluster.local', 'A')).rcode).toBe('NXDOMAIN');
  });

  it('says SERVFAIL, not NXDOMAIN, for names it lacks before the catalog has loaded', async () => {
    synced = false;
    try {
      expect((await ask('nope.demo.svc.cluster.local', 'A')).rcode).toBe('SERVFAIL');
      expect(data((await ask('web.demo.svc.cluster.local', 'A')).answers)).toEqual(['10.96.0.50']);
    } finally {
      synced = true;
    }
  });

  it('answers a malformed query FORMERR and an unknown opcode NOTIMP', async () => {
    const q = query('web.demo.svc.cluster.local', 'A');
    const garbage = Buffer.concat([q.subarray(0, 12), Buffer.from([0xff, 0xff, 0xff])]);
    expect((await overUdp(port, garbage)).rcode).toBe('FORMERR');
    const status = Buffer.from(q);
    status.writeUInt16BE((2 << 11) | packet.RECURSION_DESIRED, 2);
    expect((await overUdp(port, status)).rcode).toBe('NOTIMP');
  });
});

describe('startClusterDNS (the agent\'s DNS: server and pods\' settings)', () => {
  // The ClusterCatalog's whole shape: loaded, and never changing here.
  const live = Object.assign(Object.create(catalog) as FakeCatalog, { synced: () => Promise.resolve(), onChange: () => () => {} });

  it('serves on the given addresses and tells ClusterFirst pods to use them; --cluster-dns overrides what pods are told', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-dns-'));
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 192.0.2.53\nsearch corp.example\n');
    const dns = await startClusterDNS({ catalog: live, clusterDomain: 'cluster.local', listen: ['127.0.0.1'], port: 0, resolvConf, upstreams: [], log: () => {} });
    try {
      expect(dns.nameservers).toEqual(['127.0.0.1']);
      expect(data((await overUdp(dns.server!.port, query('web.demo.svc.cluster.local', 'A'))).answers)).toEqual(['10.96.0.50']);
      const warnings: string[] = [];
      const config = dns.podDNS({ metadata: { name: 'p', namespace: 'demo' }, spec: {} }, (reason) => warnings.push(reason));
      expect(config).toEqual({ servers: ['127.0.0.1'], searches: ['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'], options: ['ndots:5'] });
      expect(dns.podDNS({ metadata: { name: 'p', namespace: 'demo' }, spec: { dnsPolicy: 'Default' } }, () => {})).toEqual({ servers: ['192.0.2.53'], searches: ['corp.example'], options: [] });
      expect(warnings).toEqual([]);
    } finally {
      await dns.close();
    }
    const told = await startClusterDNS({ catalog: live, clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], listen: [], resolvConf, log: () => {} });
    expect(told.server).toBeUndefined();
    expect(told.podDNS({ metadata: { name: 'p', namespace: 'x' }, spec: {} }, () => {}).servers).toEqual(['10.96.0.10']);
    await told.close();
    // No server and no --cluster-dns: kubelet's fallback to Default, with its event.
    const none = await startClusterDNS({ catalog: live, clusterDomain: 'cluster.local', listen: [], resolvConf, log: () => {} });
    const reasons: string[] = [];
    expect(none.podDNS({ metadata: { name: 'p', namespace: 'x' }, spec: {} }, (r) => reasons.push(r)).servers).toEqual(['192.0.2.53']);
    expect(reasons).toEqual(['MissingClusterDNS']);
    await none.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards to the resolv.conf\'s nameservers, never to its own addresses, and sees the file change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-dns-'));
    const file = join(dir, 'resolv.conf');
    writeFileSync(file, 'nameserver 10.244.9.1\nnameserver 127.0.0.53\n');
    const forwarder = new Forwarder({ resolvConf: file, exclude: () => ['10.244.9.1'] });
    expect(await forwarder.upstreams()).toEqual([{ host: '127.0.0.53', port: 53 }]);
    rmSync(dir, { recursive: true, force: true });
  });
});
