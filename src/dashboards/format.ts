// Numbers for people: 1.2k, $3.40, 1.4 s, 97.5 %, the change against the previous period,
// times, and session ids short enough for a table but never alike.
import { DEFAULT_TIME_ZONE, wallOf, zoneAbbreviation } from '../time/zone.js';
import { valueText } from '../query/value-text.js';
import { conditionWords } from '../alerts/evaluate.js';

const trim = (s: string) => s.replace(/\.0$/, '');

export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a < 1000) return Number.isInteger(n) ? String(n) : trim(n.toFixed(1));
  for (const [div, unit] of [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (a >= div) return `${trim((n / div).toFixed(a / div >= 100 ? 0 : 1))}${unit}`;
  }
  return String(n);
}

export function usd(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 10_000) return `$${count(n)}`;
  if (a >= 100) return `$${n.toFixed(0)}`;
  if (a > 0 && a < 0.01) return '<$0.01';
  return `$${n.toFixed(2)}`;
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${trim((n / 1000).toFixed(1))} s`;
  if (n < 3_600_000) return `${trim((n / 60_000).toFixed(1))} min`;
  return `${trim((n / 3_600_000).toFixed(1))} h`;
}

export function pct(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return '–';
  const p = ratio * 100;
  return `${p >= 99.95 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** `current` against `previous`: the text (+12%, −3%, new) and whether the move is good. */
export function change(
  current: number,
  previous: number,
  higherIsBetter: boolean | null = true,
): { text: string; tone: 'up' | 'down' | 'flat'; good: boolean | null } {
  if (previous === 0 && current === 0) return { text: 'no change', tone: 'flat', good: null };
  if (previous === 0) return { text: 'new', tone: 'up', good: higherIsBetter };
  const r = (current - previous) / Math.abs(previous);
  if (Math.abs(r) < 0.005) return { text: 'no change', tone: 'flat', good: null };
  const text = `${r > 0 ? '+' : '−'}${Math.abs(r) >= 10 ? count(Math.abs(r) * 100) : trim((Math.abs(r) * 100).toFixed(Math.abs(r) >= 1 ? 0 : 1))}%`;
  return { text, tone: r > 0 ? 'up' : 'down', good: higherIsBetter === null ? null : r > 0 === higherIsBetter };
}

/** A time for a table, in `zone`: `2026-11-22 14:05 UTC`, `2026-11-22 09:05 EST`, `2026-11-22 19:35 GMT+5:30`. */
export function when(t: string | number | Date | null | undefined, zone = DEFAULT_TIME_ZONE): string {
  if (t === null || t === undefined) return '–';
  const at = new Date(t).getTime();
  if (Number.isNaN(at)) return '–';
  const local = new Date(wallOf(zone, at)).toISOString().slice(0, 16).replace('T', ' ');
  return `${local} ${zone === DEFAULT_TIME_ZONE ? 'UTC' : zoneAbbreviation(zone, at)}`;
}

/** A time of day in `zone`, to the second: `14:05:09`. */
export function clock(t: string | number | Date, zone = DEFAULT_TIME_ZONE): string {
  const at = new Date(t).getTime();
  return Number.isNaN(at) ? '–' : new Date(wallOf(zone, at)).toISOString().slice(11, 19);
}

/** The fewest characters of an id a table shows: less and a uuid's first block is all there is. */
const MIN_ID_CHARS = 8;

/**
 * Each of `ids` as a table shows it: its shortest beginning (at least MIN_ID_CHARS) that no
 * other of `ids` begins with, marked … when cut. Different ids never look the same; the
 * page puts the whole id in a title.
 */
export function shortIds(ids: readonly string[]): Map<string, string> {
  const sorted = [...new Set(ids)].sort();
  const common = (a: string | undefined, b: string) => {
    if (a === undefined) return 0;
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    return n;
  };
  // The longest beginning an id shares with another is shared with a neighbour in sorted order.
  return new Map(
    sorted.map((id, i) => {
      const keep = Math.max(MIN_ID_CHARS, common(sorted[i - 1], id) + 1, common(sorted[i + 1], id) + 1);
      return [id, keep >= id.length ? id : `${id.slice(0, keep)}…`];
    }),
  );
}

/** The formatters; `zone` names the zone their times are in. */
export const fmt = {
  count,
  usd,
  ms,
  pct,
  change,
  when,
  clock,
  shortIds,
  metric: valueText,
  condition: conditionWords,
  zone: 'UTC',
};

/** `fmt` with its times (`when`, `clock`) in `zone` (null: UTC). */
export const zonedFormat = (zone: string | null) =>
  zone
    ? { ...fmt, zone, when: (t: Parameters<typeof when>[0]) => when(t, zone), clock: (t: string) => clock(t, zone) }
    : fmt;
