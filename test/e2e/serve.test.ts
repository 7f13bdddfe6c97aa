// `skiff serve` as a real process: HTTPS, auth, kubeconfig, kubectl, watch streaming, shutdown,
// and a restart on the same data folder.
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { hasKubectl, runSkiff, startSkiff, tempDir, type SkiffServer } from '../helpers/skiff-server.js';

const itKubectl = hasKubectl ? it : it.skip;
if (!hasKubectl) console.warn('serve.test.ts: /usr/bin/kubectl is absent, skipping the kubectl checks');

describe('skiff serve', { timeout: 60_000 }, () => {
  let server: SkiffServer;
  beforeAll(async () => {
    server = await startSkiff();
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('prints the bound address, not port 0', () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.url).not.toMatch(/:0$/);
    expect(server.output()).toContain(`kubeconfig: ${join(server.data, 'kubeconfig')}`);
  });

  it('answers /healthz and /version without a token', async () => {
    const health = await server.request('/healthz', { token: null });
    expect(health.status).toBe(200);
    const version = await server.request('/version', { token: null });
    expect(version.status).toBe(200);
    expect(version.json().gitVersion).toMatch(/^v\d+\.\d+\.\d+/);
    expect(version.headers['content-length']).toBe(String(Buffer.byteLength(version.text)));
  });

  it('refuses requests without a valid token with a Status', async () => {
    for (const token of [null, 'not-the-token', server.token + '0']) {
      const res = await server.request('/api/v1/namespaces', { token });
      expect(res.status).toBe(401);
      expect(res.json()).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401 });
    }
  });

  it('serves the API with the admin token', async () => {
    const res = await server.request('/api');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
  });

  it('keeps its credentials in the data folder, secrets readable by the owner only', () => {
    for (const name of ['ca.key', 'server.key', 'token', 'kubeconfig']) {
      expect(statSync(join(server.data, name)).mode & 0o777, name).toBe(0o600);
    }
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
    const ca = new X509Certificate(server.ca);
    const cert = new X509Certificate(readFileSync(join(server.data, 'server.crt')));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('example.com')).toBeUndefined();
  });

  it('writes a kubeconfig for the admin user, which `skiff kubeconfig` and `skiff token` print', async () => {
    const text = readFileSync(server.kubeconfig, 'utf8');
    const config = parseYaml(text);
    expect(config['current-context']).toBe('skiff');
    expect(config.contexts).toEqual([{ name: 'skiff', context: { cluster: 'skiff', user: 'admin' } }]);
    expect(config.clusters[0].cluster.server).toBe(server.url);
    expect(Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(server.ca);
    expect(config.users).toEqual([{ name: 'admin', user: { token: server.token } }]);

    const printed = await runSkiff(['kubeconfig', '--data', server.data]);
    expect(printed).toMatchObject({ code: 0, stdout: text });
    const token = await runSkiff(['token'], { SKIFF_DATA: server.data });
    expect(token).toMatchObject({ code: 0, stdout: server.token + '\n' });
  });

  itKubectl('works with kubectl through the kubeconfig', async () => {
    const version = await server.kubectl(['get', '--raw', '/version']);
    expect(version.stderr).toBe('');
    expect(version.code).toBe(0);
    expect(JSON.parse(version.stdout).gitVersion).toMatch(/^v\d+/);

    const ns = await server.kubectl(['get', 'ns', '-o', 'name']);
    expect(ns.code).toBe(0);
    expect(ns.stdout.split('\n').filter(Boolean).sort()).toEqual(
      expect.arrayContaining(['namespace/default', 'namespace/kube-node-lease', 'namespace/kube-public', 'namespace/kube-system']),
    );
  });

  it('sends watch headers at once and streams events as they happen', async () => {
    const list = await server.request('/api/v1/namespaces/default/configmaps');
    const rv = list.json().metadata.resourceVersion;
    const agent = new Agent({ ca: server.ca });
    let received = '';
    let gotLine: () => void = () => {};
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(
        `${server.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`,
        { agent, headers: { authorization: `Bearer ${server.token}` } },
        resolve, // before any event exists: the headers alone must arrive
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    res.setEncoding('utf8');
    res.on('data', (s: string) => {
      received += s;
      if (received.includes('\n')) gotLine();
    });
    const firstEvent = new Promise<void>((resolve) => (gotLine = resolve));
    const created = await server.request('/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched' }, data: { a: '1' } },
    });
    expect(created.status).toBe(201);
    await firstEvent;
    expect(JSON.parse(received.split('\n')[0]!)).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'watched' } } });

    // The client going away must not disturb the server.
    res.destroy();
    agent.destroy();
    expect((await server.request('/healthz', { token: null })).status).toBe(200);
  });
});

