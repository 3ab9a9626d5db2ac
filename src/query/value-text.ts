// A metric's value as a person reads it where no chart gives it a unit (an alert's value, in
// a table or a notification): dollars, milliseconds, a rate in percent, or a count, never in
// exponent notation and never with more digits than a threshold needs.
const number = (v: number, digits: number, least = 0) =>
  v.toLocaleString('en-US', { minimumFractionDigits: least, maximumFractionDigits: digits, useGrouping: true });

/** Dollars: whole ones as such, cents always shown, and below a cent two significant digits (a threshold of $0.00001 stays one). */
function dollars(v: number): string {
  const a = Math.abs(v);
  const text = Number.isInteger(a)
    ? number(a, 0)
    : a >= 0.01
      ? number(a, a >= 1 ? 2 : 4, 2)
      : a.toLocaleString('en-US', { maximumSignificantDigits: 2 });
  return `${v < 0 ? '−' : ''}$${text}`;
}

export function valueText(metric: string, v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'no data';
  if (metric.endsWith('_usd')) return dollars(v);
  if (metric.endsWith('_ms')) return `${number(v, 0)} ms`;
  if (metric.endsWith('_s')) return `${number(v, 0)} s`;
  if (metric.endsWith('_rate')) return `${number(v * 100, 2)}%`;
  return number(v, 2);
}
