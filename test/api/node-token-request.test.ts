// The Node authorizer's ServiceAccount rules and NodeRestriction on TokenRequests, for
// system:node:NAME through the real app: a node reads the ServiceAccounts its pods use and asks for
// their tokens, each bound to one of its own pods (by name and uid) that runs as that ServiceAccount;
// nothing else.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { storeAuthenticator } from '../../src/api/auth/identity.js';
import { createNodeAdapter } from '../../src/node/http-adapter.js';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const ADMIN = 'admin-token-for-node-token-request';
const NS = 'apps';

let dir: string;
let url: string;
let stop: () => Promise<void>;
let nodeToken: string;
const uids: Record<string, string> = {};

const call = async (path: string, opts: { method?: string; body?: unknown; token?: string } = {}) => {
  const res = await fetch(url + path, {
    method: opts.method ?? 'GET',
    headers: { authorization: `Bearer ${opts.token ?? ADMIN}`, 'content-type': 'application/json' },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  return { status: res.status, body: (await res.json()) as any };
};
const tokenRequest = (sa: string, boundObjectRef?: unknown) =>
  call(`/api/v1/namespaces/${NS}/serviceaccounts/${sa}/token`, {
    method: 'POST',
    token: nodeToken,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 3607, ...(boundObjectRef ? { boundObjectRef } : {}) } },
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-node-token-'));
  const client = openClient(`file:${join(dir, 'skiff.db')}`);
  await migrate(client);
  const clock = new ManualClock();
  const store = new Store(client, clock);
  await store.init();
  const app = createApp({ store, clock, authenticate: storeAuthenticator({ store, clock, adminToken: ADMIN }) });
  const adapter = createNodeAdapter((req) => app.fetch(req));
  const server = createServer(adapter.listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stop = async () => {
    adapter.endStreams();
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
    store.close();
  };
  const credentials = new CredentialStore(store);
  const { token } = await credentials.createJoinToken(clock.now(), 0);
  const joined = await credentials.join(token, 'n1', clock.now());
  if (!joined.ok) throw new Error('join failed');
  nodeToken = joined.credential;

  expect((await call('/api/v1/namespaces', { method: 'POST', body: { metadata: { name: NS } } })).status).toBe(201);
  for (const sa of ['robot', 'other', 'unused']) {
    expect((await call(`/api/v1/namespaces/${NS}/serviceaccounts`, { method: 'POST', body: { metadata: { name: sa } } })).status).toBe(201);
  }
  const pod = async (name: string, node: string, sa?: string) => {
    const created = await call(`/api/v1/namespaces/${NS}/pods`, {
      method: 'POST',
      body: { metadata: { name }, spec: { nodeName: node, ...(sa ? { serviceAccountName: sa } : {}), containers: [{ name: 'c', image: 'x' }] } },
    });
    expect(created.status).toBe(201);
    uids[name] = created.body.metadata.uid;
  };
  await pod('mine', 'n1', 'robot');
  await pod('mine-other', 'n1', 'other');
  await pod('theirs', 'n2', 'unused');
});

afterAll(async () => {
  await stop?.();
  rmSync(dir, { recursive: true, force: true });
});

describe('a node and ServiceAccounts', () => {
  it('reads the ServiceAccounts its pods use, and no others', async () => {
    expect((await call(`/api/v1/namespaces/${NS}/serviceaccounts/robot`, { token: nodeToken })).status).toBe(200);
    const refused = await call(`/api/v1/namespaces/${NS}/serviceaccounts/unused`, { token: nodeToken });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain(`no relationship found between node 'n1' and this object`);
    expect((await call(`/api/v1/namespaces/${NS}/serviceaccounts`, { token: nodeToken })).status).toBe(403);
  });

  it('gets a token bound to its own pod that runs as the ServiceAccount', async () => {
    const res = await tokenRequest('robot', { kind: 'Pod', apiVersion: 'v1', name: 'mine', uid: uids.mine });
    expect(res.status).toBe(201);
    expect(res.body.status.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = JSON.parse(Buffer.from(res.body.status.token.split('.')[1], 'base64url').toString());
    expect(claims.sub).toBe(`system:serviceaccount:${NS}:robot`);
    expect(claims['kubernetes.io'].pod).toEqual({ name: 'mine', uid: uids.mine });
  });

  it('gets no token for a ServiceAccount none of its pods use', async () => {
    const res = await tokenRequest('unused', { kind: 'Pod', apiVersion: 'v1', name: 'theirs', uid: uids.theirs });
    expect(res.status).toBe(403);
    expect(res.body.message).toContain(`no relationship found between node 'n1' and this object`);
  });

  it('gets no token that is not bound to one of its pods, by name and uid, running as that ServiceAccount (NodeRestriction)', async () => {
    const refusals: [unknown, string][] = [
      [undefined, 'node requested token not bound to a pod'],
      [{ kind: 'Secret', apiVersion: 'v1', name: 's', uid: 'u' }, 'node requested token not bound to a pod'],
      [{ kind: 'Pod', apiVersion: 'v1', name: 'mine' }, 'node requested token with a pod binding without a uid'],
      [{ kind: 'Pod', apiVersion: 'v1', name: 'theirs', uid: uids.theirs }, 'node requested token bound to a pod scheduled on a different node'],
      [{ kind: 'Pod', apiVersion: 'v1', name: 'mine', uid: '00000000-0000-0000-0000-000000000000' }, 'does not match the UID in record'],
      [{ kind: 'Pod', apiVersion: 'v1', name: 'mine-other', uid: uids['mine-other'] }, 'runs as serviceaccount "other"'],
    ];
    for (const [ref, message] of refusals) {
      const res = await tokenRequest('robot', ref);
      expect(res.status, JSON.stringify(ref)).toBe(403);
      expect(res.body.message).toContain(message);
    }
  });
});
