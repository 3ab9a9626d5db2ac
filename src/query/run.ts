// Runs queries against one tenant's file, on its reader connections: each answer reads
// the watermark and the rows it splits in one transaction, so each is exact.
import { keptSince, tenantSettings, type TenantSettings } from '../aggregate/settings.js';
import type { Connection, Database, Queryable } from '../storage/duckdb.js';
import { KEPT_PER_FILE, KEPT_ROWS, keptRead, type KeepOptions } from '../storage/kept-reads.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { compile, type CompileContext } from './compile.js';
import { priceOf } from '../cost/prices.js';
import { filtersFor, MAX_ROWS, querySchema, type Query, type QueryInput } from './model.js';
import { mergeAnswers, resultOf, type QueryResult } from './result.js';
import { newestRolledUp, oldestEvent, rolledUpTo, watermark, type EventSpan, type Watermark } from './watermark.js';

export async function runQuery(
  tenantFiles: TenantFiles,
  tenantId: string,
  q: Query,
  options: { now: number; raw?: boolean },
): Promise<QueryResult> {
  if (q.partial_filters) return runPartiallyFiltered(tenantFiles, tenantId, q, options);
  return (await runQueries(tenantFiles, tenantId, [q], options))[0]!;
}

/**
 * Several queries answered for the same events (a page's widgets agree with each other).
 * The first query's transaction reads the watermark and fixes those events: every one up
 * to the newest seq its snapshot holds (seqs are given in commit order). The others run
 * side by side on the tenant's other reader, each in a later snapshot of its own, reading
 * its tail only up to that seq. A later snapshot's rollups hold newer events only if the
 * worker rolled them up in between; then all are asked again in one transaction.
 */
export async function runQueries(
  tenantFiles: TenantFiles,
  tenantId: string,
  qs: Query[],
  /** `between` runs once the first snapshot is taken, before the others (tests commit events there). */
  options: { now: number; raw?: boolean; between?: () => Promise<void> },
): Promise<QueryResult[]> {
  // Each set of its filters is a question of its own: runQuery splits it (runPartiallyFiltered).
  if (qs.some((q) => q.partial_filters)) throw new Error('a question with partial_filters is asked with runQuery');
  const file = await tenantFiles.open(tenantId);
  const reader = await tenantFiles.connection(tenantId, 'reader');
  const settings = await tenantSettings(file, reader);
  const kept = keptSince(settings.retention, options.now, settings.applied);
  if (options.between) return answer(file, reader, settings, kept, qs, options);
  // The same questions while the file is unchanged get the same answers: the clock counts
  // only through what retention keeps, and the settings are in the key as they were read
  // (a change to them is a write, but this request may have read them just before it).
  const starts = Math.min(...qs.map(startOf));
  return keptRead(
    file,
    JSON.stringify([qs, options.raw === true, keptWithin(kept, starts), settings]),
    () => answer(file, reader, settings, kept, qs, options),
    KEPT_ANSWERS,
  );
}

/** Where a question's first period starts (with `compare`, the period before). */
const startOf = (q: Query) => (q.compare ? 2 * q.from - q.to : q.from);

/**
 * What of `kept` the answers to questions starting at `start` depend on: a tier (or raw)
 * that keeps everything from `start` on is planned as one that deleted nothing (`cover`,
 * `coverPeriod` and `planQuery` only compare a cutoff with where a piece starts; the raw
 * cutoff as `newestRolledUp`'s floor only adds pieces after every rolled-up event, which
 * hold none). So a page asked again a second later, its cutoffs a second later too, gets
 * the same answer.
 */
export function keptWithin(kept: ReturnType<typeof keptSince>, start: number): ReturnType<typeof keptSince> {
  return Object.fromEntries(Object.entries(kept).filter(([, at]) => at !== undefined && at > start));
}

const KEPT_ANSWERS: KeepOptions<QueryResult[]> = {
  max: KEPT_PER_FILE,
  worth: (answers) => answers.reduce((n, a) => n + a.rows.length + (a.previous?.rows.length ?? 0), 0) <= KEPT_ROWS,
  copy: true,
};

