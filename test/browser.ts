// What the browser suites share: a headless Chromium (Debian's, installed by
// scripts/chromium.mjs), pages that keep every console and page error for the test to assert
// on, full-page screenshots under test-artifacts/, and a suite with a server and a browser
// that are closed however the tests end.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { suite } from 'uvu';
import { ROOT, startTestServer, type TestServer } from './helpers.js';

export type Viewport = { width: number; height: number; isMobile?: boolean; hasTouch?: boolean };

export const DESKTOP: Viewport = { width: 1280, height: 800 };
export const PHONE: Viewport = { width: 375, height: 740, isMobile: true, hasTouch: true };

export const SCREENSHOTS = join(ROOT, 'test-artifacts/screenshots');

// The same lookup as scripts/chromium.mjs; `npm test` has made sure the file exists.
const executablePath = process.env.AGENTMETER_CHROMIUM || '/usr/bin/chromium';

// Headless and quiet: no sandbox (CI runs as root), no GPU, no calls home that could slow a
// test or fail it from outside; /tmp instead of /dev/shm, which is tiny in containers.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(executablePath))
    throw new Error(`no Chromium at ${executablePath}: run \`node scripts/chromium.mjs\` (npm test does)`);
  return chromium.launch({ executablePath, headless: true, args: FLAGS, timeout: 30_000 });
}

export type TestPage = { page: Page; context: BrowserContext; errors: string[] };

/**
 * A page in its own context (own cookies) at `viewport`. `errors` collects console errors
 * (failed loads, CSP violations, script errors logged) and uncaught page errors, except two
 * that are not faults of the page: the status of a document the page navigated to (the login
 * form answers 401 after a wrong password; assert statuses from the response instead) and the
 * browser's own unasked-for `/favicon.ico` request.
 */
export async function newPage(browser: Browser, viewport: Viewport): Promise<TestPage> {
  const { width, height, isMobile = false, hasTouch = false } = viewport;
  const context = await browser.newContext({ viewport: { width, height }, isMobile, hasTouch });
  // Short enough that a missing element fails the test rather than the suite's patience.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const refusedDocuments = new Set<string>();
  page.on('response', (response) => {
    const request = response.request();
    if (response.status() >= 400 && request.isNavigationRequest() && request.frame() === page.mainFrame())
      refusedDocuments.add(response.url());
  });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const { url, lineNumber } = message.location();
    const notThePagesFault =
      url &&
      message.text().startsWith('Failed to load resource') &&
      (refusedDocuments.has(url) || new URL(url).pathname === '/favicon.ico');
    if (notThePagesFault) return;
    errors.push(`console: ${message.text()}${url ? ` (${url}:${lineNumber})` : ''}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return { page, context, errors };
}

/** A full-page PNG at the page's current viewport, saved as test-artifacts/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export type BrowserCtx = { server: TestServer; browser: Browser };

/**
 * A uvu suite with one server (fresh data directory) and one browser for all its tests, in
 * order. Both are closed when the suite ends, passed or failed, so the test process exits.
 * `Extra` types what the tests keep in the context between them (pages, say).
 */
export function browserSuite<Extra extends object = object>(name: string) {
  const s = suite<BrowserCtx & Extra>(name);
  // uvu reports a throwing `before` as failed tests with no message (and exit code 0), so
  // the start error is kept and thrown by each test instead.
  let startError: unknown;
  s.before(async (ctx) => {
    try {
      ctx.server = await startTestServer();
      ctx.browser = await launchBrowser();
    } catch (err) {
      startError = err;
    }
  });
  let reported = false;
  s.before.each(() => {
    if (!startError) return;
    if (reported) throw new Error('the server or browser did not start (see the first test)');
    reported = true;
    throw startError;
  });
  s.after(async (ctx) => {
    await ctx.browser?.close().catch(() => {});
    await ctx.server?.stop();
  });
  return s;
}

/**
 * Where the chart `selector` draws its plot (its grid), once drawn: ApexCharts draws the axis
 * labels before the grid, and draws it again on a live update, when it is briefly not there.
 */
export async function plotArea(
  page: Page,
  selector: string,
): Promise<{ x: number; y: number; width: number; height: number }> {
  const grid = page.locator(`${selector} .apexcharts-grid`);
  for (;;) {
    await grid.waitFor();
    const box = await grid.boundingBox();
    if (box && box.width > 0) return box;
  }
}
