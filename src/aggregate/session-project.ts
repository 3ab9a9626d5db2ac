// A session's project applies to all its events, whichever channel told it: hooks carry
// the working directory, OpenTelemetry events none, so a session's spend would otherwise
// land on no project. A session's project is the first one its events reported (in the
// order they were stored). The worker fills each event's missing project from it as it
// rolls the event up; when it becomes known only after some of the session's events were
// rolled up, those events and their rollup rows are moved to it. Queries fill the events
// above the watermark the same way (tailEventsCte).
import type { Queryable } from '../storage/duckdb.js';
import { bucketSql, sketchKeys, sketchSelect, tsLiteral } from './rollup.js';
import { CUBES, rollupTable, sketchTable, TIER_MS, TIERS, floorTo, type Cube, type Tier } from './tiers.js';

/** The cubes keyed by project (the team cube is not). */
const PROJECT_CUBES = CUBES.filter((c): c is Exclude<Cube, 'team'> => c !== 'team');

/**
 * Gives the events of `range` (a seq range just above `lastSeq`, the watermark) their
 * session's project, and moves the session's earlier events (and their rollup rows) to a
 * project first known in this range. `rawSince`: retention has deleted the raw events
 * before it. Runs in the worker's transaction, before the range is rolled up.
 */
export async function attributeProjects(
  tx: Queryable,
  range: string,
  lastSeq: number,
  rawSince: number | undefined,
): Promise<void> {
  await tx.run(`CREATE OR REPLACE TEMP TABLE batch_projects AS
    SELECT b.user_id, b.session_id, coalesce(i.project, b.project) AS project, i.session_id IS NOT NULL AND i.project IS NULL AS newly_known
      FROM (SELECT user_id, session_id, arg_min(project, seq) FILTER (project IS NOT NULL) AS project
              FROM events WHERE ${range} AND session_id IS NOT NULL GROUP BY user_id, session_id) b
      LEFT JOIN session_index i ON i.user_id = b.user_id AND i.session_id = b.session_id
     WHERE coalesce(i.project, b.project) IS NOT NULL`);
  await tx.run(`UPDATE events SET project = p.project FROM batch_projects p
     WHERE ${range} AND events.project IS NULL AND events.user_id = p.user_id AND events.session_id = p.session_id`);
  const { moved } = (await tx.get<{ moved: number }>(
    `SELECT count(*) AS moved FROM batch_projects WHERE newly_known`,
  ))!;
  if (Number(moved) > 0) await moveEarlierEvents(tx, lastSeq, rawSince);
  await tx.run(`DROP TABLE batch_projects`);
}

/**
 * The rolled-up events of the sessions whose project is newly known go to it: their rows of
 * every project-keyed cube (keyed by session: updated in place) and their duration bins
 * (not keyed by session: the no-project bins they were in are made again from the raw
 * events left there, or, where retention has deleted some, have the moved counts taken off).
 */
async function moveEarlierEvents(tx: Queryable, lastSeq: number, rawSince: number | undefined): Promise<void> {
  const newly = `(SELECT user_id, session_id FROM batch_projects WHERE newly_known)`;
  // Their indexed spans bound the scans (literals: DuckDB skips the row groups outside them).
  const span = (await tx.get<{ lo: number; hi: number }>(
    `SELECT epoch_ms(min(first_ts)) AS lo, epoch_ms(max(last_ts)) AS hi FROM session_index WHERE (user_id, session_id) IN ${newly}`,
  ))!;
  const lo = Number(span.lo);
  const hi = Number(span.hi);
  const rolledNoProject = (from: number, to: number) =>
    `events.seq <= ${lastSeq} AND events.ts >= ${tsLiteral(from)} AND events.ts < ${tsLiteral(to)} AND events.project IS NULL`;
  const counted = `events.seq NOT IN (SELECT seq FROM uncounted_events)`;
  await tx.run(`CREATE OR REPLACE TEMP TABLE moved_events AS
    SELECT * FROM events WHERE ${rolledNoProject(lo, hi + 1)} AND (user_id, session_id) IN ${newly} AND ${counted}`);
  await tx.run(`UPDATE events SET project = p.project FROM batch_projects p
     WHERE ${rolledNoProject(lo, hi + 1)} AND p.newly_known AND events.user_id = p.user_id AND events.session_id = p.session_id`);
  for (const tier of TIERS) {
    for (const cube of PROJECT_CUBES) {
      const table = rollupTable(tier, cube);
      await tx.run(`UPDATE ${table} SET project = p.project FROM batch_projects p
         WHERE p.newly_known AND ${table}.project = '' AND ${table}.user_id = p.user_id AND ${table}.session_id = p.session_id`);
      await moveBins(tx, tier, cube, {
        lo,
        hi,
        exact: rawSince === undefined || floorTo(lo, TIER_MS[tier]) >= rawSince,
        rolledNoProject,
        counted,
      });
    }
  }
  await tx.run(`DROP TABLE moved_events`);
}

