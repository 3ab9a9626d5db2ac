// Removing events and their share of every figure: what rolling back an import (and erasing
// a person) needs. The rollups are sums, so a removed event's rows are added again with
// every measure negated, in every tier and cube, and the buckets it touched are folded at
// once (a key whose events are all gone disappears, so no count of people or sessions still
// sees it). A repeat that was held back because the removed event arrived first counts from
// now on: its rows are added. Minimum and maximum durations are measured again from the raw
// events where retention still keeps them all, and so are the bounds of the percentile bins
// they touched; past that they keep their old bounds, and those bins fall back to their
// estimate (within 1%). Sessions' spans and counts follow, and what is stored of them is
// invalidated (the worker's SessionSteps, as when it rolls events up). Runs in one
// transaction, while the worker is idle.
import type { Params, Queryable } from '../storage/duckdb.js';
import type { SessionSteps } from './steps.js';
import {
  BOUND_MEASURES,
  bucketSql,
  countedUpTo,
  DEDUP_KEY,
  DEDUP_WINDOW_MS,
  foldSelect,
  foldSketchSelect,
  KEYED_KINDS,
  negatedBinsSql,
  negatedMeasuresSql,
  rollupSelect,
  sketchKeys,
  sketchSelect,
  tsLiteral,
} from './rollup.js';
import {
  ceilTo,
  CUBE_KEYS,
  CUBES,
  floorTo,
  rollupTable,
  sketchTable,
  TIER_MS,
  TIERS,
  type Cube,
  type Tier,
} from './tiers.js';

/**
 * Deletes the events matching `where` (SQL over `events`, with `params`) and takes them out
 * of every rollup. `rawSince`: retention has deleted the raw events before it. Returns how
 * many events were removed.
 */
export async function removeEvents(
  tx: Queryable,
  where: string,
  params: Params,
  rawSince: number | undefined,
  sessions: Pick<SessionSteps, 'removed'>,
): Promise<number> {
  await tx.run(`CREATE OR REPLACE TEMP TABLE removing AS SELECT * FROM events WHERE ${where}`, params);
  const { n } = (await tx.get<{ n: number }>(`SELECT count(*) AS n FROM removing`))!;
  if (Number(n) === 0) return 0;
  const { last_seq: lastSeq } = (await tx.get<{ last_seq: number }>(`SELECT last_seq FROM rollup_state`))!;
  // What the rollups count of them now: rolled up, and neither a repeat nor set aside.
  await tx.run(`CREATE OR REPLACE TEMP TABLE removing_counted AS
    SELECT * FROM removing WHERE ${countedUpTo(lastSeq)}`);
  await reviveRepeats(tx, lastSeq);

  for (const tier of TIERS) {
    for (const cube of CUBES) {
      const rollup = rollupTable(tier, cube);
      const sketch = sketchTable(tier, cube);
      const bucket = bucketSql(tier);
      await tx.run(`INSERT INTO ${rollup} BY NAME SELECT * REPLACE (${negatedMeasuresSql()})
        FROM (${rollupSelect('removing_counted', bucket, cube)})`);
      await tx.run(`INSERT INTO ${rollup} BY NAME ${rollupSelect('reviving', bucket, cube)}`);
      await tx.run(
        `INSERT INTO ${sketch} BY NAME SELECT * REPLACE (${negatedBinsSql()}) FROM (${sketchSelect('removing_counted', bucket, cube)})`,
      );
      await tx.run(`INSERT INTO ${sketch} BY NAME ${sketchSelect('reviving', bucket, cube)}`);
    }
  }

  await tx.run(
    `DELETE FROM uncounted_events WHERE seq IN (SELECT seq FROM removing) OR seq IN (SELECT seq FROM reviving)`,
  );
  await tx.run(`DELETE FROM set_aside_events WHERE seq IN (SELECT seq FROM removing)`);
  await tx.run(`DELETE FROM events WHERE seq IN (SELECT seq FROM removing)`);

  // The counted durations left around what changed (a literal span: DuckDB skips the row groups outside it).
  const span = (await tx.get<{ lo: number | null; hi: number | null }>(
    `SELECT epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM (SELECT ts FROM removing_counted UNION ALL SELECT ts FROM reviving)`,
  ))!;
  const day = TIER_MS['1d'];
  await tx.run(`CREATE OR REPLACE TEMP TABLE removal_durations AS SELECT * FROM events
    WHERE ${span.lo === null ? 'false' : `ts >= ${tsLiteral(floorTo(Number(span.lo), day))} AND ts < ${tsLiteral(floorTo(Number(span.hi), day) + day)}`}
      AND ${countedUpTo(lastSeq)} AND duration_ms IS NOT NULL`);
  for (const tier of TIERS) {
    const touched = `bucket IN (SELECT DISTINCT ${bucketSql(tier)} FROM removing_counted UNION SELECT DISTINCT ${bucketSql(tier)} FROM reviving)`;
    for (const cube of CUBES) {
      await fold(tx, rollupTable(tier, cube), foldSelect(rollupTable(tier, cube), touched, cube), touched);
      await fold(tx, sketchTable(tier, cube), foldSketchSelect(sketchTable(tier, cube), touched, cube), touched);
      await remeasureBounds(tx, tier, cube, touched, rawSince);
    }
  }
  await sessions.removed(tx, { removed: 'removing', counted: 'removing_counted', revived: 'reviving' }, lastSeq);
  for (const table of ['removing', 'removing_counted', 'reviving', 'removal_durations'])
    await tx.run(`DROP TABLE ${table}`);
  return Number(n);
}

