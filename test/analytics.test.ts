// The pure analytics: the legacy productivity score, least-squares trends and rolling
// z-score anomalies, checked against numbers worked out by hand.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { anomalies } from '../src/analytics/anomalies.js';
import {
  baselineFrom,
  DEFAULT_BASELINE,
  productivityScore,
  scoreSessions,
  type SessionFacts,
} from '../src/analytics/productivity.js';
import { linearTrend } from '../src/analytics/trends.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 9, 1);
const close = (actual: number, expected: number, eps = 1e-9, what = '') =>
  assert.ok(Math.abs(actual - expected) <= eps, `${what} ${actual} ≠ ${expected} (±${eps})`);
const session = (over: Partial<SessionFacts>): SessionFacts => ({
  sessionId: 's',
  start: T0,
  hours: 1,
  commands: 0,
  lines: 0,
  successRate: 1,
  distinctAgents: 0,
  ...over,
});

// ---------------------------------------------------------------- productivity

test('a one-hour session at baseline pace scores 2 × (1 + 0.5 + 0.5 + 1 + 0) = 6.0, good', () => {
  const r = productivityScore(session({ hours: 1, commands: 15, lines: 60, successRate: 0.5 }), DEFAULT_BASELINE);
  assert.equal(r.score, 6);
  assert.is(r.trend, 'good');
  assert.equal([r.velocity, r.codeOutput, r.success, r.focus, r.agentEfficiency], [1, 0.5, 0.5, 1, 0]);
  assert.equal([r.commandsPerHour, r.linesPerHour], [15, 60]);
  assert.equal([r.vsBaselineVelocity, r.vsBaselineOutput], [0, -50]);
});

test('every factor caps at 2 and the score at 10', () => {
  // 30 cmd/h and 240 lines/h are 2× baseline; 3 h caps focus; 6 agents cap at 6 / 3 = 2.
  const r = productivityScore(
    session({ hours: 3, commands: 90, lines: 720, successRate: 1, distinctAgents: 6 }),
    DEFAULT_BASELINE,
  );
  assert.equal([r.velocity, r.codeOutput, r.focus, r.agentEfficiency], [2, 2, 2, 2]);
  assert.is(r.score, 10);
  assert.is(r.trend, 'excellent');
  const huge = productivityScore(
    session({ hours: 50, commands: 1e6, lines: 1e7, distinctAgents: 99 }),
    DEFAULT_BASELINE,
  );
  assert.is(huge.score, 10);
});

test('sessions under 0.1 h are rated per 0.1 h, but focus counts real hours', () => {
  // 3 commands / 0.1 h = 30/h → velocity 2; 6 lines / 0.1 h = 60/h → 0.5; focus 0.05; agents 1/3.
  // 2 × (2 + 0.5 + 1 + 0.05 + 0.3333…) = 7.7667 → 7.8
  const r = productivityScore(
    session({ hours: 0.05, commands: 3, lines: 6, successRate: 1, distinctAgents: 1 }),
    DEFAULT_BASELINE,
  );
  assert.equal([r.commandsPerHour, r.linesPerHour], [30, 60]);
  close(r.focus, 0.05);
  assert.is(r.score, 7.8);
  assert.is(r.trend, 'good');
  assert.is(r.vsBaselineVelocity, 100);
  const zero = productivityScore(session({ hours: 0, commands: 2 }), DEFAULT_BASELINE);
  assert.is(zero.commandsPerHour, 20);
  assert.is(zero.focus, 0);
});

test('the score never drops below 0, even for nonsense input', () => {
  const empty = productivityScore(session({ hours: 0, successRate: 0 }), DEFAULT_BASELINE);
  assert.is(empty.score, 0);
  assert.is(empty.trend, 'needs_improvement');
  const nonsense = productivityScore(
    session({ hours: -3, commands: -50, lines: Number.NaN, successRate: -2, distinctAgents: -9 }),
    DEFAULT_BASELINE,
  );
  assert.is(nonsense.score, 0);
  for (const v of Object.values(nonsense)) if (typeof v === 'number') assert.ok(Number.isFinite(v));
});

test('the trend label reads the unrounded score, as the legacy hook did', () => {
  // 2 × (1 + 1 + 0.98 + 1 + 0) = 7.96: shown as 8.0, labelled good.
  const r = productivityScore(session({ hours: 1, commands: 15, lines: 120, successRate: 0.98 }), DEFAULT_BASELINE);
  assert.is(r.score, 8);
  assert.is(r.trend, 'good');
});

