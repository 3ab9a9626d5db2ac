// The people pages over a real server, with the shared fixtures posted through the real hook
// endpoint: the sessions list (names, figures, pages that keep the filters), a session's
// timeline (in order, the fixture's tool calls, paged), escaping of what agents sent, who
// may see what (developer, viewer, manager), the team comparison and trend, a person's own
// page, htmx fragments and the trip to the login page.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client, ingestKey, signIn, startTestServer, type TestServer } from './helpers.js';
import { expectedHooks as expected, hookLines, type HookExpected } from './fixture-data.js';

const [s1, s2, s3] = expected as [HookExpected, HookExpected, HookExpected];

const DAY = 86_400_000;
const PASSWORD = 'a long password 1';
const XSS = '<script>alert(1)</script>';
const XSS_SESSION = 'xss-session-0001';

type Ctx = {
  server: TestServer;
  dev: { key: string; userId: string; tenantId: string };
  other: { key: string; userId: string };
  hana: { userId: string };
  admin: Client;
  developer: Client;
  manager: Client;
  viewer: Client;
};

const s = suite<Ctx>('dashboards: sessions, team, me');

s.before(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.dev = await ingestKey(ctx.server, ['ingest', 'read'], 'agent@acme.test');
  ctx.other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
  const hook = (key: string, body: string) =>
    fetch(`${ctx.server.url}/api/v1/hooks/claude-code`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body,
    });
  for (const [file, key] of [
    ['session-1.jsonl', ctx.dev.key],
    ['session-2.jsonl', ctx.dev.key],
    ['session-3.jsonl', ctx.other.key],
  ] as const) {
    for (const line of hookLines(file)) assert.is((await hook(key, line)).status, 200, file);
  }
  // A prompt (and a failed tool) carrying markup, as an agent may send.
  const xss = { session_id: XSS_SESSION, cwd: '/home/dev1/src/<b onclick=alert(3)>bold', permission_mode: 'default' };
  assert.is(
    (await hook(ctx.dev.key, JSON.stringify({ ...xss, hook_event_name: 'UserPromptSubmit', prompt: `${XSS} please` })))
      .status,
    200,
  );
  assert.is(
    (
      await hook(
        ctx.dev.key,
        JSON.stringify({
          ...xss,
          hook_event_name: 'UserPromptSubmit',
          prompt: `<i>${'word '.repeat(600)}END-OF-PROMPT`,
        }),
      )
    ).status,
    200,
  );
  assert.is(
    (
      await hook(
        ctx.dev.key,
        JSON.stringify({
          ...xss,
          hook_event_name: 'PostToolUseFailure',
          tool_name: '<img src=x onerror=alert(2)>',
          tool_use_id: 'tu-xss',
          tool_input: { command: 'echo "<i>hi</i>"' },
          error: 'Exit 1: <b>boom</b>',
        }),
      )
    ).status,
    200,
  );

  // A third developer, named, with a month of tool calls outside any session and a spike yesterday.
  const hana = (await runCommand(ctx.server.ctx, 'user create', {
    tenant: ctx.dev.tenantId,
    email: 'hana@acme.test',
    role: 'developer',
    name: 'Hana History',
    password: PASSWORD,
  })) as { id: string };
  ctx.hana = { userId: hana.id };
  const now = Date.now();
  const history = [];
  for (let d = 25; d >= 1; d--) {
    const n = d === 1 ? 40 : 2 + (d % 2);
    for (let i = 0; i < n; i++)
      history.push({
        kind: 'tool_call' as const,
        name: 'Bash',
        status: 'success',
        ts: now - d * DAY + i * 1000,
        tool_use_id: `hist-${d}-${i}`,
        duration_ms: 100,
      });
  }
  // And a dollar's requests a day, ten yesterday: her spend has anomalies to tell her about.
  const spend = Array.from({ length: 25 }, (_, i) => 25 - i).map((d) => ({
    kind: 'api_request' as const,
    model: 'claude-sonnet-4-5',
    request_id: `spend-${d}`,
    cost_usd: d === 1 ? 10 : 1,
    ts: now - d * DAY + 5000,
  }));
  assert.is(
    (
      await ctx.server.ctx.ingest.ingest({ tenantId: ctx.dev.tenantId, userId: hana.id }, 'rest', [
        ...history,
        ...spend,
      ])
    ).accepted,
    history.length + spend.length,
  );
  await ctx.server.ctx.aggregator.runOnce();

  for (const [email, role] of [
    ['boss@acme.test', 'manager'],
    ['eyes@acme.test', 'viewer'],
  ] as const) {
    await runCommand(ctx.server.ctx, 'user create', { tenant: ctx.dev.tenantId, email, role, password: PASSWORD });
  }
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  ctx.developer = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
  ctx.manager = await signIn(ctx.server, 'boss@acme.test', PASSWORD);
  ctx.viewer = await signIn(ctx.server, 'eyes@acme.test', PASSWORD);
});
s.after(async (ctx) => ctx.server?.stop());

