// What the planner decides for each kind of question, read from the plan (not its SQL): the
// cube, the periods and their tier and raw segments, the tail, where percentiles' sketches
// come from, the buckets and their zone, spend, the group keys and the order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Segment } from '../src/aggregate/tiers.js';
import { querySchema, type QueryInput } from '../src/query/model.js';
import { planQuery, type Plan, type PlanState } from '../src/query/plan.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** A Monday, 00:00 UTC. */
const B = Date.UTC(2026, 2, 2);
const state: PlanState = { lastSeq: 100, tail: null };
const seg = (source: Segment['source'], from: number, to: number): Segment => ({ source, from, to });
const one = (from: number, to: number, segments: Segment[]) => [{ from, to, previous: false, segments }];

type Case = { name: string; query: QueryInput; state?: Partial<PlanState>; expect: Partial<Plan> };

const CASES: Case[] = [
  {
    name: 'plain range: whole days from the day tier, the team cube',
    query: { metrics: ['events'], from: B, to: B + 2 * DAY },
    expect: {
      cube: 'team',
      keyCube: null,
      raw: false,
      periods: one(B, B + 2 * DAY, [seg('1d', B, B + 2 * DAY)]),
      tail: null,
      sketch: 'none',
      bucket: null,
      spend: null,
      keys: [],
      order: [],
    },
  },
  {
    name: 'range with edges: coarsest tier in the middle, finer at the edges, raw under a minute',
    query: { metrics: ['events'], from: B + 90_000, to: B + DAY + HOUR + 5 * MINUTE },
    expect: {
      periods: one(B + 90_000, B + DAY + HOUR + 5 * MINUTE, [
        seg('raw', B + 90_000, B + 2 * MINUTE),
        seg('1m', B + 2 * MINUTE, B + 15 * MINUTE),
        seg('15m', B + 15 * MINUTE, B + HOUR),
        seg('1h', B + HOUR, B + DAY + HOUR),
        seg('1m', B + DAY + HOUR, B + DAY + HOUR + 5 * MINUTE),
      ]),
    },
  },
  {
    name: 'compare: the period before, covered on its own',
    query: { metrics: ['events'], from: B + DAY, to: B + 2 * DAY, compare: true },
    expect: {
      periods: [
        { from: B, to: B + DAY, previous: true, segments: [seg('1d', B, B + DAY)] },
        { from: B + DAY, to: B + 2 * DAY, previous: false, segments: [seg('1d', B + DAY, B + 2 * DAY)] },
      ],
    },
  },
  {
    name: 'totals by model: keys, the total row, order by the first metric',
    query: { metrics: ['api_requests'], group_by: ['model'], totals: true, from: B, to: B + DAY },
    expect: { cube: 'team', keys: ['model'], totals: true, order: ['api_requests DESC NULLS LAST', 'model'] },
  },
  {
    name: 'interval: buckets in UTC, no tier coarser than the interval, time order',
    query: { metrics: ['events'], interval: '1h', from: B, to: B + DAY },
    expect: {
      bucket: { interval: '1h', zone: 'UTC' },
      periods: one(B, B + DAY, [seg('1h', B, B + DAY)]),
      keys: ['t'],
      order: ['t'],
    },
  },
  {
    name: 'session dimension with a percentile: everything from raw events (the sketch has no session key)',
    query: { metrics: ['tool_p95_ms'], group_by: ['session'], from: B, to: B + DAY },
    state: { keptSince: { raw: B - 10 * DAY } },
    expect: { cube: 'session', sketch: 'raw', periods: one(B, B + DAY, [seg('raw', B, B + DAY)]) },
  },
  {
    name: 'retention cut: raw events partly deleted, figures from tiers, durations from the raw events left',
    query: { metrics: ['tool_p95_ms'], group_by: ['session'], from: B, to: B + DAY },
    state: { keptSince: { raw: B + 12 * HOUR } },
    expect: {
      sketch: 'raw since retention',
      rawSince: B + 12 * HOUR,
      periods: one(B, B + DAY, [seg('1d', B, B + DAY)]),
    },
  },
  {
    name: 'percentiles without sessions: the tiers’ sketches',
    query: { metrics: ['tool_p95_ms', 'tool_calls'], from: B, to: B + DAY },
    expect: { cube: 'team', sketch: 'tiers', keyCube: null },
  },
  {
    name: 'team cube keyed: spend by model takes user and session keys from the session cube',
    query: { metrics: ['cost_usd'], group_by: ['model'], from: B, to: B + DAY },
    state: { extraPrices: [{ model: 'm', input: 1, output: 2, cache_write: 3, cache_read: 4 }] },
    expect: {
      cube: 'team',
      keyCube: 'session',
      spend: { extraPrices: [{ model: 'm', input: 1, output: 2, cache_write: 3, cache_read: 4 }] },
    },
  },
  {
    name: 'team cube keyed: distinct sessions by tool status read the full cube’s keys',
    query: { metrics: ['sessions'], group_by: ['status'], from: B, to: B + DAY },
    expect: { cube: 'team', keyCube: 'full', spend: null },
  },
  {
    name: 'tail: the events above the watermark, their projects from their sessions when asked by project',
    query: { metrics: ['events'], group_by: ['project'], from: B, to: B + DAY },
    state: { tail: { lo: B + HOUR, hi: B + 2 * HOUR, last: 120 } },
    expect: { cube: 'session', tail: { lo: B + HOUR, hi: B + 2 * HOUR, last: 120, projects: true } },
  },
  {
    name: 'empty tail: nothing above the watermark, no tail',
    query: { metrics: ['events'], from: B, to: B + DAY },
    state: { tail: null },
    expect: { tail: null },
  },
  {
    name: 'raw: every event from raw events, both periods',
    query: { metrics: ['events'], from: B + DAY, to: B + 2 * DAY, compare: true },
    state: { raw: true },
    expect: {
      raw: true,
      periods: [
        { from: B, to: B + DAY, previous: true, segments: [seg('raw', B, B + DAY)] },
        { from: B + DAY, to: B + 2 * DAY, previous: false, segments: [seg('raw', B + DAY, B + 2 * DAY)] },
      ],
    },
  },
  {
    name: 'a young tenant: nothing is read before the day of its first event',
    query: { metrics: ['events'], from: B + 90_000, to: B + 7 * DAY + 5 * MINUTE },
    state: { firstEvent: B + 5 * DAY + 3 * HOUR },
    expect: {
      periods: one(B + 90_000, B + 7 * DAY + 5 * MINUTE, [
        seg('1d', B + 5 * DAY, B + 7 * DAY),
        seg('1m', B + 7 * DAY, B + 7 * DAY + 5 * MINUTE),
      ]),
    },
  },
  {
    name: 'a young tenant compared: the period before its first event reads nothing',
    query: { metrics: ['events'], from: B + 5 * DAY, to: B + 7 * DAY, compare: true },
    state: { firstEvent: B + 5 * DAY + 3 * HOUR },
    expect: {
      periods: [
        { from: B + 3 * DAY, to: B + 5 * DAY, previous: true, segments: [] },
        { from: B + 5 * DAY, to: B + 7 * DAY, previous: false, segments: [seg('1d', B + 5 * DAY, B + 7 * DAY)] },
      ],
    },
  },
  {
    name: 'a quiet tenant: nothing is read after its newest rolled-up event (the tail is read apart)',
    query: { metrics: ['events'], from: B + 90_000, to: B + 7 * DAY + HOUR + 5 * MINUTE + 30_000 },
    state: { firstEvent: B + 5 * DAY + 3 * HOUR, lastEvent: B + 7 * DAY + 20 * MINUTE },
    expect: {
      periods: one(B + 90_000, B + 7 * DAY + HOUR + 5 * MINUTE + 30_000, [
        seg('1d', B + 5 * DAY, B + 7 * DAY),
        seg('1h', B + 7 * DAY, B + 7 * DAY + HOUR),
      ]),
    },
  },
  {
    name: 'raw: every piece is read whatever the newest rolled-up event',
    query: { metrics: ['events'], from: B, to: B + DAY },
    state: { raw: true, lastEvent: B - DAY },
    expect: { periods: one(B, B + DAY, [seg('raw', B, B + DAY)]) },
  },
  {
    name: 'time zone, no interval: the zone changes nothing',
    query: { metrics: ['events'], from: B, to: B + 2 * DAY },
    state: { timeZone: 'America/New_York' },
    expect: { bucket: null, periods: one(B, B + 2 * DAY, [seg('1d', B, B + 2 * DAY)]) },
  },
  {
    name: 'New York days: from the hour tier (a UTC day straddles two local ones)',
    query: { metrics: ['events'], interval: '1d', from: B, to: B + 2 * DAY },
    state: { timeZone: 'America/New_York' },
    expect: {
      bucket: { interval: '1d', zone: 'America/New_York' },
      periods: one(B, B + 2 * DAY, [seg('1h', B, B + 2 * DAY)]),
    },
  },
  {
    name: 'Kolkata days: from the quarter-hour tier (+5:30 splits hours)',
    query: { metrics: ['events'], interval: '1d', from: B - 5.5 * HOUR, to: B + 2 * DAY - 5.5 * HOUR },
    state: { timeZone: 'Asia/Kolkata' },
    expect: {
      periods: one(B - 5.5 * HOUR, B + 2 * DAY - 5.5 * HOUR, [seg('15m', B - 5.5 * HOUR, B + 2 * DAY - 5.5 * HOUR)]),
    },
  },
  {
    name: 'Kolkata hours: quarter hours too',
    query: { metrics: ['events'], interval: '1h', from: B - 5.5 * HOUR, to: B + DAY - 5.5 * HOUR },
    state: { timeZone: 'Asia/Kolkata' },
    expect: { periods: one(B - 5.5 * HOUR, B + DAY - 5.5 * HOUR, [seg('15m', B - 5.5 * HOUR, B + DAY - 5.5 * HOUR)]) },
  },
  {
    name: 'UTC days: from the day tier, as always',
    query: { metrics: ['events'], interval: '1d', from: B, to: B + 2 * DAY },
    state: { timeZone: 'UTC' },
    expect: { periods: one(B, B + 2 * DAY, [seg('1d', B, B + 2 * DAY)]) },
  },
  {
    name: 'New York months: from the hour tier (weeks and months nest in local days)',
    query: { metrics: ['events'], interval: '1mo', from: Date.UTC(2026, 2, 1, 5), to: Date.UTC(2026, 3, 1, 4) },
    state: { timeZone: 'America/New_York' },
    expect: {
      bucket: { interval: '1mo', zone: 'America/New_York' },
      periods: one(Date.UTC(2026, 2, 1, 5), Date.UTC(2026, 3, 1, 4), [
        seg('1h', Date.UTC(2026, 2, 1, 5), Date.UTC(2026, 3, 1, 4)),
      ]),
    },
  },
  {
    name: 'New York weeks past the hour tier’s retention: the day tier before it, each day counted by its start',
    query: { metrics: ['events'], interval: '1w', from: B, to: B + 14 * DAY },
    state: {
      timeZone: 'America/New_York',
      keptSince: { raw: B + 10 * DAY, '1m': B + 10 * DAY, '15m': B + 5 * DAY + 2 * HOUR, '1h': B + 5 * DAY + 2 * HOUR },
    },
    expect: {
      periods: one(B, B + 14 * DAY, [seg('1d', B, B + 6 * DAY), seg('1h', B + 6 * DAY, B + 14 * DAY)]),
    },
  },
  {
    name: 'New York days past the hour tier’s retention, within the quarter hours’: from quarter hours, not the day tier',
    query: { metrics: ['events'], interval: '1d', from: B, to: B + 14 * DAY },
    state: {
      timeZone: 'America/New_York',
      keptSince: { raw: B + 10 * DAY, '1m': B + 10 * DAY, '15m': B - 30 * DAY, '1h': B + 10 * DAY },
    },
    expect: {
      periods: one(B, B + 14 * DAY, [seg('15m', B, B + 10 * DAY), seg('1h', B + 10 * DAY, B + 14 * DAY)]),
    },
  },
];

for (const c of CASES) {
  test(c.name, () => {
    const plan = planQuery(querySchema.parse(c.query), { ...state, ...c.state });
    const picked = Object.fromEntries(Object.keys(c.expect).map((k) => [k, plan[k as keyof Plan]]));
    assert.equal(picked, c.expect);
    assert.equal(JSON.parse(JSON.stringify(plan)), plan, 'a plan prints as JSON');
  });
}

test.run();
