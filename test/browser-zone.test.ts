// A New York tenant's chart in a browser set to Tokyo: the time axis reads New York's hours
// (the server sends the tenant's wall clock, the axis is UTC), not the browser's.
import * as assert from 'uvu/assert';
import { changeTimeZone } from '../src/aggregate/settings-change.js';
import { ADMIN, ingestKey } from './helpers.js';
import { browserSuite, screenshot } from './browser.js';

const s = browserSuite('browser: the tenant time zone');
const utc = (iso: string) => Date.parse(`${iso}Z`);

s('a New York tenant’s "today" chart is labelled 00:00 to 10:00 in a Tokyo browser', async ({ server, browser }) => {
  const { tenantId, userId } = await ingestKey(server);
  await changeTimeZone(await server.ctx.tenantFiles.open(tenantId), 'America/New_York');
  server.ctx.now = () => new Date(utc('2026-03-08T15:00:00')); // 10:00 EDT, 00:00 on 9 March in Tokyo
  const events = ['2026-03-08T05:30:00', '2026-03-08T09:00:00', '2026-03-08T14:10:00'].map((iso, i) => ({
    id: `c${i}`,
    kind: 'tool_call' as const,
    ts: utc(iso),
    session_id: 's1',
    name: 'Bash',
    status: 'success',
  }));
  assert.is((await server.ctx.ingest.ingest({ tenantId, userId }, 'rest', events)).accepted, 3);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'Asia/Tokyo' });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  try {
    assert.is(await page.evaluate(() => new Date(Date.UTC(2026, 2, 8, 15)).getHours()), 0, 'the browser is in Tokyo');
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await Promise.all([page.waitForURL(`${server.url}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.goto(`${server.url}/?range=today`);
    const axis = page.locator('#chart-activity .apexcharts-xaxis-label tspan');
    await axis.first().waitFor();
    const labels = (await axis.allTextContents()).map((t) => t.trim()).filter(Boolean);
    await screenshot(page, 'zone-new-york-today-in-tokyo');
    assert.ok(labels.length >= 3, JSON.stringify(labels));
    // New York's morning of 8 March; in Tokyo's zone the same instants would read 14:00 to 00:00.
    for (const label of labels) assert.match(label, /^(0\d|10):[0-5]\d$|^08 Mar$/, JSON.stringify(labels));
  } finally {
    await context.close();
  }
});

s.run();
