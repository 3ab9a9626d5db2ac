// The tool and model filters over real HTTP, with the shared fixtures (hooks and OTLP) and
// one request of another model: a model filter narrows requests, tokens and cost and leaves
// prompts, tool calls and sessions for every model (marked so, with a notice); the sessions
// lists keep the sessions that used the tool or model, page by page.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN, signIn, startTestServer, ingestKey, type Client, type TestServer } from './helpers.js';
import { dataRange, expectedHooks, FIXTURES, postFixtures } from './fixture-data.js';

type Ctx = { server: TestServer; admin: Client; range: string };
const s = suite<Ctx>('dashboards: tool and model filters');

const SONNET = 'claude-sonnet-4-5';
const OPUS = 'claude-opus-4-5';
const OPUS_SESSION = 'opus-only-session';
const otlpTotals = JSON.parse(readFileSync(join(FIXTURES, 'otlp', 'expected-totals.json'), 'utf8')) as Record<
  string,
  { costUsd: number; apiRequests: number }
>;
const fixtureCost = Object.values(otlpTotals).reduce((n, e) => n + e.costUsd, 0);

s.before(async (ctx) => {
  ctx.server = await startTestServer();
  const { key, tenantId, userId } = await ingestKey(ctx.server);
  await postFixtures(ctx.server, key);
  // One request of another model, in a session of its own (every fixture request is Sonnet's).
  const opus = {
    kind: 'api_request' as const,
    model: OPUS,
    request_id: 'opus-1',
    session_id: OPUS_SESSION,
    cost_usd: 2,
    input_tokens: 1000,
    ts: ctx.server.ctx.now().getTime() - 60_000,
  };
  assert.is((await ctx.server.ctx.ingest.ingest({ tenantId, userId }, 'rest', [opus])).accepted, 1);
  ctx.range = await dataRange(ctx.server, tenantId);
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
});
s.after(async (ctx) => ctx.server?.stop());

async function html(client: Client, path: string): Promise<string> {
  const res = await client.get(path);
  const body = await res.text();
  assert.is(res.status, 200, `${path}: ${res.status} ${body.slice(0, 300)}`);
  return body;
}
const kpi = (page: string, label: string) =>
  new RegExp(`<div class="kpi-label">${label}</div>\\s*<div class="kpi-value">([^<]*)</div>`).exec(page)?.[1];
const kpiNote = (page: string, label: string) =>
  new RegExp(
    `<div class="kpi-label">${label}</div>\\s*<div class="kpi-value">[^<]*</div>\\s*(?:<div class="kpi-note"><small class="muted">([^<]*)</small>)?`,
  ).exec(page)?.[1] ?? null;
const sessionIds = (page: string) => [...page.matchAll(/<tr data-session="([^"]+)">/g)].map((m) => m[1]!);
const chart = (page: string, id: string) =>
  JSON.parse(
    new RegExp(`id="${id}" data-live="${id}" data-chart="([^"]+)"`).exec(page)![1]!.replaceAll('&quot;', '"'),
  ) as { series: { name: string; data: [number, number | null][] }[] };
const usd = (n: number) => `$${n.toFixed(2)}`;

s(
  'the overview: a model filter narrows requests, tokens and cost; prompts, tool calls and sessions count every model, marked so',
  async ({ admin, range }) => {
    const all = await html(admin, `/?${range}`);
    const opus = await html(admin, `/?${range}&model=${OPUS}`);
    const sonnet = await html(admin, `/?${range}&model=${SONNET}`);
    assert.is(kpi(all, 'Cost'), usd(fixtureCost + 2));
    assert.is(kpi(opus, 'Cost'), usd(2));
    assert.is(kpi(sonnet, 'Cost'), usd(fixtureCost));
    assert.is(kpi(opus, 'Tokens'), '1k');
    for (const label of ['Sessions', 'Active users', 'Prompts', 'Tool calls', 'Lines added', 'Commits']) {
      assert.is(kpi(opus, label), kpi(all, label), `${label}: every model`);
      assert.is(kpiNote(opus, label), 'all models', `${label}: marked`);
      assert.is(kpiNote(all, label), null, `${label}: unmarked without a filter`);
    }
    assert.is.not(kpi(opus, 'Prompts'), '0');
    assert.is(kpiNote(opus, 'Cost'), null, 'cost is narrowed');
    assert.match(
      opus,
      /<p class="notice warn">The model filter narrows API requests and errors, tokens and cost; figures marked “all models” count every model\.<\/p>/,
    );
    assert.match(
      all,
      /<label title="Narrows API requests and errors, tokens and cost; other figures count all models\.">Model/,
      'the filter bar says it',
    );
    // The activity chart shows what a model narrows; cost by model and the recent sessions follow.
    const activity = chart(opus, 'chart-activity');
    assert.equal(
      activity.series.map((x) => x.name),
      ['API requests', 'API errors'],
    );
    assert.is(
      activity.series[0]!.data.reduce((n, [, v]) => n + (v ?? 0), 0),
      1,
    );
    assert.match(opus, /class="name">claude-opus-4-5</);
    assert.not.match(opus, /class="name">claude-sonnet-4-5</);
    assert.match(opus.slice(opus.indexOf('w-recent_sessions')), new RegExp(`/sessions/${OPUS_SESSION}`));
    assert.not.match(
      opus.slice(opus.indexOf('w-recent_sessions')),
      new RegExp(`/sessions/${expectedHooks[0]!.session_id}`),
    );
  },
);

