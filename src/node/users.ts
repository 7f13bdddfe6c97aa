// `skiff user add|list|delete`: users other than the admin, each with a bearer token of its own
// (kept in the database only as its hash) and the groups it was given, as kube-apiserver's static
// token file names them. `add` prints a kubeconfig for the user: the server and CA of the data
// folder's kubeconfig (what `skiff kubeconfig` prints) and the user's token. Like `skiff token`, they
// act on the data folder's database or on any libSQL database by URL.
import { readFileSync } from 'node:fs';
import { systemClock } from '../store/clock.js';
import type { UserInfo } from '../store/credentials.js';
import { clusterOf, readKubeconfig, renderKubeconfig } from './kubeconfig.js';
import { rfc3339, table, withCredentials } from './tokens.js';

export interface UserCommandOptions {
  /** Data folder (absolute): its skiff.db unless `url` is given, and its kubeconfig for the server and CA. */
  dataDir: string;
  url?: string;
  authToken?: string;
  /** --group, for add. */
  groups: string[];
  /** --server: the server the kubeconfig names, instead of the data folder kubeconfig's. */
  server?: string;
  /** --ca-cert: the CA (a PEM file) to trust for --server; none: the system's. */
  caCertFile?: string;
  out: (text: string) => void;
}

/** Names and groups are free-form in Kubernetes; skiff refuses only what no kubeconfig or header could carry. */
function checkName(what: string, value: string): void {
  if (value === '' || /[\s\p{Cc}]/u.test(value)) throw new Error(`${what} "${value}": must be non-empty, without spaces or control characters`);
  if (/^system:(serviceaccount|node):/.test(value) && what === 'user') {
    throw new Error(`user "${value}": names of the form system:serviceaccount:... and system:node:... belong to ServiceAccounts and nodes`);
  }
}

/** The server and CA the new user's kubeconfig names (checked before the user is made, so a failure leaves none). */
function clusterFor(opts: UserCommandOptions): { server: string; caCert?: string } {
  if (opts.server) return { server: opts.server, ...(opts.caCertFile ? { caCert: readFileSync(opts.caCertFile, 'utf8') } : {}) };
  const text = readKubeconfig(opts.dataDir);
  if (!text) throw new Error(`no kubeconfig in ${opts.dataDir} to take the server from: run \`skiff serve\` or \`skiff dev\` first, or give --server`);
  const { server, caCert } = clusterOf(text);
  if (!server) throw new Error(`the kubeconfig in ${opts.dataDir} names no server`);
  return { server, ...(caCert ? { caCert } : {}) };
}

/** Runs one subcommand; resolves with the exit code (2 for a usage error). */
export async function runUserCommand(args: string[], opts: UserCommandOptions): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'add' && rest.length === 1) {
    const name = rest[0]!;
    checkName('user', name);
    for (const g of opts.groups) checkName('group', g);
    const cluster = clusterFor(opts);
    return withCredentials(opts, async (creds) => {
      const made = await creds.createUser(name, opts.groups, systemClock.now());
      if (!made) {
        process.stderr.write(`skiff: user "${name}" already exists: \`skiff user delete ${name}\` first to give it a new token\n`);
        return 1;
      }
      opts.out(renderKubeconfig({ ...cluster, token: made.token, user: name }));
      return 0;
    });
  }
  if (sub === 'list' && rest.length === 0) {
    return withCredentials(opts, async (creds) => {
      opts.out(userTable(await creds.listUsers()));
      return 0;
    });
  }
  if (sub === 'delete' && rest.length > 0) {
    return withCredentials(opts, async (creds) => {
      let code = 0;
      for (const name of rest) {
        if (await creds.deleteUser(name)) {
          opts.out(`user "${name}" deleted\n`);
        } else {
          process.stderr.write(`skiff: user "${name}" not found\n`);
          code = 1;
        }
      }
      return code;
    });
  }
  process.stderr.write('skiff: expected `skiff user add NAME [--group G ...]`, `skiff user list` or `skiff user delete NAME ...`\n');
  return 2;
}

function userTable(users: UserInfo[]): string {
  const rows = users.map((u) => [u.name, u.groups.length ? u.groups.join(',') : '<none>', rfc3339(u.created), u.uid]);
  return table([['USER', 'GROUPS', 'CREATED', 'UID'], ...rows]);
}
