// A pass asks all its rules' questions as few merged queries: each rule's answer must be
// exactly the one it gets asked alone, and rules that differ only in their metric share a
// query. Figures come from agent interactions of two people sent at explicit times.
import * as assert from 'uvu/assert';
import { askMerged, observeAll, type AnswerCache } from '../src/alerts/batch.js';
import { askTenant } from '../src/alerts/engine.js';
import { observe, ruleQueries, type Ask } from '../src/alerts/evaluate.js';
import { createRule, ruleSchema, type Rule } from '../src/alerts/rules.js';
import type { Query } from '../src/query/model.js';
import { ingestKey, ingestSuite } from './helpers.js';
import { HOUR, MIN, sendAgents } from './alerts-fixtures.js';

const s = ingestSuite('alert passes asked in one batch');
const T = Date.parse('2026-03-10T12:00:00Z');

const BODIES = [
  { metric: 'cost_usd', condition: { type: 'threshold', op: 'above', value: 5 } },
  { metric: 'agent_calls', condition: { type: 'threshold', op: 'below', value: 3 } },
  { metric: 'events', condition: { type: 'threshold', op: 'above', value: 1 } },
  { metric: 'cost_usd', group_by: ['user'], condition: { type: 'threshold', op: 'above', value: 2 } },
  { metric: 'agent_calls', group_by: ['user'], condition: { type: 'threshold', op: 'above', value: 1 } },
  { metric: 'cost_usd', condition: { type: 'anomaly', z: 2, baseline_windows: 4 } },
  { metric: 'agent_calls', condition: { type: 'anomaly', z: 2, baseline_windows: 4 } },
  { metric: 'cost_usd', window: '1d', condition: { type: 'forecast', op: 'above', value: 20, by: 'day' } },
  { metric: 'agent_calls', window: '1d', condition: { type: 'forecast', op: 'above', value: 20, by: 'day' } },
  { metric: 'cost_usd', filters: { session: ['session-a'] }, condition: { type: 'threshold', op: 'above', value: 1 } },
];

s('every rule gets the answer it gets alone, from fewer queries', async (ctx) => {
  const other = await ingestKey(ctx.server, ['ingest', 'read'], 'second@acme.test');
  ctx.server.ctx.now = () => new Date(T);
  for (let h = 5; h >= 0; h--)
    await sendAgents(ctx.server.url, ctx.key, [
      { at: T - h * HOUR - 20 * MIN, cost: h === 0 ? 9 : 1, n: h === 0 ? 4 : 1 },
    ]); // $1 an hour, then 4 × $9
  await sendAgents(ctx.server.url, other.key, [{ at: T - 10 * MIN, cost: 0.5 }]);
  await ctx.server.ctx.aggregator.runOnce();

  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const rules: Rule[] = [];
  for (const [i, body] of BODIES.entries())
    rules.push(
      await createRule(
        db,
        { body: ruleSchema.parse({ name: `r${i}`, window: '1h', ...body }), createdBy: ctx.userId, ownUser: null },
        T,
      ),
    );

  const real = askTenant(ctx.server.ctx.tenantFiles, ctx.tenantId, T);
  const asked: Query[][] = [];
  const counting: Ask = (qs) => (asked.push(qs), real(qs));
  const together = await observeAll(rules, T, 'UTC', counting);
  for (const rule of rules) assert.equal(together.get(rule.id), await observe(rule, T, 'UTC', real), rule.name);

  assert.is(asked.length, 1, 'one call for the whole pass');
  const alone = rules.flatMap((r) => ruleQueries(r, T, 'UTC')).length;
  assert.is(alone, 3 + 2 + 2 * 5 + 2 + 1);
  // cost_usd and agent_calls share each window; events reads other kinds ungrouped but the same range, so it joins the first.
  assert.is(
    asked[0]!.length,
    1 + 1 + 5 + 1 + 1,
    `merged queries: ${asked[0]!.map((q) => q.metrics.join('+')).join(', ')}`,
  );
  // The figures the rules are about, so the comparison above is not between empty answers.
  assert.equal(together.get(rules[0]!.id), [{ key: '', group: null, value: 36.5, breach: true }]);
  assert.is((together.get(rules[3]!.id) as { key: string }[]).length, 2, 'one alert per person');

  // A rule stored before a later version refused its filter (a kind no event has) fails alone.
  const stale = { ...rules[0]!, id: 'r_stale', filters: { kind: ['bogus'] } } as Rule;
  const mixed = await observeAll([stale, ...rules], T, 'UTC', real);
  assert.instance(mixed.get(stale.id), Error);
  for (const rule of rules) assert.equal(mixed.get(rule.id), together.get(rule.id), rule.name);
});