async function page(client: Client, path: string, status = 200, headers: Record<string, string> = {}): Promise<string> {
  const res = await client.get(path, headers);
  const html = await res.text();
  assert.is(res.status, status, `${path}: ${res.status} ${html.slice(0, 300)}`);
  return html;
}

const text = (html: string) =>
  html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** The sessions table: each row's session id and its cells' text. */
function sessionRows(html: string) {
  return [...html.matchAll(/<tr data-session="([^"]+)">([\s\S]*?)<\/tr>/g)].map((m) => ({
    id: m[1]!,
    cells: [...m[2]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => text(c[1]!)),
  }));
}

const kpi = (html: string, label: string) =>
  new RegExp(`<div class="kpi-label">${label}</div>\\s*<div class="kpi-value">([^<]*)</div>`).exec(html)?.[1];
const href = (html: string, cls: string) =>
  new RegExp(`<a class="${cls}" href="([^"]+)"`).exec(html)?.[1]?.replace(/&amp;/g, '&');

s('signed out, every page sends the person to sign in and back', async ({ server }) => {
  const anonymous = new Client(server.url);
  for (const path of ['/sessions?range=30d', `/sessions/${s1.session_id}`, '/team?metric=sessions', '/me']) {
    const res = await anonymous.get(path);
    assert.is(res.status, 303, path);
    assert.is(res.headers.get('location'), `/login?next=${encodeURIComponent(path)}`, path);
  }
  // htmx is told to leave the page rather than swap the login form into it.
  const hx = await anonymous.get('/sessions', {
    'hx-request': 'true',
    'hx-current-url': `${server.url}/sessions?range=24h`,
  });
  assert.is(hx.status, 204);
  assert.is(hx.headers.get('hx-redirect'), `/login?next=${encodeURIComponent('/sessions?range=24h')}`);
});

s(
  'the sessions list shows every fixture session with names and its figures, and exports',
  async ({ admin, dev, other }) => {
    const html = await page(admin, '/sessions');
    const rows = sessionRows(html);
    assert.equal(rows.map((r) => r.id).sort(), [...expected.map((e) => e.session_id), XSS_SESSION].sort());
    const header = [...html.matchAll(/<th scope="col"[^>]*>([\s\S]*?)<\/th>/g)].map((m) => text(m[1]!));
    const col = (name: string) => header.indexOf(name);
    assert.ok(col('Tool calls') > 0 && col('Who') > 0, header.join('|'));
    for (const e of expected) {
      const row = rows.find((r) => r.id === e.session_id)!;
      assert.is(row.cells[col('Tool calls')], String(e.tool_calls), `${e.session_id} tool calls`);
      assert.is(row.cells[col('Prompts')], String(e.prompts), `${e.session_id} prompts`);
      assert.is(row.cells[col('Failures')], String(e.tool_failures), `${e.session_id} failures`);
      assert.is(row.cells[col('Who')], e === s3 ? 'other@acme.test' : 'agent@acme.test', 'a name, not an id');
      assert.match(row.cells[col('Score')]!, /^\d+\.\d$/, 'a productivity score');
    }
    assert.not.ok(html.includes(`>${dev.userId}<`) || html.includes(`>${other.userId}<`), 'no bare user ids');
    assert.ok(
      html.includes(`href="/sessions/${s1.session_id}?user=${dev.userId}"`),
      'rows link to the session of its user',
    );
    assert.match(html, /href="\/api\/v1\/sessions\?from=[^"]+&amp;format=csv"/);
    // A person filter narrows the list.
    const theirs = sessionRows(await page(admin, `/sessions?user=${other.userId}`));
    assert.equal(
      theirs.map((r) => r.id),
      [s3.session_id],
    );
  },
);

