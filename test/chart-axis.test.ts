// A chart's time axis in the tenant's zone (src/dashboards/charts.ts): one slot per bucket,
// labels on round local times (at most 8, or 4 for a narrow chart), titles naming the zone's
// abbreviation only where the axis crosses a change of offset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { timeAxis } from '../src/dashboards/charts.js';
import { bucketStart, nextBucket } from '../src/query/buckets.js';
import type { Interval } from '../src/query/model.js';

const utc = (iso: string) => Date.parse(`${iso}Z`);
const NY = 'America/New_York';

/** The bucket starts of `interval` in `zone` from `from` up to `to`, as a chart's series has them. */
function buckets(from: number, to: number, interval: Interval, zone: string): number[] {
  const out: number[] = [];
  for (let t = bucketStart(from, interval, zone); t < to; t = nextBucket(t, interval, zone)) out.push(t);
  return out;
}
const shown = (labels: string[]) => labels.filter(Boolean);

test('New York’s 23-hour day has 23 hourly slots and its 25-hour day 25, two of them 01:00', () => {
  const spring = timeAxis(buckets(utc('2026-03-08T05:00'), utc('2026-03-09T04:00'), '1h', NY), '1h', NY);
  assert.is(spring.t.length, 23);
  assert.equal(spring.titles.slice(1, 4), ['08 Mar 01:00 EST', '08 Mar 03:00 EDT', '08 Mar 04:00 EDT']);
  const fall = timeAxis(buckets(utc('2026-11-01T04:00'), utc('2026-11-02T05:00'), '1h', NY), '1h', NY);
  assert.is(fall.t.length, 25);
  assert.equal(fall.titles.slice(1, 4), ['01 Nov 01:00 EDT', '01 Nov 01:00 EST', '01 Nov 02:00 EST']);
  assert.equal(shown(fall.labels), ['01 Nov', '03:00', '06:00', '09:00', '12:00', '15:00', '18:00', '21:00']);
  assert.equal(shown(fall.narrow), ['01 Nov', '06:00', '12:00', '18:00']);
});

test('titles name no zone where the offset does not change, and days are dates', () => {
  const july = timeAxis(buckets(utc('2026-07-01T04:00'), utc('2026-07-02T04:00'), '1h', NY), '1h', NY);
  assert.is(july.titles[0], '01 Jul 00:00');
  const days = timeAxis(buckets(utc('2026-03-06T05:00'), utc('2026-03-10T04:00'), '1d', NY), '1d', NY);
  assert.equal(days.titles, ['06 Mar 2026', '07 Mar 2026', '08 Mar 2026', '09 Mar 2026']);
  assert.equal(days.labels, ['06 Mar', '07 Mar', '08 Mar', '09 Mar']);
});

test('Kolkata’s half-hour offset: labels on its own hours', () => {
  const k = 'Asia/Kolkata';
  const axis = timeAxis(buckets(utc('2026-11-30T18:30'), utc('2026-12-01T06:30'), '15m', k), '15m', k);
  assert.equal(new Date(axis.t[0]!).toISOString(), '2026-11-30T18:30:00.000Z');
  assert.equal(shown(axis.labels), ['01 Dec', '02:00', '04:00', '06:00', '08:00', '10:00']);
  assert.is(axis.titles[1], '01 Dec 00:15');
});

test('long ranges: the 1st and 16th over 90 days, months on a narrow chart, quarters over two years (half years narrow)', () => {
  const q = timeAxis(buckets(utc('2026-09-06T00:00'), utc('2026-12-05T00:00'), '1d', 'UTC'), '1d', 'UTC');
  assert.equal(shown(q.labels), ['16 Sep', '01 Oct', '16 Oct', '01 Nov', '16 Nov', '01 Dec']);
  assert.equal(shown(q.narrow), ['Oct', 'Nov', 'Dec']);
  const years = timeAxis(buckets(utc('2025-01-01T00:00'), utc('2026-12-31T00:00'), '1d', 'UTC'), '1d', 'UTC');
  assert.equal(shown(years.labels), ['2025', 'Apr', 'Jul', 'Oct', '2026', 'Apr', 'Jul', 'Oct']);
  assert.equal(shown(years.narrow), ['2025', 'Jul', '2026', 'Jul']);
  const months = timeAxis(buckets(utc('2026-01-01T00:00'), utc('2026-07-01T00:00'), '1mo', 'UTC'), '1mo', 'UTC');
  assert.equal(months.labels, ['2026', 'Feb', 'Mar', 'Apr', 'May', 'Jun']);
});

