// A real headless Chromium (Debian's chromium package) driven by playwright-core, for the web
// console's tests. Tests skip with a message where no Chromium is installed.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot } from './skiff-server.js';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
export const chromiumPath = CANDIDATES.find((p): p is string => !!p && existsSync(p));
export const noChromium = chromiumPath ? '' : 'no Chromium (Debian package chromium; .ci/run installs it): console browser tests skipped';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** A page at `width` px (phone: 375) trusting skiff's self-signed certificate. */
export async function openPage(browser: Browser, width = 1280, height = 900): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width, height },
    ignoreHTTPSErrors: true,
    deviceScaleFactor: 1,
    isMobile: width < 600,
    hasTouch: width < 600,
  });
  const page = await context.newPage();
  return { context, page };
}

/**
 * page.goto, again when Chromium dropped the load because the machine's network changed
 * (ERR_NETWORK_CHANGED, or its error page: agents, this file's and others', add pod interfaces at
 * any time).
 */
export async function goto(page: Page, url: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (err) {
      if (attempt >= 5 || !/ERR_NETWORK_CHANGED|chrome-error:/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Signs in on the console at `url` (the server's base URL) with `token`. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  // The page loads again if its script was lost to a network change (the page stays blank then).
  for (let attempt = 0; ; attempt++) {
    await goto(page, `${url}/ui`);
    try {
      await page.getByLabel('Token').waitFor({ timeout: 10_000 });
      break;
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Views' }).waitFor();
}

/** Where screenshots go: test/screenshots (ignored by git), kept after the run for people to look at. */
export function screenshotPath(name: string): string {
  const dir = join(repoRoot, 'test', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.png`);
}
