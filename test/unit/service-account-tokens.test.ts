// ServiceAccount tokens: made and verified with Web Crypto, the key kept in the database, and the
// checks kube-apiserver applies (signature, issuer, audience, times, the objects the token names).
import { createHash, createPublicKey, verify as nodeVerify, type JsonWebKey as NodeJsonWebKey } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storeAuthenticator, type StoreAuthenticator } from '../../src/api/auth/identity.js';
import { DEFAULT_ISSUER, ServiceAccountTokens } from '../../src/api/auth/service-accounts.js';
import type { KObject } from '../../src/kinds/types.js';
import { Store } from '../../src/store/store.js';
import { openTempStore, type TempStore } from '../helpers/temp-store.js';

const ISSUER = 'https://skiff.test:6443';

let t: TempStore;
let authn: StoreAuthenticator;

const serviceAccount = (namespace: string, name: string): KObject => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace, uid: crypto.randomUUID(), creationTimestamp: t.clock.now().toISOString() },
});

async function create(obj: KObject): Promise<KObject> {
  const [r] = await t.store.commit([{ op: 'create', object: obj }]);
  expect(r!.ok).toBe(true);
  return obj;
}

async function remove(obj: KObject): Promise<void> {
  const stored = await t.store.get(String(obj.kind), obj.metadata!.namespace ?? '', obj.metadata!.name!);
  const [r] = await t.store.commit([{ op: 'delete', kind: String(obj.kind), namespace: obj.metadata!.namespace ?? '', name: obj.metadata!.name!, rv: Number(stored!.metadata!.resourceVersion) }]);
  expect(r!.ok).toBe(true);
}

const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

async function tokenFor(sa: KObject, extra: Partial<Parameters<ServiceAccountTokens['issue']>[0]> = {}): Promise<string> {
  const { token } = await authn.serviceAccounts.issue({
    namespace: sa.metadata!.namespace!,
    serviceAccount: { name: sa.metadata!.name!, uid: sa.metadata!.uid! },
    audiences: [ISSUER],
    expirationSeconds: 3600,
    ...extra,
  });
  return token;
}

beforeEach(async () => {
  t = await openTempStore('skiff-sa-tokens-');
  authn = storeAuthenticator({ store: t.store, clock: t.clock, serviceAccounts: new ServiceAccountTokens({ store: t.store, clock: t.clock, issuer: ISSUER }) });
});
afterEach(() => t.remove());

