// The dashboards in a real Chromium against a real server holding the fixtures: the overview
// renders with no console errors, a posted event appears without a reload, filters change
// the URL and the numbers, an export downloads and parses, an agent's HTML stays text, the
// layout persists, the connect page's settings are valid, an expired session goes to the
// login page and back, and the page says when it is offline. Screenshots of every page at
// desktop and phone width land in test-artifacts/screenshots/.
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { ADMIN, ingestKey } from './helpers.js';
import { browserSuite, DESKTOP, newPage, PHONE, plotArea, screenshot, type TestPage } from './browser.js';
import { expectedHooks, postFixtures, postHook } from './fixture-data.js';
import { hooksSettingsSchema } from './claude-code-schema.js';

type Extra = { key: string; tenantId: string; desktop: TestPage; phone: TestPage };
const s = browserSuite<Extra>('browser: dashboards');

s.before.each(async (ctx) => {
  if (ctx.desktop) return;
  Object.assign(ctx, await ingestKey(ctx.server));
  await postFixtures(ctx.server, ctx.key);
  ctx.desktop = await newPage(ctx.browser, DESKTOP);
  ctx.phone = await newPage(ctx.browser, PHONE);
  for (const p of [ctx.desktop, ctx.phone]) await signIn(ctx.server.url, p.page);
});
s.after.each(({ desktop, phone }) => {
  desktop?.errors.splice(0);
  phone?.errors.splice(0);
});

async function signIn(base: string, page: Page) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await Promise.all([page.waitForURL(`${base}/`), page.getByRole('button', { name: 'Sign in' }).click()]);
}

const kpi = (page: Page, label: string) =>
  page
    .locator('.kpi', { has: page.locator('.kpi-label', { hasText: new RegExp(`^${label}$`) }) })
    .locator('.kpi-value');
const noErrors = (...pages: TestPage[]) =>
  assert.equal(
    pages.flatMap((p) => p.errors),
    [],
    'console or page errors',
  );
/**
 * The tool calls the overview's activity chart shows for the slot holding `at`, read from its
 * tooltip (0 while the axis ends before it); with `expected`, read again until it shows that
 * (the chart is redrawn in place by a live update), for 10 s at most.
 */
async function chartCallsAt(page: Page, at: number, expected?: number): Promise<number> {
  const chart = page.locator('#chart-activity');
  await chart.locator('.apexcharts-canvas').waitFor();
  const until = Date.now() + 10_000;
  for (;;) {
    const { axis } = JSON.parse((await chart.getAttribute('data-chart'))!) as { axis: { t: number[] } };
    const slot = axis.t.filter((t) => t <= at).length - 1;
    const step = axis.t[1]! - axis.t[0]!;
    let calls = 0;
    if (slot >= 0 && at < axis.t[slot]! + step) {
      const grid = await plotArea(page, '#chart-activity');
      await page.mouse.move(0, 0);
      await page.mouse.move(grid.x + (grid.width * slot) / (axis.t.length - 1), grid.y + grid.height / 2, {
        steps: 4,
      });
      const tooltip = chart.locator('.apexcharts-tooltip.apexcharts-active');
      const text = await tooltip.locator('.apexcharts-tooltip-series-group', { hasText: 'Tool calls' }).innerText();
      calls = Number(/Tool calls:\s*([\d.]+)/.exec(text)?.[1]);
    }
    if (expected === undefined || calls === expected) return calls;
    assert.ok(
      Date.now() < until,
      `the chart shows ${calls} tool calls at ${new Date(at).toISOString()}, not ${expected}`,
    );
    await page.waitForTimeout(100);
  }
}

const toolCalls = expectedHooks.reduce((n, e) => n + e.tool_calls, 0);
/** Hook events arrive now; the OTLP fixtures carry their own times, within the last 90 days. */
const RANGE = '?range=90d';

