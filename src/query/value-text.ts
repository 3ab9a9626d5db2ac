// A metric's value as a person reads it where no chart gives it a unit (an alert's value, in
// a table or a notification): dollars, milliseconds, a rate in percent, or a count, never in
// exponent notation and never with more digits than a threshold needs.
const number = (v: number, digits: number) =>
  v.toLocaleString('en-US', { maximumFractionDigits: digits, useGrouping: true });

export function valueText(metric: string, v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'no data';
  if (metric.endsWith('_usd')) return `${v < 0 ? '−' : ''}$${number(Math.abs(v), Math.abs(v) >= 1 ? 2 : 4)}`;
  if (metric.endsWith('_ms')) return `${number(v, 0)} ms`;
  if (metric.endsWith('_s')) return `${number(v, 0)} s`;
  if (metric.endsWith('_rate')) return `${number(v * 100, 2)}%`;
  return number(v, 2);
}
