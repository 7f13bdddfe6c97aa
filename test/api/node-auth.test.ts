// Joining and node credentials through the real app over HTTP: the join exchange, the store-backed
// authenticator, /cacerts, and the Node authorizer / NodeRestriction rules for system:node:NAME.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoordinationV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Lease, type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { storeAuthenticator } from '../../src/api/auth/identity.js';
import { caCertHash, ensureCredentials } from '../../src/node/certs.js';
import { createNodeAdapter } from '../../src/node/http-adapter.js';
import { migrate } from '../../src/node/migrate.js';
import { ManualClock } from '../../src/store/clock.js';
import { CredentialStore } from '../../src/store/credentials.js';
import { openClient } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';
import { failure } from '../helpers/status.js';

const ADMIN_TOKEN = 'admin-token-for-node-auth';
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const HOUR = 3600_000;

interface Server {
  url: string;
  store: Store;
  clock: ManualClock;
  credentials: CredentialStore;
  fetch(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  stop(): Promise<void>;
}

/** The app as `skiff serve` wires it (store-backed authenticator, CA served), over plain HTTP, on a manual clock. */
async function startServer(caCert?: string): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-node-auth-'));
  const client = openClient(`file:${join(dir, 'skiff.db')}`);
  await migrate(client);
  const clock = new ManualClock();
  const store = new Store(client, clock);
  await store.init();
  const app = createApp({ store, clock, caCert, authenticate: storeAuthenticator({ store, clock, adminToken: ADMIN_TOKEN }) });
  const adapter = createNodeAdapter((req) => app.fetch(req));
  const server = createServer(adapter.listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    store,
    clock,
    credentials: new CredentialStore(store),
    fetch: (path, init = {}) => {
      const token = init.token === undefined ? ADMIN_TOKEN : init.token;
      const headers = { ...(init.headers as Record<string, string>), ...(token ? { authorization: `Bearer ${token}` } : {}) };
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
  return { core: kc.makeApiClient(CoreV1Api), coordination: kc.makeApiClient(CoordinationV1Api) };
}

const postJoin = (s: Server, token: string | null, body: unknown) =>
  s.fetch('/skiff/v1/join', { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function joinAs(s: Server, token: string, nodeName: string): Promise<string> {
  const res = await postJoin(s, token, { nodeName });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { nodeName: string; token: string };
  expect(body.nodeName).toBe(nodeName);
  return body.token;
}

const lease = (name: string, renewTime: string): V1Lease => ({
  metadata: { name, namespace: 'kube-node-lease' },
  spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: renewTime as unknown as Date },
});

describe('joining', () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.stop());

  it('trades a join token for a node credential that authenticates as the node', async () => {
    const { token } = await s.credentials.createJoinToken(s.clock.now(), 24 * HOUR, 'test');
    expect(token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const credential = await joinAs(s, token, 'happy');
    expect(credential).toMatch(/^node\.[0-9a-f]{64}$/);
    const { core } = clients(s.url, credential);
    const node = await core.createNode({ body: { metadata: { name: 'happy' } } });
    expect(node.metadata?.name).toBe('happy');
    expect((await core.listNode()).items.map((n) => n.metadata?.name)).toContain('happy');
  });

  it('lets many machines join with one token until it expires, then refuses it', async () => {
    const { token } = await s.credentials.createJoinToken(s.clock.now(), HOUR);
    await joinAs(s, token, 'many-1');
    await joinAs(s, token, 'many-2');
    s.clock.advance(HOUR + 1000);
    const res = await postJoin(s, token, { nodeName: 'many-3' });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
  });

  it('keeps a token with no ttl forever, and refuses a deleted one', async () => {
    const { token, info } = await s.credentials.createJoinToken(s.clock.now(), 0);
    expect(info.expires).toBeUndefined();
    s.clock.advance(1000 * 24 * HOUR);
    await joinAs(s, token, 'forever');
    expect(await s.credentials.deleteJoinToken(info.id)).toBe(true);
    expect((await postJoin(s, token, { nodeName: 'after-delete' })).status).toBe(401);
  });

  it('refuses unknown and malformed tokens, and a wrong secret for a known id', async () => {
    const { token } = await s.credentials.createJoinToken(s.clock.now(), HOUR);
    const wrongSecret = token.slice(0, 7) + 'a'.repeat(16) === token ? token.slice(0, 7) + 'b'.repeat(16) : token.slice(0, 7) + 'a'.repeat(16);
    for (const bad of [null, 'abcdef.0123456789abcdef', 'not-a-token', ADMIN_TOKEN, wrongSecret]) {
      const res = await postJoin(s, bad, { nodeName: 'nobody' });
      expect(res.status, String(bad)).toBe(401);
    }
  });

  it('refuses a name that already holds a credential until it is revoked', async () => {
    const { token } = await s.credentials.createJoinToken(s.clock.now(), HOUR);
    const first = await joinAs(s, token, 'held');
    const res = await postJoin(s, token, { nodeName: 'held' });
    expect(res.status).toBe(409);
    const status = (await res.json()) as { reason: string; message: string };
    expect(status.reason).toBe('AlreadyExists');
    expect(status.message).toContain('node "held" already holds a credential');
    expect(status.message).toContain('skiff token delete node/held');

    // Revoked: the old credential stops working once the authenticator's cache lapses; the name is free.
    expect((await s.fetch('/api/v1/nodes', { token: first })).status).toBe(200);
    expect(await s.credentials.deleteNodeCredential('held')).toBe(true);
    s.clock.advance(11_000);
    expect((await s.fetch('/api/v1/nodes', { token: first })).status).toBe(401);
    const second = await joinAs(s, token, 'held');
    expect((await s.fetch('/api/v1/nodes', { token: second })).status).toBe(200);
  });

  it('refuses an invalid node name with 422, but only to a holder of a valid token', async () => {
    const { token } = await s.credentials.createJoinToken(s.clock.now(), HOUR);
    for (const body of [{ nodeName: 'Not_A_Name' }, { nodeName: '' }, {}]) {
      const res = await postJoin(s, token, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(await res.json()).toMatchObject({ reason: 'Invalid', code: 422, details: { causes: [{ field: 'nodeName' }] } });
    }
    expect((await postJoin(s, 'abcdef.0123456789abcdef', { nodeName: 'Not_A_Name' })).status).toBe(401);
  });

  it('grants nothing else to a join token', async () => {
    const { token } = await s.credentials.createJoinToken(s.clock.now(), HOUR);
    for (const path of ['/api', '/api/v1/nodes', '/api/v1/namespaces/default/secrets']) {
      expect((await s.fetch(path, { token })).status, path).toBe(401);
    }
  });
});

describe('/cacerts', () => {
  it('serves the CA without a token, whose hash is kubeadm\'s discovery-token-ca-cert-hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-node-auth-ca-'));
    try {
      const { caCert } = ensureCredentials(dir, '127.0.0.1');
      const s = await startServer(caCert);
      try {
        const res = await s.fetch('/cacerts', { token: null });
        expect(res.status).toBe(200);
        const pem = await res.text();
        expect(pem).toBe(caCert);
        // kubeadm's documented recipe for the hash.
        const der = execFileSync('sh', ['-c', 'openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex'], { input: pem }).toString();
        expect(caCertHash(pem)).toBe(`sha256:${/([0-9a-f]{64})\s*$/.exec(der)![1]}`);
      } finally {
        await s.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 404 where there is no CA of its own (the Worker)', async () => {
    const s = await startServer();
    try {
      const res = await s.fetch('/cacerts', { token: null });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
    } finally {
      await s.stop();
    }
  });
});

describe('the Node authorizer', () => {
  let s: Server;
  let admin: CoreV1Api;
  let n1: ReturnType<typeof clients>;
  let n2: ReturnType<typeof clients>;
  let n1Token: string;

  const pod = (name: string, nodeName: string | undefined, extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(nodeName ? { nodeName } : {}), ...extra },
  });

  beforeAll(async () => {
    s = await startServer();
    admin = clients(s.url, ADMIN_TOKEN).core;
    const { token } = await s.credentials.createJoinToken(s.clock.now(), HOUR);
    n1Token = await joinAs(s, token, 'n1');
    n1 = clients(s.url, n1Token);
    n2 = clients(s.url, await joinAs(s, token, 'n2'));
    for (const name of ['used', 'other', 'pulled', 'projected']) {
      await admin.createNamespacedSecret({ namespace: 'default', body: { metadata: { name }, stringData: { k: 'v' } } });
    }
    await admin.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'settings' }, data: { k: 'v' } } });
    await admin.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'unused' }, data: { k: 'v' } } });
    await admin.createNamespacedPod({
      namespace: 'default',
      body: pod('p1', 'n1', {
        volumes: [
          { name: 'v', secret: { secretName: 'used' } },
          { name: 'p', projected: { sources: [{ secret: { name: 'projected' } }] } },
        ],
        imagePullSecrets: [{ name: 'pulled' }],
        containers: [{ name: 'c', image: 'busybox', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'k' } } }] }],
      }),
    });
    await admin.createNamespacedPod({ namespace: 'default', body: pod('p2', 'n2', { volumes: [{ name: 'v', secret: { secretName: 'other' } }] }) });
    await admin.createNamespacedPod({ namespace: 'default', body: pod('pending', undefined) });
  });
  afterAll(() => s.stop());

  it('lets a node create its own Node and update its status, but not another\'s', async () => {
    await n1.core.createNode({ body: { metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' } } } });
    const patched = await n1.core.patchNodeStatus({ name: 'n1', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } }, merge);
    expect(patched.status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True' });
    await n1.core.patchNode({ name: 'n1', body: { metadata: { labels: { role: 'edge' } } } }, merge);

    const other = await failure(n1.core.createNode({ body: { metadata: { name: 'n3' } } }));
    expect(other.code).toBe(403);
    expect(other.status).toMatchObject({ reason: 'Forbidden', message: 'nodes "n3" is forbidden: node "n1" is not allowed to modify node "n3"' });

    await n2.core.createNode({ body: { metadata: { name: 'n2' } } });
    const patchOther = await failure(n1.core.patchNodeStatus({ name: 'n2', body: { status: { conditions: [] } } }, merge));
    expect(patchOther.code).toBe(403);
    expect(patchOther.status.message).toBe('nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"');

    const deleteSelf = await failure(n1.core.deleteNode({ name: 'n1' }));
    expect(deleteSelf.code).toBe(403);
    expect(deleteSelf.status.message).toBe('nodes "n1" is forbidden: User "system:node:n1" cannot delete resource "nodes" in API group "" at the cluster scope');

    // NodeRestriction: its own taints and node-restriction.kubernetes.io/ labels are the operator's.
    const taint = await failure(n1.core.patchNode({ name: 'n1', body: { spec: { taints: [{ key: 'x', effect: 'NoSchedule' }] } } }, merge));
    expect(taint.status.message).toBe('nodes "n1" is forbidden: node "n1" is not allowed to modify taints');
    const label = await failure(n1.core.patchNode({ name: 'n1', body: { metadata: { labels: { 'node-restriction.kubernetes.io/zone': 'a' } } } }, merge));
    expect(label.code).toBe(403);
  });

  it('lets a node create and renew its own Lease, never another\'s', async () => {
    const created = await n1.coordination.createNamespacedLease({ namespace: 'kube-node-lease', body: lease('n1', '2026-01-01T00:00:00.000000Z') });
    created.spec!.renewTime = '2026-01-01T00:00:10.000000Z' as unknown as Date;
    const renewed = await n1.coordination.replaceNamespacedLease({ namespace: 'kube-node-lease', name: 'n1', body: created });
    expect(renewed.metadata?.resourceVersion).not.toBe(created.metadata?.resourceVersion);
    await n1.coordination.patchNamespacedLease({ namespace: 'kube-node-lease', name: 'n1', body: { spec: { renewTime: '2026-01-01T00:00:20.000000Z' } } }, merge);
    expect((await n1.coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: 'n1' })).spec?.holderIdentity).toBe('n1');

    await n2.coordination.createNamespacedLease({ namespace: 'kube-node-lease', body: lease('n2', '2026-01-01T00:00:00.000000Z') });
    const current = await n2.coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: 'n2' });
    const update = await failure(n1.coordination.replaceNamespacedLease({ namespace: 'kube-node-lease', name: 'n2', body: current }));
    expect(update.code).toBe(403);
    expect(update.status).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      code: 403,
      message:
        'leases.coordination.k8s.io "n2" is forbidden: User "system:node:n1" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "kube-node-lease": can only access node lease with the same name as the requesting node',
      details: { name: 'n2', group: 'coordination.k8s.io', kind: 'leases' },
    });
    const create = await failure(n1.coordination.createNamespacedLease({ namespace: 'kube-node-lease', body: lease('n9', '2026-01-01T00:00:00.000000Z') }));
    expect(create.code).toBe(403);
    const elsewhere = await failure(n1.coordination.createNamespacedLease({ namespace: 'default', body: { ...lease('n1', '2026-01-01T00:00:00.000000Z'), metadata: { name: 'n1' } } }));
    expect(elsewhere.status.message).toContain('can only access leases in the "kube-node-lease" system namespace');
  });

  it('refuses creating pods and binding them', async () => {
    const create = await failure(n1.core.createNamespacedPod({ namespace: 'default', body: pod('sneaky', 'n1') }));
    expect(create.code).toBe(403);
    expect(create.status).toMatchObject({
      reason: 'Forbidden',
      message: 'pods is forbidden: User "system:node:n1" cannot create resource "pods" in API group "" in the namespace "default"',
      details: { group: '', kind: 'pods' },
    });
    const bind = await failure(
      n1.core.createNamespacedPodBinding({ namespace: 'default', name: 'pending', body: { metadata: { name: 'pending' }, target: { kind: 'Node', name: 'n1' } } }),
    );
    expect(bind.code).toBe(403);
    expect(bind.status.message).toBe('pods "pending" is forbidden: User "system:node:n1" cannot create resource "pods/binding" in API group "" in the namespace "default"');
    expect((await admin.readNamespacedPod({ namespace: 'default', name: 'pending' })).spec?.nodeName).toBeUndefined();
  });

  it('lists and watches every pod (for the network policies it enforces), and reads only its own', async () => {
    const mine = await n1.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    expect(mine.items.map((p) => p.metadata?.name)).toEqual(['p1']);
    // As the system:node role allows, and as a node's policy agent needs: every pod's labels and address.
    const all = await n1.core.listPodForAllNamespaces();
    expect(all.items.map((p) => p.metadata?.name).sort()).toEqual(expect.arrayContaining(['p1', 'p2']));

    const watch = await s.fetch('/api/v1/pods?watch=1&timeoutSeconds=1&fieldSelector=spec.nodeName%3Dn1', { token: n1Token });
    expect(watch.status).toBe(200);
    expect(await watch.text()).toContain('"p1"');
    expect((await s.fetch('/api/v1/pods?watch=1&timeoutSeconds=1', { token: n1Token })).status).toBe(200);

    expect((await n1.core.readNamespacedPod({ namespace: 'default', name: 'p1' })).metadata?.name).toBe('p1');
    const other = await failure(n1.core.readNamespacedPod({ namespace: 'default', name: 'p2' }));
    expect(other.code).toBe(403);
    expect(other.status.message).toBe(
      'pods "p2" is forbidden: User "system:node:n1" cannot get resource "pods" in API group "" in the namespace "default": no relationship found between node \'n1\' and this object',
    );
  });

  it('patches the status of its own pods only, and never their spec', async () => {
    const patched = await n1.core.patchNamespacedPodStatus({ namespace: 'default', name: 'p1', body: { status: { phase: 'Running', podIP: '10.244.1.5' } } }, merge);
    expect(patched.status?.phase).toBe('Running');
    const other = await failure(n1.core.patchNamespacedPodStatus({ namespace: 'default', name: 'p2', body: { status: { phase: 'Failed' } } }, merge));
    expect(other.code).toBe(403);
    expect(other.status.message).toBe('pods "p2" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself');
    expect((await admin.readNamespacedPod({ namespace: 'default', name: 'p2' })).status?.phase).not.toBe('Failed');
    const spec = await failure(n1.core.patchNamespacedPod({ namespace: 'default', name: 'p1', body: { metadata: { labels: { x: 'y' } } } }, merge));
    expect(spec.code).toBe(403);
  });

  it('reads the Secrets and ConfigMaps its pods use, and no others', async () => {
    for (const name of ['used', 'pulled', 'projected']) {
      expect((await n1.core.readNamespacedSecret({ namespace: 'default', name })).data?.k, name).toBe(btoa('v'));
    }
    expect((await n1.core.readNamespacedConfigMap({ namespace: 'default', name: 'settings' })).data?.k).toBe('v');
    const listed = await n1.core.listNamespacedSecret({ namespace: 'default', fieldSelector: 'metadata.name=used' });
    expect(listed.items.map((x) => x.metadata?.name)).toEqual(['used']);

    const other = await failure(n1.core.readNamespacedSecret({ namespace: 'default', name: 'other' }));
    expect(other.code).toBe(403);
    expect(other.status).toMatchObject({
      reason: 'Forbidden',
      message:
        'secrets "other" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node \'n1\' and this object',
    });
    expect((await n2.core.readNamespacedSecret({ namespace: 'default', name: 'other' })).metadata?.name).toBe('other');
    expect((await failure(n1.core.readNamespacedSecret({ namespace: 'default', name: 'absent' }))).code).toBe(403);
    expect((await failure(n1.core.readNamespacedConfigMap({ namespace: 'default', name: 'unused' }))).code).toBe(403);
    expect((await failure(n1.core.listNamespacedSecret({ namespace: 'default' }))).code).toBe(403);
    expect((await failure(n1.core.listNamespacedSecret({ namespace: 'default', fieldSelector: 'metadata.name=other' }))).code).toBe(403);
    expect((await failure(n1.core.deleteNamespacedSecret({ namespace: 'default', name: 'used' }))).code).toBe(403);
  });

  it('reads discovery, Services and Endpoints, writes Events, and nothing more', async () => {
    expect((await s.fetch('/api/v1', { token: n1Token })).status).toBe(200);
    expect((await s.fetch('/version', { token: n1Token })).status).toBe(200);
    await n1.core.listServiceForAllNamespaces();
    await n1.core.listEndpointsForAllNamespaces();
    const event = await n1.core.createNamespacedEvent({
      namespace: 'default',
      body: { metadata: { name: 'p1.started' }, involvedObject: { kind: 'Pod', name: 'p1', namespace: 'default' }, reason: 'Started', message: 'started', type: 'Normal' },
    });
    expect(event.reason).toBe('Started');
    // Namespaces' labels: what namespaceSelectors of network policies match.
    expect((await n1.core.listNamespace()).items.length).toBeGreaterThan(0);
    expect((await failure(n1.core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } } }))).code).toBe(403);
  });

  it('deletes its own pods (kubelet\'s final delete), not another node\'s', async () => {
    const other = await failure(n1.core.deleteNamespacedPod({ namespace: 'default', name: 'p2', gracePeriodSeconds: 0 }));
    expect(other.code).toBe(403);
    expect(other.status.message).toBe('pods "p2" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself');
    await admin.deleteNamespacedPod({ namespace: 'default', name: 'p1' }); // graceful: marked, left to its node
    expect((await admin.readNamespacedPod({ namespace: 'default', name: 'p1' })).metadata?.deletionTimestamp).toBeDefined();
    await n1.core.deleteNamespacedPod({ namespace: 'default', name: 'p1', gracePeriodSeconds: 0 });
    expect((await failure(admin.readNamespacedPod({ namespace: 'default', name: 'p1' }))).code).toBe(404);
    // With its pod gone, the node has no business with that pod's Secret any more.
    expect((await failure(n1.core.readNamespacedSecret({ namespace: 'default', name: 'used' }))).code).toBe(403);
  });

  it('leaves the admin every right', async () => {
    await admin.createNamespacedPod({ namespace: 'default', body: pod('admin-pod', 'n2') });
    await admin.deleteNode({ name: 'n2' });
    expect((await admin.listNamespacedSecret({ namespace: 'default' })).items.length).toBeGreaterThanOrEqual(4);
  });
});