test('a baseline scales velocity and output; a zero baseline falls back to the default', () => {
  const s = session({ hours: 2, commands: 60, lines: 240, successRate: 1 });
  const r = productivityScore(s, { commandsPerHour: 60, linesPerHour: 240, sessions: 5 });
  assert.equal([r.velocity, r.codeOutput], [0.5, 0.5]); // 30/60, 120/240
  assert.equal([r.vsBaselineVelocity, r.vsBaselineOutput], [-50, -50]);
  assert.is(r.score, 8); // 2 × (0.5 + 0.5 + 1 + 2 + 0)
  const zero = productivityScore(s, { commandsPerHour: 0, linesPerHour: 0, sessions: 3 });
  assert.equal(zero, productivityScore(s, DEFAULT_BASELINE));
});

test('the baseline is total commands (lines) over total hours, not a mean of per-session rates', () => {
  const a = session({ sessionId: 'a', start: T0, hours: 1, commands: 10, lines: 100 });
  const b = session({ sessionId: 'b', start: T0 + DAY, hours: 3, commands: 90, lines: 60 });
  // pooled: 100 / 4 h = 25, 160 / 4 h = 40 (a mean of rates would give 20 and 60)
  assert.equal(baselineFrom([b, a]), { commandsPerHour: 25, linesPerHour: 40, sessions: 2 });
  assert.equal(baselineFrom([]), { commandsPerHour: 15, linesPerHour: 120, sessions: 0 });
  // the window keeps the latest sessions by start, whatever the input order
  assert.equal(baselineFrom([b, a], 1), { commandsPerHour: 30, linesPerHour: 20, sessions: 1 });
  // a 0.02 h session counts as 0.1 h: 5 / 0.1 = 50
  assert.equal(baselineFrom([session({ hours: 0.02, commands: 5, lines: 0 })]), {
    commandsPerHour: 50,
    linesPerHour: 0,
    sessions: 1,
  });
});

test('scoreSessions scores each session against the sessions before it, in input order', () => {
  const s1 = session({ sessionId: 's1', start: T0, hours: 1, commands: 30, lines: 240 });
  const s2 = session({ sessionId: 's2', start: T0 + DAY, hours: 1, commands: 15, lines: 120 });
  const s3 = session({ sessionId: 's3', start: T0 + 2 * DAY, hours: 1, commands: 15, lines: 120 });
  // s1 vs defaults: 2 × (2 + 2 + 1 + 1) = 12 → 10
  // s2 vs s1 (30/h, 240/h): 2 × (0.5 + 0.5 + 1 + 1) = 6.0
  // s3 vs s1+s2 (45 / 2 h = 22.5, 360 / 2 h = 180): 2 × (⅔ + ⅔ + 1 + 1) = 6.67 → 6.7
  assert.equal(
    scoreSessions([s3, s1, s2]).map((r) => r.score),
    [6.7, 10, 6],
  );
  // with a window of one, s3 is measured against s2 alone (15/h, 120/h): 2 × 4 = 8.0
  assert.equal(
    scoreSessions([s3, s1, s2], 1).map((r) => r.score),
    [8, 10, 6],
  );
  assert.equal(scoreSessions([]), []);
});

// Four summaries from the legacy fixture (fixtures/legacy-home/.agent-os/metrics/
// session-history.jsonl). Their per-hour rates reproduce from `metrics` and end − start,
// not from the rounded `duration_hours` (24 / 1.65 = 14.5, recorded 14.6). Their recorded
// productivity_score (5.5, 6.1, 5.6, 5.0) and trend do NOT reproduce: the formula gives
// 9.1, 7.3, 10 and 9.3 against the defaults the legacy hook used, and no baseline shared by
// both can put fcc1bb70 (recorded 6.1) above bb476b9b (recorded 5.0): bb476b9b is at least as
// fast, productive, long and agent-using, gives up only 0.9 points of success rate (−0.018),
// and so scores at least 1.76 higher.
const LEGACY = [
  {
    id: 'b5c317f8',
    start: '2026-10-03T09:00:00.000Z',
    end: '2026-10-03T10:38:45.124Z',
    durationHours: 1.65,
    commands: 24,
    lines: 74,
    agents: 2,
    success: 90.5,
    cph: 14.6,
    lph: 45,
    score: 9.1,
  },
  {
    id: 'fcc1bb70',
    start: '2026-10-04T09:00:00.000Z',
    end: '2026-10-04T10:26:30.046Z',
    durationHours: 1.44,
    commands: 24,
    lines: 15,
    agents: 0,
    success: 99.3,
    cph: 16.6,
    lph: 10.4,
    score: 7.3,
  },
  {
    id: 'a82845a1',
    start: '2026-10-05T09:00:00.000Z',
    end: '2026-10-05T11:24:30.492Z',
    durationHours: 2.41,
    commands: 39,
    lines: 4,
    agents: 3,
    success: 99.3,
    cph: 16.2,
    lph: 1.7,
    score: 10,
  },
  {
    id: 'bb476b9b',
    start: '2026-10-06T09:00:00.000Z',
    end: '2026-10-06T11:50:11.748Z',
    durationHours: 2.84,
    commands: 51,
    lines: 44,
    agents: 1,
    success: 98.4,
    cph: 18,
    lph: 15.5,
    score: 9.3,
  },
];
const legacyFacts = (l: (typeof LEGACY)[number], hours: number): SessionFacts => ({
  sessionId: l.id,
  start: Date.parse(l.start),
  hours,
  commands: l.commands,
  lines: l.lines,
  successRate: l.success / 100,
  distinctAgents: l.agents,
});

