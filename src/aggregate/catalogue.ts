// The one definition of the rollups: the tiers (bucket sizes), the cubes (sets of key
// columns), the measures every rollup row carries (SQL type, how it is computed from the
// counted events, how two rows of one key merge), the duration sketch kept beside each
// rollup, and the tables' names. The worker's inserts, compaction, retention, removal and
// the rollup tables' DDL (catalogue-ddl.ts) are generated from it.
//
// Adding a measure takes one line in CATALOGUE.measures (its name, type, SQL over the
// counted events, and merge), appended at the end, plus a copy of the latest
// migrations/tenant/NNNN_rollup_catalogue.sql under the next number: it adds the column to
// the fifteen rollup tables of files made before (0 in their rows for a sum, NULL for a min
// or max). A metric in src/query/model.ts then reads it.
import { binSql, MERGE_BINS_SQL } from './sketch.js';

export const TIERS = ['1m', '5m', '15m', '1h', '1d'] as const;
export type Tier = (typeof TIERS)[number];

/**
 * Each tier is kept in three cubes: `full`, by every dimension; `session`, by who and
 * where (user, project, session) and kind and model, without the tool or command name and
 * the status; and `team`, by what (kind, name, model, status), without user, project and
 * session. A question reads the smallest cube that holds its dimensions: a fraction of
 * the full cube's rows, and of its duration sketch's.
 */
export const CUBES = ['team', 'session', 'full'] as const; // smallest first
export type Cube = (typeof CUBES)[number];

/**
 * How rows of one key merge: a sum (NOT NULL, 0 when nothing counts), or the smallest or
 * largest value (NULL when no event has one).
 */
export type Merge = 'sum' | 'min' | 'max';
/** A measure: its column, and `sql`, the aggregate over a group of counted events that computes it. */
export type Measure = { name: string; type: string; sql: string; merge: Merge };

export type Catalogue = {
  /** Each tier's bucket: its length, and as an SQL interval. Buckets are UTC-aligned. */
  tiers: Record<Tier, { ms: number; interval: string }>;
  /** A cube's table prefix and key columns (VARCHAR NOT NULL, '' when absent). */
  cubes: Record<Cube, { prefix: string; keys: readonly string[] }>;
  /** The measures of every rollup row, in column order. */
  measures: readonly Measure[];
  /**
   * The duration sketch beside each rollup table (sketch.ts): per key, a row per
   * logarithmic `bin` of the events with a duration. Its keys are its cube's less
   * `without`; its rows merge by `merge` (the counts add up, a bound is the min or max
   * only while every row has one).
   */
  sketch: {
    without: readonly string[];
    where: string;
    bin: { name: string; type: string; sql: string };
    values: readonly Measure[];
    merge: string;
  };
};

/** Statuses that count as failures. */
export const FAILURE_SQL = `status IN ('failure', 'timeout')`;

const MINUTE = 60_000;
const total = (column: string, filter?: string) => `coalesce(sum(${column})${filter ? ` FILTER (${filter})` : ''}, 0)`;
const unpriced = 'cost_usd IS NULL'; // such tokens are priced at query time, from model_prices

