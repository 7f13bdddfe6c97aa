// Joining: against a stand-in HTTPS server that follows the control plane's contract (every error
// path), and against a real `skiff serve` (join, then register the Node with the node credential).
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join as joinPath } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/agent/client.js';
import { caCertHash, credentialPath, JoinError, loadOrJoin, readCredential } from '../../src/agent/join.js';
import { NodeStatusManager } from '../../src/agent/node-status.js';
import { ensureCredentials } from '../../src/node/certs.js';
import { hasKubectl, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

const JOIN = 'abcdef.0123456789abcdef';

describe('loadOrJoin against a stand-in control plane', () => {
  let server: Server;
  let url: string;
  let ca: string;
  let otherCa: string;
  let cacerts: string | undefined;
  const joins: { auth?: string; body: any }[] = [];
  const held = new Set<string>();

  beforeAll(async () => {
    const creds = ensureCredentials(tempDir('skiff-fake-ca-'), '127.0.0.1');
    ca = creds.caCert;
    otherCa = ensureCredentials(tempDir('skiff-other-ca-'), '127.0.0.1').caCert;
    cacerts = ca;
    server = createServer({ key: creds.serverKey, cert: creds.serverCert }, (req, res) => {
      let text = '';
      req.on('data', (s) => (text += s));
      req.on('end', () => {
        const status = (code: number, reason: string, message: string) => {
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
        };
        if (req.method === 'GET' && req.url === '/cacerts') {
          if (cacerts === undefined) return status(404, 'NotFound', 'not found');
          res.writeHead(200, { 'content-type': 'application/x-pem-file' });
          return res.end(cacerts);
        }
        if (req.method === 'POST' && req.url === '/skiff/v1/join') {
          const body = JSON.parse(text);
          joins.push({ auth: req.headers.authorization, body });
          if (req.headers.authorization !== `Bearer ${JOIN}`) return status(401, 'Unauthorized', 'Unauthorized');
          if (!/^[a-z0-9.-]+$/.test(body.nodeName)) return status(422, 'Invalid', `Node "${body.nodeName}" is invalid`);
          if (held.has(body.nodeName)) return status(409, 'AlreadyExists', 'already holds a credential');
          held.add(body.nodeName);
          res.writeHead(201, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ nodeName: body.nodeName, token: `node.${body.nodeName}` }));
        }
        status(404, 'NotFound', 'not found');
      });
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  });

  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as Error);

  it('computes kubeadm\'s CA hash: sha256 of the SubjectPublicKeyInfo', () => {
    const h = caCertHash(ca);
    expect(h).toMatch(/^sha256:[0-9a-f]{64}$/);
    const spki = new X509Certificate(ca).publicKey.export({ type: 'spki', format: 'der' });
    expect(h).toBe('sha256:' + createHash('sha256').update(spki).digest('hex'));
    expect(caCertHash(otherCa)).not.toBe(h);
  });

  it('joins with --ca-hash, stores the credential 0600 in a 0700 folder, and reuses it', async () => {
    const dataDir = joinPath(tempDir('skiff-join-'), 'agent');
    const cred = await loadOrJoin({ server: url + '/', token: JOIN, caHash: caCertHash(ca), nodeName: 'n1', dataDir });
    expect(cred).toEqual({ server: url, nodeName: 'n1', token: 'node.n1', ca: expect.stringContaining('BEGIN CERTIFICATE') });
    expect(new X509Certificate(cred.ca!).fingerprint256).toBe(new X509Certificate(ca).fingerprint256);
    expect(statSync(credentialPath(dataDir)).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(readCredential(dataDir)).toEqual(cred);
    expect(joins.at(-1)).toEqual({ auth: `Bearer ${JOIN}`, body: { nodeName: 'n1' } });

    const before = joins.length;
    expect(await loadOrJoin({ server: url, nodeName: 'n1', dataDir })).toEqual(cred);
    expect(joins.length).toBe(before); // no join token needed, no request
  });

  it('joins with --ca-cert', async () => {
    const dir = tempDir('skiff-join-');
    writeFileSync(joinPath(dir, 'ca.crt'), ca);
    const cred = await loadOrJoin({ server: url, token: JOIN, caCertFile: joinPath(dir, 'ca.crt'), nodeName: 'n2', dataDir: joinPath(dir, 'agent') });
    expect(cred.token).toBe('node.n2');
    expect(cred.ca).toBe(ca);
  });

  it('refuses a CA that does not match --ca-hash, and trusts only the pinned one of a bundle', async () => {
    const dataDir = tempDir('skiff-join-');
    const err = await failure(loadOrJoin({ server: url, token: JOIN, caHash: caCertHash(otherCa), nodeName: 'n3', dataDir }));
    expect(err).toBeInstanceOf(JoinError);
    expect(err!.message).toMatch(/does not match --ca-hash/);
    expect(readCredential(dataDir)).toBeUndefined();

    cacerts = otherCa + ca;
    try {
      const cred = await loadOrJoin({ server: url, token: JOIN, caHash: caCertHash(ca), nodeName: 'n3', dataDir });
      expect(cred.ca!.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
      expect(new X509Certificate(cred.ca!).fingerprint256).toBe(new X509Certificate(ca).fingerprint256);
    } finally {
      cacerts = ca;
    }
  });

  it('says what to do on an untrusted certificate, a refused token, a name taken, an invalid name', async () => {
    const untrusted = await failure(loadOrJoin({ server: url, token: JOIN, nodeName: 'n4', dataDir: tempDir('skiff-join-') }));
    expect(untrusted).toBeInstanceOf(JoinError);
    expect(untrusted!.message).toMatch(/not trusted.*--ca-hash/);

    const expired = await failure(loadOrJoin({ server: url, token: 'zzzzzz.0123456789abcdef', caHash: caCertHash(ca), nodeName: 'n4', dataDir: tempDir('skiff-join-') }));
    expect(expired!.message).toMatch(/expired or was deleted/);

    held.add('taken');
    const taken = await failure(loadOrJoin({ server: url, token: JOIN, caHash: caCertHash(ca), nodeName: 'taken', dataDir: tempDir('skiff-join-') }));
    expect(taken!.message).toContain('skiff token delete node/taken');

    const invalid = await failure(loadOrJoin({ server: url, token: JOIN, caHash: caCertHash(ca), nodeName: 'Bad_Name', dataDir: tempDir('skiff-join-') }));
    expect(invalid!.message).toMatch(/invalid node name "Bad_Name"/);

    const malformed = await failure(loadOrJoin({ server: url, token: 'not-a-token', caHash: caCertHash(ca), nodeName: 'n4', dataDir: tempDir('skiff-join-') }));
    expect(malformed!.message).toMatch(/invalid join token/);

    const none = await failure(loadOrJoin({ server: url, caHash: caCertHash(ca), nodeName: 'n4', dataDir: tempDir('skiff-join-') }));
    expect(none!.message).toMatch(/pass a join token/);

    const badHash = await failure(loadOrJoin({ server: url, token: JOIN, caHash: 'sha256:xyz', nodeName: 'n4', dataDir: tempDir('skiff-join-') }));
    expect(badHash!.message).toMatch(/invalid --ca-hash/);
  });

  it('says when the server is unreachable, or serves no CA to pin', async () => {
    const down = await failure(loadOrJoin({ server: 'https://127.0.0.1:1', token: JOIN, caHash: caCertHash(ca), nodeName: 'n5', dataDir: tempDir('skiff-join-') }));
    expect(down).toBeInstanceOf(JoinError);
    expect(down!.message).toMatch(/cannot reach https:\/\/127\.0\.0\.1:1/);

    cacerts = undefined;
    try {
      const worker = await failure(loadOrJoin({ server: url, token: JOIN, caHash: caCertHash(ca), nodeName: 'n5', dataDir: tempDir('skiff-join-') }));
      expect(worker!.message).toMatch(/serves no CA certificate/);
    } finally {
      cacerts = ca;
    }
  });
});

// Against the real control plane (POST /skiff/v1/join and node credentials in `skiff serve`).
describe('joining skiff serve', () => {
  let server: SkiffServer;
  beforeAll(async () => {
    server = await startSkiff();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A join token from `skiff token create`. */
  async function joinToken(): Promise<string> {
    const out = await runSkiff(['token', 'create', '--data', server.data]);
    const m = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/.exec(out.stdout);
    if (!m) throw new Error(`skiff token create printed no join token:\n${out.stdout}${out.stderr}`);
    return m[0];
  }

  it('serves the CA at /cacerts with the hash the agent pins', async () => {
    const res = await server.request('/cacerts', { token: null });
    expect(res.status).toBe(200);
    expect(caCertHash(res.text)).toBe(caCertHash(server.ca));
  });

  it('joins, then registers and heartbeats the Node with its own credential', async () => {
    const token = await joinToken();
    const dataDir = joinPath(tempDir('skiff-agent-'), 'agent');
    const cred = await loadOrJoin({ server: server.url, token, caHash: caCertHash(server.ca), nodeName: 'joined-1', dataDir });
    expect(cred.nodeName).toBe('joined-1');
    expect(JSON.parse(readFileSync(credentialPath(dataDir), 'utf8')).token).toBe(cred.token);

    const client = new ApiClient({ server: cred.server, token: cred.token, ca: cred.ca });
    const errors: unknown[] = [];
    const m = new NodeStatusManager(client, 'joined-1', { dataDir, statusIntervalMs: 300, leaseIntervalMs: 300, agentVersion: 'test', onError: (e) => errors.push(e) });
    m.start();
    try {
      await m.whenRegistered();
      const admin = new ApiClient({ server: server.url, token: server.token, ca: server.ca });
      const leasePath = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/joined-1';
      let lease: any;
      for (let i = 0; i < 100 && !lease; i++) {
        lease = await admin.get(leasePath).catch(() => undefined);
        if (!lease) await new Promise((r) => setTimeout(r, 100));
      }
      expect(errors).toEqual([]);
      expect(lease.spec.holderIdentity).toBe('joined-1');
      const renewed = lease.spec.renewTime;
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await admin.get(leasePath)).spec.renewTime > renewed).toBe(true);
      const node = await admin.get('/api/v1/nodes/joined-1');
      expect(node.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True');
      // The node credential may not touch another Node.
      const other = await client.create('/api/v1/nodes', { metadata: { name: 'someone-else' } }).catch((e) => e);
      expect(other).toMatchObject({ status: 403 });
      if (hasKubectl) {
        const out = await server.kubectl(['get', 'nodes', 'joined-1', '--no-headers']);
        expect(out.stdout).toMatch(/^joined-1\s+Ready\s/);
      }
    } finally {
      await m.stop();
    }

    // The name holds a credential now: a second join under it is refused with what to do.
    const again = await loadOrJoin({ server: server.url, token, caHash: caCertHash(server.ca), nodeName: 'joined-1', dataDir: tempDir('skiff-agent-') }).catch((e) => e);
    expect(again).toBeInstanceOf(JoinError);
    expect(again.message).toContain('skiff token delete node/joined-1');
  });
});