s("an anomaly's baselines are read once a minute; the window judged, every pass", async (ctx) => {
  ctx.server.ctx.now = () => new Date(T);
  await sendAgents(ctx.server.url, ctx.key, [
    { at: T - 3 * HOUR, cost: 1 },
    { at: T - 10 * MIN, cost: 10 },
  ]);
  await ctx.server.ctx.aggregator.runOnce();
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const rule = await createRule(
    db,
    {
      body: ruleSchema.parse({
        name: 'a',
        window: '1h',
        metric: 'cost_usd',
        condition: { type: 'anomaly', z: 2, baseline_windows: 4 },
      }),
      createdBy: ctx.userId,
      ownUser: null,
    },
    T,
  );
  const real = askTenant(ctx.server.ctx.tenantFiles, ctx.tenantId, T);
  let asked = 0;
  const counting: Ask = (qs) => ((asked += qs.length), real(qs));
  const cache: AnswerCache = new Map();
  const pass = async (when: number) => {
    asked = 0;
    const [answer] = (await observeAll([rule], when, 'UTC', counting, cache)).get(rule.id) as {
      value: number;
      breach: boolean;
    }[];
    return { asked, value: answer!.value, breach: answer!.breach };
  };
  // $10 this hour against baselines of $0, $1, $0, $0: an anomaly.
  assert.equal(await pass(T + 5_000), { asked: 5, value: 10, breach: true });
  // A late $30 in a baseline window makes $10 ordinary: not seen within the minute, seen after it.
  await sendAgents(ctx.server.url, ctx.key, [{ at: T - 2 * HOUR - 30 * MIN, cost: 30 }]);
  await ctx.server.ctx.aggregator.runOnce();
  assert.equal(
    await pass(T + 30_000),
    { asked: 1, value: 10, breach: true },
    'the same minute: only the window judged is asked',
  );
  assert.equal(await pass(T + 65_000), { asked: 5, value: 10, breach: false }, 'a minute on: the baselines again');
});

s('a merged answer capped at its row limit is asked again alone', async (ctx) => {
  ctx.server.ctx.now = () => new Date(T);
  await sendAgents(ctx.server.url, ctx.key, [{ at: T - 10 * MIN, cost: 1 }]);
  await ctx.server.ctx.aggregator.runOnce();
  const real = askTenant(ctx.server.ctx.tenantFiles, ctx.tenantId, T);
  const q = (metric: string): Query => ({
    metrics: [metric],
    group_by: [],
    filters: {},
    from: T - HOUR,
    to: T,
    limit: 1,
    compare: false,
    totals: false,
  });
  const asked: string[] = [];
  const capped: Ask = async (qs) =>
    (await real(qs)).map(
      (r, i) => (asked.push(qs[i]!.metrics.join('+')), { ...r, truncated: qs[i]!.metrics.length > 1 }),
    );
  const answers = await askMerged(capped, [q('cost_usd'), q('agent_calls')]);
  assert.equal(asked, ['cost_usd+agent_calls', 'cost_usd', 'agent_calls']);
  assert.equal(
    answers.map((a) => a.rows),
    [[{ cost_usd: 1 }], [{ agent_calls: 1 }]],
  );
});

s.run();
