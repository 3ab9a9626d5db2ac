// Buckets in the tenant's time zone: a New York and a Kolkata tenant, events on both sides of
// local midnights, of the daylight-saving days 2026-03-08 (23 hours) and 2026-11-01 (25 hours)
// and of local hours; hour, day, week and month buckets answered from the rollups (with a tail
// above the watermark) and from raw events equal the events bucketed in JS, where a bucket
// starts at each local wall-clock boundary found by walking the zone's offsets (offsetMs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { saveSetting } from '../src/aggregate/settings.js';
import { newId } from '../src/ids.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { querySchema, type Interval } from '../src/query/model.js';
import { runQuery } from '../src/query/run.js';
import { fillGaps } from '../src/query/result.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { offsetMs } from '../src/time/zone.js';
import { tempDir, tenantWorker } from './helpers.js';

const MINUTE = 60_000;
const QUARTER = 15 * MINUTE;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 11, 1);
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Whether `t` (on a quarter-hour grid) starts a bucket of `interval` in `zone`: its wall
 * clock is on the boundary, or passed it since the quarter before (a skipped midnight,
 * Lord Howe's skipped half hour).
 */
function startsBucket(t: number, interval: Interval, zone: string): boolean {
  const wall = new Date(t + offsetMs(zone, t));
  const before = new Date(t - QUARTER + offsetMs(zone, t - QUARTER));
  const newDay = wall.toISOString().slice(0, 10) !== before.toISOString().slice(0, 10);
  const midnight = (wall.getUTCHours() === 0 && wall.getUTCMinutes() === 0) || newDay;
  if (interval === '1h') return wall.getUTCMinutes() === 0 || wall.getUTCHours() !== before.getUTCHours();
  if (interval === '1d') return midnight;
  if (interval === '1w') return midnight && wall.getUTCDay() === 1;
  return midnight && wall.getUTCDate() === 1;
}

/** The bucket starts of [from, to) found by walking the zone's quarter hours. */
function gridOf(zone: string, interval: Interval, from: number, to: number): number[] {
  const starts: number[] = [];
  const date = (t: number) => new Date(t + offsetMs(zone, t)).toISOString().slice(0, 10);
  for (let t = Math.ceil(from / QUARTER) * QUARTER; t < to; t += QUARTER)
    if (startsBucket(t, interval, zone)) {
      const again = interval !== '1h' && starts.length > 0 && date(starts.at(-1)!) === date(t);
      if (again) starts[starts.length - 1] = t;
      else starts.push(t);
    }
  return starts;
}

/**
 * Per bucket start (ISO), the events of [from, to) and their distinct sessions, bucketed by
 * walking the grid. A local midnight the clocks read twice (Havana's 1 November) starts one
 * day, named by the later reading, as DuckDB's ICU names a local time.
 */
function expected(events: Ev[], zone: string, interval: Interval, from: number, to: number) {
  const starts = gridOf(zone, interval, from - 32 * DAY, to);
  const date = (t: number) => new Date(t + offsetMs(zone, t)).toISOString().slice(0, 10);
  const out = new Map<string, { tool_calls: number; sessions: Set<string> }>();
  for (const e of events) {
    if (e.ts < from || e.ts >= to) continue;
    // The last start not after the event, or a repeated midnight's later reading just after it.
    const i = starts.findIndex((s) => s > e.ts);
    const next = i === -1 ? undefined : starts[i];
    const start =
      next !== undefined && interval !== '1h' && date(next) === date(e.ts)
        ? next
        : starts.filter((s) => s <= e.ts).at(-1)!;
    const b = out.get(iso(start)) ?? { tool_calls: 0, sessions: new Set<string>() };
    b.tool_calls++;
    b.sessions.add(e.session_id!);
    out.set(iso(start), b);
  }
  return [...out.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([t, b]) => ({ t, tool_calls: b.tool_calls, sessions: b.sessions.size }));
}

type Ev = IngestEvent & { ts: number };

/** Events a minute either side of every local midnight and hour boundary near the days that matter, and the DST hours. */
function eventsFor(zone: string, dstDays: number[]): Ev[] {
  const times = new Set<number>();
  for (const [from, to] of [
    [Date.UTC(2026, 1, 20), Date.UTC(2026, 3, 8)],
    [Date.UTC(2026, 8, 26), Date.UTC(2026, 10, 9)],
  ] as const) {
    for (let t = from; t < to; t += QUARTER) {
      if (startsBucket(t, '1d', zone)) for (const d of [-MINUTE, MINUTE, 7 * HOUR]) times.add(t + d);
      // Local hours of the DST days and the days beside them: both sides of each boundary.
      const near = dstDays.some((d) => t >= d && t < d + 3 * DAY);
      if (near && startsBucket(t, '1h', zone)) for (const d of [-MINUTE, MINUTE]) times.add(t + d);
    }
  }
  // New York's skipped and repeated hours (07:00 and 06:00 UTC), whatever the zone.
  for (const t of [Date.UTC(2026, 2, 8, 6, 59), Date.UTC(2026, 2, 8, 7, 1), Date.UTC(2026, 10, 1, 5, 30)]) times.add(t);
  times.add(Date.UTC(2026, 10, 1, 6, 30));
  return [...times]
    .sort((a, b) => a - b)
    .map((ts, i) => ({
      id: `${zone}-${i}`,
      kind: 'tool_call',
      ts,
      session_id: `s${i % 7}`,
      name: 'Bash',
      status: 'success',
      tool_use_id: `${zone}-tu${i}`,
    }));
}

type Ask = { interval: Interval; from: number; to: number };
const ASKED: Ask[] = [
  { interval: '1d', from: Date.UTC(2026, 1, 27, 13, 7), to: Date.UTC(2026, 3, 3, 10) },
  { interval: '1d', from: Date.UTC(2026, 9, 28), to: Date.UTC(2026, 10, 6, 22, 30) },
  { interval: '1w', from: Date.UTC(2026, 1, 23), to: Date.UTC(2026, 3, 6) },
  { interval: '1w', from: Date.UTC(2026, 9, 25, 11), to: Date.UTC(2026, 10, 9) },
  { interval: '1mo', from: Date.UTC(2026, 1, 1), to: Date.UTC(2026, 4, 1) },
  { interval: '1mo', from: Date.UTC(2026, 9, 1), to: Date.UTC(2026, 11, 1) },
];

async function tenantIn(zone: string, now = NOW) {
  const dir = tempDir('am-tz');
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  await files.create(tenantId);
  const file = await files.open(tenantId);
  await saveSetting(file, file, 'timezone', zone);
  // Keep everything: the months asked about lie beyond default raw retention at NOW.
  await saveSetting(file, file, 'retention', {
    raw: null,
    '1m': null,
    '5m': null,
    '15m': null,
    '1h': null,
    '1d': null,
  });
  const { aggregator, errors, ingestor } = tenantWorker(files, tenantId, { now: () => now });
  const ingest = async (events: Ev[]) => {
    const result = await ingestor.ingest({ tenantId, userId: 'u_ana' }, 'rest', events);
    assert.equal(result.rejected, []);
  };
  return { dir, files, tenantId, aggregator, errors, ingest };
}

/** The days before each of the zone's 2026 clock changes. */
const NEW_YORK_DAYS = [Date.UTC(2026, 2, 7), Date.UTC(2026, 9, 31)];
const ZONES: [string, number[]][] = [
  ['America/New_York', NEW_YORK_DAYS],
  ['Asia/Kolkata', NEW_YORK_DAYS],
  // Midnight read twice on 1 November (01:00 back to 00:00); skipped on 8 March.
  ['America/Havana', NEW_YORK_DAYS],
  // +10:30 in winter, +11 in summer: its hours start at :30 UTC for half the year.
  ['Australia/Lord_Howe', [Date.UTC(2026, 3, 4), Date.UTC(2026, 9, 3)]],
];

for (const [zone, dstDays] of ZONES) {
  test(`${zone}: hour, day, week and month buckets from the rollups and from raw events equal the events bucketed in the zone`, async () => {
    const t = await tenantIn(zone);
    try {
      const events = eventsFor(zone, dstDays);
      // Every seventh event arrives after the worker ran: a tail above the watermark.
      const late = events.filter((_, i) => i % 7 === 3);
      await t.ingest(events.filter((_, i) => i % 7 !== 3));
      await t.aggregator.runOnce(t.tenantId);
      assert.equal(t.errors, []);
      await t.ingest(late);
      // Local hours around both DST days (unaligned edges: raw events and minutes).
      const hours = dstDays.map((d) => ({
        interval: '1h' as const,
        from: d + 3 * HOUR + 7 * MINUTE,
        to: d + 3 * DAY - 7 * MINUTE,
      }));
      for (const a of [...hours, ...ASKED]) {
        const q = querySchema.parse({ metrics: ['tool_calls', 'sessions'], ...a, limit: 10_000 });
        const want = expected(events, zone, a.interval, a.from, a.to);
        // The series' empty buckets (fillGaps) are on the same grid.
        const grid = fillGaps([], q, zone).map((r) => Date.parse(String(r.t)));
        assert.equal(
          grid.slice(1),
          gridOf(zone, a.interval, a.from, a.to).filter((t) => t > a.from),
          'grid',
        );
        assert.ok(want.length > 1, 'the range holds several buckets');
        for (const raw of [false, true]) {
          const { rows } = await runQuery(t.files, t.tenantId, q, { now: NOW, raw });
          assert.equal(rows, want, `${a.interval} ${iso(a.from)}..${iso(a.to)}${raw ? ' raw' : ''}`);
        }
      }
    } finally {
      await t.files.remove(t.tenantId);
      t.dir.remove();
    }
  });
}

test('New York past the hour tier’s retention: whole UTC days from the day tier, each counted in the local day it starts in', async () => {
  const now = Date.UTC(2026, 2, 20);
  const t = await tenantIn('America/New_York', now);
  try {
    const file = await t.files.open(t.tenantId);
    await saveSetting(file, file, 'retention', { raw: 5, '1m': 5, '5m': 5, '15m': 5, '1h': 5, '1d': null });
    const events = eventsFor('America/New_York', NEW_YORK_DAYS).filter(
      (e) => e.ts >= Date.UTC(2026, 2, 8) && e.ts < now,
    );
    await t.ingest(events);
    await t.aggregator.runOnce(t.tenantId, { retention: true });
    assert.equal(t.errors, []);
    const cut = now - 5 * DAY; // 2026-03-15 00:00 UTC: the hour tier, minutes and raw events hold nothing before it
    const from = Date.UTC(2026, 2, 10, 4); // local midnight
    const to = Date.UTC(2026, 2, 19, 4);
    const q = querySchema.parse({ metrics: ['tool_calls'], interval: '1d', from, to });
    const { rows } = await runQuery(t.files, t.tenantId, q, { now });
    // Before the cut, a UTC day (00:00 UTC is 20:00 the evening before in New York) counts in the local day before it.
    const before = expected(
      events.map((e) => ({ ...e, ts: Math.floor(e.ts / DAY) * DAY })),
      'America/New_York',
      '1d',
      from,
      cut,
    );
    const after = expected(events, 'America/New_York', '1d', cut, to);
    const want = [...before, ...after].reduce<{ t: string; tool_calls: number }[]>((out, b) => {
      const last = out.at(-1);
      if (last?.t === b.t) last.tool_calls += b.tool_calls;
      else out.push({ t: b.t, tool_calls: b.tool_calls });
      return out;
    }, []);
    assert.ok(before.length > 2 && after.length > 2, 'both sides of the cut hold days');
    assert.equal(rows, want);
  } finally {
    await t.files.remove(t.tenantId);
    t.dir.remove();
  }
});

test('New York past the hour tier’s retention but within the quarter hours’: exact local days from quarter hours', async () => {
  const now = Date.UTC(2026, 2, 20);
  const t = await tenantIn('America/New_York', now);
  try {
    const file = await t.files.open(t.tenantId);
    await saveSetting(file, file, 'retention', { raw: 5, '1m': 5, '5m': 5, '15m': 365, '1h': 5, '1d': null });
    const events = eventsFor('America/New_York', NEW_YORK_DAYS).filter(
      (e) => e.ts >= Date.UTC(2026, 2, 8) && e.ts < now,
    );
    await t.ingest(events);
    await t.aggregator.runOnce(t.tenantId, { retention: true });
    assert.equal(t.errors, []);
    const from = Date.UTC(2026, 2, 10, 4); // local midnight
    const to = Date.UTC(2026, 2, 19, 4);
    const q = querySchema.parse({ metrics: ['tool_calls'], interval: '1d', from, to });
    const { rows } = await runQuery(t.files, t.tenantId, q, { now });
    const want = expected(events, 'America/New_York', '1d', from, to).map(({ t, tool_calls }) => ({ t, tool_calls }));
    assert.ok(want.length === 9, 'nine local days');
    assert.equal(rows, want);
  } finally {
    await t.files.remove(t.tenantId);
    t.dir.remove();
  }
});

for (const [zone, want] of [
  ['America/New_York', { '2026-03-15T04:00:00.000Z': 3 }],
  ['Asia/Kathmandu', { '2026-03-14T18:15:00.000Z': 1, '2026-03-15T18:15:00.000Z': 2 }],
] as const) {
  test(`${zone}: the day the hour tiers stop keeping, mid-day UTC, is read from them, each event in its local day`, async () => {
    // Retention at 03:00 UTC: the finer tiers keep from the start of that UTC day five days
    // back, so its events are not read from the day tier as one bucket in one local day.
    const now = Date.UTC(2026, 2, 20, 3);
    const t = await tenantIn(zone, now);
    try {
      const file = await t.files.open(t.tenantId);
      await saveSetting(file, file, 'retention', { raw: 5, '1m': 5, '5m': 5, '15m': 5, '1h': 5, '1d': null });
      const at = [Date.UTC(2026, 2, 15, 12), Date.UTC(2026, 2, 15, 20), Date.UTC(2026, 2, 15, 20, 30)];
      await t.ingest(at.map((ts, i) => ({ id: `cut-${i}`, kind: 'tool_call', ts, session_id: 's', name: 'Bash' })));
      await t.aggregator.runOnce(t.tenantId, { retention: true });
      assert.equal(t.errors, []);
      const q = querySchema.parse({
        metrics: ['tool_calls'],
        interval: '1d',
        from: Date.UTC(2026, 2, 13),
        to: Date.UTC(2026, 2, 19),
      });
      const { rows } = await runQuery(t.files, t.tenantId, q, { now });
      assert.equal(Object.fromEntries(rows.map((r) => [r.t, r.tool_calls])), want);
    } finally {
      await t.files.remove(t.tenantId);
      t.dir.remove();
    }
  });
}

test('New York: a day bucket starts at local midnight, 2026-03-08 holds 23 hours and 2026-11-01 25; months too', () => {
  const zone = 'America/New_York';
  const days = (from: number, to: number) =>
    fillGaps([], querySchema.parse({ metrics: ['events'], interval: '1d', from, to }), zone).map((r) => r.t);
  assert.equal(days(Date.UTC(2026, 2, 8, 6), Date.UTC(2026, 2, 10)), [
    '2026-03-08T05:00:00.000Z',
    '2026-03-09T04:00:00.000Z',
  ]);
  assert.equal(days(Date.UTC(2026, 10, 1, 6), Date.UTC(2026, 10, 3)), [
    '2026-11-01T04:00:00.000Z',
    '2026-11-02T05:00:00.000Z',
  ]);
  const months = fillGaps(
    [],
    querySchema.parse({ metrics: ['events'], interval: '1mo', from: Date.UTC(2026, 1, 15), to: Date.UTC(2026, 3, 2) }),
    zone,
  ).map((r) => r.t);
  assert.equal(months, ['2026-02-01T05:00:00.000Z', '2026-03-01T05:00:00.000Z', '2026-04-01T04:00:00.000Z']);
  const kolkataHours = fillGaps(
    [],
    querySchema.parse({
      metrics: ['events'],
      interval: '1h',
      from: Date.UTC(2026, 2, 8, 7),
      to: Date.UTC(2026, 2, 8, 9),
    }),
    'Asia/Kolkata',
  ).map((r) => r.t);
  assert.equal(kolkataHours, ['2026-03-08T06:30:00.000Z', '2026-03-08T07:30:00.000Z', '2026-03-08T08:30:00.000Z']);
});

test.run();
