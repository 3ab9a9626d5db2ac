// The baseline imported from the older hooks (src/sessions/imported-baseline.ts) in the productivity
// score: a person with one and fewer than OWN_BASELINE_SESSIONS finished sessions is scored
// against it (and the session page says so); one with that many, against their own; one
// without, against their own sessions or the defaults as before.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { OWN_BASELINE_SESSIONS } from '../src/analytics/productivity.js';
import { saveBaseline } from '../src/sessions/imported-baseline.js';
import { chunkSchema, importChunk, rollbackRun, startRun } from '../src/import/runs.js';
import { ingestKey, signIn, startTestServer, type TestServer } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

type Ctx = { server: TestServer; key: string; tenantId: string; userId: string; clock: number };
type Score = {
  session_id: string;
  user_id: string;
  baseline: { commandsPerHour: number; linesPerHour: number; sessions: number; imported?: boolean };
  velocity: number;
  final: boolean;
};

const scores = suite<Ctx>('imported baseline');
scores.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  ctx.clock = Math.floor(Date.now() / MINUTE) * MINUTE;
  ctx.server.ctx.now = () => new Date(ctx.clock);
  Object.assign(ctx, await ingestKey(ctx.server));
});
scores.after.each(async (ctx) => ctx.server.stop());

/** `n` finished one-hour sessions of `userId`, a day apart from `start`, each with `calls` tool calls. */
async function sessions(ctx: Ctx, userId: string, prefix: string, start: number, n: number, calls: number) {
  const events: Record<string, unknown>[] = [];
  for (let s = 0; s < n; s++) {
    const t = start + s * DAY;
    const id = `${prefix}${s}`;
    events.push({ kind: 'session_start', session_id: id, ts: t });
    for (let i = 0; i < calls; i++)
      events.push({
        kind: 'tool_call',
        name: 'Bash',
        status: 'success',
        tool_use_id: `${id}-${i}`,
        session_id: id,
        ts: t + Math.floor(((i + 1) * HOUR) / (calls + 1)),
      });
    events.push({ kind: 'session_end', session_id: id, ts: t + HOUR });
  }
  const r = await ctx.server.ctx.ingest.ingest(
    { tenantId: ctx.tenantId, userId },
    'import',
    events,
    new Date(ctx.clock),
  );
  assert.equal(r.rejected, []);
}

/** The sessions `key`'s person may see that started from `from` on, scored. */
async function scored(ctx: Ctx, from: number, key = ctx.key): Promise<Map<string, Score>> {
  const res = await fetch(
    `${ctx.server.url}/api/v1/analytics/productivity?from=${new Date(from).toISOString()}&to=${new Date(ctx.clock + HOUR).toISOString()}`,
    { headers: { authorization: `Bearer ${key}` } },
  );
  const body = (await res.json()) as { sessions: Score[] };
  assert.is(res.status, 200, JSON.stringify(body));
  return new Map(body.sessions.map((s) => [s.session_id, s]));
}