async function answer(
  file: Database,
  reader: Connection,
  settings: TenantSettings,
  kept: ReturnType<typeof keptSince>,
  qs: Query[],
  options: { now: number; raw?: boolean; between?: () => Promise<void> },
): Promise<QueryResult[]> {
  const ask = async (tx: Queryable, q: Query, w: Watermark, span: EventSpan) => {
    const extraPrices = w.unpricedModels.map((model) => ({ model, ...priceOf(model, settings.prices) }));
    const context: CompileContext = {
      lastSeq: w.lastSeq,
      keptSince: kept,
      raw: options.raw,
      tail: w.tail,
      extraPrices,
      timeZone: settings.timeZone,
      ...span,
    };
    const { sql, params } = compile(q, context);
    return resultOf(await tx.all<Record<string, unknown>>(sql, params), q);
  };
  const starts = Math.min(...qs.map(startOf));
  /** What lies outside the events an answer may count: the planner leaves those pieces out. */
  const eventSpan = async (tx: Queryable, w: Watermark): Promise<EventSpan> => ({
    firstEvent: await oldestEvent(file, tx, w, starts),
    lastEvent: await newestRolledUp(file, tx, w.lastSeq, kept.raw),
  });
  const together = () =>
    reader.transaction(async (tx) => {
      const w = await watermark(tx, { all: options.raw });
      const span = options.raw ? {} : await eventSpan(tx, w);
      const out: QueryResult[] = [];
      for (const q of qs) out.push(await ask(tx, q, w, span));
      return out;
    });
  if (qs.length < 2 || options.raw) return together();

  let others: Promise<PromiseSettledResult<QueryResult | null>[]> | undefined;
  const first = await reader.transaction(async (tx) => {
    const w = await watermark(tx);
    const span = await eventSpan(tx, w);
    const upTo = w.tail?.last ?? w.lastSeq;
    await options.between?.();
    // Not awaited here: one of them may wait for this very connection.
    others = Promise.allSettled(
      qs.slice(1).map((q) =>
        reader.transaction(async (later) => {
          // Rollups and retention unchanged: the same tail (its seqs were all committed when `w` was read).
          const now = await rolledUpTo(later);
          if (now.lastSeq === w.lastSeq && now.retiredUntil === w.retiredUntil) return ask(later, q, w, span);
          const mine = await watermark(later, { upTo });
          return mine.lastSeq > upTo ? null : ask(later, q, mine, {});
        }),
      ),
    );
    return ask(tx, qs[0]!, w, span);
  });
  const rest = await others!;
  const failed = rest.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const answers = rest.map((r) => (r as PromiseFulfilledResult<QueryResult | null>).value);
  return answers.every((a) => a !== null) ? [first, ...(answers as QueryResult[])] : together();
}

/**
 * A question whose tool, command, agent or model filters (PARTIAL_FILTERS) narrow only the
 * metrics they apply to: asked as one query per set of filters that applies (together, so
 * they count the same events) and merged row by row. The other metrics count every tool,
 * command, agent or model instead of refusing the question.
 */
export async function runPartiallyFiltered(
  tf: TenantFiles,
  tenantId: string,
  input: QueryInput,
  options: { now: number; raw?: boolean },
): Promise<QueryResult> {
  const parts = new Map<string, { filters: QueryInput['filters']; metrics: string[] }>();
  for (const m of input.metrics) {
    const filters = filtersFor([m], input.filters ?? {});
    const key = JSON.stringify(Object.keys(filters).sort());
    const part = parts.get(key) ?? { filters, metrics: [] };
    part.metrics.push(m);
    parts.set(key, part);
  }
  // Every group of each part (up to MAX_ROWS), merged, then ordered and cut as one answer
  // would be: a part's own order and limit would keep other groups than another's.
  const qs = [...parts.values()].map((p) =>
    querySchema.parse({
      ...input,
      metrics: p.metrics,
      filters: p.filters,
      order_by: undefined,
      limit: MAX_ROWS,
      partial_filters: false,
    }),
  );
  const asked = { ...qs[0]!, metrics: input.metrics, order_by: input.order_by, limit: input.limit ?? 1000 };
  return mergeAnswers(await runQueries(tf, tenantId, qs, options), qs, asked);
}
