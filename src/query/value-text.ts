// A metric's value as a person reads it where no chart gives it a unit (an alert's value and
// threshold, in a table or a notification): dollars, milliseconds, a rate in percent, or a
// count, never in exponent notation, and with the digits it has (up to four decimals, two
// significant ones below that): a value that fires must not read as its threshold.
const number = (v: number, digits: number, least = 0) =>
  v.toLocaleString('en-US', { minimumFractionDigits: least, maximumFractionDigits: digits, useGrouping: true });

/** Up to four decimals; below 0.0001, two significant digits (never 0 for what is not 0). */
const fine = (v: number) =>
  v !== 0 && Math.abs(v) < 0.0001 ? v.toLocaleString('en-US', { maximumSignificantDigits: 2 }) : number(v, 4);

/** Dollars: whole ones as such, else cents always shown (and what is finer than a cent). */
function dollars(v: number): string {
  const a = Math.abs(v);
  const text = Number.isInteger(a) ? number(a, 0) : a >= 0.01 ? number(a, 4, 2) : fine(a);
  return `${v < 0 ? '−' : ''}$${text}`;
}

export function valueText(metric: string, v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'no data';
  if (metric.endsWith('_usd')) return dollars(v);
  if (metric.endsWith('_ms')) return `${fine(v)} ms`;
  if (metric.endsWith('_s')) return `${fine(v)} s`;
  if (metric.endsWith('_rate')) return `${fine(v * 100)}%`;
  return fine(v);
}
