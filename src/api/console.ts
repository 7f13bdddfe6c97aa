import type { Hono } from 'hono';
import { CONSOLE_CSS, CONSOLE_HASH, CONSOLE_JS } from '../ui/assets.generated.js';

/** The web console's paths: public, because the page itself holds nothing; its API calls carry the token. */
export function isConsolePath(path: string): boolean {
  return path === '/ui' || path.startsWith('/ui/');
}

const JS_PATH = `/ui/app-${CONSOLE_HASH}.js`;
const CSS_PATH = `/ui/app-${CONSOLE_HASH}.css`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>skiff</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="${CSS_PATH}"></head>
<body><div id="app"></div><script type="module" src="${JS_PATH}"></script></body></html>
`;

// Everything the page loads comes from here; nothing may frame it (its buttons scale and delete).
const SECURITY = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Serves the console: the page at /ui (any /ui/... path, so deep links survive a reload) and its two assets. */
export function serveConsole(app: Hono<any>): void {
  const asset = (body: string, type: string) => () =>
    new Response(body, { headers: { 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable', ...SECURITY } });
  app.get(JS_PATH, asset(CONSOLE_JS, 'text/javascript; charset=utf-8'));
  app.get(CSS_PATH, asset(CONSOLE_CSS, 'text/css; charset=utf-8'));
  const page = () => new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', ...SECURITY } });
  app.get('/ui', page);
  app.get('/ui/*', (c) => (/\.\w+$/.test(c.req.path) ? c.notFound() : page()));
}
