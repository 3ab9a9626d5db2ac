// The REST wire schemas' compiled parse against zod's own, on thousands of seeded random items
// and on the edges (trims, limits counted in code points, ISO times, statuses, keys that name a
// prototype): whatever the compiled parse accepts, zod accepts with the very same output (keys
// in the same order), and a batch item it refuses is answered with zod's field and message.
import { isDeepStrictEqual } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { z } from 'zod';
import { compileParser, REFUSED } from '../src/ingest/fast-parse.js';
import {
  agentSchema,
  agentToEvent,
  BATCH_ITEMS,
  batchSchema,
  commandSchema,
  commandToEvent,
  productivitySchema,
  productivityToEvent,
  sessionStartSchema,
  sessionUpdateSchema,
} from '../src/ingest/rest.js';
import { parseIsoTime } from '../src/ingest/iso-time.js';
import { commandItem } from '../bench/batch-body.js';
import { rng, type Rng } from './rng.js';

const SCHEMAS = {
  command: commandSchema,
  agent: agentSchema,
  productivity: productivitySchema,
  sessionStart: sessionStartSchema,
  sessionUpdate: sessionUpdateSchema,
  batch: batchSchema,
} as const;

const KEYS = [
  ...new Set(Object.values(SCHEMAS).flatMap((s) => Object.keys(s.shape))),
  'extra',
  'nested',
  '__proto__',
  'constructor',
  'toString',
  '0',
];
const emoji = (n: number) => '😀'.repeat(n);
const TIMES = [
  '2025-09-05T10:00:00Z',
  '2025-09-05T10:00:00.123Z',
  '2025-09-05T10:00:00.1234567Z',
  '2025-09-05T10:00Z',
  '2025-09-05 10:00:00Z',
  '2025-09-05t10:00:00z',
  '2025-09-05T10:00:00+02:00',
  '2025-09-05T10:00:00-0530',
  '2024-02-29T23:59:59Z',
  '2025-02-29T10:00:00Z',
  '2025-13-01T10:00:00Z',
  '2025-09-05T24:00:00Z',
  '1969-12-31T23:59:59Z',
  '1970-01-01T00:00:00Z',
  '0099-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '2025-09-05T10:00:00',
  '2025-09-05',
  ' 2025-09-05T10:00:00Z',
];
const STRINGS = [
  '',
  ' ',
  'x',
  ' padded ',
  '\ttab\n',
  'success',
  ' Success ',
  'FAILED',
  'error',
  'ok',
  'canceled',
  'timed_out',
  'nope',
  'quote"back\\slash',
  'lone \ud800',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(200),
  'x'.repeat(201),
  'x'.repeat(256),
  'x'.repeat(257),
  'x'.repeat(1024),
  'x'.repeat(1025),
  emoji(128),
  emoji(129),
  emoji(512),
  emoji(513),
  ...TIMES,
];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  1.5,
  100,
  1e12,
  1e12 + 1,
  -1e12,
  -1e12 - 1,
  2 ** 53,
  2 ** 53 + 2,
  0.1 + 0.2,
  NaN,
  Infinity,
];

function value(r: Rng, depth: number): unknown {
  const k = r.int(0, 9);
  if (k <= 3) return r.pick(STRINGS);
  if (k <= 5) return r.pick(NUMBERS);
  if (k === 6) return r.pick([true, false, null, undefined]);
  if (k === 7 && depth < 2) return Array.from({ length: r.int(0, 3) }, () => value(r, depth + 1));
  if (k === 8 && depth < 2) return object(r, depth + 1, r.int(0, 4));
  return r.pick(STRINGS);
}

