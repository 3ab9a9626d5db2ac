// `agentmeter import` and `agentmeter sync` as a developer runs them: the real CLI process
// reading transcripts on "this machine" and uploading them to a started server. The
// fixture's totals arrive exactly; a re-run uploads nothing; --dry-run sends nothing; a
// wrong key or URL fails at once; a run killed midway resumes where it stopped and ends with
// every request stored once; sync sends only what was appended since.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { freePort, ingestSuite, ROOT, tempDir, waitFor, type IngestCtx } from './helpers.js';

const test = ingestSuite('import CLI');
const FIXTURE = join(ROOT, 'test/fixtures/claude-home');
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as {
  sessions: number;
  assistant_messages_unique: number;
  tokens: { input: number; output: number; cache_creation: number; cache_read: number };
};

function cli(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<{ code: number; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })),
  );
  return { child, done };
}

async function figures(ctx: IngestCtx) {
  const res = await fetch(`${ctx.server.url}/api/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      metrics: [
        'api_requests',
        'input_tokens',
        'output_tokens',
        'cache_read_tokens',
        'cache_creation_tokens',
        'sessions',
      ],
      from: '2026-01-01T00:00:00Z',
      to: new Date(Date.now() + 3_600_000).toISOString(),
    }),
  });
  return ((await res.json()) as { rows: Record<string, number>[] }).rows[0]!;
}

test('the fixture home: totals exactly as expected; a re-run uploads nothing; --dry-run sends nothing', async (ctx) => {
  const home = tempDir('am-home');
  const state = join(home.path, 'state.json');
  const args = [
    'import',
    'claude',
    join(FIXTURE, '.claude'),
    '--url',
    ctx.server.url,
    '--key',
    ctx.key,
    '--state',
    state,
    '--json',
  ];
  try {
    const dry = await cli(['import', 'claude', join(FIXTURE, '.claude'), '--dry-run', '--json']).done;
    assert.is(dry.code, 0, dry.stderr);
    const would = JSON.parse(dry.stdout) as {
      sessions: number;
      requests: number;
      run_id: string | null;
      tokens: Record<string, number>;
    };
    assert.equal(
      [would.sessions, would.requests, would.run_id],
      [expected.sessions, expected.assistant_messages_unique, null],
    );
    assert.is((await figures(ctx)).api_requests, 0, 'a dry run sends nothing');

    const first = await cli(args).done;
    assert.is(first.code, 0, first.stderr);
    const summary = JSON.parse(first.stdout) as {
      sessions: number;
      requests: number;
      stored: number;
      duplicates: number;
      tokens: Record<string, number>;
      run_id: string;
    };
    assert.equal([summary.sessions, summary.requests], [expected.sessions, expected.assistant_messages_unique]);
    assert.equal(summary.tokens, {
      input: expected.tokens.input,
      output: expected.tokens.output,
      cache_read: expected.tokens.cache_read,
      cache_creation: expected.tokens.cache_creation,
    });
    assert.is(summary.duplicates, 0);
    // Priced here with the shipped prices, and named so: the appliance prices with the tenant's.
    const priced = summary as unknown as Record<string, unknown>;
    assert.ok((priced.cost_usd_at_shipped_prices as number) > 0 && !('cost_usd' in priced), first.stdout);
    const told = await cli(['import', 'claude', join(FIXTURE, '.claude'), '--dry-run']).done;
    assert.match(told.stdout, /cost \$\d+\.\d\d at the shipped prices\n/);
    await ctx.server.ctx.aggregator.runOnce();
    const stored = await figures(ctx);
    assert.equal(
      [
        stored.api_requests,
        stored.input_tokens,
        stored.output_tokens,
        stored.cache_read_tokens,
        stored.cache_creation_tokens,
        stored.sessions,
      ],
      [
        expected.assistant_messages_unique,
        expected.tokens.input,
        expected.tokens.output,
        expected.tokens.cache_read,
        expected.tokens.cache_creation,
        expected.sessions,
      ],
    );

    const runs = async () => {
      const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
      return (await db.all<{ id: string }>('SELECT id FROM import_runs ORDER BY id')).map((r) => r.id);
    };
    const before = await runs();
    const again = await cli(args).done;
    assert.is(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout) as { events: number; stored: number | null; run_id: string | null };
    assert.is(second.events, 0, 'the state file says every file is done: nothing is read or sent again');
    assert.equal([second.run_id, await runs()], [null, before], 'and no empty run is left on the appliance');
    const said = await cli(args.filter((a) => a !== '--json')).done;
    assert.match(said.stdout, /nothing new to send: no import run was started/);
    const rescan = JSON.parse((await cli([...args, '--rescan']).done).stdout) as {
      events: number;
      stored: number;
      duplicates: number;
    };
    assert.ok(rescan.events > 0);
    assert.equal(
      [rescan.stored, rescan.duplicates],
      [0, rescan.events],
      '--rescan sends everything again and the appliance stores none of it twice',
    );
    assert.equal(await figures(ctx), stored);
  } finally {
    home.remove();
  }
});

test('a wrong key or URL fails at once, with what to fix', async (ctx) => {
  const wrongKey = await cli([
    'import',
    'claude',
    join(FIXTURE, '.claude'),
    '--url',
    ctx.server.url,
    '--key',
    'amk_wrong',
    '--state',
    '/dev/null/x',
  ]).done;
  assert.is(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /refused the key \(401/);
  const port = await freePort();
  const wrongUrl = await cli([
    'import',
    'claude',
    join(FIXTURE, '.claude'),
    '--url',
    `http://127.0.0.1:${port}`,
    '--key',
    ctx.key,
    '--state',
    '/dev/null/x',
  ]).done;
  assert.is(wrongUrl.code, 1);
  assert.match(wrongUrl.stderr, /could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); check --url/);
  const missing = await cli(['import', 'claude', '--url', ctx.server.url]).done;
  assert.match(missing.stderr, /--url and --key/);
  // A folder that is not there is a typo, even for a dry run: not "nothing to import".
  for (const kind of ['claude', 'legacy'])
    for (const more of [[], ['--dry-run']]) {
      const typo = await cli(['import', kind, join(ROOT, 'no-such-folder'), ...more]).done;
      assert.is(typo.code, 1, `${kind} ${more}`);
      assert.match(typo.stderr, /no-such-folder: no such file or folder/);
    }
});

