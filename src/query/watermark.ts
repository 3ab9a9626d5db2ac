// Where the worker stands in a tenant's file, read inside a reader's transaction: the
// watermark (the rollups hold every event up to its seq), the events above it (the tail)
// and their unpriced models; and the span of the events an answer may count (oldestEvent,
// newestRolledUp), which lets the planner leave out pieces of a range that hold none.
import type { TailSpan } from '../aggregate/rollup.js';
import { rollupTable, TIERS } from '../aggregate/tiers.js';
import type { Queryable } from '../storage/duckdb.js';
import type { CompileContext } from './compile.js';

/** `retiredUntil`: raw retention moved the events before it to retired_events (null: none). */
export type Watermark = { lastSeq: number; retiredUntil: number | null; tail: TailSpan; unpricedModels: string[] };
export type EventSpan = Pick<CompileContext, 'firstEvent' | 'lastEvent'>;

export const rolledUpTo = async (tx: Queryable): Promise<Pick<Watermark, 'lastSeq' | 'retiredUntil'>> => {
  const r = (await tx.get<{ s: number; r: number | null }>(
    'SELECT last_seq AS s, epoch_ms(retired_until) AS r FROM rollup_state',
  ))!;
  return { lastSeq: Number(r.s), retiredUntil: r.r === null ? null : Number(r.r) };
};

/** Per tenant file: the oldest event or rollup bucket, read while the rollups stood at `lastSeq` (null: none). */
const oldest = new WeakMap<object, { lastSeq: number; at: number | null }>();

/**
 * A time no event an answer may count is older than: the oldest event or rollup bucket
 * (`undefined` when unknown). Read again only once the worker has rolled up more, and
 * only when it could matter (what was kept is later than the start of some question):
 * retention and removals only make it later, and newer events are in `w`'s tail. For the
 * planner to skip the pieces of a range before a young tenant's first event.
 */
export async function oldestEvent(
  file: object,
  tx: Queryable,
  w: Watermark,
  start: number,
): Promise<number | undefined> {
  let kept = oldest.get(file);
  if (kept?.lastSeq !== w.lastSeq) {
    if (kept && (kept.at ?? Infinity) <= start) return undefined;
    // Every cube of a tier holds the same buckets; the team cube's tables are the smallest.
    const t = (await tx.get<{ at: number | null }>(
      `SELECT epoch_ms(least((SELECT min(ts) FROM events), ${TIERS.map((tier) => `(SELECT min(bucket) FROM ${rollupTable(tier, 'team')})`).join(', ')})) AS at`,
    ))!;
    kept = { lastSeq: w.lastSeq, at: t.at === null ? null : Number(t.at) };
    oldest.set(file, kept);
  }
  const at = Math.min(kept.at ?? Infinity, w.tail?.lo ?? Infinity);
  return at === Infinity ? undefined : at;
}

/** Per tenant file: the newest timestamp of the events up to `lastSeq` (null: none). */
const newest = new WeakMap<object, { lastSeq: number; at: number | null }>();

/**
 * A time no rolled-up event an answer may count is newer than (`-Infinity`: none). The
 * events up to the watermark only grow with it, so the kept figure is read on from the seq
 * it was read at (a few rows); removals only make it earlier. Retention may have deleted
 * raw events newer than the newest left, never newer than where raw events are kept since
 * (`rawKeptSince`). For the planner to skip the pieces after a quiet tenant's last event.
 */
export async function newestRolledUp(
  file: object,
  tx: Queryable,
  lastSeq: number,
  rawKeptSince: number | undefined,
): Promise<number> {
  let kept = newest.get(file);
  if (!kept || kept.lastSeq < lastSeq) {
    const after = kept ? `seq > ${kept.lastSeq} AND ` : '';
    const t = (await tx.get<{ at: number | null }>(
      `SELECT epoch_ms(max(ts)) AS at FROM events WHERE ${after}seq <= ${Number(lastSeq)}`,
    ))!;
    const at = t.at === null ? (kept?.at ?? null) : Math.max(Number(t.at), kept?.at ?? -Infinity);
    // A concurrent reader may have read further meanwhile: keep whichever read more.
    const latest = newest.get(file);
    kept = { lastSeq, at };
    if (!latest || latest.lastSeq < lastSeq) newest.set(file, kept);
  }
  return Math.max(kept.at ?? -Infinity, rawKeptSince ?? -Infinity);
}

/**
 * Where the worker stands, read inside the caller's transaction: the watermark, the events
 * above it (up to `upTo` when given), and the models among them the worker has not priced
 * yet (with `all`, of every event: what a raw answer prices).
 */
export async function watermark(tx: Queryable, o: { all?: boolean; upTo?: number } = {}): Promise<Watermark> {
  // One statement: DuckDB still skips the row groups below the watermark (seq grows with the file).
  const above = o.all
    ? 'true'
    : `seq > (SELECT last_seq FROM rollup_state)${o.upTo === undefined ? '' : ` AND seq <= ${Number(o.upTo)}`}`;
  const t = (await tx.get<{
    last_seq: number;
    retired: number | null;
    lo: number | null;
    hi: number | null;
    last: number | null;
    models: string[] | null;
  }>(
    `SELECT (SELECT last_seq FROM rollup_state) AS last_seq, (SELECT epoch_ms(retired_until) FROM rollup_state) AS retired,
            epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi, max(seq) AS last,
            list(DISTINCT model) FILTER (model IS NOT NULL AND model NOT IN (SELECT model FROM model_prices)) AS models
       FROM events WHERE ${above}`,
  ))!;
  const retiredUntil = t.retired === null ? null : Number(t.retired);
  const tail =
    t.lo === null || t.hi === null || t.last === null
      ? null
      : { lo: Number(t.lo), hi: Number(t.hi), last: Number(t.last), retiredUntil };
  return { lastSeq: Number(t.last_seq), retiredUntil, tail, unpricedModels: t.models ?? [] };
}
