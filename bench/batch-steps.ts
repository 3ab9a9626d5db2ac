// npm run bench:batch-steps — where one 1000-item REST batch (bench:ingest's body) spends the
// event loop, step by step, in-process: parse, validate, translate, the rows, the journal
// record, its write and sync, and the document DuckDB's apply reads (the record itself). Prints µs per batch.
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { toRow } from '../src/ingest/ingest.js';
import { BATCH_ITEMS, batchSchema } from '../src/ingest/rest.js';
import { eventSchema, isValidEvent, type IngestEvent } from '../src/ingest/schema.js';
import { nestedDeeperThan } from '../src/ingest/sanitize.js';
import { decodeRows, encodeRows, recordsDocument, type EventRow } from '../src/ingest/event-rows.js';
import { tempDir } from '../test/helpers.js';
import { commandItem } from './batch-body.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);
const who = { tenantId: 't_bench', userId: 'u_bench' };
const body = JSON.stringify({
  command_executions: Array.from({ length: 1000 }, (_, j) => commandItem(j, Date.now() - 3_600_000)),
});

const dir = tempDir('am-steps');
const fd = openSync(join(dir.path, 'journal'), 'w');
const totals = new Map<string, number>();
const step = <T>(name: string, fn: () => T): T => {
  const t = performance.now();
  const out = fn();
  totals.set(name, (totals.get(name) ?? 0) + performance.now() - t);
  return out;
};

for (let round = 0; round < ROUNDS + 20; round++) {
  if (round === 20) totals.clear(); // warmed up
  const raw = step('JSON.parse of the body', () => JSON.parse(body) as unknown);
  step('nesting check', () => nestedDeeperThan(raw));
  const batch = step('batch schema (zod)', () => batchSchema.parse(raw));
  const events = step('items: wire schema (zod) + translation', () =>
    batch.command_executions!.map((item) => {
      const r = BATCH_ITEMS.command_executions(item, batch.timestamp);
      if (!r.ok) throw new Error(r.message);
      return r.event;
    }),
  );
  const valid = step('unified event check', () =>
    events.map((e) => (isValidEvent(e) ? e : (eventSchema.parse(e) as IngestEvent))),
  );
  const now = Date.now();
  const rows: EventRow[] = step('rows (sanitise, id hash)', () => valid.map((e) => toRow(e, who, 'rest', now)));
  const record = step('journal record (encodeRows)', () => encodeRows(rows));
  step('journal write + fdatasync', () => {
    writeSync(fd, record, 0, record.length, 0);
    fdatasyncSync(fd);
  });
  step('replay only: decodeRows', () => decodeRows(record));
  step('apply: recordsDocument', () => recordsDocument([{ seq: 1n, body: record }]));
}
closeSync(fd);
dir.remove();

const perBatch = [...totals].map(([name, ms]) => [name, (ms / ROUNDS) * 1000] as const);
const total = perBatch.filter(([n]) => !n.startsWith('replay')).reduce((s, [, us]) => s + us, 0);
console.log(`one 1000-item REST batch, µs of the event loop (mean of ${ROUNDS}):`);
for (const [name, us] of perBatch)
  console.log(`  ${name.padEnd(42)} ${us.toFixed(0).padStart(7)}  ${((us / total) * 100).toFixed(0).padStart(3)}%`);
console.log(`  ${'total (without replay)'.padEnd(42)} ${total.toFixed(0).padStart(7)}`);
console.log(`  → ${((1000 / total) * 1e6).toFixed(0)} events/s for one core, before HTTP and DuckDB`);
