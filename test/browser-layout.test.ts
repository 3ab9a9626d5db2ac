// Every page of the app in a real Chromium at phone width (375×800) and at desktop width
// (1280×800), signed in as the administrator with the shared fixtures posted: nothing
// sticks out past the right edge of the viewport unless it sits in a container that
// scrolls sideways to it (wide tables do, with a shadow at the edge), and the main navigation
// is reachable in full. The pages are the GET routes of src/web/routes/*.ts, so a new page
// cannot be left out. Screenshots land in test-artifacts/screenshots/layout-*.png.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { ADMIN, ingestKey, ROOT } from './helpers.js';
import { browserSuite, DESKTOP, newPage, screenshot, type TestPage, type Viewport } from './browser.js';
import { expectedHooks, postFixtures } from './fixture-data.js';

const PHONE_TALL: Viewport = { width: 375, height: 800, isMobile: true, hasTouch: true };
/** Hook events arrive now; the OTLP fixtures carry their own times, within the last 90 days. */
const RANGE = '?range=90d';
const SESSION = expectedHooks[0]!.session_id;
/** The imported session with a long project and model (importRun). */
const LONG_SESSION = 'layout-long-strings';

/** The signed-in pages: name (for screenshots) and path. */
const PAGES = [
  ['overview', `/${RANGE}`],
  ['tools', `/tools${RANGE}`],
  ['tool', `/tools${RANGE}&tool=Bash`],
  ['agents', `/agents${RANGE}`],
  ['sessions', `/sessions${RANGE}`],
  ['session', `/sessions/${SESSION}`],
  ['session-long', `/sessions/${LONG_SESSION}`],
  ['team', `/team${RANGE}`],
  ['me', `/me${RANGE}`],
  ['connect', '/connect'],
  ['api', '/api'],
  ['settings', '/settings'],
  ['api-keys', '/settings/api-keys'],
  ['two-factor', '/settings/mfa'],
  ['people', '/settings/users'],
  ['import', '/import'],
  ['import-run', '/import/runs/{run}'],
  ['import-rollback', '/import/runs/{run}/rollback'],
  ['prices', '/settings/prices'],
  ['retention', '/settings/retention'],
  ['timezone', '/settings/timezone'],
  ['audit', '/settings/audit'],
  ['organisations', '/admin/organisations'],
  ['single-sign-on', '/settings/sso'],
  ['alerts-settings', '/settings/alerts'],
  ['alerts', '/alerts'],
  ['alert-new', '/alerts/new'],
  ['alert-rule', '/alerts/{rule}'],
  ['alert-edit', '/alerts/{rule}/edit'],
  ['alert-delete', '/alerts/{rule}/delete'],
  ['not-found', '/no-such-page'],
] as const;
/** Pages seen signed out. */
const SIGNED_OUT = [
  ['setup', '/setup'],
  ['login', '/login'],
] as const;
/**
 * GET routes that are not pages here: a run's polled row is a fragment; the sign-in flows'
 * redirects and the SAML metadata are not pages; the second sign-in step needs a password
 * just given (browser-mfa.test.ts checks it at phone width); an invitation or reset link
 * needs its token (browser-people.test.ts accepts one at phone width); a tenant's sign-in
 * page is the login page with its buttons. The alert channels' status is JSON (its page is /settings/alerts), and so is
 * the API's description (its page is /api).
 */
const NOT_PAGES = [
  '/live',
  '/public/*',
  '/healthz',
  '/readyz',
  '/metrics',
  '/connect/settings.json',
  '/import/runs/:id/row',
  '/login/mfa',
  '/auth/sso/:id/start',
  '/auth/oidc/callback',
  '/auth/github/callback',
  '/auth/saml/metadata/:providerId',
  '/auth/saml/start/:providerId',
  '/invite/:token',
  '/reset/:token',
  '/login/:slug{[a-z0-9][a-z0-9-]{1,62}}',
  '/api/v1/alerts/channels',
  '/api/openapi.json',
];

