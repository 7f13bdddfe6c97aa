// The web console's page and assets as the API serves them: public (the page holds nothing; its
// calls carry the token), content-addressed assets cached for good, a policy that lets the page load
// nothing from elsewhere, and the API itself still refusing requests without a token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiServer } from '../helpers/api-server.js';

let api: ApiServer;

beforeAll(async () => {
  api = await startApi({ passes: false });
});
afterAll(async () => {
  await api?.stop();
});

const assetsOf = (html: string) => [...html.matchAll(/(?:src|href)="(\/ui\/app-[0-9a-f]+\.(?:js|css))"/g)].map((m) => m[1]);

describe('GET /ui', () => {
  it('serves the page without a token, with a policy that keeps it to this origin', async () => {
    for (const path of ['/ui', '/ui/', '/ui/pods/default/web']) {
      const res = await fetch(api.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      const html = await res.text();
      expect(html).toContain('<div id="app"></div>');
      expect(assetsOf(html)).toHaveLength(2);
      // Nothing from a CDN: every URL in the page is this server's.
      expect(html).not.toMatch(/https?:\/\//);
    }
  });

  it('serves its script and stylesheet under content hashes, cached for good', async () => {
    const html = await (await fetch(`${api.url}/ui`)).text();
    for (const path of assetsOf(html)) {
      const res = await fetch(api.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(path.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      expect(res.headers.get('cache-control')).toContain('immutable');
      const body = await res.text();
      expect(body.length).toBeGreaterThan(path.endsWith('.js') ? 10_000 : 1_000);
      if (path.endsWith('.js')) expect(body).not.toMatch(/\bimport\s*\(?["']https?:/);
    }
  });

  it('answers an unknown asset 404 in Kubernetes\' form, not with the page', async () => {
    const res = await fetch(`${api.url}/ui/app-000000000000.js`);
    expect(res.status).toBe(404);
    expect((await res.json()).kind).toBe('Status');
  });

  it('leaves the API behind the token', async () => {
    const res = await fetch(`${api.url}/api/v1/pods`);
    expect(res.status).toBe(401);
    expect((await res.json()).reason).toBe('Unauthorized');
  });
});