/**
 * `reviving`: for each key (request, tool call, prompt, sub-agent) whose counted arrival is
 * being removed, the earliest arrival left, when it is rolled up and was held back as a
 * repeat. (One above the watermark is judged by the worker against what is left.)
 */
async function reviveRepeats(tx: Queryable, lastSeq: number): Promise<void> {
  const span = (await tx.get<{ lo: number | null; hi: number | null }>(
    `SELECT epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM removing_counted WHERE ${KEYED_KINDS}`,
  ))!;
  if (span.lo === null || span.hi === null) {
    await tx.run(`CREATE OR REPLACE TEMP TABLE reviving AS SELECT * FROM events WHERE false`);
    return;
  }
  await tx.run(`CREATE OR REPLACE TEMP TABLE reviving AS
    WITH keys AS (SELECT DISTINCT kind, ${DEDUP_KEY} AS dkey FROM removing_counted WHERE ${KEYED_KINDS} AND ${DEDUP_KEY} IS NOT NULL),
    rest AS (
      SELECT e.*, ${DEDUP_KEY} AS dkey FROM events e
       WHERE ${KEYED_KINDS} AND ts >= ${tsLiteral(Number(span.lo) - DEDUP_WINDOW_MS)} AND ts <= ${tsLiteral(Number(span.hi) + DEDUP_WINDOW_MS)}
         AND seq NOT IN (SELECT seq FROM removing)),
    firsts AS (
      SELECT r.* FROM rest r JOIN keys k ON k.kind = r.kind AND k.dkey = r.dkey
      QUALIFY row_number() OVER (PARTITION BY r.kind, r.dkey ORDER BY r.seq) = 1)
    SELECT * EXCLUDE (dkey) FROM firsts
     WHERE seq <= ${lastSeq} AND seq IN (SELECT seq FROM uncounted_events) AND seq NOT IN (SELECT seq FROM set_aside_events)`);
}

/** Folds the `touched` buckets of `table` into one row per key, leaving out keys with no events left. */
async function fold(tx: Queryable, table: string, folded: string, touched: string): Promise<void> {
  await tx.run(`CREATE OR REPLACE TEMP TABLE removal_fold AS SELECT * FROM (${folded}) WHERE n <> 0`);
  await tx.run(`DELETE FROM ${table} WHERE ${touched}`);
  await tx.run(`INSERT INTO ${table} BY NAME SELECT * FROM removal_fold`);
  await tx.run(`DROP TABLE removal_fold`);
}