export const CATALOGUE: Catalogue = {
  tiers: {
    '1m': { ms: MINUTE, interval: '1 minute' },
    '5m': { ms: 5 * MINUTE, interval: '5 minutes' },
    '15m': { ms: 15 * MINUTE, interval: '15 minutes' },
    '1h': { ms: 60 * MINUTE, interval: '1 hour' },
    '1d': { ms: 1440 * MINUTE, interval: '1 day' },
  },
  cubes: {
    team: { prefix: 'team', keys: ['kind', 'name', 'model', 'status'] },
    session: { prefix: 'session', keys: ['user_id', 'project', 'session_id', 'kind', 'model'] },
    full: { prefix: 'rollup', keys: ['user_id', 'project', 'session_id', 'kind', 'name', 'model', 'status'] },
  },
  // Append a new measure at the end (see the header).
  measures: [
    { name: 'n', type: 'DOUBLE', sql: 'count(*)::DOUBLE', merge: 'sum' }, // a repeat counts once
    { name: 'failures', type: 'DOUBLE', sql: `(count(*) FILTER (${FAILURE_SQL}))::DOUBLE`, merge: 'sum' },
    { name: 'dur_n', type: 'DOUBLE', sql: 'count(duration_ms)::DOUBLE', merge: 'sum' },
    { name: 'dur_sum', type: 'DOUBLE', sql: total('duration_ms'), merge: 'sum' },
    { name: 'dur_min', type: 'DOUBLE', sql: 'min(duration_ms)', merge: 'min' },
    { name: 'dur_max', type: 'DOUBLE', sql: 'max(duration_ms)', merge: 'max' },
    { name: 'input_tokens', type: 'DOUBLE', sql: total('input_tokens'), merge: 'sum' },
    { name: 'output_tokens', type: 'DOUBLE', sql: total('output_tokens'), merge: 'sum' },
    { name: 'cache_read_tokens', type: 'DOUBLE', sql: total('cache_read_tokens'), merge: 'sum' },
    { name: 'cache_creation_tokens', type: 'DOUBLE', sql: total('cache_creation_tokens'), merge: 'sum' },
    { name: 'cost_usd', type: 'DOUBLE', sql: total('cost_usd'), merge: 'sum' }, // as reported
    { name: 'unpriced_input', type: 'DOUBLE', sql: total('input_tokens', unpriced), merge: 'sum' },
    { name: 'unpriced_output', type: 'DOUBLE', sql: total('output_tokens', unpriced), merge: 'sum' },
    { name: 'unpriced_cache_read', type: 'DOUBLE', sql: total('cache_read_tokens', unpriced), merge: 'sum' },
    { name: 'unpriced_cache_creation', type: 'DOUBLE', sql: total('cache_creation_tokens', unpriced), merge: 'sum' },
    { name: 'lines_added', type: 'DOUBLE', sql: total('lines_added'), merge: 'sum' },
    { name: 'lines_removed', type: 'DOUBLE', sql: total('lines_removed'), merge: 'sum' },
    { name: 'value', type: 'DOUBLE', sql: total('value'), merge: 'sum' },
  ],
  sketch: {
    without: ['session_id'], // a session's percentiles are computed from its raw events
    where: 'duration_ms IS NOT NULL',
    bin: { name: 'bin', type: 'SMALLINT', sql: binSql('duration_ms') },
    values: [
      { name: 'n', type: 'DOUBLE', sql: 'count(*)::DOUBLE', merge: 'sum' },
      { name: 'lo', type: 'DOUBLE', sql: 'min(duration_ms)', merge: 'min' },
      { name: 'hi', type: 'DOUBLE', sql: 'max(duration_ms)', merge: 'max' },
    ],
    merge: MERGE_BINS_SQL,
  },
};

export const rollupTable = (tier: Tier, cube: Cube = 'full') => `${CATALOGUE.cubes[cube].prefix}_${tier}`;
export const sketchTable = (tier: Tier, cube: Cube = 'full') => `${rollupTable(tier, cube)}_dur`;

/** A cube's sketch keys: its rollup keys less session_id (sketchSelect's `session` puts it back). */
export const sketchKeys = (cube: Cube, cat: Catalogue = CATALOGUE): string[] =>
  cat.cubes[cube].keys.filter((k) => !cat.sketch.without.includes(k));

export type Column = { name: string; type: string; nullable: boolean };
/** A table of the catalogue: `keys` are its grouping columns (bucket first), `columns` all of them in order. */
export type CatalogueTable = {
  name: string;
  tier: Tier;
  cube: Cube;
  sketch: boolean;
  keys: string[];
  columns: Column[];
};

/** Every rollup and sketch table, tier by tier (finest first), each cube's rollup then its sketch. */
export function catalogueTables(cat: Catalogue = CATALOGUE): CatalogueTable[] {
  const key = (name: string): Column => ({ name, type: 'VARCHAR', nullable: false });
  const bucket: Column = { name: 'bucket', type: 'TIMESTAMP', nullable: false };
  return TIERS.flatMap((tier) =>
    CUBES.flatMap((cube): CatalogueTable[] => {
      const name = `${cat.cubes[cube].prefix}_${tier}`;
      const keys = cat.cubes[cube].keys;
      const binKeys = sketchKeys(cube, cat);
      const { bin, values } = cat.sketch;
      return [
        {
          name,
          tier,
          cube,
          sketch: false,
          keys: ['bucket', ...keys],
          columns: [
            bucket,
            ...keys.map(key),
            ...cat.measures.map((m) => ({ name: m.name, type: m.type, nullable: m.merge !== 'sum' })),
          ],
        },
        {
          name: `${name}_dur`,
          tier,
          cube,
          sketch: true,
          keys: ['bucket', ...binKeys, bin.name],
          columns: [
            bucket,
            ...binKeys.map(key),
            { name: bin.name, type: bin.type, nullable: false },
            ...values.map((v) => ({ name: v.name, type: v.type, nullable: v.merge !== 'sum' })),
          ],
        },
      ];
    }),
  );
}
