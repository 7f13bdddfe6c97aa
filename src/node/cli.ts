// The `skiff` command line. Every flag is declared once in FLAGS (with its env variable and
// default); each command lists the flags it takes, and usage is generated from both. Commands load
// their modules when run, so `skiff agent` on a small machine carries none of the control plane's
// (node-forge alone is some 14 MB).
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RuntimeChoice } from '../agent/agent.js';
import type { PodNetworkPath } from '../agent/cross-node.js';
import { createProgress } from './progress.js';

const RUNTIMES: RuntimeChoice[] = ['auto', 'docker', 'process', 'simulated'];
const POD_NETWORK_PATHS: PodNetworkPath[] = ['auto', 'direct', 'relay'];

interface FlagSpec {
  type: 'string' | 'boolean';
  help: string;
  /** Given as often as wanted (a string flag): its values in order. */
  multiple?: boolean;
  short?: string;
  env?: string;
  default?: string;
  placeholder?: string;
}

const FLAGS = {
  data: {
    type: 'string',
    placeholder: 'DIR',
    env: 'SKIFF_DATA',
    default: '.skiff',
    help: 'data folder: database, certificates, admin token, kubeconfig; the node\'s state in DIR/agent',
  },
  listen: {
    type: 'string',
    placeholder: 'HOST:PORT',
    env: 'SKIFF_LISTEN',
    default: '127.0.0.1:6443',
    help: 'address to serve HTTPS on (port 0 picks a free port)',
  },
  'reconcile-interval': {
    type: 'string',
    placeholder: 'DURATION',
    env: 'SKIFF_RECONCILE_INTERVAL',
    default: '1s',
    help: 'how often a reconcile pass runs (writes also start one)',
  },
  'node-monitor-grace-period': {
    type: 'string',
    placeholder: 'DURATION',
    default: '40s',
    help: 'a node whose lease is older is marked Unknown and tainted unreachable',
  },
  'default-not-ready-toleration-seconds': {
    type: 'string',
    placeholder: 'N',
    default: '300',
    help: 'tolerationSeconds of the not-ready toleration added to new pods',
  },
  'default-unreachable-toleration-seconds': {
    type: 'string',
    placeholder: 'N',
    default: '300',
    help: 'tolerationSeconds of the unreachable toleration added to new pods',
  },
  'service-cluster-ip-range': {
    type: 'string',
    placeholder: 'CIDR',
    default: '10.96.0.0/12',
    help: 'IPv4 range that Service cluster IPs are allocated from',
  },
  'service-node-port-range': {
    type: 'string',
    placeholder: 'LO-HI',
    default: '30000-32767',
    help: 'port range that Service node ports are allocated from',
  },
  'cluster-cidr': {
    type: 'string',
    placeholder: 'CIDR',
    default: '10.244.0.0/16',
    help: 'IPv4 range that nodes get their spec.podCIDR from',
  },
  'node-cidr-mask-size': {
    type: 'string',
    placeholder: 'N',
    default: '24',
    help: 'prefix length of each node\'s spec.podCIDR',
  },
  'ingress-address': {
    type: 'string',
    placeholder: 'HOST',
    help: "the address Ingresses of class skiff report in status.loadBalancer (default: the one served on)",
  },
  'event-ttl': {
    type: 'string',
    placeholder: 'DURATION',
    default: '1h',
    help: 'how long Events are kept after they were last written or seen',
  },
  'horizontal-pod-autoscaler-sync-period': {
    type: 'string',
    placeholder: 'DURATION',
    default: '15s',
    help: 'how often each HorizontalPodAutoscaler is synced',
  },
  'horizontal-pod-autoscaler-downscale-stabilization': {
    type: 'string',
    placeholder: 'DURATION',
    default: '5m0s',
    help: 'an HPA scales down no lower than any replica count it recommended this long back',
  },
  'horizontal-pod-autoscaler-cpu-initialization-period': {
    type: 'string',
    placeholder: 'DURATION',
    default: '5m0s',
    help: 'how long after a pod starts its cpu samples may be skipped',
  },
  'horizontal-pod-autoscaler-initial-readiness-delay': {
    type: 'string',
    placeholder: 'DURATION',
    default: '30s',
    help: 'how long after a pod starts its readiness changes count as becoming ready at first',
  },
  'horizontal-pod-autoscaler-tolerance': {
    type: 'string',
    placeholder: 'N',
    default: '0.1',
    help: 'how far from 1 the ratio of an HPA\'s metrics to its targets must be for it to scale',
  },
  'service-account-issuer': {
    type: 'string',
    placeholder: 'URL',
    help: 'the iss of ServiceAccount tokens, and the only one accepted (default: the https URL served on); give servers sharing a database the same one',
  },
  'batch-size': {
    type: 'string',
    placeholder: 'N',
    default: '2000',
    help: 'the most objects one controller reads whole or changes in a pass (the rest waits for the next)',
  },
  port: {
    type: 'string',
    placeholder: 'PORT',
    default: '8787',
    help: 'port on 127.0.0.1 to serve on (dev: the Worker over HTTPS; libsql: the database over HTTP)',
  },
  url: {
    type: 'string',
    placeholder: 'URL',
    env: 'LIBSQL_URL',
    help: 'libSQL database to migrate, or whose tokens and users to manage (libsql://, https://, http:// or file:)',
  },
  db: {
    type: 'string',
    placeholder: 'URL',
    help: 'a libSQL server to keep the cluster in (libsql://, https://, http://), which several `skiff serve` may share (default: a file in --data)',
  },
  v: {
    type: 'string',
    placeholder: 'N',
    default: '0',
    help: 'log verbosity, as in Kubernetes (4: a line for every reconcile pass)',
  },
  'db-auth-token': {
    type: 'string',
    placeholder: 'TOKEN',
    env: 'LIBSQL_AUTH_TOKEN',
    help: 'auth token for --db (Turso)',
  },
  'auth-token': {
    type: 'string',
    placeholder: 'TOKEN',
    env: 'LIBSQL_AUTH_TOKEN',
    help: 'auth token for the database (Turso)',
  },
  server: {
    type: 'string',
    placeholder: 'URL',
    env: 'SKIFF_SERVER',
    help: 'the control plane (https://HOST:PORT, or the Worker\'s URL): the one to join; for `user add`, the one the kubeconfig names (default: the --data kubeconfig\'s)',
  },
  token: {
    type: 'string',
    placeholder: 'TOKEN',
    env: 'SKIFF_TOKEN',
    help: 'join token from `skiff token create` (needed once: the node keeps its own credential)',
  },
  'ca-cert': {
    type: 'string',
    placeholder: 'FILE',
    help: 'CA certificate to trust for --server (for `user add`: the one its kubeconfig names; without it, the system\'s CAs)',
  },
  'ca-hash': {
    type: 'string',
    placeholder: 'sha256:HEX',
    help: 'trust the server\'s CA only if its public key has this hash (as kubeadm\'s discovery-token-ca-cert-hash)',
  },
  name: {
    type: 'string',
    placeholder: 'NAME',
    help: 'node name (default: the host name)',
  },
  runtime: {
    type: 'string',
    placeholder: 'auto|docker|process|simulated',
    default: 'auto',
    help: 'how pods run: docker over its socket, host processes, or simulated (auto: docker where it answers, else process)',
  },
  labels: {
    type: 'string',
    placeholder: 'k=v,...',
    help: 'labels of the Node',
  },
  'register-with-taints': {
    type: 'string',
    placeholder: 'k=v:Effect,...',
    help: 'taints of the Node when it registers',
  },
  'max-pods': {
    type: 'string',
    placeholder: 'N',
    default: '110',
    help: 'the most pods this node runs',
  },
  'api-proxy-port': {
    type: 'string',
    placeholder: 'PORT',
    help: "port of the node-local API endpoint pods reach the API at (KUBERNETES_SERVICE_PORT); default: the last one used, else 443 when root and free, else a free one",
  },
  'pod-network-path': {
    type: 'string',
    placeholder: 'auto|direct|relay',
    default: 'auto',
    help: 'how pods reach pods on other nodes: routed directly, or relayed through the control plane (auto: directly where the node\'s address is on a connected subnet and answers, else relayed)',
  },
  'cluster-domain': {
    type: 'string',
    placeholder: 'DOMAIN',
    default: 'cluster.local',
    help: "the cluster's DNS domain: pods search NAMESPACE.svc.DOMAIN svc.DOMAIN DOMAIN, and the node's DNS answers for it",
  },
  'cluster-dns': {
    type: 'string',
    placeholder: 'IP[,IP]',
    help: "nameservers pods with dnsPolicy ClusterFirst use; default: the node's own DNS server, on the pods' gateway",
  },
  'resolv-conf': {
    type: 'string',
    placeholder: 'FILE',
    help: 'resolver settings pods with dnsPolicy Default get; default /etc/resolv.conf (systemd-resolved\'s upstreams when it holds only its 127.0.0.53 stub)',
  },
  'no-agent': {
    type: 'boolean',
    help: 'serve only: do not run this machine as a node too',
  },
  simulate: {
    type: 'string',
    placeholder: 'N',
    help: 'run N simulated nodes (NAME-0 ... NAME-N-1) from this process, for scale tests and demos',
  },
  'simulate-start-delay': {
    type: 'string',
    placeholder: 'DURATION',
    default: '1s',
    help: 'how long a simulated container takes to start',
  },
  ttl: {
    type: 'string',
    placeholder: 'DURATION',
    default: '24h',
    help: 'how long a new join token is valid (0: it never expires)',
  },
  description: {
    type: 'string',
    placeholder: 'TEXT',
    help: 'what a new join token is for, shown by `skiff token list`',
  },
  group: {
    type: 'string',
    multiple: true,
    placeholder: 'GROUP',
    help: 'a group of the new user (repeat for more); every user is in system:authenticated too',
  },
  'print-join-command': {
    type: 'boolean',
    help: 'print the `skiff agent` command that joins with the new token, not the token alone',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;
type FlagValues = Partial<Record<FlagName, string | boolean | string[]>>;

interface Command {
  summary: string;
  flags: FlagName[];
  /** Positional arguments taken, as usage shows them (none when absent). */
  args?: string;
  /** Resolves with the exit code, or never for a command that runs until signalled. */
  run(flags: FlagValues, args: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the Kubernetes API server over HTTPS (what `npm start` runs)',
    flags: [
      'data', 'listen', 'reconcile-interval', 'node-monitor-grace-period', 'default-not-ready-toleration-seconds',
      'default-unreachable-toleration-seconds', 'service-cluster-ip-range', 'service-node-port-range', 'cluster-cidr',
      'node-cidr-mask-size', 'event-ttl', 'batch-size', 'ingress-address', 'horizontal-pod-autoscaler-sync-period',
      'horizontal-pod-autoscaler-downscale-stabilization', 'horizontal-pod-autoscaler-cpu-initialization-period',
      'horizontal-pod-autoscaler-initial-readiness-delay', 'horizontal-pod-autoscaler-tolerance', 'service-account-issuer', 'no-agent', 'name', 'runtime', 'db', 'db-auth-token', 'v',
    ],
    run: runServe,
  },
  dev: {
    summary: 'run the Worker under wrangler dev against a local libSQL endpoint (what `npm run dev` runs)',
    flags: ['data', 'port', 'cluster-cidr'],
    run: runDev,
  },
  libsql: {
    summary: 'serve DIR/skiff.db over HTTP on 127.0.0.1 as a libSQL endpoint that several `skiff serve --db` on this machine can share',
    flags: ['data', 'port', 'auth-token'],
    run: async (flags) => {
      const port = wholeNumber('port', String(flags.port));
      const { startLibsqlServer } = await import('./libsql-server.js');
      const dir = resolve(String(flags.data));
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const db = await startLibsqlServer({ file: join(dir, 'skiff.db'), port, authToken: flags['auth-token'] ? String(flags['auth-token']) : undefined });
      process.stdout.write(`skiff libsql serving ${db.url} (database ${join(dir, 'skiff.db')})\n  try: skiff serve --db ${db.url}\n`);
      return untilSignalled('skiff libsql', () => db.close());
    },
  },
  migrate: {
    summary: 'apply the schema migrations to a libSQL database (before deploying to Workers)',
    flags: ['url', 'auth-token'],
    run: async (flags) => {
      if (!flags.url) return fail('--url (or LIBSQL_URL) is required');
      const { migrateDatabase } = await import('./migrate.js');
      await migrateDatabase(String(flags.url), flags['auth-token'] ? String(flags['auth-token']) : undefined, { progress: createProgress() });
      process.stdout.write(`migrated ${String(flags.url)}\n`);
      return 0;
    },
  },
  token: {
    summary: 'print the admin bearer token; create, list and delete join tokens and node credentials',
    args: '[create | list | delete ID|node/NAME ...]',
    flags: ['data', 'url', 'auth-token', 'ttl', 'description', 'print-join-command'],
    run: async (flags, args) => {
      const dir = resolve(String(flags.data));
      if (args.length > 0) {
        const { runTokenCommand } = await import('./tokens.js');
        const ttl = String(flags.ttl);
        return runTokenCommand(args, {
          dataDir: dir,
          url: flags.url ? String(flags.url) : undefined,
          authToken: flags['auth-token'] ? String(flags['auth-token']) : undefined,
          ttlMs: /^0+$/.test(ttl) ? 0 : parseDuration('ttl', ttl),
          description: flags.description ? String(flags.description) : '',
          printJoinCommand: !!flags['print-join-command'],
          out: (text) => process.stdout.write(text),
        });
      }
      const { readToken } = await import('./certs.js');
      const token = readToken(dir);
      if (!token) return fail(`no token in ${dir}; run \`skiff serve\` first`);
      process.stdout.write(token + '\n');
      return 0;
    },
  },
  user: {
    summary: 'add users (printing a kubeconfig with a token of their own), list and delete them',
    args: 'add NAME | list | delete NAME ...',
    flags: ['data', 'url', 'auth-token', 'group', 'server', 'ca-cert'],
    run: async (flags, args) => {
      const { runUserCommand } = await import('./users.js');
      return runUserCommand(args, {
        dataDir: resolve(String(flags.data)),
        url: flags.url ? String(flags.url) : undefined,
        authToken: flags['auth-token'] ? String(flags['auth-token']) : undefined,
        groups: Array.isArray(flags.group) ? flags.group : [],
        server: flags.server ? String(flags.server) : undefined,
        caCertFile: flags['ca-cert'] ? String(flags['ca-cert']) : undefined,
        out: (text) => process.stdout.write(text),
      });
    },
  },
  agent: {
    summary: 'join this machine to a cluster as a node and run the pods bound to it',
    flags: ['server', 'token', 'ca-cert', 'ca-hash', 'name', 'runtime', 'labels', 'register-with-taints', 'max-pods', 'api-proxy-port', 'pod-network-path', 'cluster-domain', 'cluster-dns', 'resolv-conf', 'data', 'simulate', 'simulate-start-delay'],
    run: runAgent,
  },
  kubeconfig: {
    summary: 'print the admin kubeconfig',
    flags: ['data'],
    run: async (flags) => {
      const dir = resolve(String(flags.data));
      const { readKubeconfig } = await import('./kubeconfig.js');
      const kubeconfig = readKubeconfig(dir);
      if (!kubeconfig) return fail(`no kubeconfig in ${dir}; run \`skiff serve\` first`);
      process.stdout.write(kubeconfig);
      return 0;
    },
  },
};

async function runServe(flags: FlagValues): Promise<number> {
  // Loaded here so the other commands start without the API server's modules.
  const { serve } = await import('./serve.js');
  const agent = flags['no-agent'] ? false : { name: flags.name ? String(flags.name) : undefined, runtime: runtimeFlag(flags) };
  const db = flags.db ? { url: String(flags.db), authToken: flags['db-auth-token'] ? String(flags['db-auth-token']) : undefined } : undefined;
  const issuer = flags['service-account-issuer'] ? String(flags['service-account-issuer']) : undefined;
  if (issuer && !/^https:\/\/[^?#]+$/.test(issuer)) throw new Error(`--service-account-issuer: expected an https URL without query or fragment, got "${issuer}"`);
  const server = await serve({
    data: String(flags.data), listen: String(flags.listen), ...controlFlags(flags), agent, db, verbosity: wholeNumber('v', String(flags.v)), serviceAccountIssuer: issuer,
  });
  process.stdout.write(
    `skiff serving ${server.url}\n` +
      `  kubeconfig: ${server.kubeconfigPath}\n` +
      `  try: KUBECONFIG=${server.kubeconfigPath} kubectl get nodes\n`,
  );
  // A stray rejection is logged rather than taking the whole control plane down.
  process.on('unhandledRejection', (err) => console.error('skiff: unhandled rejection:', err));
  return untilSignalled('skiff', () => server.close());
}

async function runAgent(flags: FlagValues): Promise<number> {
  if (!flags.server) return fail('--server is required');
  const runtime = runtimeFlag(flags);
  const { startAgent } = await import('../agent/agent.js');
  const simulate = flags.simulate ? positiveNumber('simulate', String(flags.simulate)) : undefined;
  const progress = createProgress();
  if (simulate) progress.start('simulated nodes joined', simulate);
  const agent = await startAgent({
    server: String(flags.server),
    token: flags.token ? String(flags.token) : undefined,
    caCertFile: flags['ca-cert'] ? String(flags['ca-cert']) : undefined,
    caHash: flags['ca-hash'] ? String(flags['ca-hash']) : undefined,
    name: flags.name ? String(flags.name) : undefined,
    runtime,
    labels: flags.labels ? String(flags.labels) : undefined,
    taints: flags['register-with-taints'] ? String(flags['register-with-taints']) : undefined,
    maxPods: positiveNumber('max-pods', String(flags['max-pods'])),
    apiProxyPort: flags['api-proxy-port'] ? portNumber('api-proxy-port', String(flags['api-proxy-port'])) : undefined,
    podNetworkPath: podNetworkPathFlag(flags),
    clusterDomain: clusterDomainFlag(flags),
    clusterDNS: clusterDNSFlag(flags),
    resolvConf: flags['resolv-conf'] ? resolve(String(flags['resolv-conf'])) : undefined,
    dataDir: resolve(String(flags.data), 'agent'),
    simulate,
    simulateStartMs: parseDuration('simulate-start-delay', String(flags['simulate-start-delay'])),
    onSimulatedJoined: (joined) => progress.update(joined),
  }).finally(() => progress.done());
  process.stdout.write(`skiff agent running ${agent.nodes.length === 1 ? `node ${agent.nodes[0]}` : `${agent.nodes.length} simulated nodes`}\n`);
  process.on('unhandledRejection', (err) => console.error('skiff agent: unhandled rejection:', err));
  return untilSignalled('skiff agent', () => agent.stop());
}

function podNetworkPathFlag(flags: FlagValues): PodNetworkPath {
  const path = String(flags['pod-network-path']);
  if (!POD_NETWORK_PATHS.includes(path as PodNetworkPath)) throw new Error(`--pod-network-path: expected auto, direct or relay, got "${path}"`);
  return path as PodNetworkPath;
}

function clusterDomainFlag(flags: FlagValues): string {
  const domain = String(flags['cluster-domain']).replace(/\.$/, '').toLowerCase();
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(domain) || domain.length > 253) {
    throw new Error(`--cluster-domain: expected a DNS domain, got "${flags['cluster-domain']}"`);
  }
  return domain;
}

function clusterDNSFlag(flags: FlagValues): string[] | undefined {
  if (!flags['cluster-dns']) return undefined;
  const ips = String(flags['cluster-dns']).split(',').map((s) => s.trim()).filter(Boolean);
  for (const ip of ips) if (!isIP(ip)) throw new Error(`--cluster-dns: expected IP addresses separated by commas, got "${ip}"`);
  return ips;
}

function runtimeFlag(flags: FlagValues): RuntimeChoice {
  const runtime = String(flags.runtime);
  if (!RUNTIMES.includes(runtime as RuntimeChoice)) throw new Error(`--runtime: expected auto, docker, process or simulated, got "${runtime}"`);
  return runtime as RuntimeChoice;
}

/** Waits for SIGINT or SIGTERM, then stops; a second signal gets Node's default handling. */
function untilSignalled(who: string, stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((done) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.write(`${who}: ${signal}, shutting down\n`);
      stop().then(
        () => done(0),
        (err: unknown) => {
          console.error(`${who}: shutdown failed:`, err);
          done(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function runDev(flags: FlagValues): Promise<number> {
  const port = wholeNumber('port', String(flags.port));
  if (port < 1 || port > 65535) throw new Error(`--port: expected 1-65535, got ${port}`);
  const { startDev } = await import('./dev.js');
  // A signal during startup aborts it; after, it stops wrangler and the endpoint. Later signals are
  // ignored: stopping bounds its own wait, and dying halfway would leave wrangler's processes behind.
  const stopping = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping.signal.aborted) return;
    process.stdout.write(`skiff: ${signal}, stopping wrangler dev\n`);
    stopping.abort();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let dev;
  try {
    dev = await startDev({ data: String(flags.data), port, clusterCidr: String(flags['cluster-cidr']), progress: createProgress() }, stopping.signal);
  } catch (err) {
    if (stopping.signal.aborted) return 0;
    throw err;
  }
  process.stdout.write(
    `skiff dev serving ${dev.url} (wrangler dev, database ${dev.dataDir}/edge.db)\n` +
      `  kubeconfig: ${dev.kubeconfigPath}\n` +
      `  try: KUBECONFIG=${dev.kubeconfigPath} kubectl get nodes\n` +
      `  run a reconcile pass by hand: curl --cacert ${dev.caPath} ${dev.url}/__scheduled\n`,
  );
  const stopped = new Promise<number>((done) =>
    stopping.signal.aborted ? done(0) : stopping.signal.addEventListener('abort', () => done(0), { once: true }),
  );
  const crashed = dev.crashed.then((code) => {
    process.stderr.write(`skiff: wrangler dev exited (${code ?? 'signal'})\n`);
    return 1;
  });
  const code = await Promise.race([stopped, crashed]);
  await dev.close();
  return code;
}

/** Go-style durations, as Kubernetes' flags take them: 300ms, 40s, 5m, 1h30m. */
export function parseDuration(flag: string, value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`--${flag}: invalid duration "${value}"`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]], 0);
}

function wholeNumber(flag: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`--${flag}: expected a whole number, got "${value}"`);
  return Number(value);
}

function positiveNumber(flag: string, value: string): number {
  const n = wholeNumber(flag, value);
  if (n < 1) throw new Error(`--${flag}: must be at least 1`);
  return n;
}

function portNumber(flag: string, value: string): number {
  const n = wholeNumber(flag, value);
  if (n > 65535) throw new Error(`--${flag}: a port is at most 65535`);
  return n;
}

function nonNegativeNumber(flag: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new Error(`--${flag}: expected a number of at least 0, got "${value}"`);
  return Number(value);
}

function controlFlags(flags: FlagValues) {
  const get = (name: FlagName) => String(flags[name]);
  const seconds = (name: FlagName) => parseDuration(name, get(name)) / 1000;
  const hpaSyncPeriod = seconds('horizontal-pod-autoscaler-sync-period');
  if (hpaSyncPeriod <= 0) throw new Error('--horizontal-pod-autoscaler-sync-period: must be more than 0');
  const range = /^(\d+)-(\d+)$/.exec(get('service-node-port-range'));
  if (!range || Number(range[1]) > Number(range[2])) throw new Error(`--service-node-port-range: expected LO-HI, got "${get('service-node-port-range')}"`);
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(get('service-cluster-ip-range'))) {
    throw new Error(`--service-cluster-ip-range: expected an IPv4 CIDR, got "${get('service-cluster-ip-range')}"`);
  }
  return {
    reconcileIntervalMs: parseDuration('reconcile-interval', get('reconcile-interval')),
    control: {
      nodeMonitorGracePeriodSeconds: parseDuration('node-monitor-grace-period', get('node-monitor-grace-period')) / 1000,
      defaultNotReadyTolerationSeconds: wholeNumber('default-not-ready-toleration-seconds', get('default-not-ready-toleration-seconds')),
      defaultUnreachableTolerationSeconds: wholeNumber('default-unreachable-toleration-seconds', get('default-unreachable-toleration-seconds')),
      eventTtlSeconds: parseDuration('event-ttl', get('event-ttl')) / 1000,
      batchSize: positiveNumber('batch-size', get('batch-size')),
      // Checked against each other by serve (nodeCidrBlocks), which has the control plane's modules loaded.
      clusterCidr: get('cluster-cidr'),
      nodeCidrMaskSize: wholeNumber('node-cidr-mask-size', get('node-cidr-mask-size')),
      ...(flags['ingress-address'] ? { ingressAddress: get('ingress-address') } : {}),
      horizontalPodAutoscalerSyncPeriodSeconds: hpaSyncPeriod,
      horizontalPodAutoscalerDownscaleStabilizationSeconds: seconds('horizontal-pod-autoscaler-downscale-stabilization'),
      horizontalPodAutoscalerCpuInitializationPeriodSeconds: seconds('horizontal-pod-autoscaler-cpu-initialization-period'),
      horizontalPodAutoscalerInitialReadinessDelaySeconds: seconds('horizontal-pod-autoscaler-initial-readiness-delay'),
      horizontalPodAutoscalerTolerance: nonNegativeNumber('horizontal-pod-autoscaler-tolerance', get('horizontal-pod-autoscaler-tolerance')),
    },
    serviceRanges: { clusterIpRange: get('service-cluster-ip-range'), nodePortRange: [Number(range[1]), Number(range[2])] as [number, number] },
  };
}

function usage(command?: string): string {
  const names: FlagName[] = command ? [...COMMANDS[command]!.flags, 'help'] : (Object.keys(FLAGS) as FlagName[]);
  const flagLines = names.map((name) => {
    const spec: FlagSpec = FLAGS[name];
    const left = (spec.short ? `-${spec.short}, ` : '') + `--${name}` + (spec.placeholder ? ` ${spec.placeholder}` : '') + (spec.multiple ? ' ...' : '');
    const extra = [spec.env && `env ${spec.env}`, spec.default && `default ${spec.default}`].filter(Boolean).join(', ');
    return `  ${left.padEnd(48)} ${spec.help}${extra ? ` (${extra})` : ''}`;
  });
  const head = command
    ? `Usage: skiff ${command}${COMMANDS[command]!.args ? ` ${COMMANDS[command]!.args}` : ''} [flags]\n\n${COMMANDS[command]!.summary}\n`
    : 'Usage: skiff <command> [flags]\n\nCommands:\n' +
      Object.entries(COMMANDS)
        .map(([name, c]) => `  ${name.padEnd(22)} ${c.summary}`)
        .join('\n') +
      '\n';
  return `${head}\nFlags:\n${flagLines.join('\n')}\n`;
}

function parseFlags(command: string, args: string[]): { flags: FlagValues; positionals: string[] } {
  const names = [...COMMANDS[command]!.flags, 'help'] as FlagName[];
  const options = Object.fromEntries(
    names.map((name) => {
      const spec: FlagSpec = FLAGS[name];
      return [name, { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) }];
    }),
  );
  const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: !!COMMANDS[command]!.args });
  const flags: FlagValues = {};
  for (const name of names) {
    const spec: FlagSpec = FLAGS[name];
    flags[name] = (values[name] as FlagValues[FlagName]) ?? (spec.env ? process.env[spec.env] || undefined : undefined) ?? spec.default;
  }
  return { flags, positionals };
}

function fail(message: string): number {
  process.stderr.write(`skiff: ${message}\n`);
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process[command ? 'stdout' : 'stderr'].write(usage());
    return command ? 0 : 2;
  }
  const cmd = COMMANDS[command];
  if (!cmd) {
    process.stderr.write(`skiff: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  let flags: FlagValues;
  let positionals: string[];
  try {
    ({ flags, positionals } = parseFlags(command, rest));
  } catch (err) {
    process.stderr.write(`skiff: ${(err as Error).message}\n\n${usage(command)}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(usage(command));
    return 0;
  }
  try {
    return await cmd.run(flags, positionals);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}

process.exitCode = await main(process.argv.slice(2));
// serve's open handles are closed by then; exit now so a lingering timer cannot keep us alive.
process.exit();
