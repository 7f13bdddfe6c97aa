// `skiff token create|list|delete`: join tokens and node credentials, as `kubeadm token` manages
// bootstrap tokens. They act on the database directly: the data folder's (what `skiff serve` uses),
// or any libSQL database by URL (`skiff dev`'s edge.db, Turso behind a Worker).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { systemClock } from '../store/clock.js';
import { CredentialStore, JOIN_TOKEN, type JoinTokenInfo, type NodeCredentialInfo } from '../store/credentials.js';
import { openClient } from '../store/db.js';
import { schemaIsCurrent } from '../store/schema-version.js';
import { Store } from '../store/store.js';
import { caCertHash } from './certs.js';
import { readKubeconfig } from './kubeconfig.js';
import { migrate } from './migrate.js';

export interface TokenCommandOptions {
  /** Data folder (absolute): its skiff.db unless `url` is given, and its kubeconfig for the join command. */
  dataDir: string;
  url?: string;
  authToken?: string;
  /** Lifetime of a new token in ms; 0: never expires. */
  ttlMs: number;
  description: string;
  printJoinCommand: boolean;
  out: (text: string) => void;
}

/** Runs one subcommand; resolves with the exit code (2 for a usage error). */
export async function runTokenCommand(args: string[], opts: TokenCommandOptions): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'create' && rest.length === 0) {
    // Checked before the token exists, so a failure leaves none behind.
    const joinCommand = opts.printJoinCommand ? joinCommandFor(opts.dataDir) : undefined;
    return withCredentials(opts, async (creds) => {
      const { token } = await creds.createJoinToken(systemClock.now(), opts.ttlMs, opts.description);
      opts.out((joinCommand ? joinCommand(token) : token) + '\n');
      return 0;
    });
  }
  if (sub === 'list' && rest.length === 0) {
    return withCredentials(opts, async (creds) => {
      const { joinTokens, nodeCredentials } = await creds.list();
      opts.out(tokenTable(joinTokens, systemClock.now()) + '\n' + credentialTable(nodeCredentials));
      return 0;
    });
  }
  if (sub === 'delete' && rest.length > 0) {
    return withCredentials(opts, async (creds) => {
      let code = 0;
      for (const arg of rest) {
        const node = /^node\/(.+)$/.exec(arg)?.[1];
        // As kubeadm, the whole token is taken for its id.
        const id = JOIN_TOKEN.exec(arg)?.[1] ?? arg;
        const [what, deleted] = node
          ? [`node credential "${node}"`, await creds.deleteNodeCredential(node)]
          : [`join token "${id}"`, await creds.deleteJoinToken(id)];
        if (deleted) {
          opts.out(`${what} deleted\n`);
        } else {
          process.stderr.write(`skiff: ${what} not found\n`);
          code = 1;
        }
      }
      return code;
    });
  }
  process.stderr.write('skiff: expected `skiff token`, `skiff token create`, `skiff token list` or `skiff token delete ID|node/NAME ...`\n');
  return 2;
}

/** Runs `act` on the credentials of the data folder's database (migrated first) or of `opts.url` (which must be current). */
export async function withCredentials(opts: { dataDir: string; url?: string; authToken?: string }, act: (creds: CredentialStore) => Promise<number>): Promise<number> {
  // Tokens may be made before `skiff serve` first runs: the data folder is made as serve makes it.
  if (!opts.url) mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const client = opts.url ? openClient(opts.url, opts.authToken) : openClient(`file:${join(opts.dataDir, 'skiff.db')}`);
  try {
    if (!opts.url) {
      await migrate(client);
    } else if (!(await schemaIsCurrent(client))) {
      // A remote database is migrated on purpose, before a deploy, not as a side effect of this.
      throw new Error(`the schema of ${opts.url} is not current: run \`skiff migrate --url ${opts.url}\` first`);
    }
    return await act(new CredentialStore(new Store(client, systemClock)));
  } finally {
    client.close();
  }
}

/** `skiff agent --server URL --token TOKEN --ca-hash sha256:HEX` from the data folder's kubeconfig. */
function joinCommandFor(dataDir: string): (token: string) => string {
  const text = readKubeconfig(dataDir);
  if (!text) throw new Error(`--print-join-command needs the server's address: no kubeconfig in ${dataDir}; run \`skiff serve\` or \`skiff dev\` first`);
  const cluster = (parseYaml(text) as { clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[] }).clusters?.[0]?.cluster;
  if (!cluster?.server) throw new Error(`the kubeconfig in ${dataDir} names no server`);
  const ca = cluster['certificate-authority-data'];
  // Without a CA of its own (a Worker's publicly trusted certificate), the agent trusts the system's.
  const pin = ca ? ` --ca-hash ${caCertHash(Buffer.from(ca, 'base64').toString('utf8'))}` : '';
  return (token) => `skiff agent --server ${cluster.server} --token ${token}${pin}`;
}

/** Columns padded as kubectl's and kubeadm's tables (three spaces between). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd() + '\n').join('');
}

function tokenTable(tokens: JoinTokenInfo[], now: Date): string {
  const rows = tokens.map((t) => [
    t.id,
    t.expires ? (t.expires > now ? shortDuration(t.expires.getTime() - now.getTime()) : '<invalid>') : '<forever>',
    t.expires ? rfc3339(t.expires) : '<never>',
    t.description || '<none>',
  ]);
  return table([['TOKEN ID', 'TTL', 'EXPIRES', 'DESCRIPTION'], ...rows]);
}

function credentialTable(creds: NodeCredentialInfo[]): string {
  const rows = creds.map((c) => [`node/${c.nodeName}`, rfc3339(c.created), c.joinTokenId ?? '<none>']);
  return table([['NODE CREDENTIAL', 'CREATED', 'JOIN TOKEN ID'], ...rows]);
}

export const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

/** As Kubernetes' duration.ShortHumanDuration: 45s, 12m, 23h, 6d, 2y. */
function shortDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  if (s < 365 * 86400 * 8) return `${Math.floor(s / 86400)}d`;
  return `${Math.floor(s / (365 * 86400))}y`;
}
