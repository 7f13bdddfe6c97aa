// The `skiff` command line. Every flag is declared once in FLAGS (with its env variable and
// default); each command lists the flags it takes, and usage is generated from both.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readToken } from './certs.js';
import { readKubeconfig } from './kubeconfig.js';

interface FlagSpec {
  type: 'string' | 'boolean';
  help: string;
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
    help: 'data folder: database, certificates, admin token, kubeconfig',
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
  'event-ttl': {
    type: 'string',
    placeholder: 'DURATION',
    default: '1h',
    help: 'how long Events are kept',
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
    help: 'port on 127.0.0.1 where wrangler dev serves the Worker over HTTPS',
  },
  url: {
    type: 'string',
    placeholder: 'URL',
    env: 'LIBSQL_URL',
    help: 'libSQL database to migrate (libsql://, https://, http:// or file:)',
  },
  'auth-token': {
    type: 'string',
    placeholder: 'TOKEN',
    env: 'LIBSQL_AUTH_TOKEN',
    help: 'auth token for the database (Turso)',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} satisfies Record<string, FlagSpec>;

type FlagName = keyof typeof FLAGS;
type FlagValues = Partial<Record<FlagName, string | boolean>>;

interface Command {
  summary: string;
  flags: FlagName[];
  /** Resolves with the exit code, or never for a command that runs until signalled. */
  run(flags: FlagValues): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the Kubernetes API server over HTTPS (what `npm start` runs)',
    flags: [
      'data', 'listen', 'reconcile-interval', 'node-monitor-grace-period', 'default-not-ready-toleration-seconds',
      'default-unreachable-toleration-seconds', 'service-cluster-ip-range', 'service-node-port-range', 'event-ttl',
      'batch-size',
    ],
    run: runServe,
  },
  dev: {
    summary: 'run the Worker under wrangler dev against a local libSQL endpoint (what `npm run dev` runs)',
    flags: ['data', 'port'],
    run: runDev,
  },
  migrate: {
    summary: 'apply the schema migrations to a libSQL database (before deploying to Workers)',
    flags: ['url', 'auth-token'],
    run: async (flags) => {
      if (!flags.url) return fail('--url (or LIBSQL_URL) is required');
      const { migrateDatabase } = await import('./migrate.js');
      await migrateDatabase(String(flags.url), flags['auth-token'] ? String(flags['auth-token']) : undefined);
      process.stdout.write(`migrated ${String(flags.url)}\n`);
      return 0;
    },
  },
  token: {
    summary: 'print the admin bearer token',
    flags: ['data'],
    run: async (flags) => {
      const dir = resolve(String(flags.data));
      const token = readToken(dir);
      if (!token) return fail(`no token in ${dir}; run \`skiff serve\` first`);
      process.stdout.write(token + '\n');
      return 0;
    },
  },
  kubeconfig: {
    summary: 'print the admin kubeconfig',
    flags: ['data'],
    run: async (flags) => {
      const dir = resolve(String(flags.data));
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
  const server = await serve({ data: String(flags.data), listen: String(flags.listen), ...controlFlags(flags) });
  process.stdout.write(
    `skiff serving ${server.url}\n` +
      `  kubeconfig: ${server.kubeconfigPath}\n` +
      `  try: KUBECONFIG=${server.kubeconfigPath} kubectl get nodes\n`,
  );
  // A stray rejection is logged rather than taking the whole control plane down.
  process.on('unhandledRejection', (err) => console.error('skiff: unhandled rejection:', err));
  return new Promise<number>((done) => {
    const stop = (signal: NodeJS.Signals) => {
      // A second signal gets Node's default handling: immediate exit.
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write(`skiff: ${signal}, shutting down\n`);
      server.close().then(
        () => done(0),
        (err: unknown) => {
          console.error('skiff: shutdown failed:', err);
          done(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
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
    dev = await startDev({ data: String(flags.data), port }, stopping.signal);
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

function controlFlags(flags: FlagValues) {
  const get = (name: FlagName) => String(flags[name]);
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
    },
    serviceRanges: { clusterIpRange: get('service-cluster-ip-range'), nodePortRange: [Number(range[1]), Number(range[2])] as [number, number] },
  };
}

function usage(command?: string): string {
  const names: FlagName[] = command ? [...COMMANDS[command]!.flags, 'help'] : (Object.keys(FLAGS) as FlagName[]);
  const flagLines = names.map((name) => {
    const spec: FlagSpec = FLAGS[name];
    const left = (spec.short ? `-${spec.short}, ` : '') + `--${name}` + (spec.placeholder ? ` ${spec.placeholder}` : '');
    const extra = [spec.env && `env ${spec.env}`, spec.default && `default ${spec.default}`].filter(Boolean).join(', ');
    return `  ${left.padEnd(48)} ${spec.help}${extra ? ` (${extra})` : ''}`;
  });
  const head = command
    ? `Usage: skiff ${command} [flags]\n\n${COMMANDS[command]!.summary}\n`
    : 'Usage: skiff <command> [flags]\n\nCommands:\n' +
      Object.entries(COMMANDS)
        .map(([name, c]) => `  ${name.padEnd(22)} ${c.summary}`)
        .join('\n') +
      '\n';
  return `${head}\nFlags:\n${flagLines.join('\n')}\n`;
}

function parseFlags(command: string, args: string[]): FlagValues {
  const names = [...COMMANDS[command]!.flags, 'help'] as FlagName[];
  const options = Object.fromEntries(
    names.map((name) => {
      const spec: FlagSpec = FLAGS[name];
      return [name, { type: spec.type, ...(spec.short ? { short: spec.short } : {}) }];
    }),
  );
  const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
  const flags: FlagValues = {};
  for (const name of names) {
    const spec: FlagSpec = FLAGS[name];
    flags[name] = values[name] ?? (spec.env ? process.env[spec.env] || undefined : undefined) ?? spec.default;
  }
  return flags;
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
  try {
    flags = parseFlags(command, rest);
  } catch (err) {
    process.stderr.write(`skiff: ${(err as Error).message}\n\n${usage(command)}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(usage(command));
    return 0;
  }
  try {
    return await cmd.run(flags);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}

process.exitCode = await main(process.argv.slice(2));
// serve's open handles are closed by then; exit now so a lingering timer cannot keep us alive.
process.exit();