s('the summary API: a model filter narrows the model figures only', async ({ server, admin, range }) => {
  const from = new URLSearchParams(range).get('from');
  const summary = async (q: string) =>
    (await (
      await admin.request(`/api/v1/dashboard/summary?from=${from}&to=${server.ctx.now().getTime() + 60_000}${q}`)
    ).json()) as Record<string, number> & { by_model: { model: string }[]; tokens: { total: number } };
  const all = await summary('');
  const opus = await summary(`&model=${OPUS}`);
  for (const m of ['sessions', 'prompts', 'tool_calls', 'lines_added']) assert.is(opus[m], all[m], m);
  assert.is(opus.cost_usd, 2);
  assert.is(opus.api_requests, 1);
  assert.is(opus.tokens.total, 1000);
  assert.equal(
    opus.by_model.map((r) => r.model),
    [OPUS],
  );
});

s(
  'team, tools and me: the same rule; a page with nothing a model narrows says the filter is ignored',
  async ({ server, admin, range }) => {
    const row = (page: string) =>
      /<tr data-user="[^"]+">([\s\S]*?)<\/tr>/
        .exec(page)![1]!
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
        .split(' ');
    const team = await html(admin, `/team?${range}`);
    const opusTeam = await html(admin, `/team?${range}&model=${OPUS}`);
    // Person, sessions, prompts, tool calls, failed, sub-agents, tokens, cost.
    assert.equal(row(opusTeam).slice(0, 6), row(team).slice(0, 6), 'counts of every model');
    assert.is(row(opusTeam)[7], usd(2), 'cost of the model');
    assert.match(opusTeam, /Prompts<br><small class="muted">all models<\/small>/);
    assert.not.match(opusTeam, /Cost<br><small/);

    const tools = await html(admin, `/tools?${range}`);
    const opusTools = await html(admin, `/tools?${range}&model=${OPUS}`);
    assert.match(
      opusTools,
      /The model filter narrows API requests and errors, tokens and cost, and this page shows none of them; it is ignored here\./,
    );
    const bash = (page: string) =>
      /class="name" title="Show Bash only">Bash<\/a>[\s\S]*?<td class="num">([^<]+)<\/td>/.exec(page)?.[1];
    assert.ok(bash(tools));
    assert.is(bash(opusTools), bash(tools));
    // A developer's own page: their prompts for every model, their cost for the one.
    const developer = await signIn(server, 'agent@acme.test', 'ingest password 1');
    const me = await html(developer, `/me?${range}`);
    const opusMe = await html(developer, `/me?${range}&model=${OPUS}`);
    assert.is(kpi(opusMe, 'Prompts'), kpi(me, 'Prompts'));
    assert.is(kpiNote(opusMe, 'Prompts'), 'all models');
    assert.is(kpi(opusMe, 'Cost'), usd(2));
    assert.match(opusMe, /The model filter narrows API requests and errors, tokens and cost;/);
  },
);

s('the sessions list keeps the sessions that used the tool or model, page by page', async ({ admin, range }) => {
  const glob = expectedHooks
    .filter((e) => e.by_tool.Glob)
    .map((e) => e.session_id)
    .sort();
  assert.ok(glob.length >= 1 && glob.length < expectedHooks.length, 'some fixture sessions used Glob');
  const page = await html(admin, `/sessions?${range}&tool=Glob`);
  assert.equal(sessionIds(page).sort(), glob);
  assert.match(page, /Only the sessions with a tool call of “Glob” in this range/);
  assert.not.match(page, /does not narrow/);
  assert.equal(
    sessionIds(await html(admin, `/sessions?${range}&model=${SONNET}`)).sort(),
    Object.keys(otlpTotals).sort(),
    'requests of Sonnet: the OTLP sessions',
  );
  assert.equal(sessionIds(await html(admin, `/sessions?${range}&model=${OPUS}`)), [OPUS_SESSION]);
  assert.equal(
    sessionIds(await html(admin, `/sessions?${range}&model=${SONNET}&tool=Glob`)),
    [],
    'both: none used both',
  );

  // One at a time, the cursor keeps the filter and every session comes once.
  const seen: string[] = [];
  let path: string | undefined = `/sessions?${range}&tool=Glob&limit=1`;
  for (let pages = 0; path; pages++) {
    assert.ok(pages <= glob.length, 'the pages end');
    const body = await html(admin, path);
    seen.push(...sessionIds(body));
    path = /<a class="older" href="([^"]+)"/.exec(body)?.[1]?.replaceAll('&amp;', '&');
    if (path) assert.is(new URL(path, 'http://x').searchParams.get('tool'), 'Glob');
  }
  assert.equal(seen.sort(), glob);
});

s.run();
