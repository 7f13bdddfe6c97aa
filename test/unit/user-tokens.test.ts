// User tokens (`skiff user add`): made, found and revoked by hash only; the token itself is kept
// nowhere in the database.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storeAuthenticator } from '../../src/api/auth/identity.js';
import { CredentialStore, USER_TOKEN } from '../../src/store/credentials.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

let t: TempStore;
let creds: CredentialStore;

beforeEach(async () => {
  t = await openTempStore('skiff-users-');
  creds = new CredentialStore(t.store);
});
afterEach(() => t.remove());

describe('user tokens', () => {
  it('authenticate as the user, in its groups and system:authenticated, with a uid of its own', async () => {
    const made = await creds.createUser('alice', ['dev', 'ops', 'dev', 'system:authenticated'], t.clock.now());
    expect(made?.token).toMatch(USER_TOKEN);
    const authn = storeAuthenticator({ store: t.store, clock: t.clock, adminToken: 'admin' });
    expect(await authn(made!.token)).toEqual({ user: 'alice', uid: made!.info.uid, groups: ['dev', 'ops', 'system:authenticated'] });
    expect(await authn.review(made!.token)).toMatchObject({ authenticated: true, identity: { user: 'alice' } });
    expect(await authn(made!.token.replace(/.$/, (c) => (c === '0' ? '1' : '0')))).toBeUndefined();
  });

  it('keep a name to one user until it is deleted, and list users without their tokens', async () => {
    const made = await creds.createUser('bob', [], t.clock.now());
    expect(await creds.createUser('bob', ['x'], t.clock.now())).toBeUndefined();
    const listed = await creds.listUsers();
    expect(listed).toEqual([{ name: 'bob', uid: made!.info.uid, groups: [], created: t.clock.now() }]);
    expect(JSON.stringify(listed)).not.toContain(made!.token);
    expect(await creds.deleteUser('bob')).toBe(true);
    expect(await creds.deleteUser('bob')).toBe(false);
    const again = await creds.createUser('bob', [], t.clock.now());
    expect(again!.info.uid).not.toBe(made!.info.uid);
    expect(again!.token).not.toBe(made!.token);
  });

  it('stop working when the user is deleted (after what the authenticator remembers)', async () => {
    const made = await creds.createUser('carol', ['dev'], t.clock.now());
    const authn = storeAuthenticator({ store: t.store, clock: t.clock });
    expect(await authn(made!.token)).toBeDefined();
    await creds.deleteUser('carol');
    expect(await authn(made!.token)).toBeDefined(); // remembered for 10 s
    t.clock.advance(10_001);
    expect(await authn(made!.token)).toBeUndefined();
  });

  it('are stored as their SHA-256 only: the token is nowhere in the database files', async () => {
    const made = await creds.createUser('dave', ['dev'], t.clock.now());
    const secret = made!.token.slice('user.'.length);
    const [rows] = await t.store.rows(['SELECT * FROM user_tokens']);
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(rows![0]!.token_hash).toBe(createHash('sha256').update(made!.token).digest('hex'));
    // The file itself, its WAL and journal included.
    await t.client.execute('PRAGMA wal_checkpoint(TRUNCATE)').catch(() => undefined);
    for (const f of readdirSync(t.dir)) {
      const bytes = readFileSync(join(t.dir, f));
      expect(bytes.includes(Buffer.from(secret)), f).toBe(false);
      expect(bytes.includes(Buffer.from(made!.token)), f).toBe(false);
    }
  });
});
