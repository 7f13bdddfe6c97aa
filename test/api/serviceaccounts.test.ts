// ServiceAccounts through HTTP: the `default` account of every namespace, TokenRequest, the token
// authenticating (SelfSubjectReview), TokenReview, and issuer discovery whose JWKS verifies the token
// (with node:crypto, independently of skiff's code).
import { createPublicKey, verify as nodeVerify, type JsonWebKey as NodeJsonWebKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthenticationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { storeAuthenticator, type StoreAuthenticator } from '../../src/api/auth/identity.js';
import { ServiceAccountTokens } from '../../src/api/auth/service-accounts.js';
import { reconcile } from '../../src/control/pass.js';
import { createNodeAdapter } from '../../src/node/http-adapter.js';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { failure } from '../helpers/status.js';

const ADMIN_TOKEN = 'admin-token-for-service-accounts';
const ISSUER = 'https://skiff.test';

interface Server {
  url: string;
  store: Store;
  clock: ManualClock;
  authn: StoreAuthenticator;
  fetch(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-sa-api-'));
  const client = openClient(`file:${join(dir, 'skiff.db')}`);
  await migrate(client);
  const clock = new ManualClock(Date.now());
  const store = new Store(client, clock);
  await store.init();
  const authn = storeAuthenticator({ store, clock, adminToken: ADMIN_TOKEN, serviceAccounts: new ServiceAccountTokens({ store, clock, issuer: ISSUER }) });
  const app = createApp({ store, clock, authenticate: authn });
  const adapter = createNodeAdapter((req: Request) => app.fetch(req));
  const server = createServer(adapter.listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    store,
    clock,
    authn,
    fetch: (path, init = {}) => {
      const token = init.token === undefined ? ADMIN_TOKEN : init.token;
      const headers = { 'content-type': 'application/json', ...(init.headers as Record<string, string>), ...(token ? { authorization: `Bearer ${token}` } : {}) };
      return fetch(url + path, { ...init, headers });
    },
    stop: async () => {
      adapter.endStreams();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function clients(url: string, token: string) {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'skiff', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'c', cluster: 'skiff', user: 'u' }],
    currentContext: 'c',
  });
  return { core: kc.makeApiClient(CoreV1Api), authentication: kc.makeApiClient(AuthenticationV1Api) };
}

const whoami = async (s: Server, token: string | undefined) => {
  const res = await s.fetch('/apis/authentication.k8s.io/v1/selfsubjectreviews', { method: 'POST', token, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }) });
  return { status: res.status, body: (await res.json()) as any };
};

