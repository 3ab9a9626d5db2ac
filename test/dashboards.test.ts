// The dashboards over real HTTP: the overview with the fixtures, filters and their notices,
// htmx fragments, the widget layout, the live stream (SSE) per tenant and role, the
// "connect Claude Code" page and the settings pages.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, ingestKey, signIn, startTestServer, waitFor, type Client, type TestServer } from './helpers.js';
import { dataRange, expectedHooks, postFixtures, postHook, FIXTURES } from './fixture-data.js';
import { hooksSettingsSchema } from './claude-code-schema.js';
import { parseFilters } from '../src/dashboards/filters.js';
import { STREAMS_PER_PERSON } from '../src/dashboards/live.js';

type Ctx = { server: TestServer; key: string; tenantId: string; userId: string; admin: Client };
const s = suite<Ctx>('dashboards');
s.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  Object.assign(ctx, await ingestKey(ctx.server));
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
});
s.after.each(async (ctx) => ctx.server.stop());

const html = async (client: Client, path: string, headers: Record<string, string> = {}) => {
  const res = await client.get(path, headers);
  assert.is(res.status, 200, `${path}: ${res.status}`);
  return res.text();
};
/** The value a KPI card shows. */
const kpi = (page: string, label: string) =>
  new RegExp(`<div class="kpi-label">${label}</div>\\s*<div class="kpi-value">([^<]*)</div>`).exec(page)?.[1];

async function person(ctx: Ctx, email: string, role: string) {
  await runCommand(ctx.server.ctx, 'user create', { tenant: ctx.tenantId, email, role, password: 'person password 1' });
  return signIn(ctx.server, email, 'person password 1');
}

const otlpTotals = JSON.parse(readFileSync(join(FIXTURES, 'otlp', 'expected-totals.json'), 'utf8')) as Record<
  string,
  { toolCalls: number; costUsd: number; linesAdded: number; commits: number }
>;

s('a filter on a quiet value past the 200 busiest is applied, not called unknown', async (ctx) => {
  const now = Date.now();
  // 201 busy projects (two prompts each) and a quiet one (one prompt, one tool call of its own tool).
  const events = Array.from({ length: 201 }, (_, p) =>
    [0, 1].map((i) => ({
      id: `busy-${p}-${i}`,
      kind: 'prompt' as const,
      ts: now - 3_600_000 + i,
      project: `busy-${p}`,
      session_id: `s${p}`,
    })),
  ).flat();
  events.push({ id: 'quiet', kind: 'prompt', ts: now - 60_000, project: 'quiet-project', session_id: 'q' });
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', events);
  const page = await html(ctx.admin, '/?range=24h&project=quiet-project');
  assert.not.match(page, /that filter is ignored/);
  assert.is(kpi(page, 'Prompts'), '1', 'the quiet project alone');
  const unknown = await html(ctx.admin, '/?range=24h&project=no-such-project');
  assert.match(unknown, /No project “no-such-project” in this range; that filter is ignored\./);
  // The same for models: 201 busy ones and a quiet one, and a model nobody used.
  const requests = Array.from({ length: 202 }, (_, m) => ({
    id: `req-${m}`,
    kind: 'api_request' as const,
    ts: now - 3_600_000 + m,
    model: m < 201 ? `busy-model-${m}` : 'quiet-model',
    request_id: `r${m}`,
    session_id: 'models',
  }));
  requests.push(
    ...requests.slice(0, 201).map((r) => ({ ...r, id: `${r.id}-again`, request_id: `${r.request_id}-again` })),
  );
  await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', requests);
  assert.not.match(await html(ctx.admin, '/?range=24h&model=quiet-model'), /that filter is ignored/);
  assert.match(await html(ctx.admin, '/?range=24h&model=no-such-model'), /No model “no-such-model” in this range/);
});