/** The GET routes of the route files mounted at the root of the app (the others are under /api or /v1). */
function pageRoutes(): string[] {
  const app = readFileSync(join(ROOT, 'src/web/app.ts'), 'utf8');
  const mounted = new Set([...app.matchAll(/app\.route\('\/', (\w+)\(/g)].map((m) => m[1]!));
  const dir = join(ROOT, 'src/web/routes');
  const routes: string[] = [];
  for (const file of readdirSync(dir)) {
    const source = readFileSync(join(dir, file), 'utf8');
    const fn = /export function (\w+)\(/.exec(source)?.[1];
    if (fn && mounted.has(fn)) routes.push(...[...source.matchAll(/\.get\('(\/[^']*)'/g)].map((m) => m[1]!));
  }
  return routes.filter((r) => !NOT_PAGES.includes(r));
}

/** An import run with a skip and an unknown model, as `agentmeter import` leaves one: its id. */
async function importRun(server: { url: string }, key: string): Promise<string> {
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`${server.url}/api/v1/import/runs${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(res.ok, `${path}: ${res.status}`);
    return (await res.json()) as { run: { id: string } };
  };
  const { run } = await call('', { source: 'claude', host: 'a-laptop-with-a-rather-long-host-name.example.internal' });
  const event = {
    id: 'cc:req:layout:1',
    kind: 'api_request',
    ts: Date.now() - 60_000,
    session_id: 'layout-import',
    request_id: 'layout-1',
    model: 'claude-unknown-9',
    input_tokens: 10,
    output_tokens: 5,
  };
  // A session whose project and model are long unbroken strings, as an agent may send them.
  const long = {
    ...event,
    id: 'cc:req:layout:2',
    session_id: LONG_SESSION,
    request_id: 'layout-2',
    project: `/home/dev/${'aprojectfolderwithnobreak'.repeat(8)}`,
    model: `claude${'unknownmodelname'.repeat(9)}`,
  };
  await call(`/${run.id}/events`, {
    events: [event, long],
    skipped: [
      {
        file: '/home/dev/.claude/projects/-home-dev-src-a-very-long-project-folder-name/0b6f2a5e-1c2d-4e5f-8a9b-0c1d2e3f4a5b.jsonl',
        line: 12,
        reason: 'not JSON',
      },
    ],
  });
  await call(`/${run.id}/finish`, {});
  return run.id;
}

/** An alert rule with a long name and every channel, as the rule pages show one: its id. */
async function alertRule(server: { url: string }, key: string): Promise<string> {
  const body = {
    name: 'Spend of the whole team over the last hour is far above what we planned for',
    metric: 'cost_usd',
    window: '1h',
    group_by: ['project'],
    condition: { type: 'threshold', op: 'above', value: 5 },
    channels: [
      { type: 'dashboard' },
      { type: 'webhook', url: 'https://hooks.example.test/a/rather/long/path/to/a/receiver' },
      { type: 'email', to: ['someone@acme.test'] },
    ],
  };
  const res = await fetch(`${server.url}/api/v1/alerts/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.is(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

/**
 * What sticks out past the viewport's right edge and cannot be scrolled to: the document
 * wider than the viewport, and every visible element whose box ends past the edge without a
 * sideways-scrolling ancestor that itself fits. Also a table wider than its widget with no
 * scrolling container between them (clipped inside its card).
 */
function overflowing(page: Page): Promise<string[]> {
  // A string, not a function: the test's TypeScript compiler would wrap a function's inner
  // functions in a helper the page does not have.
  return page.evaluate(OVERFLOWING) as Promise<string[]>;
}
const OVERFLOWING = `(() => {
  const width = window.innerWidth;
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > width) out.push('the document is ' + root.scrollWidth + 'px wide');
  const describe = (el) => {
    const cls = typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return '<' + el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls + '> "' + text + '"';
  };
  const scrolls = (el) => /auto|scroll/.test(getComputedStyle(el).overflowX);
  const hidden = (el) => {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.opacity === '0') return true;
    const r = el.getBoundingClientRect();
    return r.width <= 1 || r.height <= 1;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right <= width + 0.5 || hidden(el)) continue;
    let reachable = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (scrolls(a) && a.getBoundingClientRect().right <= width + 0.5) { reachable = true; break; }
    }
    if (!reachable) out.push(describe(el) + ' ends at ' + Math.round(r.right) + 'px');
  }
  for (const table of document.querySelectorAll('main table')) {
    const card = table.closest('.widget, .card');
    if (!card || hidden(table)) continue;
    let scrolled = false;
    for (let a = table.parentElement; a && a !== card; a = a.parentElement) if (scrolls(a)) scrolled = true;
    if (!scrolled && table.getBoundingClientRect().right > card.getBoundingClientRect().right + 0.5) out.push(describe(table) + ' is wider than its card and does not scroll');
  }
  // A box that scrolls sideways says so: a shadow at the edge with more beyond it.
  for (const el of document.querySelectorAll('main *')) {
    if (!scrolls(el) || el.scrollWidth <= el.clientWidth + 1 || hidden(el)) continue;
    const style = getComputedStyle(el);
    if (!/gradient/.test(style.backgroundImage) || !/scroll/.test(style.backgroundAttachment)) out.push(describe(el) + ' scrolls sideways with no edge to show it');
  }
  return out.slice(0, 20);
})()`;

type Extra = { desktop: TestPage; phone: TestPage };
const s = browserSuite<Extra>('browser: every page fits at 375 and 1280 px');

async function visit(p: TestPage, base: string, label: string, name: string, path: string, status = 200) {
  const res = await p.page.goto(`${base}${path}`);
  assert.is(res?.status(), status, `${path} at ${label}`);
  await p.page.waitForLoadState('networkidle');
  // Charts draw after load; their size is part of the layout checked.
  if (await p.page.locator('[data-chart]').count()) await p.page.locator('.apexcharts-canvas').first().waitFor();
  await screenshot(p.page, `layout-${label}-${name}`);
  assert.equal(await overflowing(p.page), [], `${path} at ${label}: cut off`);
}

s('the signed-out pages (setup, sign in) fit at phone width', async ({ server, browser }) => {
  const p = await newPage(browser, PHONE_TALL);
  try {
    await visit(p, server.url, '375', 'setup', '/setup');
    // A refused form names the field by its label, marks it invalid and puts the focus there.
    await p.page.getByLabel('Organisation').fill(ADMIN.organisation);
    await p.page.getByLabel('Email').fill(ADMIN.email);
    await p.page.locator('input[name=password]').fill(ADMIN.password);
    await p.page.locator('input[name=password_confirm]').fill(`${ADMIN.password}x`);
    await p.page.getByRole('button', { name: 'Create organisation' }).click();
    await p.page.getByRole('alert').getByText('Password again: passwords do not match').waitFor();
    assert.equal(
      await p.page.evaluate(() => {
        const focused = document.activeElement as HTMLInputElement;
        return [focused.name, focused.getAttribute('aria-invalid'), focused.getAttribute('aria-describedby')];
      }),
      ['password_confirm', 'true', 'form-error'],
    );
    await p.page.getByLabel('Organisation').fill(ADMIN.organisation);
    await p.page.getByLabel('Email').fill(ADMIN.email);
    await p.page.locator('input[name=password]').fill(ADMIN.password);
    await p.page.locator('input[name=password_confirm]').fill(ADMIN.password);
    await Promise.all([
      p.page.waitForURL(`${server.url}/`),
      p.page.getByRole('button', { name: 'Create organisation' }).click(),
    ]);
    // Off the overview first: its live stream, signed out, would send the page to /login itself,
    // racing the visit below.
    await p.page.goto('about:blank');
    await p.context.clearCookies();
    await visit(p, server.url, '375', 'login', '/login');
    assert.equal(p.errors, []);
  } finally {
    await p.context.close();
  }
});

s('every signed-in page fits at 375 and at 1280 px, with the fixtures', async ({ server, browser }) => {
  const { key } = await ingestKey(server);
  await postFixtures(server, key);
  await server.ctx.aggregator.runOnce();
  const run = await importRun(server, key);
  const rule = await alertRule(server, key);
  const pages = PAGES.map(([name, path]) => [name, path.replace('{run}', run).replace('{rule}', rule)] as const);
  const visited = [...pages.map(([, path]) => path), ...SIGNED_OUT.map(([, path]) => path)];
  for (const route of pageRoutes()) {
    const pattern = new RegExp(`^${route.replace(/:[^/]+/g, '[^/?]+')}(\\?|$)`);
    assert.ok(
      visited.some((path) => pattern.test(path)),
      `the page ${route} is visited`,
    );
  }
  for (const viewport of [PHONE_TALL, DESKTOP]) {
    const label = String(viewport.width);
    const p = await newPage(browser, viewport);
    try {
      await p.page.goto(`${server.url}/login`);
      await p.page.getByLabel('Email').fill(ADMIN.email);
      await p.page.getByLabel('Password').fill(ADMIN.password);
      await Promise.all([p.page.waitForURL(`${server.url}/`), p.page.getByRole('button', { name: 'Sign in' }).click()]);
      for (const [name, path] of pages) await visit(p, server.url, label, name, path, name === 'not-found' ? 404 : 200);
      // The overview's layout editor opens over the page.
      await p.page.goto(`${server.url}/${RANGE}`);
      await p.page.getByText('Customise').click();
      await p.page.getByRole('button', { name: 'Save my layout' }).waitFor();
      await screenshot(p.page, `layout-${label}-customise`);
      assert.equal(await overflowing(p.page), [], `the layout editor at ${label}: cut off`);
      assert.equal(p.errors, [], `${label}: console or page errors`);
    } finally {
      await p.context.close();
    }
  }
});

s(
  'the main navigation: every link reachable and inside the viewport at 375 px, in one row at 1280 px',
  async ({ server, browser }) => {
    for (const viewport of [PHONE_TALL, DESKTOP]) {
      const p = await newPage(browser, viewport);
      try {
        const { page } = p;
        await page.goto(`${server.url}/login?next=/tools`);
        await page.getByLabel('Email').fill(ADMIN.email);
        await page.getByLabel('Password').fill(ADMIN.password);
        await Promise.all([
          page.waitForURL(`${server.url}/tools`),
          page.getByRole('button', { name: 'Sign in' }).click(),
        ]);
        const nav = page.getByRole('navigation', { name: 'Main' });
        const menu = page.getByRole('button', { name: 'Menu' });
        if (viewport.width < 640) {
          assert.is(await menu.getAttribute('aria-expanded'), 'false');
          // From the keyboard: the open menu takes the focus, on the page it is on, and Tab goes on in it.
          await menu.focus();
          await page.keyboard.press('Enter');
          assert.is(await menu.getAttribute('aria-expanded'), 'true');
          const focused = () =>
            page.evaluate(() => document.activeElement?.closest('#main-nav') && document.activeElement.textContent);
          assert.is(await focused(), 'Tools');
          await page.keyboard.press('Tab');
          assert.is(await focused(), 'Agents & commands');
        } else assert.not.ok(await menu.isVisible(), 'no menu button on a wide screen');
        const links = nav.getByRole('link');
        const names = await links.allInnerTexts();
        assert.equal(names, [
          'Overview',
          'Tools',
          'Agents & commands',
          'Sessions',
          'Team',
          'Me',
          'Alerts',
          'Connect',
          'Import',
          'Settings',
        ]);
        const boxes = [];
        for (let i = 0; i < names.length; i++) {
          const link = links.nth(i);
          assert.ok(await link.isVisible(), `${names[i]} is visible`);
          const box = (await link.boundingBox())!;
          assert.ok(
            box.x >= 0 && box.x + box.width <= viewport.width,
            `${names[i]} is inside the viewport (${box.x}..${box.x + box.width})`,
          );
          boxes.push(box);
        }
        if (viewport.width >= 640) assert.is(new Set(boxes.map((b) => Math.round(b.y))).size, 1, 'one row');
        await screenshot(page, `layout-${viewport.width}-menu`);
        assert.equal(await overflowing(page), [], 'with the menu open');
        if (viewport.width < 640) {
          await Promise.all([
            page.waitForURL(`${server.url}/sessions`),
            nav.getByRole('link', { name: 'Sessions' }).click(),
          ]);
          assert.is(
            await page.getByRole('button', { name: 'Menu' }).getAttribute('aria-expanded'),
            'false',
            'closed again on the next page',
          );
        }
        assert.equal(p.errors, []);
      } finally {
        await p.context.close();
      }
    }
  },
);

s.run();
