// The rule engine with injected time: each condition fires and recovers exactly when it
// should, pending, re-notify, no-data choices, silences, one alert per group value. Figures
// come from agent interactions sent through the REST batch endpoint at explicit times and
// rolled up by the worker; each evaluation is a direct engine call at a given `now`.
import * as assert from 'uvu/assert';
import { evaluateTenant } from '../src/alerts/engine.js';
import { step, type AlertState } from '../src/alerts/state.js';
import { createRule, deleteRule, ruleSchema, updateRule } from '../src/alerts/rules.js';
import { addSilence } from '../src/alerts/store.js';
import { ingestKey, ingestSuite, type IngestCtx } from './helpers.js';
import { HOUR, MIN, recorder, sendAgents } from './alerts-fixtures.js';

type Ctx = IngestCtx & { delivery: ReturnType<typeof recorder> };
const s = ingestSuite('alert rules') as unknown as ReturnType<typeof import('uvu').suite<Ctx>>;
const T = Date.parse('2026-03-10T12:00:00Z');

s.before.each(async (ctx) => {
  await ctx.server.ctx.alerts.stop();
  ctx.delivery = recorder();
});

async function rule(ctx: Ctx, body: Record<string, unknown>) {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  return createRule(
    db,
    { body: ruleSchema.parse({ name: 'r', window: '1h', ...body }), createdBy: ctx.userId, ownUser: null },
    T,
  );
}
const send = async (ctx: Ctx, items: { at: number; cost?: number; n?: number; ms?: number }[], key = ctx.key) => {
  // The server's clock just past the events (ingest refuses times a day ahead; retention counts from it). Evaluations take their own `now`.
  const clock = Math.max(...items.map((it) => it.at)) + MIN;
  ctx.server.ctx.now = () => new Date(clock);
  await sendAgents(ctx.server.url, key, items);
  await ctx.server.ctx.aggregator.runOnce();
};
/** Evaluates at `at`; what was handed to delivery, as "state[ renotify] group value". */
const at = async (ctx: Ctx, when: number) => {
  const sent = await evaluateTenant(
    {
      tenantFiles: ctx.server.ctx.tenantFiles,
      delivery: ctx.delivery,
      publicUrl: ctx.server.ctx.publicUrl,
      log: ctx.server.ctx.log,
    },
    ctx.tenantId,
    when,
  );
  assert.equal(sent, ctx.delivery.sent, 'returned what was delivered');
  return ctx.delivery
    .take()
    .map(
      (n) =>
        `${n.state}${n.renotify ? ' renotify' : ''}${n.group ? ` ${Object.values(n.group).join(',')}` : ''} ${n.value}`,
    );
};

s('threshold above fires when the window crosses it and resolves the minute it drops out', async (ctx) => {
  const r = await rule(ctx, { metric: 'cost_usd', condition: { type: 'threshold', op: 'above', value: 5 } });
  await send(ctx, [{ at: T - 30 * MIN, cost: 3 }]);
  assert.equal(await at(ctx, T), []);
  await send(ctx, [{ at: T + 10 * MIN, cost: 4 }]);
  assert.equal(await at(ctx, T + 15 * MIN), ['firing 7']);
  assert.equal(await at(ctx, T + 20 * MIN), [], 'no re-notify configured: nothing more while firing');
  // The $3 leaves the window [now - 1h, now) just after T + 30m.
  assert.equal(await at(ctx, T + 30 * MIN), []);
  assert.equal(await at(ctx, T + 31 * MIN), ['resolved 4']);
  assert.equal(await at(ctx, T + 32 * MIN), []);
  const n = (await ctx.server.ctx.tenantFiles.open(ctx.tenantId)).all<{ state: string }>(
    `SELECT state FROM alert_history WHERE rule_id = '${r.id}' ORDER BY sent_at`,
  );
  assert.equal(
    (await n).map((x) => x.state),
    ['firing', 'resolved'],
  );
});

