// The connect page in a real Chromium: creating a key lands back on /connect (the POST
// redirects) showing the key once; an event sent with that key turns the page's status to
// connected without a reload; a reload shows no key and makes none.
import * as assert from 'uvu/assert';
import { ADMIN, ingestKey } from './helpers.js';
import { browserSuite, DESKTOP, newPage, screenshot } from './browser.js';
import { postHook } from './fixture-data.js';

const s = browserSuite('browser: connect');

s(
  'create a key, send an event with it, see it arrive without a reload; a reload shows no key and makes none',
  async ({ server, browser }) => {
    const { tenantId } = await ingestKey(server);
    const admin = (await server.ctx.control.get<{ id: string }>('SELECT id FROM users WHERE email = $e', {
      e: ADMIN.email,
    }))!;
    const keys = async () =>
      (
        await server.ctx.control.all('SELECT id FROM api_keys WHERE tenant_id = $t AND user_id = $u', {
          t: tenantId,
          u: admin.id,
        })
      ).length;
    const p = await newPage(browser, DESKTOP);
    try {
      const { page } = p;
      await page.goto(`${server.url}/login?next=/connect`);
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill(ADMIN.password);
      await Promise.all([
        page.waitForURL(`${server.url}/connect`),
        page.getByRole('button', { name: 'Sign in' }).click(),
      ]);
      const status = page.locator('[data-live="last-event"] .badge');
      assert.is(await status.innerText(), 'Waiting');

      const before = await keys();
      await Promise.all([
        page.waitForURL(`${server.url}/connect`),
        page.getByRole('button', { name: 'Create a key for Claude Code' }).click(),
      ]);
      assert.is(new URL(page.url()).pathname, '/connect', 'the POST redirected back to the page');
      await page.getByText(/New key “Claude Code/).waitFor();
      const key = /^export AGENTMETER_API_KEY=(\S+)$/m.exec(await page.locator('#env-block').innerText())?.[1];
      assert.ok(key?.startsWith('amk_'), `the key is shown: ${key}`);
      assert.is(await keys(), before + 1);
      await screenshot(page, 'connect-key-desktop');

      await page.locator('#live[data-state="live"]').waitFor();
      const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = Math.random()));
      const res = await postHook(server, key!, {
        session_id: 'connect-check-1',
        cwd: '/w/connect',
        hook_event_name: 'SessionStart',
        source: 'startup',
      });
      assert.is(res.status, 200);
      // The state is asserted, not the time: the wait (the default) only bounds a page that never updates.
      await page.locator('[data-live="last-event"] .badge.good', { hasText: 'Connected' }).waitFor();
      assert.match(await page.locator('[data-live="last-event"]').innerText(), /session_start/);
      assert.is(
        await page.evaluate(() => (window as unknown as { marker: number }).marker),
        marker,
        'the same page, not reloaded',
      );
      assert.is(new URL(page.url()).pathname, '/connect');

      await page.reload();
      assert.is(new URL(page.url()).pathname, '/connect');
      assert.is(await page.getByText(/New key “Claude Code/).count(), 0, 'no key after a reload');
      assert.match(await page.locator('#env-block').innerText(), /^export AGENTMETER_API_KEY=<your API key>$/m);
      assert.is(await keys(), before + 1, 'and no other key made');
      assert.ok(await page.locator('[data-live="last-event"] .badge.good').isVisible(), 'still connected');
      assert.equal(p.errors, [], 'console or page errors');
    } finally {
      await p.context.close();
    }
  },
);

s.run();