s(
  'the overview shows the fixtures: KPI cards, charts, top tools, models, sessions; the previous period is compared',
  async (ctx) => {
    await postFixtures(ctx.server, ctx.key);
    const range = await dataRange(ctx.server, ctx.tenantId);
    const page = await html(ctx.admin, `/?${range}`);
    const toolCalls =
      expectedHooks.reduce((n, e) => n + e.tool_calls, 0) +
      Object.values(otlpTotals).reduce((n, e) => n + e.toolCalls, 0);
    assert.is(kpi(page, 'Tool calls'), String(toolCalls));
    assert.is(kpi(page, 'Sessions'), String(expectedHooks.length + Object.keys(otlpTotals).length));
    assert.is(kpi(page, 'Prompts'), String(expectedHooks.reduce((n, e) => n + e.prompts, 0) + 2));
    const cost = Object.values(otlpTotals).reduce((n, e) => n + e.costUsd, 0);
    assert.is(kpi(page, 'Cost'), `$${cost.toFixed(2)}`);
    assert.is(kpi(page, 'Lines added'), String(Object.values(otlpTotals).reduce((n, e) => n + e.linesAdded, 0)));
    assert.match(
      page,
      /▲<\/span> new <span class="muted">vs previous<\/span>/,
      'nothing before the range: every figure is new',
    );
    // Charts carry their data for the page's script; the top tools table names every fixture tool.
    const chart = /id="chart-activity" data-live="chart-activity" data-chart="([^"]+)"/.exec(page)?.[1];
    const spec = JSON.parse(chart!.replaceAll('&quot;', '"')) as {
      series: { name: string; data: [number, number][] }[];
    };
    assert.equal(
      spec.series.map((x) => x.name),
      ['Prompts', 'Tool calls', 'API requests'],
    );
    assert.is(
      spec.series[1]!.data.reduce((n, [, v]) => n + v, 0),
      toolCalls,
    );
    for (const tool of ['Bash', 'Grep', 'Edit', 'Read', 'Agent', 'Glob', 'Write'])
      assert.match(page, new RegExp(`class="name">${tool}</a>`));
    assert.match(page, /claude-sonnet-4-5/);
    for (const e of expectedHooks) assert.match(page, new RegExp(`/sessions/${e.session_id}`));
    // Each widget exports its own question, with the page's range.
    const link = /href="\/api\/v1\/query\?format=csv&amp;q=([^"]+)"/.exec(page)?.[1];
    const q = JSON.parse(decodeURIComponent(link!.replaceAll('&amp;', '&'))) as { metrics: string[]; from: number };
    assert.ok(q.metrics.includes('tool_calls'));
    const csv = await ctx.admin.request(`/api/v1/query?format=csv&q=${encodeURIComponent(JSON.stringify(q))}`);
    assert.is(csv.status, 200);
    assert.match(await csv.text(), /^sessions,active_users,prompts,tool_calls/);
  },
);

s(
  'session ids that begin alike are told apart in the lists; a session page is titled with the whole id',
  async (ctx) => {
    await postFixtures(ctx.server, ctx.key); // the OTLP sessions are fixture-session-json and fixture-session-proto
    const range = await dataRange(ctx.server, ctx.tenantId);
    for (const path of [`/sessions?${range}`, `/?${range}`]) {
      const page = await html(ctx.admin, path);
      const shown = [
        ...page.matchAll(/<a href="\/sessions\/([^"?]+)\?user=[^"]+" title="([^"]+)"><code>([^<]+)<\/code><\/a>/g),
      ].map((m) => ({ id: decodeURIComponent(m[1]!), title: m[2]!, text: m[3]! }));
      assert.ok(
        shown.some((x) => x.id === 'fixture-session-json') && shown.some((x) => x.id === 'fixture-session-proto'),
        path,
      );
      assert.is(
        new Set(shown.map((x) => x.text)).size,
        shown.length,
        `${path}: no two look the same (${shown.map((x) => x.text).join(', ')})`,
      );
      for (const x of shown) {
        assert.is(x.title, x.id, 'the whole id in the title');
        assert.ok(
          x.text.length >= 8 && (x.text === x.id || (x.text.endsWith('…') && x.id.startsWith(x.text.slice(0, -1)))),
          `${x.text} is the beginning of ${x.id}`,
        );
      }
    }
    const session = await html(ctx.admin, '/sessions/fixture-session-json');
    assert.match(session, /<title>Session fixture-session-json · agentmeter<\/title>/);
    assert.match(session, /<h1>Session <code class="session-id">fixture-session-json<\/code><\/h1>/);
  },
);