test('legacy summaries: rates reproduce from metrics and end − start', () => {
  for (const l of LEGACY) {
    const hours = (Date.parse(l.end) - Date.parse(l.start)) / 3_600_000;
    const r = productivityScore(legacyFacts(l, hours), DEFAULT_BASELINE);
    close(r.commandsPerHour, l.cph, 0.05, `${l.id} commands/h`);
    close(r.linesPerHour, l.lph, 0.05, `${l.id} lines/h`);
    assert.is(r.score, l.score, `${l.id} score`);
  }
  const rounded = productivityScore(legacyFacts(LEGACY[0]!, LEGACY[0]!.durationHours), DEFAULT_BASELINE);
  assert.is(Math.round(rounded.commandsPerHour * 10) / 10, 14.5);
});

test('legacy b5c317f8 by hand: 2 × (0.9721 + 0.3747 + 0.905 + 1.6459 + 0.6667) = 9.13 → 9.1', () => {
  const hours = 5925.124 / 3600; // 1.645868 h
  const r = productivityScore(legacyFacts(LEGACY[0]!, hours), DEFAULT_BASELINE);
  close(r.velocity, 24 / hours / 15, 1e-12); // 14.582 / 15
  close(r.velocity, 0.97213, 1e-5);
  close(r.codeOutput, 0.37468, 1e-5); // 44.961 / 120
  close(r.agentEfficiency, 2 / 3, 1e-12);
  close(r.vsBaselineVelocity, -2.787, 1e-3);
  assert.is(r.score, 9.1);
  assert.is(r.trend, 'excellent');
});

// ---------------------------------------------------------------- trends

test('points on a line: slope, intercept, r2 = 1 and a forecast along it', () => {
  // v = 5 + 0.002 t
  const r = linearTrend(
    [0, 1000, 2000, 3000].map((t) => ({ t, v: 5 + 0.002 * t })),
    { horizon: 2 },
  );
  close(r.slope, 0.002, 1e-15);
  close(r.slopePerDay, 172_800, 1e-6);
  close(r.intercept, 5, 1e-12);
  close(r.r2, 1, 1e-12);
  assert.is(r.direction, 'up');
  assert.is(r.forecast.length, 2);
  assert.equal(
    r.forecast.map((p) => p.t),
    [4000, 5000],
  );
  close(r.forecast[0]!.v, 13, 1e-12);
  close(r.forecast[1]!.v, 15, 1e-12);
});

test('a noisy daily series: slope 0.6/day, intercept 2.2, r2 = 0.6', () => {
  // x = 1..5, y = 2 4 5 4 5: x̄ 3, ȳ 4, Sxy 6, Sxx 10 → slope 0.6, intercept 4 − 1.8 = 2.2;
  // fitted 2.8 3.4 4.0 4.6 5.2, SSres 2.4, SStot 6 → r2 = 1 − 2.4/6 = 0.6
  const ys = [2, 4, 5, 4, 5];
  const r = linearTrend(
    ys.map((v, i) => ({ t: (i + 1) * DAY, v })),
    { horizon: 1 },
  );
  close(r.slopePerDay, 0.6, 1e-12);
  close(r.slope, 0.6 / DAY, 1e-20);
  close(r.intercept, 2.2, 1e-12);
  close(r.r2, 0.6, 1e-12);
  assert.is(r.direction, 'up');
  assert.is(r.forecast[0]!.t, 6 * DAY);
  close(r.forecast[0]!.v, 5.8, 1e-12);
  // the same data at real epoch times: same slope and r2, intercept at t = 0
  const real = linearTrend(ys.map((v, i) => ({ t: T0 + (i + 1) * DAY, v })));
  close(real.slopePerDay, 0.6, 1e-9);
  close(real.r2, 0.6, 1e-9);
  close(real.intercept + real.slope * (T0 + 3 * DAY), 4, 1e-6);
});

