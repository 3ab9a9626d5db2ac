// Makes client JSON safe to keep: no prototype-polluting keys, bounded strings, depth
// and size, no lone surrogates (DuckDB's JSON type refuses them). Used on every
// `attributes` object before it is stored.
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
export const MAX_ATTR_STRING = 8192;
/**
 * How large one event's attributes may be, counted as their JSON: every string (escapes
 * included), key, number, literal and bracket. Past it the rest is cut, marked. Without it
 * a small request could store far more than it sent: OpenTelemetry's resource goes into
 * every record's attributes, so 4 KB of gzip made a 153 MB journal record that DuckDB could
 * not apply.
 */
export const MAX_ATTR_SIZE = 64 * 1024;
const MAX_DEPTH = 12;
const MAX_KEYS = 256;
const CUT = '…[truncated]';
const TOO_DEEP = '[too deep]';

/** A marker, charged what it stores. */
function charged<T extends string>(marker: T, budget: { left: number }): T {
  budget.left -= marker.length + 3;
  return marker;
}
const COSTLY = /[\u0000-\u001f"\\\u0080-\uffff]/;

/** The bytes of `text` as a JSON string in UTF-8: quotes, escapes, two or three bytes past ASCII. */
function jsonLength(text: string): number {
  let n = text.length + 2;
  if (!COSTLY.test(text)) return n;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20) n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 1 : 5;
    else if (c === 0x22 || c === 0x5c) n += 1;
    else if (c >= 0x800) n += 2;
    else if (c >= 0x80) n += 1;
  }
  return n;
}

export function sanitizeJson(value: unknown): unknown {
  return clean(value, 0, { left: MAX_ATTR_SIZE });
}

function clean(value: unknown, depth: number, budget: { left: number }): unknown {
  if (typeof value === 'string') {
    const keep = Math.max(0, Math.min(MAX_ATTR_STRING, budget.left));
    const kept = (value.length > keep ? `${value.slice(0, keep)}${CUT}` : value).toWellFormed();
    budget.left -= jsonLength(kept) + 1;
    return kept;
  }
  if (typeof value === 'number') {
    budget.left -= String(value).length + 1;
    return Number.isFinite(value) ? value : null;
  }
  if (typeof value === 'boolean' || value === null) {
    budget.left -= 6;
    return value;
  }
  if (typeof value === 'bigint') return clean(value.toString(), depth, budget);
  // Every container costs what it stores, the one cut off too deep included.
  budget.left -= 2;
  if (depth >= MAX_DEPTH) return charged(TOO_DEEP, budget);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) {
      if (out.length === MAX_KEYS) break;
      if (budget.left <= 0) {
        out.push(charged(CUT, budget));
        break;
      }
      out.push(clean(v, depth + 1, budget));
    }
    return out;
  }
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
      if (budget.left <= 0) {
        out[charged(CUT, budget)] = true;
        break;
      }
      const key = (k.length > 256 ? k.slice(0, 256) : k).toWellFormed();
      budget.left -= jsonLength(key) + 1;
      out[key] = clean(v, depth + 1, budget);
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

/**
 * `value` (JSON just parsed, no deeper than MAX_JSON_DEPTH), changed in place, with every lone
 * surrogate in its strings and keys replaced by U+FFFD, as ingest stores them: a `"\ud800"`
 * escape is valid JSON, but DuckDB's JSON type refuses it, so a rule's name or filter kept in
 * a JSON column would fail its statement. Nothing is copied when nothing needs it.
 */
export function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.isWellFormed() ? value : value.toWellFormed();
  if (value === null || typeof value !== 'object') return value;
  const set = (k: string, v: unknown) =>
    Object.defineProperty(value, k, { value: v, enumerable: true, writable: true, configurable: true });
  for (const k of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[k];
    const w = wellFormed(v);
    if (!k.isWellFormed()) {
      delete (value as Record<string, unknown>)[k];
      set(k.toWellFormed(), w);
    } else if (w !== v) set(k, w);
  }
  return value;
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