s(
  'the overview renders the fixtures: cards, charts, tables; no console errors at desktop or phone width',
  async ({ server, desktop, phone }) => {
    for (const [p, label] of [
      [desktop, 'desktop'],
      [phone, 'phone'],
    ] as const) {
      await p.page.goto(`${server.url}/${RANGE}`);
      await p.page.locator('.apexcharts-canvas').first().waitFor();
      assert.is(Number(await kpi(p.page, 'Tool calls').innerText()) >= toolCalls, true);
      assert.is(await p.page.locator('.apexcharts-canvas').count(), 2, `${label}: both charts drawn`);
      // A chart is a named figure whose own keyboard navigation (ApexCharts') a screen reader can reach:
      // no focus stop hides inside an image.
      assert.ok(await p.page.getByRole('figure', { name: 'Cost over time' }).isVisible());
      assert.is(await p.page.locator('[role=img] [tabindex]').count(), 0, `${label}: focus stops inside an image`);
      assert.ok(await p.page.getByRole('link', { name: 'Bash', exact: true }).isVisible());
      assert.is(await p.page.locator('#live').getAttribute('data-state'), 'live');
      const width = await p.page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= p.page.viewportSize()!.width, `${label}: no sideways scrolling (${width}px)`);
      await screenshot(p.page, `overview-${label}`);
    }
    noErrors(desktop, phone);
  },
);

s(
  'an event posted through the ingest API appears on the open overview without a reload',
  async ({ server, key, desktop }) => {
    const { page } = desktop;
    await page.goto(`${server.url}/`);
    await page.locator('#live[data-state="live"]').waitFor();
    const before = Number(await kpi(page, 'Tool calls').innerText());
    // The call lands in this hour's slot: not in the last seconds of an hour, when it could land in the next.
    const HOUR = 3_600_000;
    if (HOUR - (Date.now() % HOUR) < 10_000) await page.waitForTimeout(HOUR - (Date.now() % HOUR) + 100);
    const at = Date.now();
    const chartBefore = await chartCallsAt(page, at);
    const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = Math.random()));
    for (const [i, event] of ['PreToolUse', 'PostToolUse'].entries()) {
      const res = await postHook(server, key, {
        session_id: 'browser-live',
        cwd: '/w/live',
        hook_event_name: event,
        tool_name: 'Bash',
        tool_input: { command: 'ls' },
        tool_use_id: 'live-1',
        ...(i ? { tool_response: {}, duration_ms: 12 } : {}),
      });
      assert.is(res.status, 200);
    }
    await page.waitForFunction(
      ([b]) =>
        Number(document.querySelector('[data-live="kpis"] .kpi:nth-child(4) .kpi-value')?.textContent) === b! + 1,
      [before],
    );
    assert.is(
      await page.evaluate(() => (window as unknown as { marker: number }).marker),
      marker,
      'the same page, not reloaded',
    );
    assert.ok(
      await page.locator('[data-live="recent-sessions"]').getByText('browser-').isVisible(),
      'the new session is listed',
    );
    // The activity chart, updated in place: the new call is in its hour.
    await chartCallsAt(page, at, chartBefore + 1);
    noErrors(desktop);
  },
);

s(
  'filters: choosing a tool changes the URL and the numbers; back restores both; an unknown value shows a notice',
  async ({ server, desktop }) => {
    const { page } = desktop;
    await page.goto(`${server.url}/${RANGE}`);
    const all = await kpi(page, 'Tool calls').innerText();
    await page.locator('select[name=tool]').selectOption('Grep');
    await page.waitForURL(/tool=Grep/);
    assert.match(page.url(), /range=90d/);
    const grep = expectedHooks.reduce((n, e) => n + (e.by_tool.Grep ?? 0), 0);
    await page.waitForFunction(
      (n) => document.querySelector('[data-live="kpis"] .kpi:nth-child(4) .kpi-value')?.textContent === String(n),
      grep,
    );
    await page.goBack();
    await page.waitForURL((url) => !url.search.includes('tool='));
    await page.waitForFunction(
      (n) => document.querySelector('[data-live="kpis"] .kpi:nth-child(4) .kpi-value')?.textContent === n,
      all,
    );
    assert.is(await page.locator('select[name=tool]').inputValue(), '');

    await page.goto(`${server.url}/?tool=Nope`);
    assert.ok(await page.getByText('No tool “Nope” in this range; that filter is ignored.').isVisible());
    noErrors(desktop);
  },
);

s(
  'filters from the keyboard: focus stays on the select through each swap, so arrows go on choosing',
  async ({ server, desktop }) => {
    const { page } = desktop;
    await page.goto(`${server.url}/${RANGE}`);
    const range = page.locator('select[name=range]');
    const presets = await range.locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const at = presets.indexOf('90d');
    await range.focus();
    for (const want of presets.slice(at - 2, at).reverse()) {
      await page.keyboard.press('ArrowUp');
      await page.waitForURL(new RegExp(`range=${want}`));
      await page.waitForFunction((v) => {
        const focused = document.activeElement as HTMLSelectElement | null;
        return focused?.name === 'range' && focused.value === v;
      }, want);
    }
    noErrors(desktop);
  },
);

