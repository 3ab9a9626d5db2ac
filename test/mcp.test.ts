// The MCP endpoint over a real server, asked by the SDK's own client: two developers send
// the OTLP fixtures (one the JSON files, the other the protobuf ones) through the ingest
// endpoints; a developer's read key sees exactly their own figures, a manager's the team's;
// no key, a wrong key, a key without `read` or a session cookie get a 401 with a challenge;
// bad arguments get an error result naming the argument; the Connect page's command works.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, ingestKey, signIn, startTestServer, type TestServer } from './helpers.js';
import { FIXTURES } from './fixture-data.js';
import { TOOL_NAMES } from '../src/web/mcp/tools.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Ctx = {
  server: TestServer;
  dev: { key: string; userId: string };
  colleague: { key: string; userId: string };
  manager: string;
  viewer: string;
  ingestOnly: string;
};

const s = suite<Ctx>('MCP endpoint');

// The fixtures' events happen on 2026-11-22 (UTC); "now" is the day after, so the tools' default periods hold them.
const NOW = new Date('2026-11-23T12:00:00Z');
const JSON_SESSION = {
  id: 'fixture-session-json',
  cost: 0.032895,
  tokens: 3475 + 973 + 15000 + 900,
  toolCalls: 6,
  toolFailures: 1,
  apiRequests: 3,
};
const PROTO_SESSION = {
  id: 'fixture-session-proto',
  cost: 0.036735,
  tokens: 3905 + 1143 + 15000 + 900,
  toolCalls: 6,
  toolFailures: 1,
  apiRequests: 3,
};

async function postOtlp(server: TestServer, key: string, files: [string, string][], type: string) {
  for (const [path, file] of files) {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': type, authorization: `Bearer ${key}` },
      body: new Uint8Array(readFileSync(join(FIXTURES, 'otlp', file))),
    });
    assert.is(res.status, 200, `${path} ${file}`);
  }
}

s.before(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  ctx.server.ctx.now = () => NOW;
  const dev = await ingestKey(ctx.server, ['ingest', 'read'], 'dev@acme.test');
  const colleague = await ingestKey(ctx.server, ['ingest', 'read'], 'colleague@acme.test');
  ctx.dev = { key: dev.key, userId: dev.userId };
  ctx.colleague = { key: colleague.key, userId: colleague.userId };
  ctx.ingestOnly = (await ingestKey(ctx.server, ['ingest'], 'dev@acme.test')).key;
  await runCommand(ctx.server.ctx, 'user create', {
    tenant: dev.tenantId,
    email: 'lead@acme.test',
    role: 'manager',
    password: 'manager password 1',
  });
  ctx.manager = (
    (await runCommand(ctx.server.ctx, 'apikey create', {
      tenant: dev.tenantId,
      user: 'lead@acme.test',
      scopes: 'read',
    })) as { key: string }
  ).key;
  await runCommand(ctx.server.ctx, 'user create', {
    tenant: dev.tenantId,
    email: 'board@acme.test',
    role: 'viewer',
    password: 'viewer password 1',
  });
  ctx.viewer = (
    (await runCommand(ctx.server.ctx, 'apikey create', {
      tenant: dev.tenantId,
      user: 'board@acme.test',
      scopes: 'read',
    })) as { key: string }
  ).key;
  await postOtlp(
    ctx.server,
    ctx.dev.key,
    [
      ['/v1/metrics', 'metrics.json'],
      ['/v1/logs', 'logs.json'],
    ],
    'application/json',
  );
  await postOtlp(
    ctx.server,
    ctx.colleague.key,
    [
      ['/v1/metrics', 'metrics.pb'],
      ['/v1/logs', 'logs.pb'],
    ],
    'application/x-protobuf',
  );
});
s.after(async (ctx) => ctx.server.stop());

