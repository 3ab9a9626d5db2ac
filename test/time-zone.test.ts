import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addLocalDays,
  alignmentMs,
  isTimeZone,
  localDate,
  offsetMs,
  periodOf,
  startOfLocalDate,
} from '../src/time/zone.js';

const HOUR = 3_600_000;

test('zone names: IANA names and UTC are valid, anything else is not', () => {
  for (const name of ['UTC', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'Europe/London'])
    assert.ok(isTimeZone(name), name);
  for (const name of ['', 'Bogus/Zone', 'America/New York', '../etc/passwd', "UTC'; DROP TABLE events; --"])
    assert.not.ok(isTimeZone(name), name);
});

test('offsets follow daylight saving time', () => {
  assert.is(offsetMs('America/New_York', Date.UTC(2026, 0, 15, 12)), -5 * HOUR);
  assert.is(offsetMs('America/New_York', Date.UTC(2026, 6, 15, 12)), -4 * HOUR);
  // 2026-03-08 02:00 EST becomes 03:00 EDT: 07:00 UTC.
  assert.is(offsetMs('America/New_York', Date.UTC(2026, 2, 8, 6, 59)), -5 * HOUR);
  assert.is(offsetMs('America/New_York', Date.UTC(2026, 2, 8, 7)), -4 * HOUR);
  assert.is(offsetMs('Asia/Kolkata', Date.UTC(2026, 2, 8, 7)), 5.5 * HOUR);
});

test('alignment: which tiers nest inside a zone’s local hours and days', () => {
  assert.is(alignmentMs('UTC'), 24 * HOUR);
  assert.is(alignmentMs('America/New_York'), HOUR);
  assert.is(alignmentMs('Europe/London'), HOUR);
  assert.is(alignmentMs('Asia/Kolkata'), 15 * 60_000);
  assert.is(alignmentMs('Asia/Kathmandu'), 15 * 60_000);
});

const NY = 'America/New_York';
const KOLKATA = 'Asia/Kolkata';
const iso = (t: number) => new Date(t).toISOString();
const hours = (p: { start: number; end: number }) => (p.end - p.start) / HOUR;

test('local days across daylight saving: 23 hours on 2026-03-08, 25 on 2026-11-01 in New York', () => {
  const spring = periodOf(NY, 'day', Date.UTC(2026, 2, 8, 15));
  assert.is(iso(spring.start), '2026-03-08T05:00:00.000Z');
  assert.is(iso(spring.end), '2026-03-09T04:00:00.000Z');
  assert.is(hours(spring), 23);
  const fall = periodOf(NY, 'day', Date.UTC(2026, 10, 1, 15));
  assert.is(iso(fall.start), '2026-11-01T04:00:00.000Z');
  assert.is(iso(fall.end), '2026-11-02T05:00:00.000Z');
  assert.is(hours(fall), 25);
  // 23:30 on 31 October in New York is already 1 November in UTC.
  assert.is(iso(periodOf(NY, 'day', Date.UTC(2026, 10, 1, 3, 30)).start), '2026-10-31T04:00:00.000Z');
  assert.is(hours(periodOf(NY, 'day', Date.UTC(2026, 6, 1))), 24);
});

test('start of a local date, and adding local days keeps the local time across a transition', () => {
  assert.is(iso(startOfLocalDate(NY, '2026-03-08')), '2026-03-08T05:00:00.000Z');
  assert.is(iso(startOfLocalDate(NY, '2026-03-09')), '2026-03-09T04:00:00.000Z');
  assert.is(iso(startOfLocalDate(KOLKATA, '2026-12-01')), '2026-11-30T18:30:00.000Z');
  assert.is(iso(startOfLocalDate('UTC', '2026-12-01')), '2026-12-01T00:00:00.000Z');
  // Where midnight is skipped (Havana jumps from 00:00 to 01:00), the day starts at the jump.
  assert.is(iso(startOfLocalDate('America/Havana', '2026-03-08')), '2026-03-08T05:00:00.000Z');
  // Noon on 7 March (EST) plus a day is noon on 8 March (EDT): 23 hours later.
  assert.is(iso(addLocalDays(NY, Date.UTC(2026, 2, 7, 17), 1)), '2026-03-08T16:00:00.000Z');
  assert.is(iso(addLocalDays(NY, Date.UTC(2026, 10, 1, 4), 1)), '2026-11-02T05:00:00.000Z');
  assert.is(iso(addLocalDays(NY, Date.UTC(2026, 10, 2, 5), -1)), '2026-11-01T04:00:00.000Z');
  assert.is(localDate(KOLKATA, Date.UTC(2026, 10, 30, 18, 29)), '2026-11-30');
  assert.is(localDate(KOLKATA, Date.UTC(2026, 10, 30, 18, 30)), '2026-12-01');
  assert.is(localDate(NY, Date.UTC(2026, 10, 1, 3, 59)), '2026-10-31');
});

test('years before 100 and before the common era keep their offset (no 1900 added)', () => {
  // New York kept local mean time, 4:56:02 behind UTC, before 1883.
  const lmt = -(4 * HOUR + 56 * 60_000 + 2_000);
  assert.is(offsetMs(NY, Date.parse('0050-06-01T12:00:00Z')), lmt);
  assert.is(offsetMs(NY, Date.parse('0000-01-01T12:00:00Z')), lmt, 'year 0, 1 BC');
  assert.is(offsetMs(NY, Date.parse('-000100-01-01T12:00:00Z')), lmt);
  assert.is(
    offsetMs(KOLKATA, Date.parse('0099-12-31T12:00:00Z')),
    offsetMs(KOLKATA, Date.parse('0101-01-01T12:00:00Z')),
  );
  assert.is(iso(startOfLocalDate(NY, '0001-01-01')), '0001-01-01T04:56:02.000Z');
  assert.is(localDate(NY, Date.parse('0001-01-01T04:56:02Z')), '0001-01-01');
});

test('local weeks start on Monday, local months on the 1st', () => {
  // Sunday 29 November 22:00 in New York (03:00 UTC on Monday): the week of Monday 23 November.
  const week = periodOf(NY, 'week', Date.UTC(2026, 10, 30, 3));
  assert.is(iso(week.start), '2026-11-23T05:00:00.000Z');
  assert.is(iso(week.end), '2026-11-30T05:00:00.000Z');
  // The week holding 8 March has 167 hours, the one holding 1 November 169.
  assert.is(hours(periodOf(NY, 'week', Date.UTC(2026, 2, 8, 12))), 167);
  assert.is(hours(periodOf(NY, 'week', Date.UTC(2026, 10, 1, 12))), 169);
  // 01:30 on 1 December in Kolkata is 20:00 UTC on 30 November.
  const month = periodOf(KOLKATA, 'month', Date.UTC(2026, 10, 30, 20));
  assert.is(iso(month.start), '2026-11-30T18:30:00.000Z');
  assert.is(iso(month.end), '2026-12-31T18:30:00.000Z');
  assert.is(iso(periodOf(NY, 'month', Date.UTC(2026, 10, 15)).start), '2026-11-01T04:00:00.000Z');
  assert.is(iso(periodOf(NY, 'month', Date.UTC(2026, 10, 15)).end), '2026-12-01T05:00:00.000Z');
});

test.run();
