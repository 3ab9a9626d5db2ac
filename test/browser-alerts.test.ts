// The bell in a real browser: it shows the firing alerts the person may see, and changes
// without a reload when a pass of the rule engine (after hook events arrive) makes a rule
// fire: the engine tells the live hub, and the page's SSE stream sends the new count.
import * as assert from 'uvu/assert';
import { ADMIN, ingestKey } from './helpers.js';
import { browserSuite, DESKTOP, newPage, screenshot } from './browser.js';
import { postHook } from './fixture-data.js';

const T = Date.parse('2026-03-10T12:00:00Z');
const s = browserSuite('browser: alerts');

s('the bell shows 0, then 1 when a rule fires, without a reload', async ({ server, browser }) => {
  await server.ctx.alerts.stop(); // passes only when the test asks
  const { key } = await ingestKey(server, ['ingest', 'read'], ADMIN.email);
  const rule = await fetch(`${server.url}/api/v1/alerts/rules`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      name: 'any tool call',
      metric: 'tool_calls',
      window: '1h',
      condition: { type: 'threshold', op: 'above', value: 0 },
    }),
  });
  assert.is(rule.status, 201);

  const { page, errors } = await newPage(browser, DESKTOP);
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await Promise.all([page.waitForURL(`${server.url}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
  server.ctx.now = () => new Date(T - 5 * 60_000);
  await page.goto(`${server.url}/alerts`);
  await page.locator('#live[data-state="live"]').waitFor();
  await page.locator('#alert-bell[data-count="0"]').waitFor();
  assert.is(await page.locator('#alert-bell .bell-count').innerText(), '0');
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));

  for (const [i, event] of ['PreToolUse', 'PostToolUse'].entries()) {
    const res = await postHook(server, key, {
      session_id: 'bell-1',
      cwd: '/w/bell',
      hook_event_name: event,
      tool_name: 'Bash',
      tool_input: { command: 'ls' },
      tool_use_id: 'bell-t1',
      ...(i ? { tool_response: {}, duration_ms: 5 } : {}),
    });
    assert.is(res.status, 200);
  }
  // The window is [now - 1h, now): the pass runs five minutes after the events.
  server.ctx.now = () => new Date(T);
  await server.ctx.aggregator.runOnce();
  const sent = await server.ctx.alerts.runOnce();
  assert.equal(
    sent.map((n) => n.state),
    ['firing'],
  );

  await page.locator('#alert-bell[data-count="1"]').waitFor();
  assert.is(await page.locator('#alert-bell .bell-count').innerText(), '1');
  assert.is(
    await page.evaluate(() => (window as unknown as { marker?: number }).marker),
    1,
    'the page was not reloaded',
  );
  await screenshot(page, 'alerts-bell');
  assert.equal(errors, [], 'console or page errors');
  await page.context().close();
});

s.run();
