// Percentiles: the duration sketches a plan reads (the tiers', or raw events'), merged per
// group into one table per family of durations (`pct_<family>`), each figure interpolated
// between closest ranks (see aggregate/sketch.ts).
import { countedSinceCtes, sketchSelect } from '../../aggregate/rollup.js';
import { MERGE_BINS_SQL, percentileSql } from '../../aggregate/sketch.js';
import { sketchTable } from '../../aggregate/tiers.js';
import type { Kind } from '../../ingest/schema.js';
import { inKinds, METRICS } from '../model.js';
import type { Plan } from '../plan.js';
import type { Grouping } from './groups.js';
import { inRange } from './filters.js';
import { type Sources, tierSegments } from './sources.js';

/** A percentile metric's family and the kinds it reads. */
export type Percentile = { name: string; percentile: number; family: string; kinds: readonly Kind[] };

export const percentilesOf = (plan: Plan): Percentile[] =>
  plan.metrics.flatMap((name) => {
    const def = METRICS[name]!;
    return 'percentile' in def && typeof def.percentile === 'number'
      ? [{ name, percentile: def.percentile, family: def.family, kinds: def.kinds }]
      : [];
  });

/** The CTEs `d` (the sketch rows, as the plan's sketch source says) and one `pct_<family>` per family. */
export function sketchCtes(plan: Plan, s: Sources, filters: string, g: Grouping): string[] {
  const wanted = percentilesOf(plan);
  if (plan.sketch === 'none' || !wanted.length) return [];
  const ctes: string[] = [];
  const sketches: string[] = [];
  if (plan.sketch === 'tiers') {
    if (s.hasRaw) sketches.push(sketchSelect('raw', s.rawBucket, plan.cube));
    for (const seg of tierSegments(plan))
      sketches.push(
        `SELECT * FROM ${sketchTable(seg.source, plan.cube)} WHERE ${inRange(seg.from, seg.to, 'bucket')} AND ${filters}`,
      );
  } else {
    // Past raw retention the figures come from the tiers, and the durations from what raw events are left.
    if (plan.sketch === 'raw since retention')
      ctes.push(
        countedSinceCtes(
          'sketch_src',
          `${inRange(Math.max(s.span.from, plan.rawSince ?? -Infinity), s.span.to, 'ts')} AND ${filters}`,
          plan.lastSeq,
          plan.tail,
          s.tailSource,
        ),
      );
    sketches.push(sketchSelect(plan.sketch === 'raw' ? 'raw' : 'sketch_src', s.rawBucket, plan.cube, true));
  }
  if (!sketches.length) sketches.push(`SELECT * FROM ${sketchTable('1d', plan.cube)} WHERE false AND ${filters}`);
  ctes.push(`d AS (${sketches.join('\nUNION ALL BY NAME\n')})`);
  const partition = g.groups.length ? `PARTITION BY ${g.groups.join(', ')}` : '';
  for (const family of new Set(wanted.map((p) => p.family))) {
    const mine = wanted
      .filter((p) => p.family === family)
      .map((p) => ({ ...p, sql: percentileSql(p.percentile, p.name) }));
    ctes.push(`pct_${family} AS (
  SELECT ${[...g.groups, ...mine.map((p) => `${p.sql.aggregate} AS ${p.name}`)].join(', ')} FROM (
   SELECT ${[...g.groups, ...mine.map((p) => p.sql.values)].join(', ')} FROM (
    SELECT *, ${mine.map((p) => p.sql.ranks).join(', ')} FROM (
     SELECT *, sum(n) OVER (${partition} ORDER BY bin ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum, sum(n) OVER (${partition}) AS total
       FROM (SELECT ${g.select(['bin', MERGE_BINS_SQL])} FROM d WHERE ${inKinds(mine[0]!.kinds)} ${g.groupBy(['bin'])}))))
  ${g.groups.length ? `GROUP BY ${g.groups.join(', ')}` : ''})`);
  }
  return ctes;
}