/** Moves the moved events' duration bins of one tier and cube from the no-project key to their project's. */
async function moveBins(
  tx: Queryable,
  tier: Tier,
  cube: Exclude<Cube, 'team'>,
  o: { lo: number; hi: number; exact: boolean; rolledNoProject: (from: number, to: number) => string; counted: string },
): Promise<void> {
  const table = sketchTable(tier, cube);
  const bucket = bucketSql(tier);
  if (o.exact) {
    // The no-project keys the moved events were in, made again from the raw events left there.
    const keys = sketchKeys(cube).filter((k) => k !== 'project');
    const keyList = `bucket, ${keys.join(', ')}`;
    const keyOfEvent = `${bucket}, ${keys.map((k) => (k === 'user_id' ? k : `coalesce(${k}, '')`)).join(', ')}`;
    await tx.run(`CREATE OR REPLACE TEMP TABLE moved_keys AS
      SELECT DISTINCT ${bucket} AS bucket, ${keys.map((k) => (k === 'user_id' ? k : `coalesce(${k}, '') AS ${k}`)).join(', ')} FROM moved_events WHERE duration_ms IS NOT NULL`);
    const from = floorTo(o.lo, TIER_MS[tier]);
    const to = floorTo(o.hi, TIER_MS[tier]) + TIER_MS[tier];
    await tx.run(`DELETE FROM ${table} WHERE project = '' AND (${keyList}) IN (SELECT ${keyList} FROM moved_keys)`);
    const left = `(SELECT * FROM events WHERE ${o.rolledNoProject(from, to)} AND ${o.counted} AND (${keyOfEvent}) IN (SELECT ${keyList} FROM moved_keys))`;
    await tx.run(`INSERT INTO ${table} BY NAME ${sketchSelect(left, bucket, cube)}`);
    await tx.run(`DROP TABLE moved_keys`);
  } else {
    // A bin's lo and hi cannot be undone: the no-project bins the counts leave lose theirs.
    await tx.run(
      `INSERT INTO ${table} BY NAME SELECT * REPLACE (-n AS n, NULL AS lo, NULL AS hi) FROM (${sketchSelect('moved_events', bucket, cube)})`,
    );
  }
  await tx.run(
    `INSERT INTO ${table} BY NAME ${sketchSelect(`(SELECT e.* REPLACE (p.project AS project) FROM moved_events e JOIN batch_projects p ON p.user_id = e.user_id AND p.session_id = e.session_id)`, bucket, cube)}`,
  );
}

/**
 * A CTE `name` of the events in `where` (the tail above the watermark) with each missing
 * project filled from its session's: the index's, else the first its tail events report.
 */
export function tailEventsCte(name: string, where: string): string {
  return `${name}_projects AS (
  SELECT user_id, session_id, arg_min(project, seq) FILTER (project IS NOT NULL) AS project FROM events WHERE ${where} AND session_id IS NOT NULL GROUP BY user_id, session_id),
${name} AS (
  SELECT e.* REPLACE (coalesce(e.project, i.project, t.project) AS project) FROM events e
    LEFT JOIN session_index i ON i.user_id = e.user_id AND i.session_id = e.session_id
    LEFT JOIN ${name}_projects t ON t.user_id = e.user_id AND t.session_id = e.session_id
   WHERE ${where})`;
}