s('the sessions list pages with a cursor that keeps the filters', async ({ admin }) => {
  const seen: string[] = [];
  let path: string | undefined = '/sessions?range=30d&limit=2';
  const first = await page(admin, path);
  assert.not.ok(first.includes('← Newest sessions'), 'the first page has no way back');
  for (let pages = 0; path; pages++) {
    assert.ok(pages < 5, 'the pages end');
    const html = await page(admin, path);
    const rows = sessionRows(html);
    assert.ok(rows.length >= 1 && rows.length <= 2, `${path}: ${rows.length} rows`);
    seen.push(...rows.map((r) => r.id));
    path = href(html, 'older');
    if (path) {
      const p = new URL(path, 'http://x').searchParams;
      assert.is(p.get('range'), '30d', 'the range is kept');
      assert.is(p.get('limit'), '2', 'the page size is kept');
      assert.ok(p.get('cursor'));
      assert.match(html, /hx-get="[^"]*cursor=[^"]*" hx-target="#page"/, 'htmx swaps the page');
    }
  }
  assert.is(seen.length, 4);
  assert.equal([...seen].sort(), [...expected.map((e) => e.session_id), XSS_SESSION].sort(), 'each session once');
  // A cursor the server never gave out: the newest page, with a notice.
  const bad = await page(admin, '/sessions?cursor=nonsense');
  assert.match(bad, /not one this server gave out/);
  assert.is(sessionRows(bad).length, 4);
});

s(
  "a session page: figures, its timeline in order with the fixture's tool calls, its score, paged with after",
  async ({ admin }) => {
    for (const e of expected) {
      const html = await page(admin, `/sessions/${e.session_id}`);
      assert.is(kpi(html, 'Tool calls'), String(e.tool_calls), `${e.session_id}: the card`);
      assert.is(kpi(html, 'Prompts'), String(e.prompts));
      assert.is(kpi(html, 'Failures'), String(e.tool_failures));
      const items = [...html.matchAll(/data-kind="([^"]+)" data-seq="(\d+)" data-at="([^"]+)"/g)].map((m) => ({
        kind: m[1]!,
        seq: Number(m[2]),
        at: m[3]!,
      }));
      assert.is(
        items.filter((i) => i.kind === 'tool_call').length,
        e.tool_calls,
        `${e.session_id}: tool calls in the timeline`,
      );
      assert.is(items.filter((i) => i.kind === 'prompt').length, e.prompts);
      assert.is([...html.matchAll(/class="badge bad">failed</g)].length, e.tool_failures, 'failures marked');
      assert.ok(
        items.every(
          (it, i) => i === 0 || it.at > items[i - 1]!.at || (it.at === items[i - 1]!.at && it.seq > items[i - 1]!.seq),
        ),
        'in order',
      );
      assert.is(items[0]!.kind, 'session_start');
      assert.match(html, /class="score-big score-\w+">\d+\.\d/, 'a score');
      assert.match(html, /Baseline of [^:<]+: [^<]*?[\d.]+ actions\/h/, 'its baseline');
      for (const part of ['Velocity', 'Code output', 'Success', 'Focus', 'Agent use'])
        assert.ok(html.includes(`<th scope="row">${part}<span`), part);
    }
    const one = await page(admin, `/sessions/${s1.session_id}`);
    assert.ok(one.includes('Fix the flaky test'), 'prompt text');
    assert.ok(one.includes('Command exited with non-zero status code 1'), "the failure's error");

    // Paged five events at a time, the tool calls come back once each, in the same order.
    const all = [...one.matchAll(/data-kind="tool_call" data-seq="(\d+)"/g)].map((m) => Number(m[1]));
    const paged: number[] = [];
    let path: string | undefined = `/sessions/${s1.session_id}?limit=5`;
    for (let pages = 0; path; pages++) {
      assert.ok(pages < 20, 'the pages end');
      const html = await page(admin, path);
      paged.push(...[...html.matchAll(/data-kind="tool_call" data-seq="(\d+)"/g)].map((m) => Number(m[1])));
      if (pages > 0) assert.ok(html.includes('← From the start'));
      path = href(html, 'older');
      if (path) assert.match(path, /after=\d+\.\d+/);
    }
    assert.equal(paged, all);
  },
);