describe('skiff serve lifecycle', { timeout: 90_000 }, () => {
  it('exits 0 on SIGTERM, even with a watch open, and a restart keeps token, CA and objects', async () => {
    const data = tempDir('skiff-restart-');
    const first = await startSkiff({ data });
    const created = await first.request('/api/v1/namespaces/default/configmaps', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kept' }, data: { answer: '42' } },
    });
    expect(created.status).toBe(201);

    // A watch left open must not hold the shutdown up, on a keep-alive connection as kubectl uses.
    const agent = new Agent({ ca: first.ca, keepAlive: true });
    const watchEnded = new Promise<void>((resolve, reject) => {
      const req = request(`${first.url}/api/v1/namespaces/default/configmaps?watch=true`, {
        agent,
        headers: { authorization: `Bearer ${first.token}` },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
        res.on('close', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(4000);
    await watchEnded;
    agent.destroy();

    const second = await startSkiff({ data });
    try {
      expect(second.token).toBe(first.token);
      expect(second.ca).toBe(first.ca);
      const read = await second.request('/api/v1/namespaces/default/configmaps/kept');
      expect(read.status).toBe(200);
      expect(read.json()).toMatchObject({ metadata: { name: 'kept', uid: created.json().metadata.uid }, data: { answer: '42' } });
      const ns = await second.request('/api/v1/namespaces');
      expect(ns.json().items.map((n: { metadata: { name: string } }) => n.metadata.name).sort()).toEqual([
        'default',
        'kube-node-lease',
        'kube-public',
        'kube-system',
      ]);
    } finally {
      expect(await second.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it('reissues the server certificate, not the CA, when the listen host is new', async () => {
    const data = tempDir('skiff-rehost-');
    const first = await startSkiff({ data });
    const firstCert = readFileSync(join(data, 'server.crt'), 'utf8');
    await first.stop();

    // Any 127/8 address is loopback on Linux.
    const second = await startSkiff({ data, listen: '127.0.0.2:0' });
    try {
      expect(second.url).toMatch(/^https:\/\/127\.0\.0\.2:\d+$/);
      expect(second.ca).toBe(first.ca);
      const cert = new X509Certificate(readFileSync(join(data, 'server.crt')));
      expect(cert.toString()).not.toBe(firstCert);
      expect(cert.checkIP('127.0.0.2')).toBe('127.0.0.2');
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
      // The helper's request verifies the certificate against the CA for 127.0.0.2.
      expect((await second.request('/api')).status).toBe(200);
    } finally {
      await second.stop();
    }
  });
});

describe('skiff CLI', { timeout: 30_000 }, () => {
  it('prints usage with the flags for --help, and fails on an unknown command', async () => {
    const help = await runSkiff(['--help']);
    expect(help.code).toBe(0);
    for (const word of ['serve', 'token', 'kubeconfig', '--data DIR', 'SKIFF_DATA', '--listen HOST:PORT', 'SKIFF_LISTEN', '127.0.0.1:6443']) {
      expect(help.stdout).toContain(word);
    }
    const unknown = await runSkiff(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(unknown.stderr).toContain('Usage: skiff');
    const badFlag = await runSkiff(['token', '--listen', '1.2.3.4:5']);
    expect(badFlag.code).toBe(2);
  });

  it('tells when there is no token yet', async () => {
    const res = await runSkiff(['token', '--data', tempDir('skiff-empty-')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no token in .*run `skiff serve` first/);
  });
});
