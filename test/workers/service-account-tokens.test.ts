// ServiceAccount tokens and user tokens authenticated by the Worker inside workerd: the signing key
// read from the database, the signature verified with workerd's Web Crypto. Without RBAC granting
// them anything, an identity the Worker knows is refused with 403, one it does not with 401.
import { env } from 'cloudflare:workers';
import { createClient } from '@libsql/client/web';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ISSUER, ServiceAccountTokens } from '../../src/api/auth/service-accounts.js';
import { systemClock } from '../../src/store/clock.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { Store } from '../../src/store/store.js';
import { createNamespace, expectStatus, send } from './api.js';

describe('tokens through the Worker', () => {
  it('authenticates a ServiceAccount token signed with the database\'s key, and refuses a tampered one', async () => {
    const ns = await createNamespace('sa-tokens');
    const sa = await expectStatus(send(`/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'robot' } } }), 201);
    const store = new Store(createClient({ url: env.LIBSQL_URL }), systemClock);
    const tokens = new ServiceAccountTokens({ store, clock: systemClock });
    expect(tokens.issuer()).toBe(DEFAULT_ISSUER); // SERVICE_ACCOUNT_ISSUER is empty in wrangler.toml
    const { token } = await tokens.issue({ namespace: ns, serviceAccount: { name: 'robot', uid: sa.metadata.uid }, audiences: [DEFAULT_ISSUER], expirationSeconds: 600 });
    const known = await expectStatus(send(`/api/v1/namespaces/${ns}/pods`, { token }), 403);
    expect(known.message).toContain(`system:serviceaccount:${ns}:robot`);
    const [head, body] = token.split('.');
    await expectStatus(send(`/api/v1/namespaces/${ns}/pods`, { token: `${head}.${body}.${'A'.repeat(86)}` }), 401);
    const { token: stranger } = await tokens.issue({ namespace: ns, serviceAccount: { name: 'robot', uid: 'not-its-uid' }, audiences: [DEFAULT_ISSUER], expirationSeconds: 600 });
    await expectStatus(send(`/api/v1/namespaces/${ns}/pods`, { token: stranger }), 401);
  });

  it('authenticates a user token by its hash', async () => {
    const store = new Store(createClient({ url: env.LIBSQL_URL }), systemClock);
    const made = await new CredentialStore(store).createUser(`worker-user-${crypto.randomUUID().slice(0, 8)}`, ['dev'], new Date());
    const known = await expectStatus(send('/api/v1/namespaces', { token: made!.token }), 403);
    expect(known.message).toContain(made!.info.name);
    await expectStatus(send('/api/v1/namespaces', { token: made!.token.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }), 401);
  });
});
