// Large GET answers are gzipped for clients that accept it, as kube-apiserver's
// APIResponseCompression does (from 128 KiB); small ones, watches and clients that do not ask for
// it get plain bodies. Raw HTTP, so the test sees the bytes on the wire; then kubectl against a real
// `skiff serve`, whose Go client asks for gzip and reads it.
import { request } from 'node:http';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, TOKEN, type ApiServer } from '../helpers/api-server.js';
import { hasKubectl, startSkiff } from '../helpers/skiff-server.js';

const gzipAsync = promisify(gzip);
let api: ApiServer;

beforeAll(async () => {
  api = await startApi({ passes: false, gzip: (b) => gzipAsync(b, { level: 1 }) });
  // 200 ConfigMaps of 1 KiB: a list of about 250 KiB.
  const value = 'x'.repeat(1024);
  for (let i = 0; i < 200; i++) {
    const res = await api.request('/api/v1/namespaces/default/configmaps', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` }, data: { value } }),
    });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await api?.stop();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET with exactly these headers; resolves with the first `maxBytes` when given (watches do not end). */
function rawGet(path: string, headers: Record<string, string>, maxBytes?: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(api.url + path, { headers: { authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (maxBytes && size >= maxBytes) {
          done();
          req.destroy();
        }
      });
      res.on('end', done);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('response compression', () => {
  it('gzips a large list for a client that accepts gzip, the same JSON inside', async () => {
    const plain = await rawGet('/api/v1/namespaces/default/configmaps', {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.length).toBeGreaterThan(128 * 1024);
    const zipped = await rawGet('/api/v1/namespaces/default/configmaps', { 'accept-encoding': 'gzip, deflate, br' });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(String(zipped.headers.vary)).toMatch(/Accept-Encoding/i);
    expect(zipped.body.length).toBeLessThan(plain.body.length / 10);
    const inside = JSON.parse(gunzipSync(zipped.body).toString('utf8'));
    expect(inside.items).toHaveLength(200);
    expect(inside.items.map((c: any) => c.metadata.name)).toEqual(JSON.parse(plain.body.toString('utf8')).items.map((c: any) => c.metadata.name));
  });

  it('leaves small answers, errors under the threshold and watches alone', async () => {
    const small = await rawGet('/api/v1/namespaces/default/configmaps/cm-1', { 'accept-encoding': 'gzip' });
    expect(small.status).toBe(200);
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(small.body.toString('utf8')).metadata.name).toBe('cm-1');
    const missing = await rawGet('/api/v1/namespaces/default/configmaps/nope', { 'accept-encoding': 'gzip' });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString('utf8')).reason).toBe('NotFound');
    // A watch from the start sends 200 ADDED events at once (well over the threshold), as they come.
    const watch = await rawGet('/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0', { 'accept-encoding': 'gzip' }, 10_000);
    expect(watch.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(watch.body.toString('utf8').split('\n')[0]).type).toBe('ADDED');
  });
});

describe.skipIf(!hasKubectl)('kubectl against skiff serve, which gzips', () => {
  it('reads a large list (its Go client asks for gzip)', async () => {
    const server = await startSkiff();
    try {
      const value = 'y'.repeat(2048);
      for (let i = 0; i < 80; i++) {
        const r = await server.request('/api/v1/namespaces/default/configmaps', { method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `big-${i}` }, data: { value } } });
        expect(r.status).toBe(201);
      }
      // Go's transport asks for gzip itself and hides the header once it has unzipped the body.
      const out = await server.kubectl(['get', 'configmaps', '-o', 'json']);
      expect(out.code).toBe(0);
      expect(JSON.parse(out.stdout).items.filter((c: any) => c.metadata.name.startsWith('big-'))).toHaveLength(80);
    } finally {
      await server.stop();
    }
  });
});
