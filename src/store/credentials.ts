// Join tokens, node credentials and user tokens (tables join_tokens, node_credentials, user_tokens).
// Secrets are kept only as SHA-256 hex; each method is one database round trip, counted on the store
// as its own calls are.
import type { Store } from './store.js';

/** kubeadm's bootstrap-token form: a public id and a secret, `[a-z0-9]{6}.[a-z0-9]{16}`. */
export const JOIN_TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

/** A node credential: an opaque bearer token, prefixed so other tokens never cost a lookup. */
export const NODE_CREDENTIAL = /^node\.[0-9a-f]{64}$/;

/** A user token (`skiff user add`): opaque and prefixed as node credentials are, so other tokens never cost a lookup. */
export const USER_TOKEN = /^user\.[0-9a-f]{64}$/;

export interface UserInfo {
  name: string;
  /** New for each user made: a user deleted and made again under its name is another user. */
  uid: string;
  /** The groups given to `skiff user add` (system:authenticated is added when authenticating). */
  groups: string[];
  created: Date;
}

export interface JoinTokenInfo {
  id: string;
  description: string;
  created: Date;
  /** Absent for a token that never expires. */
  expires?: Date;
}

export interface NodeCredentialInfo {
  nodeName: string;
  /** The join token it was issued for. */
  joinTokenId?: string;
  created: Date;
}

export type JoinResult = { ok: true; credential: string } | { ok: false; reason: 'unauthorized' | 'held' };

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `n` characters of [a-z0-9], uniformly (bytes past the last whole multiple of 36 are drawn again). */
function randomChars(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of crypto.getRandomValues(new Uint8Array(n * 2))) {
      if (b < 252 && out.length < n) out += ALPHABET[b % 36];
    }
  }
  return out;
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

export async function sha256Hex(text: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))));
}

export function generateJoinToken(): string {
  return `${randomChars(6)}.${randomChars(16)}`;
}

export function generateNodeCredential(): string {
  return `node.${hex(crypto.getRandomValues(new Uint8Array(32)))}`;
}

export function generateUserToken(): string {
  return `user.${hex(crypto.getRandomValues(new Uint8Array(32)))}`;
}

function userOf(row: Record<string, unknown>): UserInfo {
  const groups = JSON.parse(String(row.groups)) as unknown;
  return {
    name: String(row.name),
    uid: String(row.uid),
    groups: Array.isArray(groups) ? groups.map(String) : [],
    created: new Date(Number(row.created)),
  };
}

/** SQL true when join token (id, secret hash) exists and is unexpired at `now`. */
const VALID_JOIN_TOKEN = 'EXISTS (SELECT 1 FROM join_tokens WHERE id = ? AND secret_hash = ? AND (expires IS NULL OR expires > ?))';

export class CredentialStore {
  constructor(private store: Store) {}

  private get client() {
    this.store.roundTrips++;
    return this.store.client;
  }

  /** A new join token valid for `ttlMs` from `now` (0 or undefined: never expires). */
  async createJoinToken(now: Date, ttlMs = 0, description = ''): Promise<{ token: string; info: JoinTokenInfo }> {
    for (;;) {
      const token = generateJoinToken();
      const [id, secret] = token.split('.') as [string, string];
      const expires = ttlMs > 0 ? now.getTime() + ttlMs : null;
      const rs = await this.client.execute({
        sql: 'INSERT OR IGNORE INTO join_tokens (id, secret_hash, description, created, expires) VALUES (?, ?, ?, ?, ?)',
        args: [id, await sha256Hex(secret), description, now.getTime(), expires],
      });
      // An id already taken (1 in 36^6 per token held) is drawn again.
      if (rs.rowsAffected === 1) {
        return { token, info: { id, description, created: now, ...(expires !== null ? { expires: new Date(expires) } : {}) } };
      }
    }
  }

  /** Every join token and node credential, in one round trip. */
  async list(): Promise<{ joinTokens: JoinTokenInfo[]; nodeCredentials: NodeCredentialInfo[] }> {
    const [tokens, nodes] = await this.client.batch(
      [
        'SELECT id, description, created, expires FROM join_tokens ORDER BY created, id',
        'SELECT node_name, join_token_id, created FROM node_credentials ORDER BY node_name',
      ],
      'read',
    );
    return {
      joinTokens: tokens!.rows.map((r) => ({
        id: String(r.id),
        description: String(r.description),
        created: new Date(Number(r.created)),
        ...(r.expires !== null ? { expires: new Date(Number(r.expires)) } : {}),
      })),
      nodeCredentials: nodes!.rows.map((r) => ({
        nodeName: String(r.node_name),
        ...(r.join_token_id !== null ? { joinTokenId: String(r.join_token_id) } : {}),
        created: new Date(Number(r.created)),
      })),
    };
  }

