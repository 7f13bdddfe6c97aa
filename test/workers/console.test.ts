// The Worker serves the web console from its own bundle: the page and its assets, public, with the
// API behind the token as ever.
import { describe, expect, it } from 'vitest';
import { expectStatus, send } from './api.js';

describe('GET /ui on the Worker', () => {
  it('serves the page and the assets it names, without a token', async () => {
    const page = await send('/ui', { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/app-[0-9a-f]+\.(?:js|css))"/g)].map((m) => m[1]);
    expect(assets).toHaveLength(2);
    for (const path of assets) {
      const res = await send(path, { token: null });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control')).toContain('immutable');
      expect((await res.text()).length).toBeGreaterThan(1_000);
    }
    await expectStatus(send('/api/v1/namespaces', { token: null }), 401);
  });
});