scores(
  'a person with an imported baseline is scored against it until they have enough sessions of their own',
  async (ctx) => {
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    const imported = { commandsPerHour: 40, linesPerHour: 300, successRate: 0.9, sessions: 4 };
    await saveBaseline(db, ctx.userId, imported, 'i_run');
    // Another person of the tenant (a developer sees their own sessions), with no imported baseline.
    const { userId: other, key: otherKey } = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
    const start = ctx.clock - 40 * DAY;
    await sessions(ctx, ctx.userId, 'mine-', start, OWN_BASELINE_SESSIONS + 1, 20);
    await sessions(ctx, other, 'theirs-', start, 2, 20);
    await ctx.server.ctx.aggregator.runOnce();

    const all = await scored(ctx, start - HOUR);
    const againstImported = { commandsPerHour: 40, linesPerHour: 300, sessions: 4, imported: true };
    for (let s = 0; s < OWN_BASELINE_SESSIONS; s++) {
      const score = all.get(`mine-${s}`)!;
      assert.ok(score.final);
      assert.equal(
        score.baseline,
        againstImported,
        `session ${s}: ${s} finished before it, fewer than ${OWN_BASELINE_SESSIONS}`,
      );
      assert.is(score.velocity, 0.5, '20 actions/h against 40');
    }
    const own = all.get(`mine-${OWN_BASELINE_SESSIONS}`)!;
    assert.equal(
      own.baseline,
      { commandsPerHour: 20, linesPerHour: 0, sessions: OWN_BASELINE_SESSIONS },
      `with ${OWN_BASELINE_SESSIONS} sessions finished: their own`,
    );
    assert.is(own.velocity, 1);

    const theirs = await scored(ctx, start - HOUR, otherKey);
    assert.equal(
      theirs.get('theirs-0')!.baseline,
      { commandsPerHour: 15, linesPerHour: 120, sessions: 0 },
      'no imported baseline: the defaults',
    );
    assert.equal(
      theirs.get('theirs-1')!.baseline,
      { commandsPerHour: 20, linesPerHour: 0, sessions: 1 },
      'then their own',
    );

    // Once imported, the other person's next sessions are measured against it: one finished (its score stored, saying
    // so), one still running (scored live); the page says where the baseline came from.
    await saveBaseline(db, other, { ...imported, commandsPerHour: 10 }, 'i_run');
    await sessions(ctx, other, 'later-', ctx.clock - 3 * HOUR, 1, 5);
    const running = [
      { kind: 'session_start', session_id: 'running', ts: ctx.clock - 30 * MINUTE },
      { kind: 'tool_call', name: 'Read', status: 'success', session_id: 'running', ts: ctx.clock - MINUTE },
    ];
    assert.equal(
      (
        await ctx.server.ctx.ingest.ingest(
          { tenantId: ctx.tenantId, userId: other },
          'import',
          running,
          new Date(ctx.clock),
        )
      ).rejected,
      [],
    );
    await ctx.server.ctx.aggregator.runOnce();
    const recent = await scored(ctx, ctx.clock - 4 * HOUR, otherKey);
    const theirImported = { commandsPerHour: 10, linesPerHour: 300, sessions: 4, imported: true };
    assert.is(recent.get('later-0')!.final, true);
    assert.equal(
      recent.get('later-0')!.baseline,
      theirImported,
      'two sessions finished before it: the imported baseline',
    );
    assert.is(recent.get('running')!.final, false);
    assert.equal(recent.get('running')!.baseline, theirImported);
    const page = await (await signIn(ctx.server, 'other@acme.test', 'ingest password 1')).get('/sessions/later-0');
    assert.match(await page.text(), /imported from their older hooks/);
  },
);

scores(
  'rolling back the import run that brought a baseline removes it, and its sessions are scored anew',
  async (ctx) => {
    const who = { tenantId: ctx.tenantId, userId: ctx.userId };
    const run = await startRun(
      ctx.server.ctx.tenantFiles,
      ctx.tenantId,
      { ...who, createdBy: ctx.userId, source: 'legacy' },
      new Date(ctx.clock),
    );
    const chunk = chunkSchema.parse({
      events: [],
      baseline: { commandsPerHour: 40, linesPerHour: 300, successRate: 0.9, sessions: 4 },
    });
    await importChunk(ctx.server.ctx, who, run.id, chunk, new Date(ctx.clock));
    await sessions(ctx, ctx.userId, 's-', ctx.clock - 3 * HOUR, 1, 5);
    await ctx.server.ctx.aggregator.runOnce();
    assert.is((await scored(ctx, ctx.clock - DAY)).get('s-0')?.baseline.imported, true, 'scored against the import');

    await rollbackRun(ctx.server.ctx, ctx.tenantId, run.id, new Date(ctx.clock));
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    assert.equal(await db.all('SELECT user_id FROM imported_baselines'), [], 'the baseline went with its run');
    await ctx.server.ctx.aggregator.runOnce();
    const again = (await scored(ctx, ctx.clock - DAY)).get('s-0')!;
    assert.is(again.baseline.imported, undefined, 'scored again, against the default');
    assert.is(again.final, true);
  },
);

scores.run();