s('threshold below fires when too few happen, and the notification carries the rule', async (ctx) => {
  const r = await rule(ctx, {
    metric: 'agent_calls',
    condition: { type: 'threshold', op: 'below', value: 2 },
    severity: 'critical',
    channels: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }],
  });
  await send(ctx, [
    { at: T - 50 * MIN, n: 1 },
    { at: T - 40 * MIN, n: 1 },
  ]);
  assert.equal(await at(ctx, T), []);
  assert.equal(await at(ctx, T + 10 * MIN), [], 'the first of the two is still in [now - 1h, now)');
  const sent = await evaluateTenant(
    {
      tenantFiles: ctx.server.ctx.tenantFiles,
      delivery: ctx.delivery,
      publicUrl: new URL('https://metrics.example.test/'),
      log: ctx.server.ctx.log,
    },
    ctx.tenantId,
    T + 11 * MIN,
  );
  assert.is(sent.length, 1);
  const n = sent[0]!;
  assert.equal(
    {
      state: n.state,
      value: n.value,
      severity: n.severity,
      metric: n.metric,
      condition: n.condition,
      window: n.window,
      link: n.link,
      channels: n.channels,
      group: n.group,
      at: n.at,
      ruleId: n.ruleId,
      tenantId: n.tenantId,
    },
    {
      state: 'firing',
      value: 1,
      severity: 'critical',
      metric: 'agent_calls',
      condition: 'below 2',
      window: '1h',
      link: `https://metrics.example.test/alerts/${r.id}`,
      channels: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }],
      group: null,
      at: new Date(T + 11 * MIN).toISOString(),
      ruleId: r.id,
      tenantId: ctx.tenantId,
    },
  );
});

s(
  'anomaly: an empty or flat baseline never fires with an infinite score; a real jump fires, then recovers',
  async (ctx) => {
    await rule(ctx, { metric: 'agent_calls', condition: { type: 'anomaly', z: 3, baseline_windows: 6 } });
    // Nothing for six hours, then 50 in an hour: no baseline to judge by.
    await send(ctx, [{ at: T - 30 * MIN, n: 50 }]);
    assert.equal(await at(ctx, T), [], 'empty baseline');
    // Two an hour for six hours, then two: flat, z = 0.
    const base = T + 10 * HOUR;
    await send(
      ctx,
      Array.from({ length: 7 }, (_, k) => ({ at: base - (k + 0.5) * HOUR, n: 2 })),
    );
    assert.equal(await at(ctx, base), [], 'flat baseline, same value');
    // Then 18 in the next hour: a finite z (the spread floor is 5% of the mean: 160) well above 3.
    await send(ctx, [{ at: base + 30 * MIN, n: 18 }]);
    assert.equal(await at(ctx, base + HOUR), ['firing 18']);
    await send(ctx, [{ at: base + 90 * MIN, n: 2 }]);
    assert.equal(await at(ctx, base + 2 * HOUR), ['resolved 2']);
  },
);

s("forecast: this month's cost projected from the rate so far crosses a $500 budget", async (ctx) => {
  await rule(ctx, { metric: 'cost_usd', condition: { type: 'forecast', op: 'above', value: 500, by: 'month' } });
  const now = Date.parse('2026-03-10T00:00:00Z'); // 9 of March's 31 days gone
  await send(ctx, [
    { at: Date.parse('2026-02-27T10:00:00Z'), cost: 900 },
    { at: Date.parse('2026-03-02T10:00:00Z'), cost: 145 },
  ]);
  assert.equal(await at(ctx, now), [], "145 × 31 / 9 = 499.4: February's 900 does not count");
  await send(ctx, [{ at: Date.parse('2026-03-09T10:00:00Z'), cost: 1 }]);
  const [fired] = await at(ctx, now);
  assert.ok(fired?.startsWith('firing 50'), fired);
  // April starts a new month: nothing spent yet, nothing projected.
  assert.equal(await at(ctx, Date.parse('2026-04-01T06:00:00Z')), ['resolved 0']);
});

s('pending holds a firing back until the condition has held that long', async (ctx) => {
  await rule(ctx, { metric: 'cost_usd', condition: { type: 'threshold', op: 'above', value: 5 }, pending: '10m' });
  await send(ctx, [{ at: T - 5 * MIN, cost: 6 }]);
  assert.equal(await at(ctx, T), []);
  assert.equal(await at(ctx, T + 9 * MIN), []);
  assert.equal(await at(ctx, T + 10 * MIN), ['firing 6']);
});

