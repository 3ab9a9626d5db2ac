// A New York tenant's chart in a browser set to Tokyo: the time axis reads New York's hours
// (the server labels the axis in the tenant's zone), not the browser's; on the 25-hour day
// both 01:00s have their own place.
import * as assert from 'uvu/assert';
import { changeTimeZone } from '../src/aggregate/settings-change.js';
import { ADMIN, ingestKey } from './helpers.js';
import type { Page } from 'playwright-core';
import { browserSuite, plotArea, screenshot, type BrowserCtx } from './browser.js';

const s = browserSuite('browser: the tenant time zone');
const utc = (iso: string) => Date.parse(`${iso}Z`);

/** Signs the admin in, in a browser context in Tokyo's zone, and opens `path`. */
async function openInTokyo(server: BrowserCtx['server'], browser: BrowserCtx['browser'], path: string) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'Asia/Tokyo' });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  assert.is(await page.evaluate(() => new Date(Date.UTC(2026, 2, 8, 15)).getHours()), 0, 'the browser is in Tokyo');
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await Promise.all([page.waitForURL(`${server.url}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
  await page.goto(`${server.url}${path}`);
  return { page, context };
}

/** Tool calls at `isos` for a New York tenant whose clock reads `now`. */
async function newYorkCalls(server: BrowserCtx['server'], now: string, isos: string[]): Promise<void> {
  const { tenantId, userId } = await ingestKey(server);
  await changeTimeZone(await server.ctx.tenantFiles.open(tenantId), 'America/New_York');
  server.ctx.now = () => new Date(utc(now));
  const events = isos.map((iso, i) => ({
    id: `c${i}`,
    kind: 'tool_call' as const,
    ts: utc(iso),
    session_id: 's1',
    name: 'Bash',
    status: 'success',
  }));
  assert.is((await server.ctx.ingest.ingest({ tenantId, userId }, 'rest', events)).accepted, isos.length);
}

const axisLabels = async (page: Page) => {
  const axis = page.locator('#chart-activity .apexcharts-xaxis-label tspan');
  await axis.first().waitFor();
  return (await axis.allTextContents()).map((t) => t.trim()).filter(Boolean);
};

s('a New York tenant’s "today" chart is labelled 00:00 to 10:00 in a Tokyo browser', async ({ server, browser }) => {
  // 10:00 EDT, 00:00 on 9 March in Tokyo.
  await newYorkCalls(server, '2026-03-08T15:00:00', [
    '2026-03-08T05:30:00',
    '2026-03-08T09:00:00',
    '2026-03-08T14:10:00',
  ]);
  const { page, context } = await openInTokyo(server, browser, '/?range=today');
  try {
    const labels = await axisLabels(page);
    await screenshot(page, 'zone-new-york-today-in-tokyo');
    assert.ok(labels.length >= 3, JSON.stringify(labels));
    // New York's morning of 8 March; in Tokyo's zone the same instants would read 14:00 to 00:00.
    for (const label of labels) assert.match(label, /^(0\d|10):[0-5]\d$|^08 Mar$/, JSON.stringify(labels));
  } finally {
    await context.close();
  }
});

s('on New York’s 25-hour day the chart has two 01:00s, each with its own calls', async ({ server, browser }) => {
  // 03:00 EST on 1 November; a call at 01:30 EDT, two at 01:30 EST.
  await newYorkCalls(server, '2026-11-01T08:00:00', [
    '2026-11-01T05:30:00',
    '2026-11-01T06:30:00',
    '2026-11-01T06:32:00',
  ]);
  const { page, context } = await openInTokyo(server, browser, '/?range=today');
  try {
    assert.equal(await axisLabels(page), ['01 Nov', '00:30', '01:00', '01:30', '01:00', '01:30', '02:00', '02:30']);
    await screenshot(page, 'zone-new-york-25-hour-day');
    // The slots of 01:30 EDT and 01:30 EST (18 and 30 of the 48 five-minute slots): hovered,
    // each names its own hour and count.
    // Hovered again from off the plot until the tooltip names the slot: on a busy machine the
    // chart may still be drawing (or redrawn by the live refresh) when the pointer first arrives.
    const tooltipAt = async (slot: number, title: string) => {
      const tooltip = page.locator('#chart-activity .apexcharts-tooltip.apexcharts-active');
      const titled = tooltip.locator('.apexcharts-tooltip-title', { hasText: title });
      for (let attempt = 1; ; attempt++) {
        const grid = await plotArea(page, '#chart-activity');
        await page.mouse.move(grid.x - 10, grid.y - 10);
        await page.mouse.move(grid.x + (grid.width * slot) / 47, grid.y + grid.height / 2, { steps: 4 });
        try {
          await titled.waitFor({ timeout: 3000 });
          break;
        } catch (err) {
          if (attempt === 5) throw err;
        }
      }
      return (await tooltip.innerText()).replace(/\s+/g, ' ').trim();
    };
    assert.match(await tooltipAt(18, '01 Nov 01:30 EDT'), /Tool calls: 1\b/);
    assert.match(await tooltipAt(30, '01 Nov 01:30 EST'), /Tool calls: 2\b/);
    // Made as narrow as a phone, the chart takes the axis' fewer labels.
    await page.setViewportSize({ width: 375, height: 800 });
    const narrow = ['01 Nov', '01:00', '01:00', '02:00'];
    await page.waitForFunction(
      (want) =>
        [...document.querySelectorAll('#chart-activity .apexcharts-xaxis-label tspan')]
          .map((t) => t.textContent?.trim())
          .filter(Boolean)
          .join() === want,
      narrow.join(),
    );
  } finally {
    await context.close();
  }
});

s.run();