test('direction: flat when the change is tiny next to the values, or the fit explains little', () => {
  // 1000, 1001, 1002: perfect fit, but 2 over the span is under 5 % of ~1001
  const small = linearTrend([1000, 1001, 1002].map((v, i) => ({ t: T0 + i * DAY, v })));
  close(small.r2, 1, 1e-12);
  assert.is(small.direction, 'flat');
  // 1 3 1 3 1 3: slope 3/17.5 = 0.171/day, but r2 = (9/17.5)/6 = 0.086 < 0.1
  const zigzag = linearTrend([1, 3, 1, 3, 1, 3].map((v, i) => ({ t: T0 + i * DAY, v })));
  close(zigzag.slopePerDay, 3 / 17.5, 1e-12);
  close(zigzag.r2, 9 / 17.5 / 6, 1e-12);
  assert.is(zigzag.direction, 'flat');
  const down = linearTrend([10, 8, 6].map((v, i) => ({ t: T0 + i * DAY, v })));
  close(down.slopePerDay, -2, 1e-12);
  assert.is(down.direction, 'down');
});

test('0, 1 and 2 points, and a constant series, give numbers, never NaN', () => {
  const finite = (r: ReturnType<typeof linearTrend>) =>
    [r.slope, r.slopePerDay, r.intercept, r.r2, ...r.forecast.flatMap((p) => [p.t, p.v])].every(Number.isFinite);
  const none = linearTrend([], { horizon: 3 });
  assert.equal(none, { slope: 0, slopePerDay: 0, intercept: 0, r2: 0, direction: 'flat', forecast: [] });
  const one = linearTrend([{ t: T0, v: 7 }], { horizon: 3 });
  assert.equal(one, { slope: 0, slopePerDay: 0, intercept: 7, r2: 0, direction: 'flat', forecast: [] });
  const two = linearTrend(
    [
      { t: T0 + DAY, v: 3 },
      { t: T0, v: 1 },
    ],
    { horizon: 2 },
  );
  close(two.slopePerDay, 2, 1e-9);
  assert.is(two.r2, 1);
  assert.is(two.direction, 'up');
  assert.equal(
    two.forecast.map((p) => p.t),
    [T0 + 2 * DAY, T0 + 3 * DAY],
  );
  close(two.forecast[1]!.v, 7, 1e-6);
  const sameTime = linearTrend(
    [
      { t: T0, v: 1 },
      { t: T0, v: 3 },
    ],
    { horizon: 2 },
  );
  assert.equal([sameTime.slope, sameTime.intercept, sameTime.r2, sameTime.forecast.length], [0, 2, 0, 0]);
  const constant = linearTrend(
    [0.1, 0.1, 0.1, 0.1].map((v, i) => ({ t: T0 + i * DAY, v })),
    { horizon: 1 },
  );
  assert.is(constant.r2, 0);
  assert.is(constant.direction, 'flat');
  for (const r of [none, one, two, sameTime, constant]) assert.ok(finite(r));
  assert.ok(
    finite(
      linearTrend(
        [
          { t: T0, v: Number.NaN },
          { t: Number.POSITIVE_INFINITY, v: 1 },
        ],
        { horizon: 2 },
      ),
    ),
  );
});

test('property: points exactly on a line recover its slope (1e-9 relative) and r2 = 1', () => {
  fc.assert(
    fc.property(
      fc.double({ min: -1000, max: 1000, noNaN: true }),
      fc.double({ min: 0.1, max: 10_000, noNaN: true }),
      fc.boolean(),
      fc.integer({ min: 1_500_000_000_000, max: 2_000_000_000_000 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 24 * 1000 }), { minLength: 2, maxLength: 60 }),
      (v0, perDay, negative, start, hours) => {
        const slope = ((negative ? -1 : 1) * perDay) / DAY;
        const points = hours.map((h) => ({ t: start + h * 3_600_000, v: v0 + slope * h * 3_600_000 }));
        const r = linearTrend(points);
        return Math.abs(r.slope - slope) <= 1e-9 * Math.abs(slope) && Math.abs(r.r2 - 1) <= 1e-9;
      },
    ),
    { numRuns: 500 },
  );
});

// ---------------------------------------------------------------- anomalies

