// Joining through the Worker inside workerd: a join token (made in the database, as `skiff token
// create --url` makes it) traded for a node credential, which then has a node's rights only.
import { env } from 'cloudflare:workers';
import { createClient } from '@libsql/client/web';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/store/clock.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { Store } from '../../src/store/store.js';
import { expectStatus, send } from './api.js';

describe('joining through the Worker', () => {
  it('trades a join token for a node credential with a node\'s rights', async () => {
    const store = new Store(createClient({ url: env.LIBSQL_URL }), systemClock);
    const { token: joinToken } = await new CredentialStore(store).createJoinToken(new Date(), 60_000, 'workers test');
    // The Worker's certificate is public: it serves no CA to pin.
    await expectStatus(send('/cacerts', { token: null }), 404);

    const joined = await expectStatus(send('/skiff/v1/join', { token: joinToken, body: { nodeName: 'worker-joined' } }), 201);
    expect(joined.nodeName).toBe('worker-joined');
    const token = joined.token as string;
    await expectStatus(send('/skiff/v1/join', { token: joinToken, body: { nodeName: 'worker-joined' } }), 409);

    await expectStatus(send('/api/v1/nodes', { token, body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker-joined' } } }), 201);
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'worker-joined', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'worker-joined' } };
    await expectStatus(send('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { token, body: lease }), 201);
    const other = await expectStatus(send('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/someone-else', { token }), 403);
    expect(other).toMatchObject({ reason: 'Forbidden', code: 403 });
    await expectStatus(send('/api/v1/namespaces/default/pods', { token, body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } } }), 403);
    // The join token itself grants nothing else.
    await expectStatus(send('/api/v1/nodes', { token: joinToken }), 401);
  });
});
