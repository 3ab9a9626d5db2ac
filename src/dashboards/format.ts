// Numbers for people: 1.2k, $3.40, 1.4 s, 97.5 %, and the change against the previous period.

const trim = (s: string) => s.replace(/\.0$/, '');

export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a < 1000) return Number.isInteger(n) ? String(n) : trim(n.toFixed(1));
  for (const [div, unit] of [[1e9, 'B'], [1e6, 'M'], [1e3, 'k']] as const) {
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
export function change(current: number, previous: number, higherIsBetter: boolean | null = true): { text: string; tone: 'up' | 'down' | 'flat'; good: boolean | null } {
  if (previous === 0 && current === 0) return { text: 'no change', tone: 'flat', good: null };
  if (previous === 0) return { text: 'new', tone: 'up', good: higherIsBetter };
  const r = (current - previous) / Math.abs(previous);
  if (Math.abs(r) < 0.005) return { text: 'no change', tone: 'flat', good: null };
  const text = `${r > 0 ? '+' : '−'}${Math.abs(r) >= 10 ? count(Math.abs(r) * 100) : trim((Math.abs(r) * 100).toFixed(Math.abs(r) >= 1 ? 0 : 1))}%`;
  return { text, tone: r > 0 ? 'up' : 'down', good: higherIsBetter === null ? null : r > 0 === higherIsBetter };
}

/** A time for a table: `2026-11-22 14:05 UTC`. */
export function when(t: string | number | Date | null | undefined): string {
  if (t === null || t === undefined) return '–';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '–' : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const fmt = { count, usd, ms, pct, change, when };
