// Alerts and the weekly digest in the tenant's time zone, with injected clocks: a New York
// digest is sent at Monday 08:00 New York time and reports local Monday to Monday (the
// 169-hour week of 1 November), and a Kolkata forecast projects over Kolkata's month.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { changeTimeZone } from '../src/aggregate/settings-change.js';
import { evaluateTenant } from '../src/alerts/engine.js';
import { createRule, ruleSchema } from '../src/alerts/rules.js';
import { ingestKey, ingestSuite, setUp, startTestServer, type IngestCtx } from './helpers.js';
import { MIN, recorder, sendAgents } from './alerts-fixtures.js';
import { startSmtpSink } from './smtp-sink.js';

const utc = (iso: string) => Date.parse(`${iso}Z`);

const digest = suite('weekly digest: the tenant time zone');

digest('New York: sent at Monday 08:00 EST, reporting Monday 00:00 to Monday 00:00 local', async () => {
  const sink = await startSmtpSink();
  const server = await startTestServer({ flags: { 'smtp-url': sink.url, 'smtp-from': 'am@acme.test' } });
  try {
    const admin = await setUp(server);
    const { tenantId, userId } = await ingestKey(server);
    await admin.get('/settings/alerts');
    const put = await admin.request('/api/v1/settings/timezone', {
      method: 'PUT',
      json: { timezone: 'America/New_York' },
      headers: { 'x-csrf-token': admin.csrf! },
    });
    assert.is(put.status, 200);
    const saved = await admin.post('/settings/alerts/digest', {
      enabled: 'true',
      channel: 'email',
      target: 'team@acme.test',
    });
    assert.is(saved.status, 200);

    server.ctx.now = () => new Date(utc('2026-11-02T05:01:00'));
    const call = (n: number, iso: string) => ({
      id: `c${n}`,
      kind: 'tool_call' as const,
      ts: utc(iso),
      session_id: 's1',
      name: 'Bash',
      status: 'success',
    });
    // The week of Monday 26 October to Monday 2 November in New York: 04:00 UTC (EDT) to 05:00 UTC (EST).
    const events = [
      call(0, '2026-10-26T03:59:00'), // Sunday 25 October 23:59 EDT: the week before
      call(1, '2026-10-26T04:00:00'), // Monday 26 October 00:00 EDT
      call(2, '2026-11-01T05:30:00'), // Sunday 1 November 01:30 EDT
      call(3, '2026-11-01T06:30:00'), // Sunday 1 November 01:30 EST
      call(4, '2026-11-02T04:59:00'), // Sunday 1 November 23:59 EST
      call(5, '2026-11-02T05:00:00'), // Monday 2 November 00:00 EST: the next week
    ];
    assert.is((await server.ctx.ingest.ingest({ tenantId, userId }, 'rest', events)).accepted, 6);

    // 08:00 UTC is 03:00 in New York; 12:59 UTC is 07:59.
    for (const early of ['2026-11-02T08:00:00', '2026-11-02T12:59:59.999']) {
      server.ctx.now = () => new Date(utc(early));
      assert.equal(await server.ctx.digests.runOnce(), [], early);
    }
    assert.is(sink.mails.length, 0);
    server.ctx.now = () => new Date(utc('2026-11-02T13:00:00'));
    assert.equal(await server.ctx.digests.runOnce(), ['tenant']);
    assert.is(sink.mails.length, 1);
    const text = sink.mails[0]!.text;
    assert.match(text, /: 2026-10-26 to 2026-11-02 \(America\/New_York\)/);
    assert.match(text, /tool_calls: 4 \(week before 1, \+300%\)/);
    // Once a week: later that Monday, nothing more.
    server.ctx.now = () => new Date(utc('2026-11-02T20:00:00'));
    assert.equal(await server.ctx.digests.runOnce(), []);
  } finally {
    await server.stop();
    await sink.stop();
  }
});

digest.run();

type Ctx = IngestCtx & { delivery: ReturnType<typeof recorder> };
const alerts = ingestSuite('alerts: the tenant time zone') as unknown as ReturnType<typeof import('uvu').suite<Ctx>>;

alerts('a forecast by month in Kolkata projects over its month, from 18:30 UTC on the last day before', async (ctx) => {
  await ctx.server.ctx.alerts.stop();
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  await changeTimeZone(db, 'Asia/Kolkata');
  const body = ruleSchema.parse({
    name: 'budget',
    window: '1h',
    metric: 'cost_usd',
    condition: { type: 'forecast', op: 'above', value: 500, by: 'month' },
  });
  const now = utc('2026-11-30T19:30:00'); // 01:00 on 1 December in Kolkata
  await createRule(db, { body, createdBy: ctx.userId, ownUser: null }, now);
  ctx.server.ctx.now = () => new Date(now + MIN);
  await sendAgents(ctx.server.url, ctx.key, [
    { at: utc('2026-11-30T18:00:00'), cost: 100 }, // 23:30 on 30 November: last month
    { at: utc('2026-11-30T18:45:00'), cost: 1 }, // 00:15 on 1 December
  ]);
  await ctx.server.ctx.aggregator.runOnce();
  const delivery = recorder();
  const deps = {
    tenantFiles: ctx.server.ctx.tenantFiles,
    delivery,
    publicUrl: ctx.server.ctx.publicUrl,
    log: ctx.server.ctx.log,
  };
  await evaluateTenant(deps, ctx.tenantId, now);
  // $1 in the first hour of a 744-hour December: $744 by its end.
  assert.equal(
    delivery.take().map((n) => `${n.state} ${n.value}`),
    ['firing 744'],
  );
});

alerts.run();