s('what agents sent is escaped: prompts, tool names, commands, errors, paths', async ({ admin }) => {
  const html = await page(admin, `/sessions/${XSS_SESSION}`);
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; please'), 'the prompt, escaped');
  assert.not.ok(html.includes(XSS), 'never raw');
  assert.ok(html.includes('&lt;img src=x onerror=alert(2)&gt;'));
  assert.not.ok(html.includes('<img src=x'));
  assert.not.ok(html.includes('<b>boom</b>') || html.includes('<i>hi</i>') || html.includes('<b onclick'));
  const list = await page(admin, '/sessions');
  assert.not.ok(list.includes('<b onclick'));
  assert.ok(list.includes('&lt;b onclick=alert(3)&gt;bold'), 'the project (its folder name), escaped');
  // A long prompt is cut on the server (a table's width shown, a longer cut in its title), and stays escaped.
  assert.not.ok(html.includes('END-OF-PROMPT'), 'cut');
  const shown = /<div class="tl-text tl-prompt" title="&lt;i&gt;word[^"]*">([^<]*)<\/div>/.exec(html);
  assert.ok(shown, 'the long prompt, escaped in its title too');
  assert.ok(shown[1]!.startsWith('&lt;i&gt;word word') && shown[1]!.endsWith('…'));
  assert.ok(shown[1]!.replace(/&[a-z]+;/g, '.').length <= 240, "a table's width");
});

s(
  "a developer sees only their own sessions; a colleague's is a 404, like an unknown id",
  async ({ developer, other }) => {
    const html = await page(developer, '/sessions');
    assert.equal(
      sessionRows(html)
        .map((r) => r.id)
        .sort(),
      [s1.session_id, s2.session_id, XSS_SESSION].sort(),
    );
    assert.not.ok(html.includes('name="user"'), 'no one else to pick');
    const asked = await page(developer, `/sessions?user=${other.userId}`);
    assert.not.ok(
      sessionRows(asked).some((r) => r.id === s3.session_id),
      'asking for a colleague shows none of theirs',
    );
    await page(developer, `/sessions/${s1.session_id}`);
    const colleague = await page(developer, `/sessions/${s3.session_id}`, 404);
    assert.match(colleague, /no such session/);
    assert.not.ok(colleague.includes(`${s3.session_id.slice(0, 8)}</code>`), 'nothing of it shows');
    await page(developer, '/sessions/no-such-session', 404);
    await page(developer, `/sessions/${'x'.repeat(300)}`, 404);
  },
);

s('a viewer sees team figures only: sessions, a session, the team and a personal page are 403', async ({ viewer }) => {
  for (const path of ['/sessions', `/sessions/${s1.session_id}`, '/team']) {
    const html = await page(viewer, path, 403);
    assert.match(html, /your role sees team figures only/, path);
    assert.not.ok(html.includes('data-session='), `${path}: no sessions`);
  }
  await page(viewer, '/me', 403);
});