s('a condition that stops holding while pending sends nothing', async (ctx) => {
  await rule(ctx, { metric: 'cost_usd', condition: { type: 'threshold', op: 'above', value: 5 }, pending: '30m' });
  await send(ctx, [{ at: T - 50 * MIN, cost: 6 }]);
  assert.equal(await at(ctx, T), []);
  assert.equal(await at(ctx, T + 15 * MIN), [], 'left the window: back to ok, nothing to resolve');
  assert.equal(await at(ctx, T + 45 * MIN), []);
});

s('re-notify every interval while firing', async (ctx) => {
  await rule(ctx, {
    metric: 'cost_usd',
    window: '1d',
    condition: { type: 'threshold', op: 'above', value: 5 },
    renotify: '30m',
  });
  await send(ctx, [{ at: T - MIN, cost: 6 }]);
  assert.equal(await at(ctx, T), ['firing 6']);
  assert.equal(await at(ctx, T + 29 * MIN), []);
  assert.equal(await at(ctx, T + 30 * MIN), ['firing renotify 6']);
  assert.equal(await at(ctx, T + 45 * MIN), []);
  assert.equal(await at(ctx, T + 60 * MIN), ['firing renotify 6']);
});

s('no data: each rule chooses what it means', async (ctx) => {
  for (const noData of ['ok', 'no_data', 'firing'])
    await rule(ctx, {
      name: noData,
      metric: 'agent_p50_ms',
      no_data: noData,
      condition: { type: 'threshold', op: 'above', value: 1000 },
    });
  const sent = await evaluateTenant(
    {
      tenantFiles: ctx.server.ctx.tenantFiles,
      delivery: ctx.delivery,
      publicUrl: ctx.server.ctx.publicUrl,
      log: ctx.server.ctx.log,
    },
    ctx.tenantId,
    T,
  );
  assert.equal(
    ctx.delivery
      .take()
      .map((n) => `${n.ruleName}: ${n.state}`)
      .sort(),
    ['firing: firing', 'no_data: no_data'],
  );
  assert.is(sent.length, 2);
  assert.equal(await at(ctx, T + MIN), [], 'said once');
  // Data comes (100 ms, under the threshold): the firing one resolves, the no-data one is ok quietly.
  await send(ctx, [{ at: T + 2 * MIN }]);
  assert.equal(await at(ctx, T + 3 * MIN), ['resolved 100']);
});

s('a firing alert that goes through no data is resolved when the figure is back to ok', async (ctx) => {
  await rule(ctx, {
    metric: 'agent_p50_ms',
    no_data: 'no_data',
    condition: { type: 'threshold', op: 'above', value: 1000 },
  });
  await send(ctx, [{ at: T - 10 * MIN, ms: 5000 }]);
  assert.equal(await at(ctx, T), ['firing 5000']);
  assert.equal(await at(ctx, T + 2 * HOUR), ['no_data null'], 'nothing in the window');
  await send(ctx, [{ at: T + 3 * HOUR }]);
  assert.equal(await at(ctx, T + 3 * HOUR + MIN), ['resolved 100'], 'the firing sent is resolved');
  assert.equal(await at(ctx, T + 3 * HOUR + 2 * MIN), []);
});

s('a silence mutes an alert (its state still moves), and once it expires the alert is sent', async (ctx) => {
  const r = await rule(ctx, {
    metric: 'cost_usd',
    window: '1d',
    condition: { type: 'threshold', op: 'above', value: 5 },
  });
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  await addSilence(
    db,
    r,
    { rule_id: r.id, group: null, until: new Date(T + HOUR).toISOString(), reason: 'known incident' },
    ctx.userId,
    T - MIN,
  );
  await send(ctx, [{ at: T - MIN, cost: 6 }]);
  assert.equal(await at(ctx, T), [], 'silenced');
  const state = await db.get<{ state: string }>(`SELECT state FROM alert_states WHERE rule_id = '${r.id}'`);
  assert.is(state?.state, 'firing');
  assert.equal(await at(ctx, T + 30 * MIN), []);
  assert.equal(await at(ctx, T + HOUR + MIN), ['firing 6'], 'the silence is over: sent');
  const history = await db.all<{ state: string; silenced: boolean }>(
    `SELECT state, silenced FROM alert_history ORDER BY sent_at`,
  );
  assert.equal(history, [
    { state: 'firing', silenced: true },
    { state: 'firing', silenced: false },
  ]);
});

