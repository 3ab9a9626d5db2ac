// How an answer's rows are grouped: the period (compared), then the time bucket and the
// dimensions (the keys); with `totals` the keys are also rolled up, per period, into a row
// flagged _total. Shared by the figures (answer.ts) and the percentiles (sketches.ts).
import { tsLiteral } from '../../aggregate/rollup.js';
import type { Params } from '../../storage/duckdb.js';
import { DIMENSIONS, type Dimension } from '../model.js';
import type { Plan } from '../plan.js';
import { bucketSql } from './bucket.js';

export type Grouping = {
  /** The output's group columns: _total, _previous, then the keys. */
  groups: string[];
  /** A select list of the group columns and `extra`. */
  select: (extra: string[]) => string;
  /** The GROUP BY of the group columns and `extra` ('' when there are none). */
  groupBy: (extra: string[]) => string;
};

/** Where the answered period starts (compared: where the previous one ends). */
export const answeredFrom = (plan: Plan) => plan.periods.find((p) => !p.previous)!.from;

/** A bucket made coarser; compared, the bucket that holds `from` splits there (its later part starts at `from`). */
export function splitAtFrom(plan: Plan, bucket: string, column: string): string {
  if (plan.periods.length < 2) return bucket;
  const from = tsLiteral(answeredFrom(plan));
  return `CASE WHEN ${column} >= ${from} THEN greatest(${bucket}, ${from}) ELSE ${bucket} END`;
}

export function groupingOf(plan: Plan, params: Params): Grouping {
  const period: [string, string][] =
    plan.periods.length > 1 ? [['_previous', `bucket < ${tsLiteral(answeredFrom(plan))}`]] : [];
  const keyExprs: [string, string][] = plan.keys.map((k) => [
    k,
    k === 't' ? bucketSql(plan.bucket!, 'bucket', params) : DIMENSIONS[k as Dimension].column,
  ]);
  const groupExprs = [...period, ...keyExprs];
  const groups = [...(plan.totals ? ['_total'] : []), ...groupExprs.map(([name]) => name)];
  const totalFlag = plan.totals ? [`grouping(${keyExprs.map(([, e]) => e).join(', ')}) > 0 AS _total`] : [];
  return {
    groups,
    select: (extra) => [...groupExprs.map(([name, expr]) => `${expr} AS ${name}`), ...totalFlag, ...extra].join(', '),
    groupBy: (extra) => {
      const all = [...groupExprs.map(([, e]) => e), ...extra];
      if (!all.length) return '';
      if (!plan.totals) return `GROUP BY ${all.join(', ')}`;
      return `GROUP BY GROUPING SETS ((${[...period.map(([, e]) => e), ...extra].join(', ')}), (${all.join(', ')}))`;
    },
  };
}