describe('ServiceAccount tokens', () => {
  it('carry the claims of a bound token, signed ES256 with a kid as kube-apiserver derives it', async () => {
    const sa = await create(serviceAccount('default', 'builder'));
    const token = await tokenFor(sa, { pod: { name: 'p', uid: 'pod-uid' }, node: { name: 'n1', uid: 'node-uid' } });
    const [head, body, sig] = token.split('.');
    const header = decode(head!);
    const claims = decode(body!);
    const now = Math.floor(t.clock.now().getTime() / 1000);
    expect(header).toEqual({ alg: 'ES256', kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(claims).toMatchObject({
      iss: ISSUER,
      sub: 'system:serviceaccount:default:builder',
      aud: [ISSUER],
      iat: now,
      nbf: now,
      exp: now + 3600,
      jti: expect.any(String),
      'kubernetes.io': {
        namespace: 'default',
        serviceaccount: { name: 'builder', uid: sa.metadata!.uid },
        pod: { name: 'p', uid: 'pod-uid' },
        node: { name: 'n1', uid: 'node-uid' },
      },
    });

    // Verified independently with node:crypto against the published key; the kid is the SHA-256 of its DER.
    const { keys } = await authn.serviceAccounts.jwks();
    expect(keys).toHaveLength(1);
    const jwk = keys[0] as JsonWebKey & { kid: string };
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: header.kid });
    expect(jwk).not.toHaveProperty('d');
    const publicKey = createPublicKey({ key: jwk as unknown as NodeJsonWebKey, format: 'jwk' });
    const der = publicKey.export({ type: 'spki', format: 'der' });
    expect(createHash('sha256').update(der).digest('base64url')).toBe(header.kid);
    const ok = nodeVerify('sha256', Buffer.from(`${head}.${body}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig!, 'base64url'));
    expect(ok).toBe(true);
  });

  it('authenticate as the ServiceAccount, with its uid, groups and the pod it is bound to', async () => {
    const sa = await create(serviceAccount('team-a', 'builder'));
    const pod = await create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team-a', uid: crypto.randomUUID() }, spec: { serviceAccountName: 'builder', containers: [] } });
    expect(await authn(await tokenFor(sa))).toEqual({
      user: 'system:serviceaccount:team-a:builder',
      uid: sa.metadata!.uid,
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': [expect.stringMatching(/^JTI=/)] },
    });
    const bound = await authn(await tokenFor(sa, { pod: { name: 'web', uid: pod.metadata!.uid! } }));
    expect(bound?.extra).toMatchObject({
      'authentication.kubernetes.io/pod-name': ['web'],
      'authentication.kubernetes.io/pod-uid': [pod.metadata!.uid],
    });
  });

  it('expire, with a minute of leeway, and are not valid before nbf', async () => {
    const sa = await create(serviceAccount('default', 'short'));
    const token = await tokenFor(sa, { expirationSeconds: 600 });
    t.clock.advance(600_000 + 59_000);
    expect(await authn(token)).toBeDefined();
    t.clock.advance(2_000);
    expect(await authn(token)).toBeUndefined();
    expect(await authn.review(token)).toEqual({ authenticated: false, error: 'service account token has expired' });

    const early = await tokenFor(sa);
    t.clock.advance(-120_000);
    expect(await authn.review(early)).toEqual({ authenticated: false, error: 'service account token is not valid yet' });
  });

  it('must be for one of the audiences asked for (the API: the issuer by default)', async () => {
    const sa = await create(serviceAccount('default', 'vault'));
    const forVault = await tokenFor(sa, { audiences: ['vault'] });
    expect(await authn(forVault)).toBeUndefined();
    expect(await authn.review(forVault)).toEqual({ authenticated: false, error: `token audiences ["vault"] is invalid for the target audiences ["${ISSUER}"]` });
    expect(await authn.review(forVault, ['vault', 'other'])).toMatchObject({ authenticated: true, audiences: ['vault'] });
    const both = await tokenFor(sa, { audiences: [ISSUER, 'vault'] });
    expect(await authn.review(both)).toMatchObject({ authenticated: true, audiences: [ISSUER] });
  });

  it('are refused when tampered with, or signed by another key, or from another issuer', async () => {
    const sa = await create(serviceAccount('default', 'builder'));
    const token = await tokenFor(sa);
    const [head, body, sig] = token.split('.') as [string, string, string];
    const claims = decode(body);
    claims['kubernetes.io'].serviceaccount.name = 'admin';
    const forged = `${head}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    expect(await authn.review(forged)).toEqual({ authenticated: false, error: 'invalid signature' });
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
    expect(await authn(`${head}.${body}.${flipped}`)).toBeUndefined();
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${body}.`;
    expect(await authn(none)).toBeUndefined();

    // Another database's key: same issuer, kid unknown here.
    const other = await openTempStore('skiff-sa-other-');
    try {
      const elsewhere = new ServiceAccountTokens({ store: other.store, clock: t.clock, issuer: ISSUER });
      const { token: alien } = await elsewhere.issue({ namespace: 'default', serviceAccount: { name: 'builder', uid: sa.metadata!.uid! }, audiences: [ISSUER], expirationSeconds: 3600 });
      expect(await authn.review(alien)).toEqual({ authenticated: false, error: 'invalid signature, no keys found' });
    } finally {
      other.remove();
    }

    // Another issuer's token is not this authenticator's to judge: no error, just no one.
    const foreign = new ServiceAccountTokens({ store: t.store, clock: t.clock, issuer: 'https://elsewhere' });
    const { token: theirs } = await foreign.issue({ namespace: 'default', serviceAccount: { name: 'builder', uid: sa.metadata!.uid! }, audiences: [ISSUER], expirationSeconds: 3600 });
    expect(await authn.review(theirs)).toEqual({ authenticated: false });
  });

  it('stop working once their ServiceAccount is deleted, and are not revived by one made again under its name', async () => {
    const sa = await create(serviceAccount('default', 'ci'));
    const token = await tokenFor(sa);
    expect(await authn(token)).toBeDefined();
    await remove(sa);
    t.clock.advance(11_000); // past what the authenticator remembers
    expect(await authn.review(token)).toEqual({ authenticated: false, error: 'serviceaccounts "ci" not found' });
    const again = await create(serviceAccount('default', 'ci'));
    t.clock.advance(11_000);
    expect(await authn.review(token)).toEqual({ authenticated: false, error: `service account UID (${again.metadata!.uid}) does not match claim (${sa.metadata!.uid})` });
    expect(await authn(await tokenFor(again))).toBeDefined();
  });

  it('bound to a pod stop working once the pod is gone or replaced', async () => {
    const sa = await create(serviceAccount('default', 'app'));
    const pod = await create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', uid: crypto.randomUUID() }, spec: { containers: [] } });
    const token = await tokenFor(sa, { pod: { name: 'web', uid: pod.metadata!.uid! } });
    expect(await authn(token)).toBeDefined();
    await remove(pod);
    t.clock.advance(11_000);
    expect(await authn.review(token)).toEqual({ authenticated: false, error: 'service account token has been invalidated' });
    await create({ ...pod, metadata: { ...pod.metadata, uid: crypto.randomUUID() } });
    t.clock.advance(11_000);
    expect(await authn.review(token)).toMatchObject({ authenticated: false, error: expect.stringMatching(/^pod UID \(.+\) does not match service account pod ref claim/) });
  });

  it('check the objects once per cacheMs: one round trip, then none', async () => {
    const sa = await create(serviceAccount('default', 'busy'));
    const token = await tokenFor(sa);
    await authn(token); // the keys and the objects
    const before = t.store.roundTrips;
    for (let i = 0; i < 5; i++) expect(await authn(token)).toBeDefined();
    expect(t.store.roundTrips).toBe(before);
    t.clock.advance(11_000);
    await authn(token);
    expect(t.store.roundTrips).toBe(before + 1);
  });

  it('share one key per database, made by Store.init, read once per instance', async () => {
    const [rows] = await t.store.rows(['SELECT id, kid FROM service_account_keys']);
    expect(rows).toHaveLength(1);
    await t.store.init(); // again: the key stays
    const [again] = await t.store.rows(['SELECT id, kid FROM service_account_keys']);
    expect(again).toEqual(rows);
    // A second store on the same database (another home) verifies what the first signs.
    const second = new Store(t.client, t.clock);
    const theirs = storeAuthenticator({ store: second, clock: t.clock, serviceAccounts: new ServiceAccountTokens({ store: second, clock: t.clock, issuer: ISSUER }) });
    const sa = await create(serviceAccount('default', 'shared'));
    expect(await theirs(await tokenFor(sa))).toMatchObject({ user: 'system:serviceaccount:default:shared' });
    // A database without a key (made before keys were) gets one on first use.
    await t.client.execute('DELETE FROM service_account_keys');
    const fresh = new ServiceAccountTokens({ store: t.store, clock: t.clock });
    expect(fresh.issuer()).toBe(DEFAULT_ISSUER);
    expect((await fresh.jwks()).keys).toHaveLength(1);
  });
});