/** The SDK's client, connected to `url` with `key` as a bearer token; closed after `use`. */
async function withClient<T>(url: string, key: string, use: (client: McpClient) => Promise<T>): Promise<T> {
  const client = new McpClient({ name: 'agentmeter-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
  );
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/** A tool's answer, which must not be an error. */
async function call(client: McpClient, name: string, args: Json = {}): Promise<Json> {
  const result = (await client.callTool({ name, arguments: args })) as {
    isError?: boolean;
    content: { type: string; text: string }[];
  };
  assert.not.ok(result.isError, `${name}: ${result.content[0]?.text}`);
  return JSON.parse(result.content[0]!.text) as Json;
}

/** A tool's error result's text, which must be one. */
async function failure(client: McpClient, name: string, args: Json): Promise<string> {
  const result = (await client.callTool({ name, arguments: args })) as {
    isError?: boolean;
    content: { type: string; text: string }[];
  };
  assert.ok(result.isError, `${name} ${JSON.stringify(args)} should fail: ${result.content[0]?.text}`);
  return result.content[0]!.text;
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} != ${b}`);
const sum = (rows: Json[], m: string) => rows.reduce((t, r) => t + Number(r[m] ?? 0), 0);

s('lists the tools, each with a description and a JSON schema of its arguments', async (ctx) => {
  await withClient(`${ctx.server.url}/mcp`, ctx.dev.key, async (client) => {
    const { tools } = await client.listTools();
    assert.equal(tools.map((t) => t.name).sort(), [
      'cost_breakdown',
      'firing_alerts',
      'get_session',
      'list_sessions',
      'query',
      'tool_failures',
      'usage',
    ]);
    for (const t of tools) {
      assert.ok((t.description ?? '').length > 80, `${t.name}: a description`);
      assert.is(t.inputSchema.type, 'object', t.name);
      assert.is(t.annotations?.readOnlyHint, true, t.name);
    }
    const usage = tools.find((t) => t.name === 'usage')!.inputSchema.properties as Json;
    assert.equal(usage.group_by.enum, ['day', 'model', 'project', 'tool']);
    assert.ok(usage.from && usage.to, 'usage takes a period');
    assert.ok((tools.find((t) => t.name === 'get_session')!.inputSchema.required ?? []).includes('session_id'));
  });
});

s("a developer's key: every tool answers with their own figures only", async (ctx) => {
  await withClient(`${ctx.server.url}/mcp`, ctx.dev.key, async (client) => {
    const mine = JSON_SESSION;
    // The default period (the last 7 days before NOW), one row a day.
    const byDay = await call(client, 'usage');
    assert.is(byDay.query.from, '2026-11-16T12:00:00.000Z');
    assert.equal(byDay.query.filters.user, [ctx.dev.userId], 'narrowed to the developer');
    assert.is(byDay.rows.length, 8, 'a row for each UTC day the period touches');
    close(sum(byDay.rows, 'cost_usd'), mine.cost, 'cost by day');
    assert.is(sum(byDay.rows, 'tool_calls'), mine.toolCalls);
    assert.is(sum(byDay.rows, 'sessions'), 1);
    assert.is(byDay.rows.find((r: Json) => r.t === '2026-11-22T00:00:00.000Z').tool_calls, mine.toolCalls);

    const byTool = await call(client, 'usage', { group_by: 'tool' });
    assert.equal(Object.fromEntries(byTool.rows.map((r: Json) => [r.tool, r.tool_calls])), {
      Read: 2,
      Edit: 2,
      Bash: 2,
    });
    const byModel = await call(client, 'usage', { group_by: 'model' });
    close(sum(byModel.rows, 'cost_usd'), mine.cost, 'cost by model');
    assert.is(sum(byModel.rows, 'tokens'), mine.tokens);
    assert.ok(
      byModel.rows.every((r: Json) => r.model !== null),
      'by model: only rows with a model',
    );

    const sessions = await call(client, 'list_sessions');
    assert.equal(
      sessions.sessions.map((x: Json) => x.session_id),
      [mine.id],
    );
    assert.is(sessions.sessions[0].tool_calls, mine.toolCalls);

    const one = await call(client, 'get_session', { session_id: mine.id, timeline_limit: 5 });
    assert.is(one.user_id, ctx.dev.userId);
    assert.is(one.totals.tool_calls, mine.toolCalls);
    assert.is(one.totals.tool_failures, mine.toolFailures);
    close(one.totals.cost_usd, mine.cost, 'session cost');
    assert.is(one.timeline.events.length, 5, 'the timeline is capped');
    assert.type(one.timeline.next_after, 'string');
    const next = await call(client, 'get_session', {
      session_id: mine.id,
      timeline_limit: 5,
      after: one.timeline.next_after,
    });
    assert.ok(next.timeline.events[0].seq !== one.timeline.events[0].seq, 'the next page goes on');
    assert.equal(JSON.parse(await failure(client, 'get_session', { session_id: mine.id, after: 'junk' })), {
      error: 'after: not one this server gave out',
      field: 'after',
    });
    // The colleague's session does not exist for the developer.
    assert.equal(JSON.parse(await failure(client, 'get_session', { session_id: PROTO_SESSION.id })), {
      error: 'session_id: no such session',
      field: 'session_id',
    });

    const cost = await call(client, 'cost_breakdown');
    close(cost.total.cost_usd, mine.cost, 'total cost');
    assert.is(cost.total.api_requests, mine.apiRequests);
    assert.equal(
      cost.by_person.map((p: Json) => p.user_email),
      ['dev@acme.test'],
    );

    const failures = await call(client, 'tool_failures');
    assert.is(sum(failures.errors, 'count'), mine.toolFailures);
    assert.ok(failures.errors.every((e: Json) => e.kind === 'tool_call'));

    const q = await call(client, 'query', {
      metrics: ['cost_usd', 'tool_calls', 'sessions'],
      from: '2026-11-01',
      to: '2026-12-01',
    });
    close(q.rows[0].cost_usd, mine.cost, 'query cost');
    assert.is(q.rows[0].tool_calls, mine.toolCalls);
    assert.is(q.rows[0].sessions, 1);
    // A tool filter on cost too: refused as a whole, or narrowing the tool figures alone.
    const bash = {
      metrics: ['cost_usd', 'tool_calls'],
      filters: { tool: ['NoSuchTool'] },
      from: '2026-11-01',
      to: '2026-12-01',
    };
    assert.equal(JSON.parse(await failure(client, 'query', bash)).field, 'filters.tool');
    const partial = await call(client, 'query', { ...bash, partial_filters: true });
    close(partial.rows[0].cost_usd, mine.cost, "partial: every tool's cost");
    assert.is(partial.rows[0].tool_calls, 0);
    // Asking for a colleague is refused, naming the argument.
    assert.equal(
      JSON.parse(await failure(client, 'query', { metrics: ['cost_usd'], filters: { user: [ctx.colleague.userId] } })),
      { error: 'user: you may only see your own data', field: 'user' },
    );
    assert.equal(JSON.parse(await failure(client, 'usage', { user: [ctx.colleague.userId] })).field, 'user');
  });
});

s("a manager's key: the team's figures, colleagues' sessions, cost by person", async (ctx) => {
  // An agent interaction without tokens or cost, in a project of its own: nothing spent there.
  const tenant = (await ctx.server.ctx.control.get<{ t: string }>('SELECT tenant_id AS t FROM users WHERE id = $id', {
    id: ctx.dev.userId,
  }))!.t;
  await ctx.server.ctx.ingest.ingest({ tenantId: tenant, userId: ctx.dev.userId }, 'rest', [
    { kind: 'agent_interaction', name: 'reviewer', ts: NOW.getTime() - 3_600_000, project: 'no-spend' },
  ]);
  await ctx.server.ctx.aggregator.runOnce();
  await withClient(`${ctx.server.url}/mcp`, ctx.manager, async (client) => {
    const team = [JSON_SESSION, PROTO_SESSION];
    const byDay = await call(client, 'usage');
    assert.not.ok(byDay.query.filters.user, 'not narrowed');
    close(sum(byDay.rows, 'cost_usd'), JSON_SESSION.cost + PROTO_SESSION.cost, 'team cost');
    assert.is(sum(byDay.rows, 'tool_calls'), 12);
    assert.is(sum(byDay.rows, 'sessions'), 2);

    const sessions = await call(client, 'list_sessions');
    assert.equal(sessions.sessions.map((x: Json) => x.session_id).sort(), team.map((t) => t.id).sort());
    const theirs = await call(client, 'get_session', { session_id: PROTO_SESSION.id });
    assert.is(theirs.user_id, ctx.colleague.userId);
    close(theirs.totals.cost_usd, PROTO_SESSION.cost, 'colleague session cost');

    const cost = await call(client, 'cost_breakdown');
    close(cost.total.cost_usd, JSON_SESSION.cost + PROTO_SESSION.cost, 'total cost');
    const byPerson = Object.fromEntries(cost.by_person.map((p: Json) => [p.user_email, p.cost_usd]));
    close(byPerson['dev@acme.test'], JSON_SESSION.cost, 'dev');
    close(byPerson['colleague@acme.test'], PROTO_SESSION.cost, 'colleague');
    // Rows of zeros (the agent interaction above) are left out, as the summary's by_model leaves them.
    for (const rows of [cost.by_model, cost.by_project, cost.by_person])
      for (const r of rows) assert.ok(r.cost_usd > 0 || r.tokens > 0 || r.api_requests > 0, JSON.stringify(r));
    assert.not.ok(cost.by_project.some((r: Json) => r.project === 'no-spend'));

    assert.is(sum((await call(client, 'tool_failures')).errors, 'count'), 2);
    const q = await call(client, 'query', {
      metrics: ['cost_usd'],
      group_by: ['user'],
      from: '2026-11-01',
      to: '2026-12-01',
      order_by: 'cost_usd',
    });
    assert.equal(
      q.rows.map((r: Json) => [r.user, r.user_email]),
      [
        [ctx.colleague.userId, 'colleague@acme.test'],
        [ctx.dev.userId, 'dev@acme.test'],
      ],
    );
  });
});

s("a viewer's key: the team's figures, but no sessions and no people", async (ctx) => {
  await withClient(`${ctx.server.url}/mcp`, ctx.viewer, async (client) => {
    close(sum((await call(client, 'usage')).rows, 'cost_usd'), JSON_SESSION.cost + PROTO_SESSION.cost, 'team cost');
    const cost = await call(client, 'cost_breakdown');
    close(cost.total.cost_usd, JSON_SESSION.cost + PROTO_SESSION.cost, 'total cost');
    assert.not.ok('by_person' in cost, 'no cost by person');
    assert.match(await failure(client, 'list_sessions', {}), /team figures only/);
    assert.match(await failure(client, 'get_session', { session_id: JSON_SESSION.id }), /team figures only/);
    assert.equal(
      JSON.parse(await failure(client, 'query', { metrics: ['cost_usd'], group_by: ['user'] })).field,
      'user',
    );
  });
});

s('bad arguments: an error result naming the argument, and the server goes on answering', async (ctx) => {
  await withClient(`${ctx.server.url}/mcp`, ctx.dev.key, async (client) => {
    assert.equal(JSON.parse(await failure(client, 'query', { metrics: ['cost_usd', 'no_such_metric'] })), {
      error: 'metrics.1: unknown metric "no_such_metric"',
      field: 'metrics.1',
    });
    assert.equal(
      JSON.parse(await failure(client, 'query', { metrics: ['cost_usd'], interval: '2w' })).field,
      'interval',
    );
    assert.equal(
      JSON.parse(await failure(client, 'query', { metrics: ['prompts'], group_by: ['tool'] })).field,
      'group_by.tool',
    );
    assert.equal(JSON.parse(await failure(client, 'usage', { from: 'last tuesday' })).field, 'from');
    assert.equal(JSON.parse(await failure(client, 'usage', { from: '2026-11-20', to: '2026-11-10' })).field, 'from');
    assert.equal(JSON.parse(await failure(client, 'list_sessions', { cursor: 'not-a-cursor' })).field, 'cursor');
    // The SDK checks the arguments against the tool's schema first; its message names them too.
    assert.match(await failure(client, 'query', { metrics: 'cost_usd' }), /metrics/);
    assert.match(await failure(client, 'usage', { group_by: 'week' }), /group_by/);
    assert.match(await failure(client, 'list_sessions', { limit: 1000 }), /limit/);
    assert.match(await failure(client, 'usage', { surprise: 1 }), /surprise/);
    assert.is((await call(client, 'usage')).rows.length, 8, 'still answering');
  });
});

s(
  '401 with a challenge without a key with the read scope; GET and DELETE are 405; big bodies 413; bad params -32602',
  async (ctx) => {
    const url = `${ctx.server.url}/mcp`;
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    };
    const post = (headers: Record<string, string>, body: string = JSON.stringify(init)) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body,
      });
    const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
    const cookie = [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    for (const [what, headers] of [
      ['no key', {}],
      ['a wrong key', { authorization: 'Bearer amk_not_a_key' }],
      ['a key without read', { authorization: `Bearer ${ctx.ingestOnly}` }],
      ['a session cookie', { cookie }],
    ] as const) {
      const res = await post(headers);
      assert.is(res.status, 401, what);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${what}: the challenge`);
      assert.is(((await res.json()) as Json).field, 'authorization', what);
    }
    const ok = await post({ authorization: `Bearer ${ctx.dev.key}` });
    assert.is(ok.status, 200, 'the same request with a read key');
    assert.is(((await ok.json()) as Json).result.serverInfo.name, 'agentmeter');
    // The SDK's client gets the 401 too.
    try {
      await withClient(url, ctx.ingestOnly, async () => undefined);
      assert.unreachable('connected with a key without read');
    } catch (err) {
      assert.is((err as { code?: number }).code, 401, String(err));
      assert.match(String(err), /lacks the \\"read\\" scope/);
    }
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${ctx.dev.key}`, accept: 'text/event-stream' },
      });
      assert.is(res.status, 405, method);
      assert.is(res.headers.get('allow'), 'POST');
    }
    const big = await post(
      { authorization: `Bearer ${ctx.dev.key}` },
      JSON.stringify({ ...init, padding: 'x'.repeat(2 * 1024 * 1024) }),
    );
    assert.is(big.status, 413);
    assert.is(((await big.json()) as Json).field, 'body');
    const malformed = await post({ authorization: `Bearer ${ctx.dev.key}` }, '{"jsonrpc":');
    assert.is(malformed.status, 400, 'malformed JSON');
    // A tools/call with params of the wrong shape: bad params (-32602) naming the field, not an internal error.
    for (const [params, field] of [
      [{ name: 'usage', arguments: [] }, 'params.arguments'],
      [{ name: 'usage', arguments: 'all' }, 'params.arguments'],
      [{ name: 5 }, 'params.name'],
      [[], 'params'],
    ] as const) {
      const res = await post(
        { authorization: `Bearer ${ctx.dev.key}` },
        JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params }),
      );
      assert.is(res.status, 200, field);
      const { id, error } = (await res.json()) as Json;
      assert.equal([id, error.code], [7, -32602], field);
      assert.match(error.message, new RegExp(`^${field.replace('.', '\\.')}: `), field);
    }
  },
);

s('the Connect page shows the claude mcp add command, and the command works', async (ctx) => {
  const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
  const html = await (await admin.get('/connect')).text();
  const shown = /<pre class="code" id="mcp-command">([^<]*)<\/pre>/.exec(html)?.[1];
  const base = ctx.server.ctx.publicUrl.href.replace(/\/$/, '');
  assert.is(
    shown,
    `claude mcp add --transport http agentmeter ${base}/mcp --header &quot;Authorization: Bearer &lt;API key with the read scope&gt;&quot;`,
  );
  // Its URL and header, with a read key in place of the placeholder, reach the tools.
  const url = /--transport http agentmeter (\S+) --header/.exec(shown!)![1]!;
  await withClient(url, ctx.dev.key, async (client) =>
    assert.is((await client.listTools()).tools.length, TOOL_NAMES.length),
  );
});

s.run();