s(
  'a manager compares the team: one row per developer by name, a trend with its line, forecast and anomalies',
  async ({ manager, developer, dev, other, hana }) => {
    const html = await page(manager, '/team?range=30d');
    const rows = [...html.matchAll(/<tr data-user="([^"]+)">([\s\S]*?)<\/tr>/g)].map((m) => ({
      id: m[1]!,
      text: text(m[2]!),
    }));
    assert.equal(rows.map((r) => r.id).sort(), [dev.userId, other.userId, hana.userId].sort());
    assert.ok(rows.find((r) => r.id === hana.userId)!.text.startsWith('Hana History'), 'a name, not an id');
    assert.ok(rows.find((r) => r.id === dev.userId)!.text.startsWith('agent@acme.test'));
    // Each row's tool calls: its sessions' (the third cell: sessions, prompts, tool calls).
    const cells = (id: string) => rows.find((r) => r.id === id)!.text.split(' ');
    assert.is(cells(other.userId)[3], String(s3.tool_calls));
    assert.is(cells(dev.userId)[3], String(s1.tool_calls + s2.tool_calls + 1));

    const spec = JSON.parse(/data-chart="([^"]+)"/.exec(html)![1]!.replace(/&quot;/g, '"')) as {
      type: string;
      unit: string;
      series: { name: string; data: [number, number | null][] }[];
    };
    assert.equal(
      spec.series.map((x) => x.name),
      ['Cost', 'Trend', 'Forecast'],
    );
    assert.is(spec.unit, 'usd');
    assert.ok(spec.series[2]!.data.length > 1, 'a forecast');
    assert.match(html, /Cost (is trending (up|down)|shows no clear trend|in this range)|No cost in this range/);

    const calls = await page(manager, '/team?range=30d&metric=tool_calls');
    assert.match(calls, /<h2 id="w-trend">Tool calls over time<\/h2>/);
    assert.match(calls, /<a href="\/team\?range=30d&amp;metric=tool_calls"[^>]*aria-current="true">Tool calls<\/a>/);
    assert.match(calls, /Tool calls is trending up: \+[\d.]+ per day on the least-squares line \(R² \d\.\d\d\)/);
    const trendSpec = JSON.parse(/data-chart="([^"]+)"/.exec(calls)![1]!.replace(/&quot;/g, '"')) as {
      series: { data: [number, number][] }[];
    };
    const spike = trendSpec.series[0]!.data.reduce((a, b) => (b[1] > a[1] ? b : a));
    assert.ok(spike[1] >= 40, `the spike is charted (${spike[1]})`);
    const anomalies = [
      ...calls.matchAll(/<tr>\s*<td class="nowrap">([^<]+)<\/td>[\s\S]*?class="badge sev-(low|medium|high)"/g),
    ].map((m) => m[1]!);
    assert.ok(
      anomalies.includes(`${new Date(spike[0]).toISOString().slice(0, 10)} 00:00 UTC`),
      `the spike day is flagged: ${anomalies.join(', ')}`,
    );
    // The filter bar keeps the metric; the metric links keep the filters.
    assert.match(calls, /<form class="filters"[^>]* hx-get="\/team\?metric=tool_calls"/);
    assert.match(calls, /<a href="\/team\?range=30d&amp;metric=sessions"/);
    assert.match(calls, /<a href="\/team\?range=30d" [^>]*>Cost<\/a>/);

    const unknown = await page(manager, '/team?metric=drop_tables');
    assert.match(unknown, /cannot chart “drop_tables”; showing cost/);
    const refused = await page(developer, '/team', 403);
    assert.match(refused, /your role \(developer\) sees its own figures/);
    assert.not.ok((await page(developer, '/me')).includes('href="/team"'), 'no Team link for a developer');
  },
);

s(
  "a developer's own page: figures against the previous period, trends, insights, recent sessions with scores",
  async ({ developer, admin }) => {
    const html = await page(developer, '/me');
    assert.match(html, /<h1>agent@acme.test<\/h1>/);
    assert.is(kpi(html, 'Tool calls'), String(s1.tool_calls + s2.tool_calls + 1));
    assert.is(kpi(html, 'Sessions'), '3');
    assert.match(html, /vs previous/);
    assert.is([...html.matchAll(/class="chart" id="chart-me-\d"/g)].length, 2, 'cost and tool-call trends');
    assert.match(html, /<h2 id="w-insights">Insights<\/h2>/);
    const recent = sessionRows(html);
    assert.equal(
      recent.map((r) => r.id).sort(),
      [s1.session_id, s2.session_id, XSS_SESSION].sort(),
      'their own sessions only',
    );
    assert.ok(
      recent.every((r) => /^\d+\.\d$/.test(r.cells.at(-1)!)),
      'each with a score',
    );
    // Someone with nothing yet is told what to do next.
    const empty = await page(admin, '/me');
    assert.match(empty, /Nothing from you in this range/);
    assert.match(empty, /href="\/connect"/);
  },
);