/** An object of `n` random keys; JSON.parse makes `__proto__` an own key, so this does too. */
function object(r: Rng, depth: number, n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = r.pick(KEYS);
    Object.defineProperty(out, key, { value: value(r, depth), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Items near the valid ones (a valid base, a few fields replaced), and a share of noise. */
function item(r: Rng, base: Record<string, unknown>): unknown {
  if (r.chance(0.05)) return value(r, 0);
  const out: Record<string, unknown> = { ...base };
  for (let i = r.int(0, 3); i > 0; i--) {
    const key = r.pick([...Object.keys(base), ...KEYS]);
    if (r.chance(0.2)) delete out[key];
    else Object.defineProperty(out, key, { value: value(r, 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const VALID: Record<keyof typeof SCHEMAS, Record<string, unknown>> = {
  command: commandItem(7, Date.UTC(2025, 8, 5)),
  agent: {
    agent_name: 'planner',
    interaction_type: 'plan',
    execution_time_ms: 12.5,
    status: 'ok',
    input_tokens: 100,
    model: 'claude-sonnet-4-5',
    occurred_at: '2025-09-05T10:00:00.123Z',
    context: { session_id: 's1', project: 'p', branch: 'main' },
  },
  productivity: { metric_type: 'lines', value: -3, unit: 'lines', recorded_at: '2025-09-05T10:00:00Z', user_id: 'u9' },
  sessionStart: { session_id: 's1', started_at: '2025-09-05T10:00:00Z', metadata: { a: 1 } },
  sessionUpdate: { ended: true, total_duration_ms: 1000, tools_used: ['Bash'], productivity_score: 0.5 },
  batch: { command_executions: [1, 'x', {}], timestamp: '2025-09-05T10:00:00Z' },
};

/** The same value, keys in the same order, the same prototypes. */
const same = (a: unknown, b: unknown) => isDeepStrictEqual(a, b) && JSON.stringify(a) === JSON.stringify(b);

test('what the compiled parse accepts, zod accepts with the same output; it takes most valid items', () => {
  const r = rng(25);
  for (const [name, schema] of Object.entries(SCHEMAS) as [keyof typeof SCHEMAS, z.ZodType][]) {
    const fast = compileParser(schema);
    let zodAccepted = 0;
    let fastAccepted = 0;
    for (let i = 0; i < 4000; i++) {
      const raw = item(r, VALID[name]);
      const parsed = schema.safeParse(raw);
      const out = fast(raw);
      if (parsed.success) zodAccepted++;
      if (out === REFUSED) continue;
      fastAccepted++;
      if (!parsed.success || !same(out, parsed.data))
        assert.unreachable(
          `${name}: ${JSON.stringify(raw)} → compiled ${JSON.stringify(out)}, zod ${JSON.stringify(parsed)}`,
        );
    }
    assert.ok(fast(VALID[name]) !== REFUSED, `${name}: the valid item takes the compiled parse`);
    assert.ok(zodAccepted > 400, `${name}: ${zodAccepted} of 4000 items were valid`);
    assert.ok(fastAccepted >= zodAccepted * 0.9, `${name}: compiled ${fastAccepted} of zod's ${zodAccepted}`);
  }
});

test('a batch item is the event zod would make, or refused with the field and message zod names', () => {
  const r = rng(26);
  const arrays = [
    ['command_executions', commandSchema, commandToEvent, VALID.command],
    ['agent_interactions', agentSchema, agentToEvent, VALID.agent],
    ['productivity_metrics', productivitySchema, productivityToEvent, VALID.productivity],
  ] as const;
  for (const [array, schema, translate, valid] of arrays) {
    for (let i = 0; i < 3000; i++) {
      const raw = item(r, valid);
      const defaultTs = r.chance(0.5) ? Date.UTC(2025, 8, 5) : undefined;
      const got = BATCH_ITEMS[array](raw, defaultTs);
      const parsed = schema.safeParse(raw);
      const want = parsed.success
        ? { ok: true, event: translate(parsed.data as never, defaultTs) }
        : {
            ok: false,
            field: parsed.error.issues[0]!.path.map(String).join('.') || '(item)',
            message: parsed.error.issues[0]!.message,
          };
      if (!same(got, want)) assert.unreachable(`${array}: ${JSON.stringify(raw)} → ${JSON.stringify(got)}`);
    }
  }
});

test('edges: trimmed names, limits in code points, ISO times, status words, prototype keys', () => {
  const fast = compileParser(commandSchema);
  const base = VALID.command;
  const cases: [string, Record<string, unknown>][] = [
    ['padded name', { ...base, command_name: '  implement  ' }],
    ['name of 256 emoji (512 units)', { ...base, command_name: emoji(256) }],
    ['name of 257 emoji', { ...base, command_name: emoji(257) }],
    ['blank name', { ...base, command_name: '   ' }],
    ['one-unit name', { ...base, command_name: 'x' }],
    ['lone surrogate name', { ...base, command_name: '\udc00' }],
    ['status with spaces and capitals', { ...base, status: ' Timed_Out ' }],
    ['time with an offset', { ...base, executed_at: '2025-09-05T10:00:00+05:30' }],
    ['time without a zone', { ...base, executed_at: '2025-09-05T10:00:00' }],
    ['time before 1970', { ...base, executed_at: '1969-12-31T23:59:59Z' }],
    ['a 31st of April', { ...base, executed_at: '2025-04-31T10:00:00Z' }],
    ['negative zero duration', { ...base, execution_time_ms: -0 }],
    ['duration past the limit', { ...base, execution_time_ms: 1e12 + 1 }],
    ['unknown fields kept', { ...base, zeta: 1, alpha: { deep: [1] } }],
    ['own __proto__ key', JSON.parse(`{"command_name":"x","execution_time_ms":1,"status":"ok","__proto__":{"p":1}}`)],
    ['constructor key', { ...base, constructor: 'x' }],
    ['context with extra keys', { ...base, context: { branch: 'main', session_id: 's' } }],
    ['context not an object', { ...base, context: ['s'] }],
    ['metadata with a __proto__ key', { ...base, metadata: JSON.parse('{"__proto__":{"x":1},"a":2}') }],
    ['null-prototype item', Object.assign(Object.create(null), base)],
  ];
  for (const [what, raw] of cases) {
    const parsed = commandSchema.safeParse(raw);
    const out = fast(raw);
    if (out !== REFUSED) assert.ok(parsed.success && same(out, parsed.data), what);
  }
  // The ones the compiled parse must take itself (the common shapes), with zod's output.
  for (const what of ['padded name', 'one-unit name', 'status with spaces and capitals', 'unknown fields kept'])
    assert.ok(fast(cases.find(([w]) => w === what)![1]) !== REFUSED, `${what}: compiled`);
});

/** The ISO parse as it was before the UTC form was read from its digits: the regex, the ranges, Date.parse. */
function isoByDateParse(s: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as number[];
  const days = [
    31,
    y! % 4 === 0 && (y! % 100 !== 0 || y! % 400 === 0) ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ];
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > days[mo! - 1]! || h! > 23 || mi! > 59 || (m[6] !== undefined && sec! > 59))
    return null;
  const ms = Date.parse(s.charCodeAt(10) === 32 ? `${s.slice(0, 10)}T${s.slice(11)}` : s);
  return Number.isFinite(ms) && ms >= 0 && ms <= 8.64e15 ? ms : null;
}

test('an ISO time read from its digits is the time Date.parse gives, or refused as it refuses', () => {
  const r = rng(27);
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  const CHARS = ['0', '9', 'Z', 'z', 'T', ' ', '-', ':', '.', '+', 'x', '５'];
  for (let i = 0; i < 20_000; i++) {
    let s =
      `${pad(r.int(1960, 2100), 4)}-${pad(r.int(0, 13), 2)}-${pad(r.int(0, 32), 2)}T` +
      `${pad(r.int(0, 24), 2)}:${pad(r.int(0, 60), 2)}:${pad(r.int(0, 60), 2)}` +
      `${r.pick(['', '', `.${pad(r.int(0, 999), 3)}`, '.5', '.12345'])}${r.pick(['Z', 'Z', 'Z', 'z', '+00:00', '-05:30'])}`;
    if (r.chance(0.2)) {
      const at = r.int(0, s.length - 1);
      s = s.slice(0, at) + r.pick(CHARS) + s.slice(at + 1);
    }
    if (parseIsoTime(s) !== isoByDateParse(s))
      assert.unreachable(`${s}: ${parseIsoTime(s)}, Date.parse ${isoByDateParse(s)}`);
  }
  for (const s of TIMES) assert.is(parseIsoTime(s), isoByDateParse(s), s);
});

test.run();