/** A projects folder with `sessions` transcripts of `requests` assistant records each. */
function corpus(root: string, sessions: number, requests: number): number {
  let n = 0;
  for (let s = 0; s < sessions; s++) {
    const dir = join(root, 'projects', `-home-dev-src-repo${s % 3}`);
    mkdirSync(dir, { recursive: true });
    const sessionId = `00000000-0000-4000-8000-${String(s).padStart(12, '0')}`;
    const lines: string[] = [];
    for (let r = 0; r < requests; r++)
      lines.push(assistant(sessionId, s, r, `2026-11-0${1 + (s % 9)}T10:${String(r % 60).padStart(2, '0')}:00.000Z`));
    writeFileSync(join(dir, `${sessionId}.jsonl`), `${lines.join('\n')}\n`);
    n += requests;
  }
  return n;
}

function assistant(sessionId: string, s: number, r: number, ts: string): string {
  return JSON.stringify({
    parentUuid: null,
    isSidechain: false,
    userType: 'external',
    cwd: `/home/dev/src/repo${s % 3}`,
    sessionId,
    version: '2.1.300',
    type: 'assistant',
    message: {
      id: `msg_${s}_${r}`,
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'ok' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 10, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 },
    },
    requestId: `req_${s}_${r}`,
    uuid: `u-${s}-${r}`,
    timestamp: ts,
  });
}

/** One transcript record: a prompt, or a request of 10 input and 20 output tokens. */
const record = (type: 'user' | 'assistant', session: string, i: number, ts: number) =>
  JSON.stringify({
    type,
    uuid: `${session}-${type}-${i}`,
    parentUuid: null,
    sessionId: session,
    timestamp: new Date(ts).toISOString(),
    cwd: '/home/dev/src/acme',
    version: '2.0.10',
    isSidechain: false,
    ...(type === 'user'
      ? { message: { role: 'user', content: 'do it' } }
      : {
          requestId: `${session}-req-${i}`,
          message: {
            id: `${session}-msg-${i}`,
            model: 'claude-sonnet-4-5',
            role: 'assistant',
            content: [{ type: 'text', text: 'hi' }],
            usage: { input_tokens: 10, output_tokens: 20 },
          },
        }),
  });