/**
 * The shortest and longest durations of the touched rows, measured again from the counted
 * durations left (`removal_durations`) where retention keeps the whole bucket.
 */
async function remeasureBounds(
  tx: Queryable,
  tier: Tier,
  cube: Cube,
  touched: string,
  rawSince: number | undefined,
): Promise<void> {
  const table = rollupTable(tier, cube);
  const kept = rawSince === undefined ? 'true' : `bucket >= ${tsLiteral(ceilTo(rawSince, TIER_MS[tier]))}`;
  const keys = ['bucket', ...CUBE_KEYS[cube]];
  await tx.run(`UPDATE ${table} SET ${BOUND_MEASURES.map((m) => `${m} = r.${m}`).join(', ')}
    FROM (SELECT * FROM (${rollupSelect('removal_durations', bucketSql(tier), cube)}) WHERE ${touched} AND ${kept}) r
   WHERE ${keys.map((k) => `${table}.${k} = r.${k}`).join(' AND ')}`);
  // A touched row with no duration left has no bounds.
  await tx.run(
    `UPDATE ${table} SET ${BOUND_MEASURES.map((m) => `${m} = NULL`).join(', ')} WHERE ${touched} AND dur_n = 0`,
  );
  // So do the percentile bins: a bin keeps exact ranks when its bounds are measured again.
  const sketch = sketchTable(tier, cube);
  const binKeys = ['bucket', ...sketchKeys(cube), 'bin'];
  await tx.run(`UPDATE ${sketch} SET lo = r.lo, hi = r.hi
    FROM (SELECT * FROM (${sketchSelect('removal_durations', bucketSql(tier), cube)}) WHERE ${touched} AND ${kept}) r
   WHERE ${binKeys.map((k) => `${sketch}.${k} = r.${k}`).join(' AND ')} AND ${sketch}.n = r.n`);
}

/**
 * Takes a person's rows out of every rollup that still holds them once their raw events are
 * gone (removeEvents first): what retention already deleted the raw events of. Their rows of
 * the full cube, negated, come off the team cube (which has no user column); then their full
 * and session cube rows go. The team rows' duration bounds stay (no raw events to measure
 * them again): the percentile bins touched read their estimate, as past retention anyway.
 */
export async function removeUserRollups(tx: Queryable, userId: string): Promise<number> {
  const user = `user_id = '${userId.replaceAll("'", "''")}'`; // a literal: fold() takes no parameters
  const team = CUBE_KEYS.team.join(', ');
  let rows = 0;
  for (const tier of TIERS) {
    const full = rollupTable(tier, 'full');
    const { n } = (await tx.get<{ n: number }>(`SELECT count(*) AS n FROM ${full} WHERE ${user}`))!;
    rows += Number(n);
    if (Number(n) > 0) {
      const touched = `bucket IN (SELECT DISTINCT bucket FROM ${full} WHERE ${user})`;
      await tx.run(`INSERT INTO ${rollupTable(tier, 'team')} BY NAME
        SELECT bucket, ${team}, ${negatedMeasuresSql(true)}
          FROM ${full} WHERE ${user} GROUP BY bucket, ${team}`);
      await tx.run(`INSERT INTO ${sketchTable(tier, 'team')} BY NAME
        SELECT bucket, ${team}, bin, ${negatedBinsSql(true)} FROM ${sketchTable(tier, 'full')} WHERE ${user} GROUP BY bucket, ${team}, bin`);
      await fold(tx, rollupTable(tier, 'team'), foldSelect(rollupTable(tier, 'team'), touched, 'team'), touched);
      await fold(tx, sketchTable(tier, 'team'), foldSketchSelect(sketchTable(tier, 'team'), touched, 'team'), touched);
    }
    for (const cube of ['full', 'session'] as const) {
      await tx.run(`DELETE FROM ${rollupTable(tier, cube)} WHERE ${user}`);
      await tx.run(`DELETE FROM ${sketchTable(tier, cube)} WHERE ${user}`);
    }
  }
  return rows;
}
