// Pods' resolver settings, as kubelet forms them (pkg/kubelet/network/dns): from the pod's dnsPolicy
// and dnsConfig, the node's resolv.conf (kubelet's --resolv-conf), --cluster-domain and --cluster-dns.
// The runtime writes them into the pod's /etc/resolv.conf (formatResolvConf) as a CRI runtime does.
import { existsSync, readFileSync } from 'node:fs';

/** What a resolv.conf says: CRI's DNSConfig. */
export interface DNSConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/** A kubelet event about a pod's DNS settings (reason DNSConfigForming or MissingClusterDNS). */
export interface DNSWarning {
  reason: string;
  message: string;
}

// The API's limits (validation.MaxDNSSearchPathsExpanded, MaxDNSSearchListCharsExpanded, MaxDNSNameservers).
export const MAX_SEARCH_PATHS = 32;
export const MAX_SEARCH_CHARS = 2048;
export const MAX_NAMESERVERS = 3;
/** A search domain longer than a DNS subdomain makes some resolvers (glibc 2.28) abort. */
const MAX_SEARCH_PATH_LENGTH = 253;

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const HOST_RESOLV_CONF = '/etc/resolv.conf';
/** Where systemd-resolved lists the machine's real upstreams. */
const SYSTEMD_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';

/** As kubelet's parseResolvConf: nameservers accumulate; the last search and options lines win. */
export function parseResolvConf(text: string): DNSConfig {
  const config: DNSConfig = { servers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const fields = trimmed.split(/\s+/).filter(Boolean);
    if (fields[0] === 'nameserver' && fields[1]) config.servers.push(fields[1]);
    // The same domain with and without a trailing dot counts once.
    if (fields[0] === 'search') config.searches = fields.slice(1).map((s) => s.replace(/\.$/, ''));
    if (fields[0] === 'options') config.options = fields.slice(1);
  }
  return config;
}

/** The file a CRI runtime writes from a DNSConfig: search, nameservers, options. */
export function formatResolvConf(config: DNSConfig): string {
  let text = '';
  if (config.searches.length) text += `search ${config.searches.join(' ')}\n`;
  for (const s of config.servers) text += `nameserver ${s}\n`;
  if (config.options.length) text += `options ${config.options.join(' ')}\n`;
  return text;
}

export function readResolvConf(file: string): DNSConfig {
  try {
    return parseResolvConf(readFileSync(file, 'utf8'));
  } catch {
    return { servers: [], searches: [], options: [] };
  }
}

const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1';

/**
 * The resolv.conf pods with dnsPolicy Default get (kubelet's --resolv-conf default). Where the machine's
 * only nameserver is a loopback stub (systemd-resolved's 127.0.0.53), which a pod in a network namespace
 * of its own cannot reach, the file with resolved's upstreams, as kubeadm configures kubelet.
 */
export function defaultPodResolvConf(): string {
  const host = readResolvConf(HOST_RESOLV_CONF);
  if (host.servers.length > 0 && host.servers.every(isLoopback) && existsSync(SYSTEMD_RESOLV_CONF)) return SYSTEMD_RESOLV_CONF;
  return HOST_RESOLV_CONF;
}

export interface PodDNSSettings {
  /** --cluster-domain; empty: no cluster search domains. */
  clusterDomain: string;
  /** --cluster-dns, or the agent's own DNS server; empty: ClusterFirst falls back to Default. */
  clusterDNS: string[];
  /** The node's resolver settings (the --resolv-conf file, parsed). */
  host: DNSConfig;
}

function omitDuplicates(list: string[]): string[] {
  return [...new Set(list)];
}

/** kubelet's getPodDNSType: None, the cluster's DNS, or the node's. */
function policyOf(pod: any): 'none' | 'cluster' | 'host' {
  const hostNetwork = !!pod.spec?.hostNetwork;
  switch (pod.spec?.dnsPolicy ?? 'ClusterFirst') {
    case 'None':
      return 'none';
    case 'ClusterFirstWithHostNet':
      return 'cluster';
    case 'Default':
      return 'host';
    case 'ClusterFirst':
      // A host-network pod on ClusterFirst gets the node's settings.
      return hostNetwork ? 'host' : 'cluster';
    default:
      return 'cluster';
  }
}

/** The pod's dnsConfig.options over the existing ones: a name given again takes the pod's value. */
function mergeOptions(existing: string[], podOptions: { name?: string; value?: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const op of existing) {
    const i = op.indexOf(':');
    if (i === -1) byName.set(op, '');
    else byName.set(op.slice(0, i), op.slice(i + 1));
  }
  for (const op of podOptions) if (op.name) byName.set(op.name, op.value ?? '');
  return [...byName].map(([name, value]) => (value ? `${name}:${value}` : name));
}

function fitSearches(searches: string[], warn: (w: DNSWarning) => void): string[] {
  let exceeded = false;
  let out = searches;
  if (out.length > MAX_SEARCH_PATHS) {
    out = out.slice(0, MAX_SEARCH_PATHS);
    exceeded = true;
  }
  const kept = out.filter((s) => s.length <= MAX_SEARCH_PATH_LENGTH);
  if (kept.length !== out.length) exceeded = true;
  out = kept;
  while (out.length > 0 && out.join(' ').length > MAX_SEARCH_CHARS) {
    out = out.slice(0, -1);
    exceeded = true;
  }
  if (exceeded) {
    warn({
      reason: 'DNSConfigForming',
      message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${out.join(' ')}`,
    });
  }
  return out;
}

function fitServers(servers: string[], warn: (w: DNSWarning) => void): string[] {
  if (servers.length <= MAX_NAMESERVERS) return servers;
  const out = servers.slice(0, MAX_NAMESERVERS);
  warn({ reason: 'DNSConfigForming', message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${out.join(' ')}` });
  return out;
}

/** kubelet's GetPodDNS: the pod's resolver settings, and the events it would post about them. */
export function podDNSConfig(pod: any, settings: PodDNSSettings): { config: DNSConfig; warnings: DNSWarning[] } {
  const warnings: DNSWarning[] = [];
  const warn = (w: DNSWarning) => warnings.push(w);
  let config: DNSConfig = { servers: [...settings.host.servers], searches: [...settings.host.searches], options: [...settings.host.options] };
  const policy = policyOf(pod);
  if (policy === 'none') {
    config = { servers: [], searches: [], options: [] };
  } else if (policy === 'cluster') {
    if (settings.clusterDNS.length > 0) {
      // The cluster DNS server is the pod's only nameserver: it forwards what it does not answer itself.
      config.servers = [...settings.clusterDNS];
      if (settings.clusterDomain) {
        const d = settings.clusterDomain;
        config.searches = omitDuplicates([`${pod.metadata?.namespace ?? 'default'}.svc.${d}`, `svc.${d}`, d, ...config.searches]);
      }
      config.options = ['ndots:5'];
    } else {
      warn({
        reason: 'MissingClusterDNS',
        message: `pod: "${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`,
      });
    }
  }
  const extra = pod.spec?.dnsConfig;
  if (extra) {
    config.servers = omitDuplicates([...config.servers, ...(extra.nameservers ?? [])]);
    config.searches = omitDuplicates([...config.searches, ...(extra.searches ?? [])]);
    config.options = mergeOptions(config.options, extra.options ?? []);
  }
  config.servers = fitServers(config.servers, warn);
  config.searches = fitSearches(config.searches, warn);
  return { config, warnings };
}
