// No row can stop the aggregation worker: a rollup that fails is retried on fewer events
// until the one event that fails alone is found, and after SET_ASIDE_AFTER attempts that
// event is set aside (logged, counted on /readyz, left out of every figure); the events
// around it are rolled up and counted.
import * as assert from 'uvu/assert';
import { SET_ASIDE_AFTER } from '../src/aggregate/turn.js';
import { ingestSuite } from './helpers.js';

const suite = ingestSuite('aggregation worker');

suite('an event that cannot be rolled up is set aside after a bounded number of attempts; the others are counted', async (ctx) => {
  const { server } = ctx;
  let clock = Date.now();
  server.ctx.now = () => new Date(clock);
  const command = (name: string, ms: number) => ({
    command_name: name,
    execution_time_ms: ms,
    status: 'success',
    session_id: 's-poison',
  });
  const res = await fetch(`${server.url}/api/metrics/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
    body: JSON.stringify({ command_executions: [command('first', 10), command('poison', 20), command('third', 30)] }),
  });
  assert.is(res.status, 201);
  // A value no rollup can hold (an older build could have stored it): its duration's bin overflows.
  const db = await server.ctx.tenantFiles.open(ctx.tenantId);
  await db.run(`UPDATE events SET duration_ms = 1e300 WHERE name = 'poison'`);
  const poison = (await db.get<{ seq: number }>(`SELECT seq FROM events WHERE name = 'poison'`))!.seq;

  for (let attempt = 1; attempt < SET_ASIDE_AFTER; attempt++) {
    await server.ctx.aggregator.runOnce(ctx.tenantId);
    const lag = (await server.ctx.aggregator.lag())[0]!;
    assert.is(lag.lastSeq, Number(poison) - 1, `attempt ${attempt}: the events before it are rolled up`);
    assert.match(String(lag.lastError), /^rollup: /);
    clock += 61_000; // past the step's backoff
  }
  await server.ctx.aggregator.runOnce(ctx.tenantId);
  const lag = (await server.ctx.aggregator.lag())[0]!;
  assert.equal([lag.pendingEvents, lag.setAside, lag.lastError], [0, 1, null]);
  assert.ok(
    server.logs.some((l) => l.msg === 'event set aside: it cannot be rolled up' && l.seq === Number(poison)),
    'the log names the event',
  );

  const ready = (await (await fetch(`${server.url}/readyz`)).json()) as { aggregation: { set_aside_events: number } };
  assert.is(ready.aggregation.set_aside_events, 1);
  const q = encodeURIComponent(
    JSON.stringify({ metrics: ['commands', 'command_max_ms'], from: clock - 86_400_000, to: clock + 60_000 }),
  );
  const answer = (await (
    await fetch(`${server.url}/api/v1/query?q=${q}`, { headers: { authorization: `Bearer ${ctx.key}` } })
  ).json()) as { rows: { commands: number; command_max_ms: number }[] };
  assert.equal(answer.rows, [{ commands: 2, command_max_ms: 30 }], 'the two others counted, the set-aside one not');
  // The event itself is kept.
  assert.is((await db.get<{ n: number }>(`SELECT count(*) AS n FROM events`))!.n, 3);
});

suite.run();