s('a grouped rule has one alert per person, and a silence can mute one of them', async (ctx) => {
  const other = await ingestKey(ctx.server, ['ingest', 'read'], 'other@acme.test');
  const r = await rule(ctx, {
    metric: 'cost_usd',
    group_by: ['user'],
    condition: { type: 'threshold', op: 'above', value: 5 },
  });
  await send(ctx, [{ at: T - 10 * MIN, cost: 6 }]);
  await send(ctx, [{ at: T - 10 * MIN, cost: 2 }], other.key);
  assert.equal(await at(ctx, T), [`firing ${ctx.userId} 6`]);
  await send(ctx, [{ at: T + MIN, cost: 9 }], other.key);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  await addSilence(
    db,
    r,
    { rule_id: r.id, group: { user: ctx.userId }, until: new Date(T + 3 * HOUR).toISOString(), reason: 'on leave' },
    ctx.userId,
    T,
  );
  assert.equal(await at(ctx, T + 2 * MIN), [`firing ${other.userId} 11`]);
  assert.equal(
    await at(ctx, T + 2 * HOUR),
    [`resolved ${other.userId} null`],
    "out of the window, no data (counted as ok): resolved; the silenced person's recovery is recorded, not sent",
  );
});

s('a rule edited or deleted while its pass asks its question neither moves nor sends', async (ctx) => {
  const gone = await rule(ctx, { metric: 'cost_usd', condition: { type: 'threshold', op: 'above', value: 1 } });
  const edited = await rule(ctx, { metric: 'cost_usd', condition: { type: 'threshold', op: 'above', value: 1 } });
  await send(ctx, [{ at: T - 10 * MIN, cost: 3 }]);
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const files = ctx.server.ctx.tenantFiles;
  let changed = false;
  // The pass has read its rules; before it asks their question, one is deleted and one edited.
  const changing: typeof files = {
    ...files,
    connection: async (id, purpose) => {
      if (purpose === 'reader' && !changed) {
        changed = true;
        await deleteRule(db, gone.id);
        const body = ruleSchema.parse({
          name: 'r',
          window: '1h',
          metric: 'cost_usd',
          condition: { type: 'threshold', op: 'above', value: 1000 },
        });
        await updateRule(db, edited.id, { body, ownUser: null }, T);
      }
      return files.connection(id, purpose);
    },
  };
  const deps = {
    tenantFiles: changing,
    delivery: ctx.delivery,
    publicUrl: ctx.server.ctx.publicUrl,
    log: ctx.server.ctx.log,
  };
  assert.equal(await evaluateTenant(deps, ctx.tenantId, T), [], 'nothing sent for the rules as they were');
  assert.ok(changed);
  assert.equal(await db.all(`SELECT rule_id, state FROM alert_states`), [], 'no state left for either');
  assert.equal(await at(ctx, T + MIN), [], 'the edited rule, asked anew, is ok and sends nothing');
});

s('no data between two breaches keeps the firing open: firing again at once, then resolved', () => {
  const timing = { pendingMs: 5 * MIN, renotifyMs: null, noData: 'no_data' as const };
  const sentAt = (r: ReturnType<typeof step>, at: number) =>
    r.send?.state === 'firing' ? { ...r.next, lastSent: at } : r.next; // as the engine does for a send not silenced
  let state: AlertState | undefined;
  const seen: string[] = [];
  for (const [at, value] of [
    [0, 5000],
    [6 * MIN, 5000],
    [60 * MIN, null],
    [120 * MIN, 5000],
    [180 * MIN, 100],
  ] as const) {
    const r = step(state, { key: '', value, breach: value === null ? null : value > 1000 }, timing, at);
    state = sentAt(r, at);
    seen.push(`${r.next.state}${r.send ? `:${r.send.state}` : ''}`);
  }
  assert.equal(seen, ['pending', 'firing:firing', 'no_data:no_data', 'firing:firing', 'ok:resolved']);
});

s.run();