describe('ServiceAccounts', () => {
  let s: Server;
  let admin: ReturnType<typeof clients>;
  beforeAll(async () => {
    s = await startServer();
    admin = clients(s.url, ADMIN_TOKEN);
  });
  afterAll(() => s.stop());

  it('are listed in discovery with the token subresource, as kube-apiserver lists them', async () => {
    const core = (await (await s.fetch('/api/v1')).json()) as { resources: Record<string, unknown>[] };
    expect(core.resources).toContainEqual(expect.objectContaining({ name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] }));
    expect(core.resources).toContainEqual({ name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] });
    const authn = (await (await s.fetch('/apis/authentication.k8s.io/v1')).json()) as { resources: Record<string, unknown>[] };
    expect(authn.resources).toEqual([
      { name: 'selfsubjectreviews', singularName: 'selfsubjectreview', namespaced: false, kind: 'SelfSubjectReview', verbs: ['create'] },
      { name: 'tokenreviews', singularName: 'tokenreview', namespaced: false, kind: 'TokenReview', verbs: ['create'] },
    ]);
  });

  it('gives every namespace, those there at start and new ones, its default ServiceAccount', async () => {
    await admin.core.createNamespace({ body: { metadata: { name: 'team-a' } } });
    await reconcile(s.store, s.clock);
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease', 'team-a']) {
      const sa = await admin.core.readNamespacedServiceAccount({ name: 'default', namespace: ns });
      expect(sa.metadata?.uid).toBeTruthy();
    }
    // Deleted, it is made again; one pass with nothing missing writes nothing.
    await admin.core.deleteNamespacedServiceAccount({ name: 'default', namespace: 'team-a' });
    expect((await reconcile(s.store, s.clock)).writes).toBe(1);
    expect((await admin.core.readNamespacedServiceAccount({ name: 'default', namespace: 'team-a' })).metadata?.name).toBe('default');
    expect((await reconcile(s.store, s.clock)).writes).toBe(0);
  });

  it('print as kubectl shows them: NAME SECRETS AGE', async () => {
    const res = await s.fetch('/api/v1/namespaces/default/serviceaccounts', { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    const table = (await res.json()) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Secrets', 'Age']);
    expect(table.rows[0]!.cells.slice(0, 2)).toEqual(['default', 0]);
  });

  it('answer a TokenRequest with a token that authenticates as the ServiceAccount', async () => {
    await admin.core.createNamespacedServiceAccount({ namespace: 'team-a', body: { metadata: { name: 'builder' } } });
    const sa = await admin.core.readNamespacedServiceAccount({ name: 'builder', namespace: 'team-a' });
    const tr = await admin.core.createNamespacedServiceAccountToken({ name: 'builder', namespace: 'team-a', body: { spec: { audiences: [], expirationSeconds: 1200 } } });
    expect(tr.spec!.audiences).toEqual([ISSUER]);
    expect(tr.spec!.expirationSeconds).toBe(1200);
    expect(new Date(tr.status!.expirationTimestamp!).getTime()).toBe(Math.floor(s.clock.now().getTime() / 1000) * 1000 + 1_200_000);
    const token = tr.status!.token!;

    const me = await whoami(s, token);
    expect(me.status).toBe(201);
    expect(me.body).toMatchObject({
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      status: {
        userInfo: {
          username: 'system:serviceaccount:team-a:builder',
          uid: sa.metadata!.uid,
          groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
        },
      },
    });
    // Authenticated, then refused by authorization: 403, not 401.
    expect((await s.fetch('/api/v1/namespaces/team-a/pods', { token })).status).toBe(403);

    // Past its expiry (and the minute of leeway): 401.
    s.clock.advance(1_261_000);
    expect((await whoami(s, token)).status).toBe(401);
    expect((await s.fetch('/api/v1/namespaces/team-a/pods', { token })).status).toBe(401);
  });

  it('binds a token to a pod: the pod shows in the identity, and the token dies with the pod', async () => {
    await admin.core.createNamespacedPod({ namespace: 'team-a', body: { metadata: { name: 'web' }, spec: { serviceAccountName: 'builder', containers: [{ name: 'c', image: 'nginx' }] } } });
    const pod = await admin.core.readNamespacedPod({ name: 'web', namespace: 'team-a' });
    const tr = await admin.core.createNamespacedServiceAccountToken({
      name: 'builder', namespace: 'team-a', body: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web' } } },
    });
    expect(tr.spec!.expirationSeconds).toBe(3600);
    const me = await whoami(s, tr.status!.token!);
    expect(me.body.status.userInfo.extra).toMatchObject({
      'authentication.kubernetes.io/pod-name': ['web'],
      'authentication.kubernetes.io/pod-uid': [pod.metadata!.uid],
    });

    // The pod's ServiceAccount must be the token's; a uid given must be the pod's.
    const other = await failure(admin.core.createNamespacedServiceAccountToken({
      name: 'default', namespace: 'team-a', body: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web' } } },
    }));
    expect(other.code).toBe(400);
    expect(other.status.message).toBe('cannot bind token for serviceaccount "default" to pod running with different serviceaccount name.');
    const stale = await failure(admin.core.createNamespacedServiceAccountToken({
      name: 'builder', namespace: 'team-a', body: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: 'not-it' } } },
    }));
    expect(stale.code).toBe(409);
    const missing = await failure(admin.core.createNamespacedServiceAccountToken({
      name: 'builder', namespace: 'team-a', body: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'gone' } } },
    }));
    expect(missing).toMatchObject({ code: 404, status: { message: 'pods "gone" not found' } });
    const kind = await failure(admin.core.createNamespacedServiceAccountToken({
      name: 'builder', namespace: 'team-a', body: { spec: { audiences: [], boundObjectRef: { kind: 'Deployment', apiVersion: 'apps/v1', name: 'x' } } },
    }));
    expect(kind).toMatchObject({ code: 400, status: { message: 'cannot bind token to object of type apps/v1, Kind=Deployment' } });

    await admin.core.deleteNamespacedPod({ name: 'web', namespace: 'team-a', gracePeriodSeconds: 0 });
    s.clock.advance(11_000); // past what the authenticator remembers
    expect((await whoami(s, tr.status!.token!)).status).toBe(401);
  });

  it('refuses a TokenRequest for a missing ServiceAccount or out-of-bounds durations', async () => {
    expect(await failure(admin.core.createNamespacedServiceAccountToken({ name: 'nobody', namespace: 'team-a', body: { spec: { audiences: [] } } })))
      .toMatchObject({ code: 404, status: { message: 'serviceaccounts "nobody" not found' } });
    const short = await failure(admin.core.createNamespacedServiceAccountToken({ name: 'builder', namespace: 'team-a', body: { spec: { audiences: [], expirationSeconds: 60 } } }));
    expect(short).toMatchObject({ code: 422, status: { reason: 'Invalid', message: 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes' } });
    const long = await failure(admin.core.createNamespacedServiceAccountToken({ name: 'builder', namespace: 'team-a', body: { spec: { audiences: [], expirationSeconds: 2 ** 32 + 1 } } }));
    expect(long.code).toBe(422);
  });

  it('reviews tokens: who they are for the audiences asked, or not authenticated', async () => {
    const tr = await admin.core.createNamespacedServiceAccountToken({ name: 'builder', namespace: 'team-a', body: { spec: { audiences: ['vault', ISSUER] } } });
    const review = await admin.authentication.createTokenReview({ body: { spec: { token: tr.status!.token! } } });
    expect(review.status).toMatchObject({ authenticated: true, audiences: [ISSUER], user: { username: 'system:serviceaccount:team-a:builder' } });
    const forVault = await admin.authentication.createTokenReview({ body: { spec: { token: tr.status!.token!, audiences: ['vault'] } } });
    expect(forVault.status).toMatchObject({ authenticated: true, audiences: ['vault'] });
    const elsewhere = await admin.authentication.createTokenReview({ body: { spec: { token: tr.status!.token!, audiences: ['consul'] } } });
    expect(elsewhere.status?.authenticated).toBeFalsy();
    expect(elsewhere.status?.error).toBe('token audiences ["vault" "https://skiff.test"] is invalid for the target audiences ["consul"]');
    const junk = await admin.authentication.createTokenReview({ body: { spec: { token: 'junk' } } });
    expect(junk.status?.authenticated).toBeFalsy();
    expect((await failure(admin.authentication.createTokenReview({ body: { spec: {} as never } }))).code).toBe(400);
  });

  it('publish the issuer\'s discovery document and JWKS, which verify the token on their own', async () => {
    const config = await s.fetch('/.well-known/openid-configuration');
    expect(config.headers.get('content-type')).toBe('application/json');
    expect(config.headers.get('cache-control')).toBe('public, max-age=3600');
    const doc = (await config.json()) as Record<string, unknown>;
    const host = new URL(s.url).host;
    expect(doc).toEqual({
      issuer: ISSUER,
      jwks_uri: `https://${host}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    });
    const keysRes = await s.fetch('/openid/v1/jwks');
    expect(keysRes.headers.get('content-type')).toBe('application/jwk-set+json');
    const { keys } = (await keysRes.json()) as { keys: (JsonWebKey & { kid: string })[] };

    const tr = await admin.core.createNamespacedServiceAccountToken({ name: 'builder', namespace: 'team-a', body: { spec: { audiences: [] } } });
    const [head, body, sig] = tr.status!.token!.split('.') as [string, string, string];
    const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg: string; kid: string };
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    expect(header.alg).toBe('ES256');
    const jwk = keys.find((k) => k.kid === header.kid)!;
    expect(jwk).toBeDefined();
    const key = createPublicKey({ key: jwk as unknown as NodeJsonWebKey, format: 'jwk' });
    expect(nodeVerify('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))).toBe(true);
    expect(claims).toMatchObject({ iss: doc.issuer, sub: 'system:serviceaccount:team-a:builder', aud: [ISSUER] });
    expect(nodeVerify('sha256', Buffer.from(`${head}.${body}x`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'))).toBe(false);

    // Discovery is for authenticated callers, as kube-apiserver serves it without anonymous access.
    expect((await s.fetch('/openid/v1/jwks', { token: null })).status).toBe(401);
  });

  it('stops a ServiceAccount\'s tokens when it is deleted, and a new one of its name does not revive them', async () => {
    await admin.core.createNamespacedServiceAccount({ namespace: 'team-a', body: { metadata: { name: 'ci' } } });
    const tr = await admin.core.createNamespacedServiceAccountToken({ name: 'ci', namespace: 'team-a', body: { spec: { audiences: [] } } });
    expect((await whoami(s, tr.status!.token!)).status).toBe(201);
    await admin.core.deleteNamespacedServiceAccount({ name: 'ci', namespace: 'team-a' });
    await admin.core.createNamespacedServiceAccount({ namespace: 'team-a', body: { metadata: { name: 'ci' } } });
    s.clock.advance(11_000);
    expect((await whoami(s, tr.status!.token!)).status).toBe(401);
  });
});
