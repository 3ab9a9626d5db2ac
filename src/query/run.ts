// Runs a query against one tenant's file, on the tenant's reader connection, inside one
// transaction so the watermark and the rows it splits are read from the same snapshot.
import { keptSince, tenantSettings } from '../aggregate/settings.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { compile } from './compile.js';
import { priceOf } from '../cost/prices.js';
import type { Query } from './model.js';

export type QueryResult = {
  rows: Record<string, string | number | null>[];
  /** More rows matched than `limit`. */
  truncated: boolean;
};

export async function runQuery(tenantFiles: TenantFiles, tenantId: string, q: Query, options: { now: number; raw?: boolean }): Promise<QueryResult> {
  const file = await tenantFiles.open(tenantId);
  const reader = await tenantFiles.connection(tenantId, 'reader');
  const settings = await tenantSettings(file, reader);
  const rows = await reader.transaction(async (tx) => {
    const { last_seq: lastSeq } = (await tx.get<{ last_seq: number }>('SELECT last_seq FROM rollup_state'))!;
    // Models only the unrolled tail (or, asked raw, any event) names are priced here, as the worker would.
    const unpriced = await tx.all<{ model: string }>(
      `SELECT DISTINCT model FROM events WHERE ${options.raw ? 'true' : `seq > ${lastSeq}`} AND model IS NOT NULL AND model NOT IN (SELECT model FROM model_prices)`,
    );
    const pending = options.raw ? null : (await tx.get<{ top: number | null }>(`SELECT max(seq) AS top FROM events WHERE seq > ${lastSeq}`))!.top;
    const extraPrices = unpriced.map(({ model }) => ({ model, ...priceOf(model, settings.prices) }));
    const { sql, params } = compile(q, { lastSeq, keptSince: keptSince(settings.retention, options.now, settings.applied), raw: options.raw, noTail: !options.raw && pending === null, extraPrices });
    return tx.all<Record<string, unknown>>(sql, params);
  });
  const truncated = rows.length > q.limit;
  return { rows: rows.slice(0, q.limit).map((r) => shape(r, q)), truncated };
}

/** Times as ISO strings, absent dimensions as null, numbers as numbers. */
function shape(row: Record<string, unknown>, q: Query): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  if (q.interval) out.t = toIso(row.t);
  for (const d of q.group_by) out[d] = row[d] === '' || row[d] === undefined ? null : String(row[d]);
  for (const m of q.metrics) {
    const v = row[m];
    out[m] = v === null || v === undefined ? null : Number(v);
  }
  return out;
}

function toIso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  const s = String(v);
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s.replace(' ', 'T')}Z`).toISOString();
}