s(
  "an OpenTelemetry session's timeline: its start first, no token or cost points its requests already count, active time with its value",
  async (ctx) => {
    await postFixtures(ctx.server, ctx.key);
    const now = ctx.server.ctx.now().getTime();
    // A session with metric points and no requests: there the points are what counts.
    const points = [
      {
        kind: 'token_usage' as const,
        session_id: 'points-only',
        model: 'claude-sonnet-4-5',
        input_tokens: 500,
        ts: now - 1000,
      },
    ];
    assert.is(
      (await ctx.server.ctx.ingest.ingest({ tenantId: ctx.tenantId, userId: ctx.userId }, 'rest', points)).accepted,
      1,
    );
    const items = (page: string) =>
      [
        ...page.matchAll(
          /<li class="tl tl-([a-z_]+)[^"]*" data-kind="[^"]+" data-seq="(\d+)" data-at="([^"]+)">([\s\S]*?)<\/li>/g,
        ),
      ].map((m) => ({
        kind: m[1]!,
        seq: Number(m[2]),
        at: m[3]!,
        text: m[4]!
          .replace(/<[^>]+>/g, ' ')
          .replace(/\s+/g, ' ')
          .trim(),
      }));
    for (const id of Object.keys(otlpTotals)) {
      const page = await html(ctx.admin, `/sessions/${id}`);
      const shown = items(page);
      assert.is(shown[0]!.kind, 'session_start', `${id}: started first (${shown.map((i) => i.kind).join(', ')})`);
      assert.is(shown.filter((i) => i.kind === 'session_start').length, 1);
      assert.ok(
        shown.every(
          (it, i) => i === 0 || it.at > shown[i - 1]!.at || (it.at === shown[i - 1]!.at && it.seq > shown[i - 1]!.seq),
        ),
        'in order',
      );
      assert.is(shown.filter((i) => i.kind === 'api_request').length, 3, 'the requests');
      assert.equal(
        shown.filter((i) => i.kind === 'token_usage' || i.kind === 'cost_usage'),
        [],
        'no points the requests already count',
      );
      const active = shown.filter((i) => i.kind === 'active_time');
      assert.ok(
        active.length > 0 && active.every((i) => /\d+(\.\d)? (s|min|h)$/.test(i.text)),
        `active time with its value: ${active.map((i) => i.text).join(' | ')}`,
      );
      assert.is(
        kpi(page, 'Cost'),
        `$${otlpTotals[id]!.costUsd.toFixed(2)}`,
        'the figures still count the session once',
      );
    }
    const pointsOnly = items(await html(ctx.admin, '/sessions/points-only'));
    assert.equal(
      pointsOnly.map((i) => i.kind),
      ['token_usage'],
      'points are the story of a session without requests',
    );
  },
);

s('a new tenant sees an empty state that points to the connect page', async (ctx) => {
  const page = await html(ctx.admin, '/');
  assert.match(page, /No activity in this range/);
  assert.match(page, /href="\/connect"/);
});

s(
  'filters: the tool filter narrows the numbers; unknown values and ranges are ignored with a notice; htmx gets the fragment',
  async (ctx) => {
    await postFixtures(ctx.server, ctx.key);
    const range = await dataRange(ctx.server, ctx.tenantId);
    const bash = await html(ctx.admin, `/?${range}&tool=Bash`);
    const expectedBash = expectedHooks.reduce((n, e) => n + (e.by_tool.Bash ?? 0), 0) + 2 * 2; // two OTLP sessions with 2 Bash calls each
    assert.is(kpi(bash, 'Tool calls'), String(expectedBash));
    assert.match(bash, /<option value="Bash" selected/);

    const unknown = await html(ctx.admin, `/?${range}&tool=NoSuchTool&range=ages`);
    assert.match(unknown, /No tool “NoSuchTool” in this range; that filter is ignored\./);
    assert.not.match(unknown, /Unknown time range/, 'custom dates win over a preset');
    const badRange = await html(ctx.admin, '/?range=ages');
    assert.match(badRange, /Unknown time range “ages”; showing the last 7 days\./);
    const badDates = await html(ctx.admin, '/?from=yesterday&to=2026-13-45');
    assert.match(badDates, /custom dates were not dates/);
    const xss = await html(ctx.admin, `/?tool=${encodeURIComponent('<img src=x onerror=alert(1)>')}`);
    assert.match(xss, /No tool “&lt;img src=x onerror=alert\(1\)&gt;”/);
    assert.not.match(xss, /<img src=x/);

    const fragment = await html(ctx.admin, `/?${range}`, { 'hx-request': 'true' });
    assert.not.match(fragment, /<html/);
    assert.match(fragment, /^<title>Overview · agentmeter<\/title>\s*<main id="page">/);
    assert.is(kpi(fragment, 'Tool calls'), kpi(await html(ctx.admin, `/?${range}`), 'Tool calls'));
  },
);

s('signed out: pages go to the login page and back; htmx requests are told to leave the page', async (ctx) => {
  const { Client } = await import('./helpers.js');
  const anonymous = new Client(ctx.server.url);
  const res = await anonymous.get('/tools?range=30d');
  assert.is(res.status, 303);
  assert.is(res.headers.get('location'), `/login?next=${encodeURIComponent('/tools?range=30d')}`);
  const hx = await anonymous.get('/?range=24h', {
    'hx-request': 'true',
    'hx-current-url': `${ctx.server.url}/?range=24h`,
  });
  assert.is(hx.status, 204);
  assert.is(hx.headers.get('hx-redirect'), `/login?next=${encodeURIComponent('/?range=24h')}`);
});