test('one spike in an alternating series is the only anomaly, with hand-computed z', () => {
  // 10 12 10 12 … with 40 at index 20: its history is indices 0..19 (fewer than 24),
  // mean 11, sample stddev √(20/19) = 1.02598, z = 29 / 1.02598 = 28.27 → high
  const series = Array.from({ length: 30 }, (_, i) => ({ t: T0 + i * 3_600_000, v: i === 20 ? 40 : i % 2 ? 12 : 10 }));
  const found = anomalies(series);
  assert.is(found.length, 1);
  const a = found[0]!;
  assert.equal([a.t, a.v, a.severity], [T0 + 20 * 3_600_000, 40, 'high']);
  close(a.mean, 11, 1e-12);
  close(a.stddev, Math.sqrt(20 / 19), 1e-12);
  close(a.z, 28.2657, 1e-4);
});

test('severity: low from the threshold, medium from +1, high from +2; negative z too', () => {
  // history 8 12 10 8 12: mean 10, SS 16, sample stddev √(16/4) = 2
  const judge = (v: number) =>
    anomalies(
      [8, 12, 10, 8, 12, v].map((x, i) => ({ t: i, v: x })),
      { window: 5, minPoints: 5 },
    );
  assert.equal(judge(15), []); // z 2.5
  assert.equal(judge(16), [{ t: 5, v: 16, mean: 10, stddev: 2, spread: 2, z: 3, severity: 'low' }]);
  assert.is(judge(17)[0]!.severity, 'low'); // 3.5
  assert.is(judge(19)[0]!.severity, 'medium'); // 4.5
  assert.is(judge(20)[0]!.severity, 'high'); // 5
  assert.equal(judge(4), [{ t: 5, v: 4, mean: 10, stddev: 2, spread: 2, z: -3, severity: 'low' }]);
  assert.is(
    anomalies(
      [8, 12, 10, 8, 12, 15].map((x, i) => ({ t: i, v: x })),
      { window: 5, minPoints: 5, threshold: 2 },
    )[0]!.severity,
    'low',
  );
});

test('the first minPoints points are history only, and the window excludes the point itself', () => {
  const spikeEarly = [10, 12, 10, 12, 10, 99, 10, 12, 10, 12].map((v, i) => ({ t: i, v }));
  assert.equal(
    anomalies(spikeEarly).map((a) => a.t),
    [],
  ); // index 5 < minPoints 8
  assert.equal(
    anomalies(spikeEarly, { minPoints: 4 }).map((a) => a.t),
    [5],
  );
  // 16 after 10 12 10 12 is z = 5 / 1.1547 = 4.33 with a window of 4; a window that
  // still holds the 99 (mean 19.7) sees nothing unusual in it
  const later = [...spikeEarly, { t: 10, v: 16 }];
  assert.equal(
    anomalies(later, { minPoints: 4, window: 4 }).map((a) => [a.t, a.severity]),
    [
      [5, 'high'],
      [10, 'medium'],
    ],
  );
  assert.equal(
    anomalies(later, { minPoints: 4 }).map((a) => a.t),
    [5],
  );
  assert.equal(anomalies([]), []);
  assert.equal(anomalies([{ t: 0, v: 1 }]), []);
});

test('a flat history: an equal value is normal, another is judged against a floor, so z is always finite', () => {
  const flat = (v: number, base = 5, o: { minSpread?: number } = {}) =>
    anomalies([...Array.from({ length: 8 }, (_, i) => ({ t: i, v: base })), { t: 8, v }], o);
  assert.equal(flat(5), []);
  // the spread is at least 5 % of the mean: 0.25, so 9 is 16 spreads off, and 5.5 only 2
  assert.equal(flat(9), [{ t: 8, v: 9, mean: 5, stddev: 0, spread: 0.25, z: 16, severity: 'high' }]);
  assert.equal(flat(5.5), []);
  // and at least minSpread (a count's: 1): 6 after fives is ordinary, 9 is z 4, medium
  assert.equal(flat(6, 5, { minSpread: 1 }), []);
  assert.equal(
    flat(9, 5, { minSpread: 1 }).map((a) => [a.spread, a.z, a.severity]),
    [[1, 4, 'medium']],
  );
  // eight 0.1s average to 0.09999999999999999: rounding, not spread
  assert.equal(flat(0.1, 0.1), []);
  const off = flat(0.2, 0.1);
  assert.is(off.length, 1);
  close(off[0]!.spread, 0.005, 1e-15);
  close(off[0]!.z, 20, 1e-9);
  // a history of zeros is no baseline: nothing is judged by it, whatever the floor
  assert.equal(flat(40, 0), []);
  assert.equal(flat(40, 0, { minSpread: 1 }), []);
  assert.not.match(JSON.stringify([flat(9), off, flat(1e300, 1e-300)]), /Infinity|NaN|null/);
});

test.run();
