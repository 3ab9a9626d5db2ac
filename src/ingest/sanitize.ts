// Makes client JSON safe to keep: no prototype-polluting keys, bounded strings, depth
// and size, no lone surrogates (DuckDB's JSON type refuses them). Used on every
// `attributes` object before it is stored.
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
export const MAX_ATTR_STRING = 8192;
const MAX_DEPTH = 12;
const MAX_KEYS = 256;

export function sanitizeJson(value: unknown, depth = 0): unknown {
  if (typeof value === 'string')
    return (value.length > MAX_ATTR_STRING ? `${value.slice(0, MAX_ATTR_STRING)}…[truncated]` : value).toWellFormed();
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'bigint') return value.toString();
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.slice(0, MAX_KEYS).map((v) => sanitizeJson(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    let n = 0;
    const object = value as Record<string, unknown>;
    // for…in over own keys is Object.entries' order, without an array and a pair made per key.
    for (const k in object) {
      if (!Object.hasOwn(object, k)) continue;
      const v = object[k];
      if (FORBIDDEN.has(k) || v === undefined) continue;
      if (++n > MAX_KEYS) break;
      out[(k.length > 256 ? k.slice(0, 256) : k).toWellFormed()] = sanitizeJson(v, depth + 1);
    }
    return out;
  }
  return null; // functions, symbols, undefined
}

/**
 * Bodies nested deeper than this are refused (400 naming `body`): every step that walks a
 * body recursively (hashing, sanitising, OTLP values) is bounded by it, and no real client
 * comes near it.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests arrays and objects more than `max` deep. Iterative: safe at any depth. */
export function nestedDeeperThan(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** JSON with keys sorted, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