  /** False when there was no such token. Credentials issued with it stay valid, as kubeadm's do. */
  async deleteJoinToken(id: string): Promise<boolean> {
    const rs = await this.client.execute({ sql: 'DELETE FROM join_tokens WHERE id = ?', args: [id] });
    return rs.rowsAffected > 0;
  }

  /** Revokes a node's credential, so the name can be joined again; false when it had none. */
  async deleteNodeCredential(nodeName: string): Promise<boolean> {
    const rs = await this.client.execute({ sql: 'DELETE FROM node_credentials WHERE node_name = ?', args: [nodeName] });
    return rs.rowsAffected > 0;
  }

  /** Whether `token` is a join token that exists and has not expired at `now`. */
  async joinTokenValid(token: string, now: Date): Promise<boolean> {
    const m = JOIN_TOKEN.exec(token);
    if (!m) return false;
    const rs = await this.client.execute({ sql: `SELECT ${VALID_JOIN_TOKEN} AS valid`, args: [m[1]!, await sha256Hex(m[2]!), now.getTime()] });
    return Number(rs.rows[0]?.valid) === 1;
  }

  /**
   * Exchanges a join token for a new credential for `nodeName`, in one round trip: the check and
   * the insert run in one write batch, so two machines racing for a name cannot both get it.
   */
  async join(token: string, nodeName: string, now: Date): Promise<JoinResult> {
    const m = JOIN_TOKEN.exec(token);
    if (!m) return { ok: false, reason: 'unauthorized' };
    const credential = generateNodeCredential();
    const valid = [m[1]!, await sha256Hex(m[2]!), now.getTime()];
    const [check, insert] = await this.client.batch(
      [
        { sql: `SELECT ${VALID_JOIN_TOKEN} AS valid`, args: valid },
        {
          sql: `INSERT OR IGNORE INTO node_credentials (node_name, token_hash, join_token_id, created) SELECT ?, ?, ?, ? WHERE ${VALID_JOIN_TOKEN}`,
          args: [nodeName, await sha256Hex(credential), m[1]!, now.getTime(), ...valid],
        },
      ],
      'write',
    );
    if (Number(check!.rows[0]?.valid) !== 1) return { ok: false, reason: 'unauthorized' };
    if (insert!.rowsAffected !== 1) return { ok: false, reason: 'held' };
    return { ok: true, credential };
  }

  /** The node whose credential has this SHA-256 hex (see sha256Hex), or undefined. */
  async nodeForCredentialHash(hash: string): Promise<string | undefined> {
    const rs = await this.client.execute({ sql: 'SELECT node_name FROM node_credentials WHERE token_hash = ?', args: [hash] });
    const row = rs.rows[0];
    return row ? String(row.node_name) : undefined;
  }

  /**
   * Makes user `name` in `groups` with a new token, which is returned once and kept only as its hash.
   * Undefined when a user of that name exists (delete it first: a name is one user, one token).
   */
  async createUser(name: string, groups: string[], now: Date): Promise<{ token: string; info: UserInfo } | undefined> {
    const token = generateUserToken();
    const info: UserInfo = { name, uid: crypto.randomUUID(), groups: [...new Set(groups)], created: now };
    const rs = await this.client.execute({
      sql: 'INSERT OR IGNORE INTO user_tokens (name, uid, token_hash, groups, created) VALUES (?, ?, ?, ?, ?)',
      args: [name, info.uid, await sha256Hex(token), JSON.stringify(info.groups), now.getTime()],
    });
    return rs.rowsAffected === 1 ? { token, info } : undefined;
  }

  /** Revokes a user's token; false when there was no such user. */
  async deleteUser(name: string): Promise<boolean> {
    const rs = await this.client.execute({ sql: 'DELETE FROM user_tokens WHERE name = ?', args: [name] });
    return rs.rowsAffected > 0;
  }

  /** Every user, by name. */
  async listUsers(): Promise<UserInfo[]> {
    const rs = await this.client.execute('SELECT name, uid, groups, created FROM user_tokens ORDER BY name');
    return rs.rows.map((r) => userOf(r));
  }

  /** The user whose token has this SHA-256 hex (see sha256Hex), or undefined. */
  async userForTokenHash(hash: string): Promise<UserInfo | undefined> {
    const rs = await this.client.execute({ sql: 'SELECT name, uid, groups, created FROM user_tokens WHERE token_hash = ?', args: [hash] });
    const row = rs.rows[0];
    return row ? userOf(row) : undefined;
  }
}