s(
  'roles: a developer sees only their own figures and no person filter; a viewer sees team figures without sessions',
  async (ctx) => {
    await postFixtures(ctx.server, ctx.key); // all from agent@acme.test
    const range = await dataRange(ctx.server, ctx.tenantId);
    const other = await person(ctx, 'dev2@acme.test', 'developer');
    const own = await html(other, `/?${range}`);
    assert.is(kpi(own, 'Tool calls'), '0');
    assert.not.match(own, /name="user"/);
    const mine = await html(await signIn(ctx.server, 'agent@acme.test', 'ingest password 1'), `/?${range}`);
    assert.is(kpi(mine, 'Sessions'), String(expectedHooks.length + Object.keys(otlpTotals).length));
    const sneaky = await html(other, `/?${range}&user=${ctx.userId}`);
    assert.match(sneaky, /No user “[^”]+” in this range; that filter is ignored/);
    assert.is(kpi(sneaky, 'Tool calls'), '0');

    const viewer = await person(ctx, 'viewer@acme.test', 'viewer');
    const team = await html(viewer, `/?${range}`);
    assert.is(kpi(team, 'Sessions'), kpi(mine, 'Sessions'));
    assert.not.match(team, /Recent sessions/);
    assert.not.match(team, /href="\/sessions\//);
  },
);

s(
  'layout: saved per person, tenant default by a tenant admin, reset; bad layouts are 400 naming the field',
  async (ctx) => {
    const order = (page: string) =>
      [...page.matchAll(/<section class="widget[^"]*" aria-labelledby="w-([a-z_]+)"/g)].map((m) => m[1]);
    assert.equal(order(await html(ctx.admin, '/')), [
      'kpis',
      'activity',
      'cost',
      'top_tools',
      'by_model',
      'recent_sessions',
    ]);
    const put = (client: Client, body: unknown) =>
      client.request('/api/v1/dashboard/layout', {
        method: 'PUT',
        json: body,
        headers: { 'x-csrf-token': client.csrf! },
      });

    const dev = await person(ctx, 'dev2@acme.test', 'developer');
    await html(dev, '/');
    assert.is((await put(dev, { order: ['cost', 'kpis'], hidden: ['activity'] })).status, 200);
    assert.equal(order(await html(dev, '/')), ['cost', 'kpis', 'top_tools', 'by_model', 'recent_sessions']);
    assert.equal(
      order(await html(ctx.admin, '/')),
      ['kpis', 'activity', 'cost', 'top_tools', 'by_model', 'recent_sessions'],
      "one person's layout is theirs only",
    );

    const forbidden = await put(dev, { scope: 'tenant', order: ['by_model'] });
    assert.is(forbidden.status, 403);
    assert.is((await put(ctx.admin, { scope: 'tenant', order: ['by_model', 'kpis'], hidden: ['cost'] })).status, 200);
    const viewer = await person(ctx, 'viewer@acme.test', 'viewer');
    assert.equal(
      order(await html(viewer, '/')),
      ['by_model', 'kpis', 'activity', 'top_tools'],
      'the tenant default (viewers see no sessions)',
    );
    assert.equal(
      order(await html(dev, '/')),
      ['cost', 'kpis', 'top_tools', 'by_model', 'recent_sessions'],
      'a saved layout outranks the default',
    );
    const reset = await dev.request('/api/v1/dashboard/layout', {
      method: 'DELETE',
      headers: { 'x-csrf-token': dev.csrf! },
    });
    assert.is(reset.status, 200);
    assert.equal(order(await html(dev, '/')), ['by_model', 'kpis', 'activity', 'top_tools', 'recent_sessions']);

    const bad = await put(dev, { order: ['kpis', 'nope'] });
    assert.is(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^order\.1: /);
    assert.is((await put(dev, { order: ['kpis', 'kpis'] })).status, 400);
    const noCsrf = await dev.request('/api/v1/dashboard/layout', { method: 'PUT', json: { order: ['kpis'] } });
    assert.is(noCsrf.status, 403);
  },
);

/** An open /live stream: its events as they arrive. */
async function openStream(client: Client | null, server: TestServer, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const res = await fetch(`${server.url}/live`, {
    headers: {
      accept: 'text/event-stream',
      ...(client ? { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
      ...headers,
    },
    signal: controller.signal,
  });
  assert.is(res.headers.get('content-type'), 'text/event-stream');
  const events: { event: string; id?: string; data: string }[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const field = (name: string) =>
            block
              .split('\n')
              .find((l) => l.startsWith(`${name}:`))
              ?.slice(name.length + 1)
              .trim();
          if (field('event')) events.push({ event: field('event')!, id: field('id'), data: field('data') ?? '' });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return {
    events,
    close: async () => {
      controller.abort();
      await pump;
    },
  };
}

const tool = (id: string) => ({
  session_id: 'live-1',
  cwd: '/w',
  hook_event_name: 'PostToolUse',
  tool_name: 'Bash',
  tool_input: {},
  tool_response: {},
  tool_use_id: id,
  duration_ms: 5,
});

s(
  'live: a commit reaches every open page of the tenant as one update; a developer hears only their own; Last-Event-ID catches up; signed out hears "expired"',
  async (ctx) => {
    const dev2 = await person(ctx, 'dev2@acme.test', 'developer');
    const admin = await openStream(ctx.admin, ctx.server);
    const own = await openStream(dev2, ctx.server);
    try {
      await waitFor(async () => (admin.events.length && own.events.length ? true : undefined), 'hello');
      assert.is(admin.events[0]!.event, 'hello');
      assert.is(ctx.server.ctx.live.clients(), 2);

      assert.is((await postHook(ctx.server, ctx.key, tool('t1'))).status, 200);
      const update = await waitFor(async () => admin.events.find((e) => e.event === 'update'), "the admin's update");
      assert.ok(Number(update.id) > 0);
      assert.is(update.id, update.data);

      // A stream is written in order: had dev2 been told of agent@'s commit, it would come before its own.
      const dev2Key = (await runCommand(ctx.server.ctx, 'apikey create', {
        tenant: ctx.tenantId,
        user: 'dev2@acme.test',
        scopes: 'ingest',
      })) as { key: string };
      assert.is((await postHook(ctx.server, dev2Key.key, tool('t2'))).status, 200);
      const mine = await waitFor(async () => own.events.find((e) => e.event === 'update'), "dev2's own update");
      // dev2 heard nothing of agent@acme.test's commit, and its stream counts dev2's own updates only:
      // the tenant's seq (how much everyone sent) is not theirs to read.
      assert.equal(
        own.events.filter((e) => e.event !== 'alerts').map((e) => [e.event, e.id]),
        [
          ['hello', '0'],
          ['update', '1'],
        ],
      );
      const dev2Id = (await ctx.server.ctx.control.get<{ id: string }>(
        `SELECT id FROM users WHERE email = 'dev2@acme.test'`,
      ))!.id;
      assert.is(mine.data, '1');
      assert.is(ctx.server.ctx.live.version(ctx.tenantId, dev2Id), 1);

      // A page that reconnects with an older id is told at once; an up-to-date one is not.
      const version = String(ctx.server.ctx.live.version(ctx.tenantId, null));
      const behind = await openStream(ctx.admin, ctx.server, { 'last-event-id': update.id! });
      const current = await openStream(ctx.admin, ctx.server, { 'last-event-id': version });
      try {
        const caughtUp = await waitFor(async () => behind.events.find((e) => e.event === 'update'), 'catch-up');
        assert.is(caughtUp.id, version);
        // The next commit's update is the first the up-to-date page hears (a catch-up would come before it).
        assert.is((await postHook(ctx.server, ctx.key, tool('t3'))).status, 200);
        await waitFor(async () => current.events.find((e) => e.event === 'update'), 'the next update');
        // The bell's count (`alerts`) travels on the same stream; this is about the figures.
        const heard = current.events
          .filter((e) => e.event !== 'alerts')
          .map((e) => [e.event, Number(e.id) > Number(version)]);
        assert.equal(heard, [
          ['hello', false],
          ['update', true],
        ]);
      } finally {
        await behind.close();
        await current.close();
      }
    } finally {
      await admin.close();
      await own.close();
    }
    await waitFor(async () => (ctx.server.ctx.live.clients() === 0 ? true : undefined), 'closed streams unsubscribed');

    const anonymous = await openStream(null, ctx.server);
    try {
      const expired = await waitFor(async () => anonymous.events[0], 'expired');
      assert.is(expired.event, 'expired');
    } finally {
      await anonymous.close();
    }
  },
);

s(
  "live: a developer's reconnect always catches up; a new role ends the stream, to connect again as it",
  async (ctx) => {
    const dev = await person(ctx, 'back@acme.test', 'developer');
    const first = await openStream(dev, ctx.server);
    const hello = await waitFor(async () => first.events.find((e) => e.event === 'hello'), 'hello');
    await first.close();
    // With no page of the tenant open, the developer's count does not move: the reconnect is told anyway.
    const again = await openStream(dev, ctx.server, { 'last-event-id': hello.id! });
    try {
      await waitFor(async () => again.events.find((e) => e.event === 'update'), 'a catch-up');
      await runCommand(ctx.server.ctx, 'user role', { tenant: ctx.tenantId, email: 'back@acme.test', role: 'manager' });
      ctx.server.ctx.live.alertsChanged(ctx.tenantId);
      await waitFor(async () => (ctx.server.ctx.live.clients() === 0 ? true : undefined), 'the stream ended');
      assert.not.ok(
        again.events.some((e) => e.event === 'expired'),
        'still signed in: no expiry',
      );
    } finally {
      await again.close();
    }
  },
);

s('live: a stream hears no update after its session ends or its role changes, even before a keepalive', async (ctx) => {
  const lead = await person(ctx, 'lead@acme.test', 'manager');
  const leaving = await person(ctx, 'leaving@acme.test', 'manager');
  const demoted = await openStream(lead, ctx.server);
  const signedOut = await openStream(leaving, ctx.server);
  try {
    await waitFor(async () => (demoted.events.length && signedOut.events.length ? true : undefined), 'hello');
    await runCommand(ctx.server.ctx, 'user role', { tenant: ctx.tenantId, email: 'lead@acme.test', role: 'developer' });
    await runCommand(ctx.server.ctx, 'user disable', { tenant: ctx.tenantId, email: 'leaving@acme.test' });
    // A colleague's commit: the tenant's count, which a developer (or nobody signed in) may not hear.
    assert.is((await postHook(ctx.server, ctx.key, tool('after-change'))).status, 200);
    await waitFor(async () => (ctx.server.ctx.live.clients() === 0 ? true : undefined), 'both streams ended');
    assert.not.ok(
      demoted.events.some((e) => e.event === 'update'),
      'the demoted manager heard no update',
    );
    assert.not.ok(
      signedOut.events.some((e) => e.event === 'update'),
      'the deactivated person heard no update',
    );
    assert.ok(
      signedOut.events.some((e) => e.event === 'expired'),
      'and was told to sign in',
    );
  } finally {
    await demoted.close();
    await signedOut.close();
  }
});

s('live: a stream ends with its session, at the next alert change or keepalive, and tells the page', async (ctx) => {
  const dev = await person(ctx, 'gone@acme.test', 'developer');
  const stream = await openStream(dev, ctx.server);
  try {
    await waitFor(async () => stream.events.find((e) => e.event === 'alerts'), 'the first bell count');
    await runCommand(ctx.server.ctx, 'user disable', { tenant: ctx.tenantId, email: 'gone@acme.test' });
    ctx.server.ctx.live.alertsChanged(ctx.tenantId);
    await waitFor(async () => stream.events.find((e) => e.event === 'expired'), 'expired');
    assert.is(stream.events.filter((e) => e.event === 'alerts').length, 1, 'no bell count after it ended');
    await waitFor(async () => (ctx.server.ctx.live.clients() === 0 ? true : undefined), 'unsubscribed');
  } finally {
    await stream.close();
  }
});

s('live: one person holds at most STREAMS_PER_PERSON streams; the next is a 429 until one closes', async (ctx) => {
  const lead = await person(ctx, 'lead@acme.test', 'manager');
  const other = await person(ctx, 'other@acme.test', 'manager');
  const cookie = [...lead.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const open = [];
  try {
    for (let i = 0; i < STREAMS_PER_PERSON; i++) open.push(await openStream(lead, ctx.server));
    const refused = await fetch(`${ctx.server.url}/live`, { headers: { accept: 'text/event-stream', cookie } });
    assert.is(refused.status, 429);
    assert.equal(await refused.json(), {
      error: `at most ${STREAMS_PER_PERSON} live streams per person: close some of your pages`,
    });
    const colleague = await openStream(other, ctx.server);
    open.push(colleague);
    await waitFor(async () => (colleague.events.length ? true : undefined), 'a colleague is not held back');
    await open.shift()!.close();
    await waitFor(
      async () => (ctx.server.ctx.live.clients() === STREAMS_PER_PERSON ? true : undefined),
      'the closed one unsubscribed',
    );
    const again = await openStream(lead, ctx.server);
    open.push(again);
    await waitFor(async () => (again.events.length ? true : undefined), 'a closed stream frees its place');
  } finally {
    for (const stream of open) await stream.close();
  }
});

s(
  'connect: settings.json is valid hooks settings for this appliance with the key from the environment; a key made there works; the last event shows',
  async (ctx) => {
    const dev = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
    const page = await html(dev, '/connect');
    assert.match(page, /Nothing has arrived from you yet/);
    const settings = hooksSettingsSchema.parse(
      JSON.parse((await (await dev.request('/connect/settings.json')).text()) as string),
    );
    const shown = JSON.parse(
      /<pre class="code" id="settings-json">([\s\S]*?)<\/pre>/
        .exec(page)![1]!
        .replaceAll('&quot;', '"')
        .replaceAll('&#39;', "'")
        .replaceAll('&amp;', '&'),
    );
    assert.equal(shown, settings, 'the page shows what the download holds');
    for (const [event, groups] of Object.entries(settings.hooks)) {
      const handler = groups[0]!.hooks[0]!;
      assert.is(handler.url, `${ctx.server.url}/api/v1/hooks/claude-code`, event);
      assert.equal(handler.headers, { Authorization: 'Bearer $AGENTMETER_API_KEY' });
      assert.equal(handler.allowedEnvVars, ['AGENTMETER_API_KEY']);
    }
    for (const e of [
      'SessionStart',
      'UserPromptSubmit',
      'PreToolUse',
      'PostToolUse',
      'PostToolUseFailure',
      'SubagentStart',
      'SubagentStop',
      'SessionEnd',
    ])
      assert.ok(e in settings.hooks, e);
    assert.is(settings.hooks.PreToolUse![0]!.matcher, '*');
    assert.match(page, new RegExp(`export OTEL_EXPORTER_OTLP_ENDPOINT=${ctx.server.url}\\n`));
    assert.match(page, /export OTEL_EXPORTER_OTLP_HEADERS=&quot;Authorization=Bearer \$AGENTMETER_API_KEY&quot;/);

    // Post/Redirect/Get: the form goes back to /connect, which shows the new key once; a reload shows none and makes none.
    const keys = async () =>
      (await ctx.server.ctx.control.all('SELECT id FROM api_keys WHERE user_id = $u', { u: ctx.userId })).length;
    const before = await keys();
    const created = await dev.post('/connect/key', {});
    assert.is(created.status, 303);
    assert.is(created.headers.get('location'), '/connect');
    assert.is(await keys(), before + 1);
    const landed = await dev.get('/connect');
    assert.is(landed.headers.get('cache-control'), 'no-store');
    const once = await landed.text();
    assert.match(once, /New key “Claude Code/);
    const key = /export AGENTMETER_API_KEY=(\S+)/.exec(once)![1]!;
    assert.ok(key.length > 20 && !key.includes('<'));
    const reloaded = await html(dev, '/connect');
    assert.not.match(reloaded, new RegExp(key), 'a reload does not show the key again');
    assert.match(reloaded, /export AGENTMETER_API_KEY=&lt;your API key&gt;/);
    assert.is(await keys(), before + 1, 'nor make another');
    // The key does what the page says: the hook from the generated settings lands, as this person.
    const handler = settings.hooks.SessionStart![0]!.hooks[0]!;
    const sent = await fetch(handler.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: handler.headers!.Authorization!.replace('$AGENTMETER_API_KEY', key),
      },
      body: JSON.stringify({
        session_id: 'connected-1',
        cwd: '/w',
        hook_event_name: 'SessionStart',
        source: 'startup',
      }),
    });
    assert.is(sent.status, 200);
    const after = await html(dev, '/connect');
    assert.match(after, /<span class="badge good">Connected<\/span>/);
    assert.match(
      after,
      /<strong>session_start<\/strong> · SessionStart via hook in session <a href="\/sessions\/connected-1">/,
    );
    assert.not.match(after, new RegExp(key), 'the key is shown once');
    assert.not.match(after, /only the appliance's own machine reaches/, 'opened where the settings point');
  },
);

s(
  'settings: name and password; people and roles for tenant admins (add, change role, disable) and nobody else',
  async (ctx) => {
    const dev = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
    await html(dev, '/settings');
    assert.is(
      (await dev.post('/settings/account', { name: 'Agent Smith' })).headers.get('location'),
      '/settings?saved=name',
    );
    assert.match(await html(dev, '/settings'), /value="Agent Smith"/);
    const wrong = await dev.post('/settings/password', {
      current: 'nope',
      password: 'a new password 2',
      password_confirm: 'a new password 2',
    });
    assert.is(wrong.status, 400);
    assert.match(await wrong.text(), /current: that is not your current password/);
    const differ = await dev.post('/settings/password', {
      current: 'ingest password 1',
      password: 'a new password 2',
      password_confirm: 'other',
    });
    assert.match(await differ.text(), /the two passwords differ/);
    assert.is(
      (
        await dev.post('/settings/password', {
          current: 'ingest password 1',
          password: 'a new password 2',
          password_confirm: 'a new password 2',
        })
      ).status,
      303,
    );
    await signIn(ctx.server, 'agent@acme.test', 'a new password 2');

    assert.is((await dev.get('/settings/users')).status, 403);
    assert.not.match(await html(dev, '/settings'), /People and roles/);

    const people = await html(ctx.admin, '/settings/users');
    assert.match(people, /agent@acme\.test/);
    const added = await ctx.admin.post('/settings/users', {
      email: 'new@acme.test',
      name: '<b>New</b>',
      role: 'viewer',
      password: 'first password 1',
    });
    assert.is(added.status, 200);
    const list = await added.text();
    assert.match(list, /new@acme\.test can now sign in as viewer/);
    assert.match(list, /&lt;b&gt;New&lt;\/b&gt;/);
    const dup = await ctx.admin.post('/settings/users', {
      email: 'new@acme.test',
      role: 'viewer',
      password: 'first password 1',
    });
    assert.is(dup.status, 400);
    const newbie = (await ctx.server.ctx.control.get<{ id: string }>(
      `SELECT id FROM users WHERE email = 'new@acme.test'`,
    ))!;
    assert.is((await ctx.admin.post(`/settings/users/${newbie.id}/role`, { role: 'manager' })).status, 200);
    const manager = await signIn(ctx.server, 'new@acme.test', 'first password 1');
    assert.match(await html(manager, '/'), /new@acme\.test · manager/);
    assert.is((await ctx.admin.post(`/settings/users/${newbie.id}/access`, { disabled: 'true' })).status, 200);
    assert.is((await manager.get('/')).status, 303, 'a disabled person is signed out');
    const self = (await ctx.server.ctx.control.get<{ id: string }>(`SELECT id FROM users WHERE email = $e`, {
      e: ADMIN.email,
    }))!;
    const selfChange = await ctx.admin.post(`/settings/users/${self.id}/role`, { role: 'viewer' });
    assert.is(selfChange.status, 400);
    assert.match(await selfChange.text(), /cannot change your own role/);
  },
);

s.run();

const filters = suite('dashboard filters');

filters('preset and open-ended ranges end at the end of the current minute; a past custom range at its day', () => {
  const now = Date.UTC(2026, 10, 22, 10, 15, 42, 123);
  const end = Date.UTC(2026, 10, 22, 10, 16);
  const at = (search: string) => parseFilters(new URL(`http://x/${search}`), now, 'UTC').filters;
  assert.equal([at('').from, at('').to], [end - 7 * 86_400_000, end]);
  assert.equal([at('?range=1h').from, at('?range=1h').to], [end - 3_600_000, end]);
  assert.equal([at('?from=2026-11-20').from, at('?from=2026-11-20').to], [Date.UTC(2026, 10, 20), end]);
  assert.equal(
    [at('?from=2026-11-01&to=2026-11-02').from, at('?from=2026-11-01&to=2026-11-02').to],
    [Date.UTC(2026, 10, 1), Date.UTC(2026, 10, 3)],
  );
  assert.equal(at('?from=2026-11-20&to=2026-11-30').to, end, 'a custom range ends no later than now');
});

filters('a custom range that starts after now shows the last 7 days, with a notice, in any zone', () => {
  const now = Date.UTC(2026, 11, 6, 8, 30, 12);
  const end = Date.UTC(2026, 11, 6, 8, 31);
  for (const zone of ['UTC', 'America/New_York'])
    for (const search of ['?from=2026-12-07&to=2026-12-07', '?to=2030-01-01', '?from=9999-12-31&to=9999-12-31']) {
      const { filters: f, notices } = parseFilters(new URL(`http://x/${search}`), now, zone);
      assert.equal([f.range, f.from, f.to], ['7d', end - 7 * 86_400_000, end], `${zone} ${search}`);
      assert.equal(notices, ['The custom range starts after now; showing the last 7 days.'], `${zone} ${search}`);
    }
  // A range from today's date starts before now: kept, ending now.
  const today = parseFilters(new URL('http://x/?from=2026-12-06'), now, 'UTC').filters;
  assert.equal([today.range, today.from, today.to], ['custom', Date.UTC(2026, 11, 6), end]);
});

filters.run();
