// The model prices page in a real Chromium: a tenant admin adds an override with the form,
// the page lists it and the model seen at its new price, and the overview's cost follows;
// removing it brings the shipped price back. Nothing on the pages logs an error.
import * as assert from 'uvu/assert';
import { ADMIN, ingestKey } from './helpers.js';
import { browserSuite, DESKTOP, newPage, PHONE, screenshot } from './browser.js';

const s = browserSuite('browser: admin pages');

s("the prices form sets an override and the overview's cost follows", async ({ server, browser }) => {
  await server.ctx.aggregator.stop();
  const { tenantId } = await ingestKey(server);
  const admin = (await server.ctx.control.get<{ id: string }>('SELECT id FROM users WHERE email = $e', {
    e: ADMIN.email,
  }))!;
  await server.ctx.ingest.ingest({ tenantId, userId: admin.id }, 'rest', [
    {
      kind: 'api_request',
      model: 'claude-sonnet-4-5-20250929',
      request_id: 'b1',
      input_tokens: 2_000_000,
      session_id: 'priced',
      ts: Date.now() - 1000,
    },
  ]);
  await server.ctx.aggregator.runOnce();
  const p = await newPage(browser, DESKTOP);
  try {
    const { page } = p;
    await page.goto(`${server.url}/login?next=/settings/prices`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await Promise.all([
      page.waitForURL(`${server.url}/settings/prices`),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    const costCard = page.locator('.kpi', { hasText: 'Cost' }).locator('.kpi-value');
    const seen = page.locator('tr', { hasText: 'claude-sonnet-4-5-20250929' });
    assert.match(await seen.innerText(), /\$3 \/ \$15 \/ \$3\.75 \/ \$0\.3\s+shipped/);

    const form = page.locator('#price-form');
    await form.getByLabel('Model', { exact: true }).fill('claude-sonnet-4-5');
    for (const [rate, value] of [
      ['input', '0.5'],
      ['output', '2'],
      ['cache write', '0'],
      ['cache read', '0'],
    ])
      await form.getByLabel(rate!, { exact: true }).fill(value!);
    await Promise.all([page.waitForLoadState('load'), form.getByRole('button', { name: 'Save price' }).click()]);
    await page.getByRole('status').filter({ hasText: 'claude-sonnet-4-5 is now priced as set' }).waitFor();
    assert.match(await seen.innerText(), /\$0\.5 \/ \$2 \/ \$0 \/ \$0\s+your override/);
    await screenshot(page, 'prices-desktop');

    await page.goto(`${server.url}/`);
    assert.is(await costCard.innerText(), '$1.00', '2M input tokens at $0.50');
    await page.goto(`${server.url}/settings/prices`);
    await Promise.all([
      page.waitForLoadState('load'),
      page.getByRole('button', { name: 'Remove the override for claude-sonnet-4-5' }).click(),
    ]);
    await page.getByRole('status').filter({ hasText: 'is removed' }).waitFor();
    await page.goto(`${server.url}/`);
    assert.is(await costCard.innerText(), '$6.00', 'the shipped $3 again');
    assert.equal(p.errors, [], 'console or page errors');
  } finally {
    await p.context.close();
  }
  const phone = await newPage(browser, PHONE);
  try {
    await phone.page.goto(`${server.url}/login?next=/settings/retention`);
    await phone.page.getByLabel('Email').fill(ADMIN.email);
    await phone.page.getByLabel('Password').fill(ADMIN.password);
    await Promise.all([
      phone.page.waitForURL(`${server.url}/settings/retention`),
      phone.page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `fits the phone: ${width}px`);
    await screenshot(phone.page, 'retention-phone');
    assert.equal(phone.errors, [], 'console or page errors');
  } finally {
    await phone.context.close();
  }
});

s.run();