test('never a single label where two fit: every second or third day before Mondays', () => {
  const nine = timeAxis(buckets(utc('2026-09-01T00:00'), utc('2026-09-09T01:17'), '1d', 'UTC'), '1d', 'UTC');
  assert.equal(shown(nine.labels), ['02 Sep', '04 Sep', '06 Sep', '08 Sep']);
  // Tuesday to Saturday by the hour: no Monday in it, yet a narrow chart has dates.
  const week = timeAxis(buckets(utc('2026-03-03T00:00'), utc('2026-03-08T00:00'), '1h', 'UTC'), '1h', 'UTC');
  assert.equal(shown(week.narrow), ['04 Mar', '06 Mar']);
  // Eight and a half days by the hour (the team page's 7 days and their forecast).
  const team = timeAxis(buckets(utc('2026-08-25T05:17'), utc('2026-09-02T17:17'), '1h', NY), '1h', NY);
  assert.equal(shown(team.labels), ['26 Aug', '27 Aug', '28 Aug', '29 Aug', '30 Aug', '31 Aug', '01 Sep', '02 Sep']);
  assert.equal(shown(team.narrow), ['27 Aug', '29 Aug', '31 Aug', '02 Sep']);
});

test('a date is labelled at its first slot: Havana skips midnight on 8 March and reads it twice on 1 November', () => {
  const H = 'America/Havana';
  const spring = timeAxis(buckets(utc('2026-03-08T05:00'), utc('2026-03-08T12:00'), '5m', H), '5m', H);
  assert.equal(shown(spring.labels), ['08 Mar', '02:00', '03:00', '04:00', '05:00', '06:00', '07:00']);
  assert.is(spring.labels[0], '08 Mar', 'the day starts at 01:00');
  const fall = timeAxis(buckets(utc('2026-11-01T03:00'), utc('2026-11-01T08:00'), '15m', H), '15m', H);
  const at = (iso: string) => fall.labels[fall.t.indexOf(utc(iso))];
  assert.equal([at('2026-11-01T04:00'), at('2026-11-01T05:00')], ['01 Nov', '00:00'], 'one date, then 00:00 again');
});

test('a time of the repeated hour is titled with its zone, even on an axis that stays on one side', () => {
  const est = timeAxis(buckets(utc('2026-11-01T06:10'), utc('2026-11-01T07:10'), '1m', NY), '1m', NY);
  assert.is(est.titles[est.t.indexOf(utc('2026-11-01T06:30'))], '01 Nov 01:30 EST');
  const edt = timeAxis(buckets(utc('2026-11-01T04:50'), utc('2026-11-01T05:50'), '1m', NY), '1m', NY);
  assert.is(edt.titles[edt.t.indexOf(utc('2026-11-01T05:30'))], '01 Nov 01:30 EDT');
});

test('half a year on a narrow chart: every second month; a year and a half: every sixth', () => {
  const half = timeAxis(buckets(utc('2026-07-04T00:00'), utc('2026-12-31T00:00'), '1d', 'UTC'), '1d', 'UTC');
  assert.equal(shown(half.narrow), ['Sep', 'Nov']);
  const more = timeAxis(buckets(utc('2025-10-02T00:00'), utc('2027-03-31T00:00'), '1d', 'UTC'), '1d', 'UTC');
  assert.equal(shown(more.narrow), ['2026', 'Jul', '2027']);
});

test('points of several series at the same instants make one slot each', () => {
  const t = [utc('2026-07-01T01:00'), utc('2026-07-01T00:00')];
  assert.equal(timeAxis([...t, ...t], '1h', 'UTC').t, [utc('2026-07-01T00:00'), utc('2026-07-01T01:00')]);
});

test.run();
