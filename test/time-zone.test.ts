import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alignmentMs, isTimeZone, offsetMs } from '../src/time/zone.js';

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

test.run();
