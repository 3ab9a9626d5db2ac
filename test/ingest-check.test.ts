// The fast event check (`isValidEvent`, compiled from the unified event's zod schema) lets
// an event skip zod's parse only when zod would pass it unchanged: thousands of random
// events near every limit, each compared with zod's verdict and output. A fixed seed.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalJson } from '../src/ingest/sanitize.js';
import { eventSchema, isValidEvent, KINDS } from '../src/ingest/schema.js';

const limits: Record<string, number> = { id: 200, session_id: 200, project: 1024, name: 256, status: 64, error: 4096 };
/** Mostly values zod passes (near its limits), sometimes one it refuses or changes. */
const mostly = (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: good, weight: 100 }, { arbitrary: bad, weight: 1 });
const other = fc.constantFrom(null, true, '1', [], {}, new Date(0), Object.create(null));
const text = (max: number) =>
  mostly(
    fc.oneof(fc.constantFrom('', 'a'.repeat(max), '\ud800', '€'.repeat(max), undefined), fc.string()),
    fc.oneof(fc.constant('a'.repeat(max + 1)), other),
  );
const number = (min: number, int = false) =>
  mostly(
    fc.oneof(fc.constantFrom(min, 0, 1e12, -0, undefined), int ? fc.nat() : fc.double({ min, max: 1e12, noNaN: true })),
    fc.oneof(fc.constantFrom(min - 1, 1e12 + 1, 1.5, NaN, Infinity, -Infinity, 8.64e15 + 2), other),
  );
const attributes = mostly(
  fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.constant(Object.assign(Object.create(null), { a: 1 }))),
  fc.oneof(fc.constant(JSON.parse('{"__proto__": 1, "a": 2}')), fc.constant({ [Symbol('s')]: 1 }), other),
);
const field = (key: string): fc.Arbitrary<unknown> => {
  if (key === 'kind') return mostly(fc.constantFrom(...KINDS), fc.oneof(fc.constantFrom('nope', undefined), other));
  if (key === 'attributes') return attributes;
  if (key === 'ts') return number(0, true);
  if (key === 'value') return number(-1e12);
  if (/_ms$|_tokens$|^lines|^cost/.test(key)) return number(0);
  return text(limits[key] ?? 200);
};
const event = fc
  .tuple(
    fc.record(Object.fromEntries(Object.keys(eventSchema.shape).map((k) => [k, field(k)])), {
      requiredKeys: ['kind'],
    }),
    mostly(fc.constant(undefined), fc.constantFrom('extra', '__proto__', 'constructor')),
  )
  .map(([e, extra]) =>
    extra === undefined
      ? e
      : Object.defineProperty(e, extra as string, { value: 1, enumerable: true, configurable: true }),
  );

test('an event skips zod only when zod would pass it unchanged, and every such event does', () => {
  let fast = 0;
  fc.assert(
    fc.property(event, (e) => {
      const parsed = eventSchema.safeParse(e);
      // Unchanged in what the event's id and row are made from (its keys and values).
      const unchanged =
        parsed.success &&
        Object.keys(parsed.data).length === Object.keys(e).length &&
        canonicalJson(parsed.data) === canonicalJson(e);
      assert.is(
        isValidEvent(e),
        unchanged,
        JSON.stringify(e, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
      );
      if (unchanged) fast++;
    }),
    { seed: 25, numRuns: 5_000 },
  );
  assert.ok(fast > 500 && fast < 5_000, `${fast} events took the fast path`);
});

test('edge cases: limits, non-finite numbers, unknown and dangerous keys', () => {
  const ok = {
    kind: 'command',
    id: 'a'.repeat(200),
    ts: 8.64e15,
    value: -1e12,
    attributes: { a: [1] },
    name: undefined,
  };
  assert.ok(isValidEvent(ok));
  for (const bad of [
    { ...ok, id: 'a'.repeat(201) },
    { ...ok, ts: 1.5 },
    { ...ok, ts: -1 },
    { ...ok, value: NaN },
    { ...ok, duration_ms: Infinity },
    { ...ok, kind: 'nope' },
    { ...ok, extra: 1 },
    JSON.parse('{"kind": "command", "__proto__": {}}'),
    { ...ok, attributes: JSON.parse('{"__proto__": {}}') },
    { ...ok, attributes: [] },
    { ok },
  ])
    assert.not.ok(isValidEvent(bad), JSON.stringify(bad));
});

test.run();