s(
  'opening /team or /me leaves the person filter on every other page (the kept filter options are never changed)',
  async ({ manager, admin }) => {
    assert.match(await page(manager, '/sessions'), /<select name="user">/);
    await page(manager, '/team');
    assert.match(await page(manager, '/sessions'), /<select name="user">/, 'after /team');
    assert.match(await page(manager, '/'), /<select name="user">/, 'the overview after /team');
    await page(admin, '/me');
    assert.match(await page(admin, '/tools'), /<select name="user">/, 'after /me');
  },
);

s(
  'insights speak to people: days and hours as dates, a count in words, and no comparison with an empty previous period',
  async ({ server, developer }) => {
    // Someone whose first data is in this range has nothing to compare with.
    const mine = await page(developer, '/me');
    assert.match(
      mine,
      /<li>Nothing from you in the previous period \(\d{1,2} [A-Z][a-z]{2}( \d{4})? to \d{1,2} [A-Z][a-z]{2}( \d{4})?\), so there is nothing to compare with yet\.<\/li>/,
    );
    assert.not.match(mine, /close to the previous period/);
    // Hana's spend has unusual hours: said as times, never as ISO strings or "(s)".
    const hana = await page(await signIn(server, 'hana@acme.test', PASSWORD), '/me');
    const insights = /<ul class="insights">([\s\S]*?)<\/ul>/.exec(hana)?.[1] ?? '';
    assert.match(
      insights,
      /Your spend was unusual on (one hour: |\d+ hours, the latest )\d{1,2} [A-Z][a-z]{2}( \d{4})? \d\d:\d\d UTC\./,
    );
    assert.not.match(insights, /\d{4}-\d\d-\d\dT|\(s\)/);
    // Narrowed to a project, as the cards beside them are: the failure elsewhere is not this project's.
    const failed = /onerror=alert\(2\)&gt; failed most often for you/;
    const insightsOf = (html: string) => /<ul class="insights">([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '';
    assert.match(insightsOf(mine), failed);
    const narrowed = await page(developer, '/me?project=acme-api');
    assert.match(narrowed, /<option value="acme-api" selected/);
    assert.not.match(insightsOf(narrowed), failed);
  },
);

s('the anomalies table: a flat baseline is judged against a floor, never an infinite score', async ({ manager }) => {
  // Hana's dollar a day is the team's whole spend, flat for 24 days before yesterday's ten.
  const html = await page(manager, '/team?range=30d');
  const rows = [
    ...html.matchAll(
      /<tr>\s*<td class="nowrap">([^<]+)<\/td>\s*<td class="num">([^<]+)<\/td>\s*<td class="num">([^<]+)<\/td>\s*<td class="num">([^<]+)<\/td>\s*<td class="nowrap"><span class="badge sev-(\w+)"/g,
    ),
  ].map((m) => ({ when: m[1]!, value: m[2]!, usual: m[3]!, z: m[4]!, severity: m[5]! }));
  const spec = JSON.parse(/data-chart="([^"]+)"/.exec(html)![1]!.replace(/&quot;/g, '"')) as {
    series: { data: [number, number][] }[];
  };
  const top = spec.series[0]!.data.reduce((a, b) => (b[1] > a[1] ? b : a));
  const spike = rows.find((r) => r.when === `${new Date(top[0]).toISOString().slice(0, 10)} 00:00 UTC`);
  assert.ok(spike, `yesterday's spend is flagged: ${JSON.stringify(rows)}`);
  assert.equal(
    [spike.value, spike.usual, spike.z, spike.severity],
    ['$10.00', '$1.00 ± $0.05', '+180.0', 'high'],
    'against 5 % of a flat mean',
  );
  assert.not.ok(
    rows.some((r) => /∞/.test(r.z) || r.usual.endsWith('± $0.00')),
    JSON.stringify(rows),
  );
});

s("htmx requests get the page's <main> only", async ({ admin }) => {
  for (const path of ['/sessions', `/sessions/${s1.session_id}`, '/team', '/me']) {
    const html = await page(admin, path, 200, { 'hx-request': 'true' });
    assert.match(html, /<main id="page">/, path);
    assert.not.ok(/<html|<header class="top"|<script/.test(html), `${path}: a fragment`);
    const full = await page(admin, path);
    assert.match(full, /<html lang="en">[\s\S]*<header class="top">/, `${path}: the full page otherwise`);
  }
});

s.run();