s("a tool's durations chart draws a value between empty buckets as a visible point", async ({ server, desktop }) => {
  const { page } = desktop;
  await page.goto(`${server.url}/tools${RANGE}&tool=Bash`);
  const chart = page.locator('#chart-tool-durations');
  await chart.locator('.apexcharts-canvas').waitFor();
  // Days with Bash calls between days without: no line can reach such a value.
  const spec = JSON.parse((await chart.getAttribute('data-chart'))!) as {
    series: { data: [number, number | null][] }[];
  };
  const isolated = spec.series[0]!.data.filter(
    ([, v], i, d) => v !== null && (d[i - 1]?.[1] ?? null) === null && (d[i + 1]?.[1] ?? null) === null,
  ).length;
  assert.ok(isolated >= 1, 'the fixtures give isolated values');
  const drawn = await chart
    .locator('.apexcharts-series')
    .first()
    .locator('.apexcharts-marker')
    .evaluateAll(
      (els) =>
        els.filter((e) => {
          const box = (e as SVGGraphicsElement).getBBox();
          // ApexCharts draws hidden hover markers of 0.1 to 1 px under a white stroke: not a point anyone sees.
          return (
            box.width >= 4 &&
            box.height >= 4 &&
            getComputedStyle(e).visibility !== 'hidden' &&
            getComputedStyle(e).opacity !== '0'
          );
        }).length,
    );
  assert.ok(drawn >= isolated, `a visible point for each isolated value (${drawn} of ${isolated})`);
  noErrors(desktop);
});

