// The tools page and the agents & commands page over a real server: the hook fixtures'
// per-tool counts in the tables, agent-sent names escaped, the tool filter, unknown filter
// values, htmx fragments, export links that answer, and who sees what (developer: own data;
// viewer: team figures, no one named; signed out: to the login page and back).
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, ingestKey, ingestSuite, signIn, type Client, type IngestCtx } from './helpers.js';
import { expectedHooks as expected, hookLines } from './fixture-data.js';

const FILES = ['session-1.jsonl', 'session-2.jsonl', 'session-3.jsonl'];

const XSS_TOOL = '<img src=x onerror=alert(1)>';
const XSS_ERROR = 'failed: <script>alert(2)</script>\nsecond line';

type Ctx = IngestCtx;
const pages = ingestSuite('dashboards: tools, agents & commands');

const post = (ctx: Ctx, path: string, body: unknown, key = ctx.key) =>
  fetch(`${ctx.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function postHooks(ctx: Ctx, files: string[], key = ctx.key) {
  for (const file of files)
    for (const line of hookLines(file))
      assert.is((await post(ctx, '/api/v1/hooks/claude-code', line, key)).status, 200, file);
}

/** What the fixtures add up to, for the sessions of `files`. */
function totals(files = FILES) {
  const ids = new Set(files.map((f) => JSON.parse(hookLines(f)[0]!).session_id as string));
  const mine = expected.filter((e) => ids.has(e.session_id));
  const byTool: Record<string, number> = {};
  for (const e of mine) for (const [tool, n] of Object.entries(e.by_tool)) byTool[tool] = (byTool[tool] ?? 0) + n;
  return {
    byTool,
    calls: mine.reduce((a, e) => a + e.tool_calls, 0),
    failures: mine.reduce((a, e) => a + e.tool_failures, 0),
    subagents: mine.reduce((a, e) => a + e.subagents, 0),
  };
}

const decode = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
const text = (html: string) =>
  decode(html.replace(/<[^>]*>/g, ''))
    .replace(/\s+/g, ' ')
    .trim();

/** The body rows of the table inside the `data-live` region `live`, as cell texts; null when the region has no table. */
function tableIn(html: string, live: string): string[][] | null {
  const start = html.indexOf(`data-live="${live}"`);
  assert.ok(start >= 0, `the page has a ${live} region`);
  const region = html.slice(start, html.indexOf('</section>', start));
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(region)?.[1];
  if (body === undefined) return null;
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) => text(cell[1]!)),
  );
}

const byFirst = (rows: string[][], col: number) => Object.fromEntries(rows.map((r) => [r[0], Number(r[col])]));

async function page(client: Client, path: string, headers: Record<string, string> = {}) {
  const res = await client.get(path, headers);
  const html = await res.text();
  assert.is(res.status, 200, `${path}: ${res.status} ${html.slice(0, 300)}`);
  return html;
}

/** Every export link on a page answers 200 to the same person (the queries are valid and allowed). */
async function exportsAnswer(client: Client, html: string) {
  const links = [...html.matchAll(/<a href="(\/api\/v1\/(?:query|errors)\?[^"]+)" download>/g)].map((m) =>
    decode(m[1]!),
  );
  assert.ok(links.length >= 3, `export links: ${links.length}`);
  for (const link of links) {
    const res = await client.request(link);
    assert.is(res.status, 200, `${link}: ${await res.text()}`);
  }
  return links;
}

const admin = (ctx: Ctx) => signIn(ctx.server, ADMIN.email, ADMIN.password);

async function person(ctx: Ctx, email: string, role: string) {
  await runCommand(ctx.server.ctx, 'user create', { tenant: ctx.tenantId, email, role, password: 'a long password 1' });
  return signIn(ctx.server, email, 'a long password 1');
}

pages(
  "the tools page shows the hook fixtures' calls and failures per tool, before and after the rollups, with a chart and the most common errors",
  async (ctx) => {
    await postHooks(ctx, FILES);
    const want = totals();
    const client = await admin(ctx);
    for (const stage of ['raw', 'rolled up']) {
      if (stage === 'rolled up') await ctx.server.ctx.aggregator.runOnce(undefined, { compact: true });
      const html = await page(client, '/tools');
      assert.match(html, /<html/);
      assert.match(html, /<title>Tools · agentmeter<\/title>/);
      const rows = tableIn(html, 'tools-table')!;
      assert.ok(rows, `${stage}: a table of tools`);
      assert.equal(byFirst(rows, 1), want.byTool, `${stage}: calls per tool`);
      assert.is(
        rows.reduce((a, r) => a + Number(r[2]), 0),
        want.failures,
        `${stage}: failures`,
      );
      for (const r of rows) {
        assert.match(r[3]!, /%$/, `${stage}: ${r[0]} failure rate`);
        assert.not.equal(r[4], '–', `${stage}: ${r[0]} has a p50`);
      }
      // Most used first; each tool links to the page filtered to it.
      assert.equal(
        rows.map((r) => Number(r[1])),
        [...rows.map((r) => Number(r[1]))].sort((a, b) => b - a),
      );
      assert.match(html, /<a href="\/tools\?tool=Bash" class="name"/);

      const chart = /data-live="chart-tool-activity" data-chart="([^"]+)"/.exec(html);
      assert.ok(chart, 'a chart of calls and failures');
      const spec = JSON.parse(decode(chart![1]!)) as { series: { name: string; data: [number, number][] }[] };
      assert.equal(
        spec.series.map((s) => s.name),
        ['Tool calls', 'Failures'],
      );
      assert.is(
        spec.series[0]!.data.reduce((a, [, v]) => a + v, 0),
        want.calls,
        `${stage}: the chart adds up`,
      );
      assert.is(
        spec.series[1]!.data.reduce((a, [, v]) => a + v, 0),
        want.failures,
      );
      assert.not.match(html, /data-live="chart-tool-durations"/, 'no duration chart without a tool filter');

      const errors = tableIn(html, 'tool-errors')!;
      assert.ok(errors, 'a table of errors');
      assert.equal(
        errors.map((r) => [r[0], r[1], Number(r[2])]),
        [['Bash', 'Command exited with non-zero status code 1', want.failures]],
      );
      assert.match(errors[0]![4]!, /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/, 'last seen');
    }
    const html = await page(client, '/tools');
    const links = await exportsAnswer(client, html);
    const csv = await (await client.request(links.find((l) => l.includes('format=csv'))!)).text();
    assert.ok(csv.startsWith('tool,tool_calls,tool_failures,'), csv.slice(0, 100));
    assert.ok(
      csv.includes(`\r\n"Bash",${want.byTool.Bash},${want.failures},`),
      'the export holds what the table shows',
    );
    const errorsLink = links.find((l) => l.startsWith('/api/v1/errors?') && l.includes('format=json'))!;
    const fromApi = (await (await client.request(errorsLink)).json()) as { kind: string; count: number }[];
    assert.is(fromApi.find((e) => e.kind === 'tool_call')?.count, want.failures);
  },
);

pages(
  'the agents page: sub-agents from hooks, REST commands and agent interactions, each with its failures, and a chart of all three',
  async (ctx) => {
    await postHooks(ctx, FILES);
    for (const [name, status, ms] of [
      ['/review', 'success', 1200],
      ['/review', 'failure', 800],
      ['/deploy', 'success', 4000],
    ] as const) {
      assert.is(
        (await post(ctx, '/api/metrics/commands', { command_name: name, status, execution_time_ms: ms })).status,
        201,
      );
    }
    for (const [status, ms] of [
      ['success', 2000],
      ['success', 3000],
      ['error', 500],
      ['timeout', 9000],
    ] as const) {
      assert.is(
        (
          await post(ctx, '/api/metrics/agents', {
            agent_name: 'reviewer',
            interaction_type: 'review',
            status,
            execution_time_ms: ms,
          })
        ).status,
        201,
      );
    }
    const client = await admin(ctx);
    const untimed = await page(client, '/agents');
    assert.equal(
      tableIn(untimed, 'subagents-table')!.map((r) => r.length),
      [4],
      'no duration columns when no sub-agent reported one',
    );
    assert.match(untimed, /SubagentStop hook carries none/);

    // A client that times its sub-agents (duration_ms on SubagentStop), and one still running.
    const plan = { session_id: 'timed', agent_type: 'Plan' };
    for (const [event, id, extra] of [
      ['SubagentStart', 'p1', {}],
      ['SubagentStop', 'p1', { duration_ms: 5000 }],
      ['SubagentStart', 'p2', {}],
    ] as const) {
      assert.is(
        (await post(ctx, '/api/v1/hooks/claude-code', { ...plan, ...extra, hook_event_name: event, agent_id: id }))
          .status,
        200,
      );
    }
    await ctx.server.ctx.aggregator.runOnce();
    const html = await page(client, '/agents');
    assert.match(html, /<title>Agents &amp; commands · agentmeter<\/title>/);

    const subagents = tableIn(html, 'subagents-table')!;
    const n = String(totals().subagents);
    assert.equal(
      subagents.map((r) => r.slice(0, 5)),
      [
        ['Explore', n, n, '0', '–'],
        ['Plan', '2', '1', '1', subagents[1]![4]!],
      ],
      'runs, finished, not finished',
    );
    assert.match(subagents[1]![4]!, /^(4\.9|5|5\.1) s$/, 'the reported duration');
    assert.not.match(html, /SubagentStop hook carries none/);

    const commands = tableIn(html, 'commands-table')!;
    assert.equal(
      commands.map((r) => r.slice(0, 4)),
      [
        ['/review', '2', '1', '50.0%'],
        ['/deploy', '1', '0', '0%'],
      ],
    );
    assert.ok(
      commands.every((r) => r[4] !== '–' && r[5] !== '–'),
      'command durations',
    );

    const interactions = tableIn(html, 'interactions-table')!;
    // error → failure, and a timeout counts as a failure too.
    assert.equal(
      interactions.map((r) => r.slice(0, 4)),
      [['reviewer', '4', '2', '50.0%']],
    );

    const chart = /data-live="chart-agent-activity" data-chart="([^"]+)"/.exec(html);
    const spec = JSON.parse(decode(chart![1]!)) as { series: { name: string; data: [number, number][] }[] };
    const sum = (i: number) => spec.series[i]!.data.reduce((a, [, v]) => a + v, 0);
    assert.equal(
      spec.series.map((s) => s.name),
      ['Sub-agent runs', 'Agent interactions (REST)', 'Commands'],
    );
    assert.equal([sum(0), sum(1), sum(2)], [totals().subagents + 2, 4, 3]);
    await exportsAnswer(client, html);
  },
);

pages('empty pages say what to do', async (ctx) => {
  const client = await admin(ctx);
  const tools = await page(client, '/tools');
  assert.is(tableIn(tools, 'tools-table'), null);
  assert.match(tools, /No tool calls in this range\./);
  assert.match(tools, /No failed tool calls in this range\./);
  const agents = await page(client, '/agents');
  assert.match(agents, /No sub-agents in this range\.[\s\S]*SubagentStart and SubagentStop hooks/);
  assert.match(agents, /No commands in this range\.[\s\S]*POST \/api\/metrics\/commands/);
  assert.match(agents, /No agent interactions in this range\.[\s\S]*POST \/api\/metrics\/agents/);
});

pages('a tool, an error, a sub-agent and a command named like HTML appear only escaped', async (ctx) => {
  const base = {
    session_id: 'xss-session',
    cwd: '/tmp/x',
    tool_name: XSS_TOOL,
    tool_use_id: 'toolu_xss',
    tool_input: {},
  };
  assert.is((await post(ctx, '/api/v1/hooks/claude-code', { ...base, hook_event_name: 'PreToolUse' })).status, 200);
  assert.is(
    (await post(ctx, '/api/v1/hooks/claude-code', { ...base, hook_event_name: 'PostToolUseFailure', error: XSS_ERROR }))
      .status,
    200,
  );
  assert.is(
    (
      await post(ctx, '/api/v1/hooks/claude-code', {
        session_id: 'xss-session',
        hook_event_name: 'SubagentStart',
        agent_id: 'a1',
        agent_type: '<svg onload=alert(3)>',
      })
    ).status,
    200,
  );
  assert.is(
    (
      await post(ctx, '/api/metrics/commands', {
        command_name: '"><script>alert(4)</script>',
        status: 'failure',
        execution_time_ms: 5,
      })
    ).status,
    201,
  );
  const client = await admin(ctx);

  const tools = await page(client, '/tools');
  assert.not.match(tools, /<img src=x/);
  assert.not.match(tools, /<script>alert/);
  assert.match(tools, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.equal(
    tableIn(tools, 'tools-table')!.map((r) => r[0]),
    [XSS_TOOL],
  );
  const errors = tableIn(tools, 'tool-errors')!;
  assert.equal(
    errors.map((r) => [r[0], r[1]]),
    [[XSS_TOOL, 'failed: <script>alert(2)</script>']],
    'the first line only',
  );
  assert.match(tools, /&lt;script&gt;alert\(2\)&lt;\/script&gt;/);

  // Filtered to it: the heading, the duration chart's title and the filter bar escape it too.
  const one = await page(client, `/tools?tool=${encodeURIComponent(XSS_TOOL)}`);
  assert.not.match(one, /<img src=x/);
  assert.match(one, /<h1>Tools: <span class="name">&lt;img src=x onerror=alert\(1\)&gt;<\/span><\/h1>/);
  assert.match(one, /data-live="chart-tool-durations"/);

  const agents = await page(client, '/agents');
  assert.not.match(agents, /<svg onload/);
  assert.not.match(agents, /<script>alert/);
  assert.match(agents, /&lt;svg onload=alert\(3\)&gt;/);
  assert.match(agents, /&quot;&gt;&lt;script&gt;alert\(4\)&lt;\/script&gt;/);
});

pages(
  'the tool filter narrows the table, the chart and the errors, and adds the duration chart; an unknown tool is a notice',
  async (ctx) => {
    await postHooks(ctx, FILES);
    await ctx.server.ctx.aggregator.runOnce();
    const want = totals();
    const client = await admin(ctx);

    const bash = await page(client, '/tools?tool=Bash&range=24h');
    const rows = tableIn(bash, 'tools-table')!;
    assert.equal(
      rows.map((r) => [r[0], Number(r[1]), Number(r[2])]),
      [['Bash', want.byTool.Bash, want.failures]],
    );
    assert.match(bash, /<option value="Bash" selected/);
    assert.match(bash, /<a href="\/tools\?range=24h">All tools<\/a>/, 'a way back, keeping the range');
    const durations = /data-live="chart-tool-durations" data-chart="([^"]+)"/.exec(bash);
    assert.ok(durations, 'a duration chart for the one tool');
    const spec = JSON.parse(decode(durations![1]!)) as {
      unit: string;
      series: { name: string; data: [number, number | null][] }[];
    };
    assert.is(spec.unit, 'ms');
    assert.equal(
      spec.series.map((s) => s.name),
      ['p50', 'p95'],
    );
    assert.ok(
      spec.series[0]!.data.some(([, v]) => v !== null && v > 0),
      'durations were measured',
    );
    assert.equal(
      tableIn(bash, 'tool-errors')!.map((r) => r[0]),
      ['Bash'],
    );

    const grep = await page(client, '/tools?tool=Grep');
    assert.equal(
      tableIn(grep, 'tools-table')!.map((r) => [r[0], Number(r[1])]),
      [['Grep', want.byTool.Grep]],
    );
    assert.is(tableIn(grep, 'tool-errors'), null, 'Grep never failed');
    assert.match(grep, /No failed tool calls in this range\./);
    const errorsLink = decode(/<a href="(\/api\/v1\/errors\?[^"]+)" download>/.exec(grep)![1]!);
    assert.match(errorsLink, /[?&]tool=Grep(&|$)/, 'the errors export asks for the same tool');

    const nope = await page(client, '/tools?tool=Nope');
    assert.match(nope, /class="notice warn">No tool “Nope” in this range; that filter is ignored\./);
    assert.equal(byFirst(tableIn(nope, 'tools-table')!, 1), want.byTool, 'all tools, as if unfiltered');
    assert.not.match(nope, /data-live="chart-tool-durations"/);

    // The agents page has no tool dimension: it says so and shows everything.
    const agents = await page(client, '/agents?tool=Bash');
    assert.match(agents, /The tool filter narrows tool calls[^<]*this page shows none of them; it is ignored here\./);
    assert.equal(
      tableIn(agents, 'subagents-table')!.map((r) => r[0]),
      ['Explore'],
    );
  },
);

pages("an htmx request gets only the page's <main>; the live refresh gets the same regions", async (ctx) => {
  await postHooks(ctx, ['session-1.jsonl']);
  const client = await admin(ctx);
  for (const path of ['/tools?tool=Bash', '/agents']) {
    const full = await page(client, path);
    const res = await client.get(path, { 'HX-Request': 'true' });
    const fragment = await res.text();
    assert.is(res.status, 200);
    assert.match(res.headers.get('vary') ?? '', /hx-request/i);
    assert.not.match(fragment, /<html|<head>|<nav|<body/);
    assert.match(fragment, /^<title>[^<]+<\/title>\s*<main id="page">/);
    assert.match(fragment, /<\/main>\s*$/);
    const regions = (html: string) => [...html.matchAll(/data-live="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(regions(fragment), regions(full), `${path}: the same live regions`);
    assert.ok(regions(full).length >= 3, `${path}: live regions`);
  }
});

pages('a developer sees only their own data on both pages', async (ctx) => {
  const other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
  await postHooks(ctx, ['session-1.jsonl', 'session-3.jsonl']);
  await postHooks(ctx, ['session-2.jsonl'], other.key);
  assert.is(
    (await post(ctx, '/api/metrics/commands', { command_name: '/mine', status: 'success', execution_time_ms: 10 }))
      .status,
    201,
  );
  assert.is(
    (
      await post(
        ctx,
        '/api/metrics/commands',
        { command_name: '/theirs', status: 'success', execution_time_ms: 10 },
        other.key,
      )
    ).status,
    201,
  );

  const mine = totals(['session-1.jsonl', 'session-3.jsonl']);
  const theirs = totals(['session-2.jsonl']);
  const me = await signIn(ctx.server, 'agent@acme.test', 'ingest password 1');
  const tools = await page(me, '/tools');
  assert.equal(byFirst(tableIn(tools, 'tools-table')!, 1), mine.byTool);
  assert.is(tableIn(tools, 'tool-errors')![0]![2], String(mine.failures));
  const agents = await page(me, '/agents');
  assert.equal(
    tableIn(agents, 'subagents-table')!.map((r) => r[1]),
    [String(mine.subagents)],
  );
  assert.equal(
    tableIn(agents, 'commands-table')!.map((r) => r[0]),
    ['/mine'],
  );
  await exportsAnswer(me, tools);

  // Asking for a colleague is not possible: the filter is dropped, the figures stay one's own.
  const asOther = await page(me, `/tools?user=${other.userId}`);
  assert.match(asOther, /No user “[^”]+” in this range; that filter is ignored\./);
  assert.equal(byFirst(tableIn(asOther, 'tools-table')!, 1), mine.byTool);

  const them = await signIn(ctx.server, 'other@acme.test', 'ingest password 1');
  const theirTools = await page(them, '/tools');
  assert.equal(byFirst(tableIn(theirTools, 'tools-table')!, 1), theirs.byTool);
  assert.is(tableIn(theirTools, 'tool-errors'), null, 'session 2 had no failures');
});

pages('a viewer opens both pages with team figures and no one named', async (ctx) => {
  const other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
  await postHooks(ctx, ['session-1.jsonl', 'session-3.jsonl']);
  await postHooks(ctx, ['session-2.jsonl'], other.key);
  const viewer = await person(ctx, 'eyes@acme.test', 'viewer');
  const want = totals();

  const tools = await page(viewer, '/tools');
  assert.equal(byFirst(tableIn(tools, 'tools-table')!, 1), want.byTool, 'team figures');
  assert.not.match(tools, /name="user"/, 'no person to pick');
  assert.not.match(tools, /agent@acme\.test|other@acme\.test/);
  const agents = await page(viewer, '/agents');
  assert.equal(
    tableIn(agents, 'subagents-table')!.map((r) => r[1]),
    [String(want.subagents)],
  );
  assert.not.match(agents, /name="user"/);
  await exportsAnswer(viewer, tools);
  await exportsAnswer(viewer, agents);

  const named = await page(viewer, `/tools?user=${ctx.userId}`);
  assert.match(named, /that filter is ignored/);
  assert.equal(byFirst(tableIn(named, 'tools-table')!, 1), want.byTool);
  const errorsLink = decode(/<a href="(\/api\/v1\/errors\?[^"]+)" download>/.exec(named)![1]!);
  assert.not.match(errorsLink, /user=/);
});

pages('signed out, both pages send to the login page and back (htmx: by HX-Redirect)', async (ctx) => {
  for (const path of ['/tools?tool=Bash&range=24h', '/agents']) {
    const res = await fetch(`${ctx.server.url}${path}`, { redirect: 'manual', headers: { accept: 'text/html' } });
    assert.is(res.status, 303, path);
    assert.is(res.headers.get('location'), `/login?next=${encodeURIComponent(path)}`);
    const hx = await fetch(`${ctx.server.url}${path}`, {
      redirect: 'manual',
      headers: { 'hx-request': 'true', 'hx-current-url': `${ctx.server.url}${path}` },
    });
    assert.is(hx.status, 204);
    assert.is(hx.headers.get('hx-redirect'), `/login?next=${encodeURIComponent(path)}`);
  }
  // An API key is not a signed-in person.
  const withKey = await fetch(`${ctx.server.url}/tools`, {
    redirect: 'manual',
    headers: { authorization: `Bearer ${ctx.key}` },
  });
  assert.is(withKey.status, 303);
  // …and the sign-in page it is sent to shows its form, instead of sending it back (a loop).
  const login = await fetch(`${ctx.server.url}${withKey.headers.get('location')}`, {
    redirect: 'manual',
    headers: { authorization: `Bearer ${ctx.key}` },
  });
  assert.is(login.status, 200);
});

pages.run();