test('records the appliance refuses (a clock at 1970) are counted as rejected, and the files after them import', async (ctx) => {
  const home = tempDir('am-home');
  const project = join(home.path, '.claude', 'projects', '-home-dev-src-acme');
  mkdirSync(project, { recursive: true });
  // A laptop whose clock had reset: 1,200 records of 1970, two whole chunks the appliance refuses.
  const clock = Array.from({ length: 600 }, (_, i) => [
    record('user', 'clock', i, 1000 + i * 2000),
    record('assistant', 'clock', i, 2000 + i * 2000),
  ]).flat();
  writeFileSync(join(project, 'm-clock.jsonl'), `${clock.join('\n')}\n`);
  const at = Date.now() - 5 * 86_400_000;
  writeFileSync(
    join(project, 'z-good.jsonl'),
    `${record('user', 'good', 0, at)}\n${record('assistant', 'good', 0, at + 1000)}\n`,
  );
  const args = ['import', 'claude', join(home.path, '.claude'), '--url', ctx.server.url, '--key', ctx.key];
  try {
    const run = await cli([...args, '--state', join(home.path, 'state.json'), '--json']).done;
    assert.is(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { rejected: number; stored: number };
    assert.is(summary.rejected, 1200, 'every refused record counted');
    assert.is(summary.stored, 2, "the good session's prompt and request");
    const { api_requests, sessions } = await figures(ctx);
    assert.equal({ api_requests, sessions }, { api_requests: 1, sessions: 1 });
  } finally {
    home.remove();
  }
});

test('import --since, then without it: the records before the date are imported too', async (ctx) => {
  const home = tempDir('am-home');
  const project = join(home.path, '.claude', 'projects', '-home-dev-src-acme');
  mkdirSync(project, { recursive: true });
  const first = Date.now() - 20 * 86_400_000;
  // Ten requests, a day apart.
  const lines = Array.from({ length: 10 }, (_, d) => record('assistant', 'days', d, first + d * 86_400_000));
  writeFileSync(join(project, 'days.jsonl'), `${lines.join('\n')}\n`);
  const state = join(home.path, 'state.json');
  const args = [
    'import',
    'claude',
    join(home.path, '.claude'),
    '--url',
    ctx.server.url,
    '--key',
    ctx.key,
    '--state',
    state,
  ];
  try {
    const since = new Date(first + 5 * 86_400_000).toISOString().slice(0, 10);
    const recent = await cli([...args, '--since', since, '--json']).done;
    assert.is(recent.code, 0, recent.stderr);
    assert.is((await figures(ctx)).api_requests, 5, 'the five from the date on');
    const all = await cli([...args, '--json']).done;
    assert.is(all.code, 0, all.stderr);
    assert.is((await figures(ctx)).api_requests, 10, 'and then the five before it');
    const again = await cli([...args, '--json']).done;
    assert.is((JSON.parse(again.stdout) as { events: number }).events, 0, 'a third run reads nothing anew');
    // A --since run after a whole read leaves the file as read whole: the next plain run reads nothing.
    appendFileSync(join(project, 'days.jsonl'), `${record('assistant', 'days', 10, first + 10 * 86_400_000)}\n`);
    const grown = await cli([...args, '--since', since, '--json']).done;
    assert.is((JSON.parse(grown.stdout) as { events: number }).events, 1, 'only the new record');
    const after = await cli([...args, '--json']).done;
    assert.is((JSON.parse(after.stdout) as { events: number }).events, 0, 'and nothing again after it');
  } finally {
    home.remove();
  }
});

test('a run killed midway resumes where it stopped; sync sends only what was appended', async (ctx) => {
  const home = tempDir('am-home');
  const root = join(home.path, '.claude');
  const total = corpus(root, 60, 1000);
  const state = join(home.path, 'state.json');
  const args = ['import', 'claude', root, '--url', ctx.server.url, '--key', ctx.key, '--state', state, '--json'];
  try {
    const killed = cli(args);
    // As soon as one chunk is acknowledged (the state file names a file), kill -9.
    await waitFor(
      async () =>
        existsSync(state) &&
        Object.keys(
          Object.values(JSON.parse(readFileSync(state, 'utf8')).appliances as Record<string, { files: object }>)[0]
            ?.files ?? {},
        ).length > 0
          ? true
          : undefined,
      'a first acknowledged chunk',
      60_000,
    );
    assert.is(killed.child.exitCode, null, 'still running when killed');
    killed.child.kill('SIGKILL');
    await killed.done;
    const unfinished = Object.values(
      JSON.parse(readFileSync(state, 'utf8')).appliances as Record<string, { run: string | null }>,
    )[0]!.run;
    assert.ok(unfinished, 'the state keeps the unfinished run');

    const resumed = await cli(args).done;
    assert.is(resumed.code, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout) as { run_id: string; requests: number };
    assert.is(summary.run_id, unfinished, 'the same run goes on');
    assert.ok(
      summary.requests < total,
      `the resumed run reads only what was not acknowledged (${summary.requests} of ${total})`,
    );
    await ctx.server.ctx.aggregator.runOnce();
    assert.is((await figures(ctx)).api_requests, total, 'every request stored, once');

    // Sync: two more requests appended to one transcript are all it sends.
    const file = join(root, 'projects', '-home-dev-src-repo0', '00000000-0000-4000-8000-000000000000.jsonl');
    appendFileSync(
      file,
      `${assistant('00000000-0000-4000-8000-000000000000', 0, 5000, '2026-11-01T11:00:00.000Z')}\n${assistant('00000000-0000-4000-8000-000000000000', 0, 5001, '2026-11-01T11:01:00.000Z')}\n`,
    );
    const synced = await cli(['sync', '--url', ctx.server.url, '--key', ctx.key, '--state', state, '--json'], {
      CLAUDE_CONFIG_DIR: root,
    }).done;
    assert.is(synced.code, 0, synced.stderr);
    const s = JSON.parse(synced.stdout) as { requests: number; stored: number };
    appendFileSync(file, `${assistant('00000000-0000-4000-8000-000000000000', 0, 5002, '2026-11-01T11:02:00.000Z')}\n`);
    const next = JSON.parse(
      (
        await cli(['sync', '--url', ctx.server.url, '--key', ctx.key, '--state', state, '--json'], {
          CLAUDE_CONFIG_DIR: root,
        }).done
      ).stdout,
    ) as { requests: number; stored: number };
    assert.equal(
      [s.requests, s.stored, next.requests, next.stored],
      [2, 2, 1, 1],
      'each sync reads and sends only the lines appended since the last',
    );
    await ctx.server.ctx.aggregator.runOnce();
    assert.is((await figures(ctx)).api_requests, total + 3);
  } finally {
    home.remove();
  }
});

test("import legacy: the old hooks' files through the CLI, the baseline with them, no token stored", async (ctx) => {
  const home = tempDir('am-home');
  try {
    const run = await cli([
      'import',
      'legacy',
      join(ROOT, 'test/fixtures/legacy-home'),
      '--url',
      ctx.server.url,
      '--key',
      ctx.key,
      '--state',
      join(home.path, 'state.json'),
      '--json',
    ]).done;
    assert.is(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as {
      sessions: number;
      tool_calls: number;
      tool_failures: number;
      skip_reasons: Record<string, number>;
    };
    assert.equal([summary.sessions, summary.tool_calls, summary.tool_failures], [4, 20, 4]);
    assert.ok(
      Object.keys(summary.skip_reasons).some((r) => /JSON/i.test(r)),
      `the malformed line is reported: ${JSON.stringify(summary.skip_reasons)}`,
    );
    await ctx.server.ctx.aggregator.runOnce();
    const res = await fetch(`${ctx.server.url}/api/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        metrics: ['sessions', 'tool_calls', 'tool_failures', 'agent_calls'],
        from: '2026-10-01T00:00:00Z',
        to: '2026-10-08T00:00:00Z',
      }),
    });
    assert.equal(((await res.json()) as { rows: Record<string, number>[] }).rows[0], {
      sessions: 4,
      tool_calls: 20,
      tool_failures: 4,
      agent_calls: 5,
    });
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    const baseline = await db.get<{ n: number }>(`SELECT count(*) AS n FROM imported_baselines WHERE user_id = $user`, {
      user: ctx.userId,
    });
    assert.is(Number(baseline!.n), 1, "the historical baseline is the person's");
    const leaked = await db.get<{ n: number }>(
      `SELECT count(*) AS n FROM events WHERE attributes::VARCHAR ILIKE '%auth_token%'`,
    );
    assert.is(Number(leaked!.n), 0);
  } finally {
    home.remove();
  }
});

/** Import runs on the appliance, oldest first. */
async function runsOf(ctx: IngestCtx) {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  return db.all<{ id: string; status: string }>('SELECT id, status FROM import_runs ORDER BY started_at, id');
}

test('nothing is marked sent before the appliance has it, when the last chunk read holds nothing', async (ctx) => {
  // Exactly one full chunk (1000 events), then a last one with nothing: it was once marked read
  // while the run was still being started, and a start that failed lost the 1000 for good.
  const home = tempDir('am-home');
  const dir = join(home.path, '.claude/projects/-home-dev-src-x');
  mkdirSync(dir, { recursive: true });
  const session = '11111111-2222-4333-8444-555555555555';
  const t0 = Date.parse('2026-01-05T10:00:00Z');
  const prompt = (i: number) =>
    JSON.stringify({
      type: 'user',
      sessionId: session,
      cwd: '/home/dev/src/x',
      uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      timestamp: new Date(t0 + i * 1000).toISOString(),
      message: { role: 'user', content: `prompt ${i}` },
    });
  writeFileSync(join(dir, `${session}.jsonl`), `${Array.from({ length: 1000 }, (_, i) => prompt(i)).join('\n')}\n`);
  const state = join(home.path, 'state.json');
  // The appliance, behind a proxy that holds the first start of a run until the CLI wrote its
  // state file (what it must not do before it is answered) or for 5 s, then answers 502.
  let refuseStart = true;
  const proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (refuseStart && req.method === 'POST' && req.url === '/api/v1/import/runs') {
      await waitFor(async () => (existsSync(state) ? true : undefined), 'the state file', 5000).catch(() => undefined);
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"bad gateway"}');
      return;
    }
    const up = await fetch(new URL(req.url!, ctx.server.url), {
      method: req.method,
      headers: { authorization: req.headers.authorization!, 'content-type': 'application/json' },
      body: req.method === 'GET' ? undefined : body,
    });
    res.writeHead(up.status, { 'content-type': 'application/json' }).end(Buffer.from(await up.arrayBuffer()));
  });
  const port = await freePort();
  await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
  try {
    const args = [
      'import',
      'claude',
      join(home.path, '.claude'),
      '--url',
      `http://127.0.0.1:${port}`,
      '--key',
      ctx.key,
    ];
    const failed = await cli([...args, '--state', state, '--json']).done;
    assert.is(failed.code, 1, failed.stdout);
    assert.match(failed.stderr, /answered 502/);
    refuseStart = false;
    const again = await cli([...args, '--state', state, '--json']).done;
    assert.is(again.code, 0, again.stderr);
    assert.is((JSON.parse(again.stdout) as { stored: number }).stored, 1000, 'all of it sent again');
  } finally {
    proxy.close();
    home.remove();
  }
});

test('a run that finds nothing new starts none: not for its skips, nor to finish a run rolled back', async (ctx) => {
  const home = tempDir('am-home');
  cpSync(join(FIXTURE, '.claude'), join(home.path, '.claude'), { recursive: true });
  symlinkSync(home.path, join(home.path, '.claude/projects/linked')); // skipped on every run
  const state = join(home.path, 'state.json');
  const args = ['import', 'claude', join(home.path, '.claude'), '--url', ctx.server.url, '--key', ctx.key];
  const run = async () => {
    const done = await cli([...args, '--state', state, '--json']).done;
    assert.is(done.code, 0, done.stderr);
    return JSON.parse(done.stdout) as { events: number; skipped: number; run_id: string | null };
  };
  try {
    const first = await run();
    assert.ok(first.events > 0 && first.skipped === 1 && first.run_id, JSON.stringify(first));
    const again = await run();
    assert.equal([again.events, again.skipped, again.run_id], [0, 1, null]);
    assert.equal(
      (await runsOf(ctx)).map((r) => r.id),
      [first.run_id],
      'no run for a skip found again',
    );

    // The state file's unfinished run is rolled back on the appliance meanwhile; nothing new comes.
    const { rollbackRun, startRun } = await import('../src/import/runs.js');
    const now = ctx.server.ctx.now();
    const gone = await startRun(
      ctx.server.ctx.tenantFiles,
      ctx.tenantId,
      { userId: ctx.userId, createdBy: ctx.userId, source: 'claude' },
      now,
    );
    await rollbackRun(ctx.server.ctx, ctx.tenantId, gone.id, now);
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { appliances: Record<string, { run: string | null }> };
    for (const a of Object.values(saved.appliances)) a.run = gone.id;
    writeFileSync(state, JSON.stringify(saved));
    assert.is((await run()).run_id, null, 'nothing to finish: not an error');
    assert.is((await run()).run_id, null, 'and forgotten');
    assert.equal((await runsOf(ctx)).length, 2, 'the two runs, and no new one');
  } finally {
    home.remove();
  }
});

test.run();