s('export: the top tools CSV downloads and parses back to the table', async ({ server, desktop }) => {
  const { page } = desktop;
  await page.goto(`${server.url}/${RANGE}`);
  const widget = page.locator('section.widget', { has: page.getByRole('heading', { name: 'Top tools' }) });
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    widget.getByRole('link', { name: 'CSV' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^agentmeter-.*\.csv$/);
  const lines = readFileSync((await download.path())!, 'utf8')
    .trim()
    .split(/\r?\n/);
  assert.is(lines[0], 'tool,tool_calls,tool_failures,tool_failure_rate,tool_p50_ms,tool_p95_ms');
  const bash = lines.find((l) => /^"?Bash"?,/.test(l))?.split(',');
  assert.ok(bash, lines.join('\n'));
  const shown = await widget
    .locator('tr', { has: page.getByRole('link', { name: 'Bash', exact: true }) })
    .locator('td')
    .nth(1)
    .innerText();
  assert.is(bash![1], shown);
  const [json] = await Promise.all([page.waitForEvent('download'), widget.getByRole('link', { name: 'JSON' }).click()]);
  const rows = JSON.parse(readFileSync((await json.path())!, 'utf8')) as { tool: string; tool_calls: number }[];
  assert.is(rows.find((r) => r.tool === 'Bash')!.tool_calls, Number(bash![1]));
  noErrors(desktop);
});

s('a tool named <img src=x onerror=alert(1)> renders as text and runs nothing', async ({ server, key, desktop }) => {
  const { page } = desktop;
  const evil = '<img src=x onerror=alert(1)>';
  let dialogs = 0;
  page.on('dialog', (d) => {
    dialogs++;
    void d.dismiss();
  });
  for (const [i, event] of ['PreToolUse', 'PostToolUseFailure'].entries()) {
    await postHook(server, key, {
      session_id: 'browser-xss',
      cwd: '/w/<b>x</b>',
      hook_event_name: event,
      tool_name: evil,
      tool_input: {},
      tool_use_id: 'xss-1',
      ...(i ? { error: '<script>alert(2)</script>', duration_ms: 3 } : {}),
    });
  }
  for (const path of ['/', '/tools', `/tools?tool=${encodeURIComponent(evil)}`]) {
    await page.goto(`${server.url}${path}`);
    await page.locator('main table').getByText(evil, { exact: true }).first().waitFor();
    assert.is(await page.locator('img[src="x"]').count(), 0, path);
  }
  assert.is(dialogs, 0);
  await page.waitForTimeout(300);
  assert.is(dialogs, 0);
  noErrors(desktop);
});

s('layout: hiding and moving widgets (keyboard) persists across a reload', async ({ server, desktop }) => {
  const { page } = desktop;
  await page.goto(`${server.url}/`);
  const titles = () => page.locator('.widgets > section.widget h2').allInnerTexts();
  assert.equal(await titles(), [
    'Key figures',
    'Activity over time',
    'Cost over time',
    'Top tools',
    'Cost by model',
    'Recent sessions',
  ]);
  await page.getByText('Customise').click();
  await page.getByRole('checkbox', { name: 'Cost over time' }).uncheck();
  const up = page.getByRole('button', { name: 'Move Top tools up' });
  await up.focus();
  await page.keyboard.press('Enter'); // above the hidden cost chart
  await page.keyboard.press('Enter'); // above the activity chart
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Save my layout' }).click()]);
  assert.equal(await titles(), ['Key figures', 'Top tools', 'Activity over time', 'Cost by model', 'Recent sessions']);
  await page.reload();
  assert.equal(await titles(), ['Key figures', 'Top tools', 'Activity over time', 'Cost by model', 'Recent sessions']);
  await page.getByText('Customise').click();
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Use the team default' }).click()]);
  assert.equal((await titles()).length, 6);
  noErrors(desktop);
});

s(
  'connect: the generated settings.json is valid Claude Code hooks settings for this appliance',
  async ({ server, desktop, phone }) => {
    const { page } = desktop;
    await page.goto(`${server.url}/connect`);
    const settings = hooksSettingsSchema.parse(JSON.parse(await page.locator('#settings-json').innerText()));
    assert.is(settings.hooks.PostToolUse![0]!.hooks[0]!.url, `${server.url}/api/v1/hooks/claude-code`);
    await page.getByRole('button', { name: 'Create a key for Claude Code' }).click();
    await page.getByText(/New key “Claude Code/).waitFor();
    assert.match(await page.locator('#env-block').innerText(), /^export AGENTMETER_API_KEY=\S{20,}$/m);
    await screenshot(page, 'connect-desktop');
    await phone.page.goto(`${server.url}/connect`);
    await screenshot(phone.page, 'connect-phone');
    noErrors(desktop, phone);
  },
);

s('an expired session goes to the login page and back to the same filtered page', async ({ server, browser }) => {
  const p = await newPage(browser, DESKTOP);
  try {
    await signIn(server.url, p.page);
    await p.page.goto(`${server.url}/tools${RANGE}`);
    await p.page.locator('select[name=tool]').waitFor();
    await p.context.clearCookies();
    await p.page.locator('select[name=tool]').selectOption('Bash'); // an htmx request, now unauthenticated
    await p.page.waitForURL(/\/login\?next=/);
    await p.page.getByLabel('Email').fill(ADMIN.email);
    await p.page.getByLabel('Password').fill(ADMIN.password);
    await Promise.all([
      p.page.waitForURL(/\/tools\?range=90d/),
      p.page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    noErrors(p);
  } finally {
    await p.context.close();
  }
});

s('the page says when it is offline and goes live again by itself', async ({ server, desktop }) => {
  const { page, context } = desktop;
  await page.goto(`${server.url}/`);
  await page.locator('#live[data-state="live"]').waitFor();
  await context.setOffline(true);
  await page.locator('#live[data-state="offline"]').waitFor();
  assert.is(await page.locator('#live').innerText(), 'Offline');
  await context.setOffline(false);
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 10_000 });
  desktop.errors.splice(0); // the dropped stream is reported by the browser itself
});

s('every page at desktop and phone width, for the screenshots', async ({ server, desktop, phone }) => {
  const session = expectedHooks[0]!.session_id;
  const pages = [
    ['tools', `/tools${RANGE}`],
    ['agents', `/agents${RANGE}`],
    ['sessions', `/sessions${RANGE}`],
    ['session', `/sessions/${session}`],
    ['team', `/team${RANGE}`],
    ['me', `/me${RANGE}`],
    ['settings', '/settings'],
    ['people', '/settings/users'],
    ['api-keys', '/settings/api-keys'],
  ] as const;
  for (const [name, path] of pages) {
    for (const [p, label] of [
      [desktop, 'desktop'],
      [phone, 'phone'],
    ] as const) {
      const res = await p.page.goto(`${server.url}${path}`);
      assert.is(res?.status(), 200, `${path} at ${label}`);
      await p.page.waitForTimeout(300);
      await screenshot(p.page, `${name}-${label}`);
    }
  }
  noErrors(desktop, phone);
});

s.run();
