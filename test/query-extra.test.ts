// What the dashboards need beyond the query API, over a real server with data sent through
// the real ingest endpoints: GET /api/v1/query as JSON and as CSV/JSON/NDJSON downloads that
// read back to what POST /api/v1/query answers (roles and bad input included), the most
// common errors, and the caller's last event.
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { formatRows, rowsBody, type ExportFormat } from '../src/query/export.js';
import { ingestKey, ingestSuite, signIn, type IngestCtx } from './helpers.js';
import { parseCsv } from './csv.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Ctx = IngestCtx;
const extra = ingestSuite('query extras');

const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const get = (ctx: Ctx, path: string, key = ctx.key) => fetch(`${ctx.server.url}${path}`, { headers: auth(key) });
const send = async (ctx: Ctx, path: string, body: unknown, key = ctx.key) => {
  const res = await fetch(`${ctx.server.url}${path}`, {
    method: 'POST',
    headers: { ...auth(key), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(res.status === 200 || res.status === 201, `${path}: ${res.status} ${await res.clone().text()}`);
  return res;
};
const getQuery = (ctx: Ctx, q: unknown, format?: string, key = ctx.key) =>
  get(
    ctx,
    `/api/v1/query?q=${encodeURIComponent(typeof q === 'string' ? q : JSON.stringify(q))}${format ? `&format=${format}` : ''}`,
    key,
  );
async function postQuery(ctx: Ctx, q: unknown): Promise<{ rows: Json[]; truncated: boolean }> {
  const res = await send(ctx, '/api/v1/query', q);
  return (await res.json()) as { rows: Json[]; truncated: boolean };
}
const fieldOf = async (res: Response) => ((await res.json()) as { field?: string }).field;

/** A CSV download back as rows: numbers as numbers, the formula apostrophe removed. */
function csvRows(text: string, numeric: string[]): { header: string[]; rows: Json[] } {
  const [header, ...records] = parseCsv(text);
  const rows = records.map((r) =>
    Object.fromEntries(
      header!.map((h, i) => {
        const v = r[i] ?? null;
        if (v === null) return [h, null];
        if (numeric.includes(h!)) return [h, Number(v)];
        return [h, v.startsWith("'") ? v.slice(1) : v];
      }),
    ),
  );
  return { header: header as string[], rows };
}

/** Command names a spreadsheet or a naive CSV writer gets wrong. */
const NASTY = ['deploy, prod', 'say "hi"', 'multi\nline', '=HYPERLINK("http://x")', '-rf', '@SUM(A1)', 'plain'];

async function seedCommands(ctx: Ctx, base: number) {
  for (const [i, name] of NASTY.entries()) {
    for (let n = 0; n <= i; n++) {
      await send(ctx, '/api/metrics/commands', {
        command_name: name,
        execution_time_ms: 100 * (n + 1),
        status: n === 1 ? 'failure' : 'success',
        executed_at: new Date(base + (i * 10 + n) * 60_000).toISOString(),
        session_id: `s${i % 2}`,
        project: i % 2 ? 'web, "app"' : 'api',
      });
    }
  }
}

extra('GET /api/v1/query: CSV, JSON and NDJSON downloads read back to the rows POST answers', async (ctx) => {
  const base = Date.UTC(2026, 2, 1, 9, 0, 0);
  await seedCommands(ctx, base);
  const q = {
    metrics: ['commands', 'command_failures', 'command_max_ms'],
    group_by: ['command'],
    from: new Date(base - 3_600_000).toISOString(),
    to: new Date(base + 3 * 3_600_000).toISOString(),
    order_by: 'commands',
  };
  const posted = await postQuery(ctx, q);
  assert.is(posted.rows.length, NASTY.length);
  assert.equal(
    posted.rows.map((r) => r.commands),
    [7, 6, 5, 4, 3, 2, 1],
    'ordered by count',
  );

  // Without format: what POST answers.
  const plain = await getQuery(ctx, q);
  assert.is(plain.status, 200);
  assert.equal(await plain.json(), await (await send(ctx, '/api/v1/query', q)).json());

  const csv = await getQuery(ctx, q, 'csv');
  assert.is(csv.status, 200, await csv.clone().text());
  assert.is(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
  assert.match(
    csv.headers.get('content-disposition')!,
    /^attachment; filename="agentmeter-query-\d{8}T\d{6}Z-\d{8}T\d{6}Z\.csv"$/,
  );
  assert.is(csv.headers.get('x-truncated'), 'false');
  const text = await csv.text();
  assert.ok(
    text.startsWith('command,commands,command_failures,command_max_ms\r\n'),
    'a header row: dimensions then metrics',
  );
  assert.ok(
    text.includes('"deploy, prod"') && text.includes('"say ""hi"""') && text.includes('"multi\nline"'),
    'quoted per RFC 4180',
  );
  assert.ok(
    text.includes(`"'=HYPERLINK(""http://x"")"`) && text.includes(`"'-rf"`) && text.includes(`"'@SUM(A1)"`),
    'formula cells defused',
  );
  const back = csvRows(text, q.metrics);
  assert.equal(back.header, ['command', ...q.metrics]);
  assert.equal(back.rows, posted.rows);

  const json = await getQuery(ctx, q, 'json');
  assert.is(json.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.match(json.headers.get('content-disposition')!, /filename="agentmeter-query-.*\.json"$/);
  const jsonRows = (await json.json()) as Json[];
  assert.equal(jsonRows, posted.rows);
  assert.is(jsonRows[3]!.command, '=HYPERLINK("http://x")', 'JSON is never altered');
  assert.equal(Object.keys(jsonRows[0]!), ['command', ...q.metrics]);

  const nd = await getQuery(ctx, q, 'ndjson');
  assert.is(nd.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
  const ndText = await nd.text();
  assert.ok(ndText.endsWith('}\n'));
  assert.equal(
    ndText
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Json),
    posted.rows,
  );

  // A time series: `t` first, then dimensions, then metrics; a text dimension with a comma and quotes.
  const series = { metrics: ['commands'], group_by: ['project'], interval: '1h', from: q.from, to: q.to };
  const seriesRows = (await postQuery(ctx, series)).rows;
  const seriesCsv = csvRows(await (await getQuery(ctx, series, 'csv')).text(), ['commands']);
  assert.equal(seriesCsv.header, ['t', 'project', 'commands']);
  assert.equal(seriesCsv.rows, seriesRows);
  assert.ok(seriesRows.some((r) => r.project === 'web, "app"'));

  // Nothing matches: a header alone, an empty array, an empty body.
  const none = { ...q, filters: { command: ['never-ran'] } };
  assert.is(await (await getQuery(ctx, none, 'csv')).text(), 'command,commands,command_failures,command_max_ms\r\n');
  assert.equal(await (await getQuery(ctx, none, 'json')).json(), []);
  assert.is(await (await getQuery(ctx, none, 'ndjson')).text(), '');

  // The query's own limit is kept, and said.
  const top2 = await getQuery(ctx, { ...q, limit: 2 }, 'csv');
  assert.is(top2.headers.get('x-truncated'), 'true');
  assert.equal(csvRows(await top2.text(), q.metrics).rows, posted.rows.slice(0, 2));
});

extra('the streamed body is byte for byte what formatRows builds, whatever the chunk size', async () => {
  const rows = Array.from({ length: 23 }, (_, i) => ({
    t: new Date(Date.UTC(2026, 0, 1, i)).toISOString(),
    tool: i % 3 ? `=tool ${i}, "x"` : null,
    calls: i,
    p50: i % 4 ? i * 1.5 : null,
  }));
  const columns = ['t', 'tool', 'calls', 'p50'];
  for (const format of ['csv', 'json', 'ndjson'] as ExportFormat[]) {
    for (const [n, chunk] of [
      [23, 5],
      [23, 1],
      [23, 500],
      [0, 5],
    ] as const) {
      const body = rowsBody(rows.slice(0, n), columns, format, true, chunk);
      const parts: string[] = [];
      for await (const part of body) parts.push(new TextDecoder().decode(part));
      assert.is(
        parts.join(''),
        formatRows(rows.slice(0, n), columns, format, true),
        `${format}, ${n} rows in chunks of ${chunk}`,
      );
      if (n && chunk < n) assert.ok(parts.length > 2, `${format}: written in pieces`);
    }
  }
});

extra(
  'downloads follow the roles: a developer gets their own rows, a viewer no breakdown by user; keys need read',
  async (ctx) => {
    const other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
    const now = Date.now();
    const cmd = (i: number) => ({
      command_name: 'build',
      execution_time_ms: 10,
      status: 'success',
      executed_at: new Date(now - 60_000 + i).toISOString(),
      session_id: 'x',
    });
    for (const i of [1, 2]) await send(ctx, '/api/metrics/commands', cmd(i));
    for (const i of [3, 4, 5]) await send(ctx, '/api/metrics/commands', cmd(i), other.key);
    const range = { from: now - 3_600_000, to: now + 60_000 };

    // The developer (agent@, through its key): another user is a 403, and the team is itself.
    const theirs = await getQuery(ctx, { metrics: ['commands'], filters: { user: [other.userId] }, ...range }, 'csv');
    assert.is(theirs.status, 403);
    assert.is(await fieldOf(theirs), 'user');
    const byUser = csvRows(
      await (await getQuery(ctx, { metrics: ['commands'], group_by: ['user'], ...range }, 'csv')).text(),
      ['commands'],
    );
    assert.equal(
      byUser.rows,
      [{ user_email: 'agent@acme.test', user_name: null, user_id: ctx.userId, commands: 2 }],
      'a person by email, name and id',
    );
    assert.equal(await (await getQuery(ctx, { metrics: ['commands'], ...range }, 'json')).json(), [{ commands: 2 }]);

    const mk = async (email: string, role: string) => {
      await runCommand(ctx.server.ctx, 'user create', {
        tenant: ctx.tenantId,
        email,
        role,
        password: 'a long password 1',
      });
      return signIn(ctx.server, email, 'a long password 1');
    };
    const path = (q: unknown, format: string) =>
      `/api/v1/query?q=${encodeURIComponent(JSON.stringify(q))}&format=${format}`;
    const viewer = await mk('eyes@acme.test', 'viewer');
    const denied = await viewer.request(path({ metrics: ['commands'], group_by: ['user'], ...range }, 'csv'));
    assert.is(denied.status, 403);
    assert.is(await fieldOf(denied), 'user');
    assert.is(
      (await viewer.request(path({ metrics: ['commands'], filters: { session: ['x'] }, ...range }, 'ndjson'))).status,
      403,
    );
    assert.equal(
      await (await viewer.request(path({ metrics: ['commands'], ...range }, 'json'))).json(),
      [{ commands: 5 }],
      'team figures',
    );
    const manager = await mk('boss@acme.test', 'manager');
    const team = csvRows(
      await (
        await manager.request(
          path({ metrics: ['commands'], group_by: ['user'], order_by: 'commands', ...range }, 'csv'),
        )
      ).text(),
      ['commands'],
    );
    assert.equal(team.rows, [
      { user_email: 'other@acme.test', user_name: null, user_id: other.userId, commands: 3 },
      { user_email: 'agent@acme.test', user_name: null, user_id: ctx.userId, commands: 2 },
    ]);

    const writeOnly = await ingestKey(ctx.server, ['ingest'], 'writer@acme.test');
    assert.is((await getQuery(ctx, { metrics: ['commands'], ...range }, 'csv', writeOnly.key)).status, 403);
    assert.is(
      (
        await fetch(
          `${ctx.server.url}/api/v1/query?q=${encodeURIComponent(JSON.stringify({ metrics: ['commands'], ...range }))}&format=csv`,
        )
      ).status,
      401,
    );
  },
);

extra('bad input to GET /api/v1/query is a 400 naming q, the JSON path inside it, or format', async (ctx) => {
  const ok = { metrics: ['events'], from: 0, to: 1 };
  const cases: [string, string][] = [
    ['/api/v1/query?format=csv', 'q'],
    [`/api/v1/query?q=${encodeURIComponent('{not json')}&format=csv`, 'q'],
    [`/api/v1/query?q=${encodeURIComponent('[1,2]')}`, 'q'],
    [
      `/api/v1/query?q=${encodeURIComponent(JSON.stringify({ ...ok, metrics: ['events', 'nope'] }))}&format=csv`,
      'metrics.1',
    ],
    [
      `/api/v1/query?q=${encodeURIComponent(JSON.stringify({ ...ok, group_by: ['colour'] }))}&format=json`,
      'group_by.0',
    ],
    [
      `/api/v1/query?q=${encodeURIComponent(JSON.stringify({ ...ok, filters: { tool: ['Bash'] }, metrics: ['cost_usd'] }))}`,
      'filters.tool',
    ],
    [`/api/v1/query?q=${encodeURIComponent(JSON.stringify({ ...ok, from: 'yesterday' }))}&format=csv`, 'from'],
    [`/api/v1/query?q=${encodeURIComponent(JSON.stringify({ ...ok, limit: 10_000_000 }))}&format=ndjson`, 'limit'],
    [`/api/v1/query?q=${encodeURIComponent(JSON.stringify(ok))}&format=xlsx`, 'format'],
  ];
  for (const [path, field] of cases) {
    const res = await get(ctx, path);
    assert.is(res.status, 400, `${path}: ${res.status}`);
    assert.is(await fieldOf(res), field, path);
  }
});

/** A Claude Code OTLP log record (`event.name`, its attributes), as the exporter sends it. */
function otlpLog(timeMs: number, eventName: string, attrs: Record<string, string | number>) {
  const value = (v: string | number) => (typeof v === 'number' ? { intValue: v } : { stringValue: v });
  return {
    timeUnixNano: `${timeMs}000000`,
    body: { stringValue: `claude_code.${eventName}` },
    attributes: Object.entries({ 'event.name': eventName, ...attrs }).map(([key, v]) => ({ key, value: value(v) })),
  };
}

extra(
  'GET /api/v1/errors: failed tool calls, commands, agents and API errors, grouped by message, counted once, scoped and filtered',
  async (ctx) => {
    const other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
    const now = Date.now();
    const hook = (session: string, i: number, tool: string, error: string | null, cwd = '/src/web') =>
      send(ctx, '/api/v1/hooks/claude-code', {
        session_id: session,
        cwd,
        hook_event_name: error === null ? 'PostToolUse' : 'PostToolUseFailure',
        tool_name: tool,
        tool_use_id: `tu-${session}-${i}`,
        ...(error === null ? {} : { error }),
        duration_ms: 5,
      });
    // Bash fails three times in two sessions with one message (its first line); a success does not count.
    await hook('s1', 1, 'Bash', 'command not found: foo\n  at line 2');
    await hook('s1', 2, 'Bash', 'command not found: foo\r\nother detail');
    await hook('s2', 3, 'Bash', '  command not found: foo  ');
    await hook('s2', 4, 'Bash', null);
    await hook('s2', 5, 'Edit', '\n\n  old_string not found\nin file.ts', '/src/api');
    // The same failed Edit call reported again over OpenTelemetry: still one failure.
    const logs = (records: unknown[]) => ({
      resourceLogs: [
        {
          resource: { attributes: [] },
          scopeLogs: [{ scope: { name: 'com.anthropic.claude_code' }, logRecords: records }],
        },
      ],
    });
    await send(
      ctx,
      '/v1/logs',
      logs([
        otlpLog(now, 'tool_result', {
          'session.id': 's2',
          tool_name: 'Edit',
          tool_use_id: 'tu-s2-5',
          success: 'false',
          error: 'old_string not found',
          duration_ms: 5,
        }),
        otlpLog(now - 2000, 'api_error', {
          'session.id': 's3',
          model: 'claude-x',
          error: 'Overloaded',
          status_code: '529',
        }),
        otlpLog(now - 1000, 'api_error', {
          'session.id': 's3',
          model: 'claude-x',
          error: 'Overloaded',
          status_code: '529',
        }),
      ]),
    );
    // Commands: failures and time-outs count, successes not; a long message is cut to 200 characters.
    const command = (status: string, error?: string, i = 0) =>
      send(ctx, '/api/metrics/commands', {
        command_name: 'deploy',
        execution_time_ms: 10,
        status,
        executed_at: new Date(now - 10_000 + i).toISOString(),
        session_id: 's4',
        ...(error ? { error_message: error } : {}),
      });
    await command('error', 'exit code 1', 1);
    await command('failed', 'exit code 1', 2);
    await command('timeout', 'x'.repeat(300), 3);
    await command('success', undefined, 4);
    await send(ctx, '/api/metrics/agents', {
      agent_name: 'reviewer',
      interaction_type: 'review',
      execution_time_ms: 10,
      status: 'failure',
      error_message: 'rate limited',
      model: 'claude-x',
      session_id: 's4',
    });
    await send(ctx, '/api/metrics/agents', {
      agent_name: 'reviewer',
      interaction_type: 'review',
      execution_time_ms: 10,
      status: 'success',
      model: 'claude-x',
      session_id: 's4',
    });
    // A colleague's failure (under the same session id: a session is a user's), and one outside the range.
    await send(
      ctx,
      '/api/metrics/commands',
      {
        command_name: 'deploy',
        execution_time_ms: 10,
        status: 'failure',
        error_message: 'exit code 1',
        session_id: 's4',
      },
      other.key,
    );
    await send(ctx, '/api/metrics/commands', {
      command_name: 'deploy',
      execution_time_ms: 10,
      status: 'failure',
      error_message: 'exit code 1',
      executed_at: new Date(now - 30 * 86_400_000).toISOString(),
      session_id: 's4',
    });

    type Errors = {
      from: string;
      to: string;
      truncated: boolean;
      errors: {
        kind: string;
        name: string | null;
        error: string | null;
        count: number;
        sessions: number;
        last_seen: string;
      }[];
    };
    const errorsOf = async (query: string, key = ctx.key) => {
      const res = await get(
        ctx,
        `/api/v1/errors?from=${new Date(now - 3_600_000).toISOString()}&to=${new Date(now + 3_600_000).toISOString()}${query}`,
        key,
      );
      assert.is(res.status, 200, `${query}: ${await res.clone().text()}`);
      return (await res.json()) as Errors;
    };
    const mine = await errorsOf('');
    const brief = (e: Errors) => e.errors.map((x) => [x.kind, x.name, x.error, x.count, x.sessions]);
    assert.equal(brief(mine), [
      ['tool_call', 'Bash', 'command not found: foo', 3, 2],
      // Equal counts: the most recently seen first.
      ['api_error', null, 'Overloaded', 2, 1],
      ['command', 'deploy', 'exit code 1', 2, 1],
      ['agent_interaction', 'reviewer', 'rate limited', 1, 1],
      ['tool_call', 'Edit', 'old_string not found', 1, 1],
      ['command', 'deploy', 'x'.repeat(200), 1, 1],
    ]);
    assert.is(mine.truncated, false);
    assert.is(mine.errors.find((e) => e.kind === 'api_error')!.last_seen, new Date(now - 1000).toISOString());
    assert.is(mine.errors.find((e) => e.error === 'exit code 1')!.last_seen, new Date(now - 10_000 + 2).toISOString());

    // Filters: by tool (tool calls only), by model, by project; a limit.
    assert.equal(brief(await errorsOf('&tool=Bash')), [['tool_call', 'Bash', 'command not found: foo', 3, 2]]);
    assert.equal(
      brief(await errorsOf('&model=claude-x')).map((r) => r[0]),
      ['api_error', 'agent_interaction'],
    );
    // The hook's working directory /src/api is the project api.
    assert.equal(brief(await errorsOf('&project=api')), [['tool_call', 'Edit', 'old_string not found', 1, 1]]);
    const two = await errorsOf('&limit=2');
    assert.equal([two.errors.length, two.truncated], [2, true]);
    // A filter value is bound, not spliced into the SQL.
    assert.equal((await errorsOf(`&project=${encodeURIComponent("x') OR true OR ('")}`)).errors, []);

    // Scope: the developer sees their own; a manager the colleague's too; asking for another user is a 403.
    assert.is((await get(ctx, `/api/v1/errors?user=${other.userId}`)).status, 403);
    await runCommand(ctx.server.ctx, 'user create', {
      tenant: ctx.tenantId,
      email: 'boss@acme.test',
      role: 'manager',
      password: 'a long password 1',
    });
    const manager = await signIn(ctx.server, 'boss@acme.test', 'a long password 1');
    const team = (await (
      await manager.request(`/api/v1/errors?from=${new Date(now - 3_600_000).toISOString()}`)
    ).json()) as Errors;
    const deploy = team.errors.find((e) => e.error === 'exit code 1')!;
    assert.equal([deploy.count, deploy.sessions], [3, 2], "two people's sessions s4, as the sessions metric counts");
    const colleague = (await (
      await manager.request(`/api/v1/errors?user=${other.userId}&from=${new Date(now - 3_600_000).toISOString()}`)
    ).json()) as Errors;
    assert.equal(brief(colleague), [['command', 'deploy', 'exit code 1', 1, 1]]);

    for (const [query, field] of [
      ['?limit=0', 'limit'],
      ['?from=yesterday', 'from'],
    ]) {
      const res = await get(ctx, `/api/v1/errors${query}`);
      assert.is(res.status, 400, query!);
      assert.is(await fieldOf(res), field);
    }
  },
);

extra(
  'GET /api/v1/me/last-event: the newest event the caller sent, by arrival; null for someone who sent none',
  async (ctx) => {
    const quiet = await ingestKey(ctx.server, ['read'], 'quiet@acme.test');
    const empty = (await (await get(ctx, '/api/v1/me/last-event')).json()) as Json;
    assert.equal(empty, { user_id: ctx.userId, last_event: null });

    const before = Date.now();
    await send(ctx, '/api/v1/hooks/claude-code', {
      session_id: 'h1',
      cwd: '/src',
      hook_event_name: 'UserPromptSubmit',
      prompt: 'hi',
    });
    const hooked = (await (await get(ctx, '/api/v1/me/last-event')).json()) as Json;
    assert.equal(
      [hooked.last_event.kind, hooked.last_event.source, hooked.last_event.session_id],
      ['prompt', 'hook', 'h1'],
    );
    assert.ok(Date.parse(hooked.last_event.received_at) >= before - 1000);

    // Sent last but dated months ago: still the newest to arrive.
    const old = new Date(Date.UTC(2026, 0, 5, 12, 0, 0)).toISOString();
    await send(ctx, '/api/metrics/commands', {
      command_name: 'lint',
      execution_time_ms: 5,
      status: 'success',
      executed_at: old,
      session_id: 'c1',
    });
    // A colleague's later event is not the caller's.
    const other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
    await send(
      ctx,
      '/api/metrics/commands',
      { command_name: 'theirs', execution_time_ms: 5, status: 'success', session_id: 'o1' },
      other.key,
    );

    const last = (await (await get(ctx, '/api/v1/me/last-event')).json()) as Json;
    assert.is(last.user_id, ctx.userId);
    assert.equal(
      { ...last.last_event, received_at: undefined },
      {
        kind: 'command',
        name: 'lint',
        source: 'rest',
        session_id: 'c1',
        ts: '2026-01-05T12:00:00.000Z',
        received_at: undefined,
      },
    );
    assert.ok(Date.parse(last.last_event.received_at) >= Date.parse(hooked.last_event.received_at));
    assert.is(((await (await get(ctx, '/api/v1/me/last-event', other.key)).json()) as Json).last_event.name, 'theirs');
    assert.equal(await (await get(ctx, '/api/v1/me/last-event', quiet.key)).json(), {
      user_id: quiet.userId,
      last_event: null,
    });

    // A signed-in person too, whatever their role; no credentials is a 401.
    await runCommand(ctx.server.ctx, 'user create', {
      tenant: ctx.tenantId,
      email: 'eyes@acme.test',
      role: 'viewer',
      password: 'a long password 1',
    });
    const viewer = await signIn(ctx.server, 'eyes@acme.test', 'a long password 1');
    assert.equal(((await (await viewer.request('/api/v1/me/last-event')).json()) as Json).last_event, null);
    assert.is((await fetch(`${ctx.server.url}/api/v1/me/last-event`)).status, 401);
  },
);

extra.run();
