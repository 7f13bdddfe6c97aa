// A node's cluster DNS, CoreDNS' and kubelet's parts together: the server on the pods' gateway,
// answering from the agent's Service catalog, and the resolver settings each pod gets.
import type { DNSConfig } from './resolv-conf.js';
import { defaultPodResolvConf, podDNSConfig, readResolvConf } from './resolv-conf.js';
import { ClusterZone, type ServiceCatalog } from './cluster-zone.js';
import { Forwarder, type Upstream } from './forwarder.js';
import { DnsServer } from './server.js';

export interface ClusterDNSOptions {
  catalog: ServiceCatalog & { synced(): Promise<void>; onChange(fn: () => void): () => void };
  /** --cluster-domain. */
  clusterDomain: string;
  /** --cluster-dns: what pods are told to use; default: the addresses served on. */
  clusterDNS?: string[];
  /** Where to serve: the pods' gateway. None: no server (pods then use --cluster-dns, or the node's resolvers). */
  listen: string[];
  /** Default 53. */
  port?: number;
  /** kubelet's --resolv-conf: the node's settings pods with dnsPolicy Default get. */
  resolvConf?: string;
  /** Where names outside the cluster go; default: the nameservers of /etc/resolv.conf. */
  upstreams?: Upstream[];
  log: (line: string) => void;
}

export interface ClusterDNS {
  /** The running server, if it could listen. */
  server?: DnsServer;
  /** What pods are told to use (empty: ClusterFirst falls back to Default, as kubelet without --cluster-dns). */
  nameservers: string[];
  /** The pod's resolver settings; warn is told what kubelet posts as events. */
  podDNS(pod: any, warn: (reason: string, message: string) => void): DNSConfig;
  close(): Promise<void>;
}

export async function startClusterDNS(opts: ClusterDNSOptions): Promise<ClusterDNS> {
  let synced = false;
  let serial = Math.floor(Date.now() / 1000);
  void opts.catalog.synced().then(() => (synced = true));
  const unsubscribe = opts.catalog.onChange(() => (serial = Math.floor(Date.now() / 1000)));
  let server: DnsServer | undefined;
  let nameservers: string[] = [];
  const forwarder = new Forwarder({ upstreams: opts.upstreams, exclude: () => server?.addresses ?? [] });
  if (opts.listen.length > 0) {
    const zone = new ClusterZone({
      domain: opts.clusterDomain,
      catalog: opts.catalog,
      synced: () => synced,
      nameservers: (): string[] => nameservers,
      serial: () => serial,
      lookup: (name, type) => forwarder.lookup(name, type),
    });
    const s = new DnsServer({ zone, forwarder, addresses: opts.listen, port: opts.port, log: opts.log });
    try {
      await s.start();
      server = s;
      opts.log(`cluster DNS for ${opts.clusterDomain} on ${opts.listen.map((a) => `${a}:${s.port}`).join(' and ')} (UDP and TCP)`);
    } catch (err) {
      opts.log(`cluster DNS cannot listen on ${opts.listen.join(', ')}: ${(err as Error).message}`);
    }
  }
  nameservers = opts.clusterDNS?.length ? opts.clusterDNS : server ? server.addresses : [];
  const resolvConf = opts.resolvConf ?? defaultPodResolvConf();
  return {
    server,
    nameservers,
    podDNS(pod, warn) {
      const { config, warnings } = podDNSConfig(pod, { clusterDomain: opts.clusterDomain, clusterDNS: nameservers, host: readResolvConf(resolvConf) });
      for (const w of warnings) warn(w.reason, w.message);
      return config;
    },
    async close() {
      unsubscribe();
      await server?.close();
    },
  };
}
