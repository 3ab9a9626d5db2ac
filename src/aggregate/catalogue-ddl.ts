// The rollup tables' DDL, generated from the catalogue (catalogue.ts): what a tenant file's
// tables differ by from it becomes ALTERs, and a missing table is created and filled from
// one that holds its rows. The tenant migrations named `rollup_catalogue` run it, so a file
// made by any earlier build ends with exactly the tables the catalogue defines.
import type { Queryable } from '../storage/duckdb.js';
import { CATALOGUE, catalogueTables, type Catalogue, type CatalogueTable, type Column } from './catalogue.js';
import { bucketSql, mergeSelect } from './rollup.js';
import { TIER_MS } from './tiers.js';

/** A file's tables: each one's columns in order. */
export type FileTables = ReadonlyMap<string, readonly Column[]>;

const columnSql = (c: Column) => `${c.name} ${c.type}${c.nullable ? '' : ' NOT NULL'}`;

export const createTableSql = (t: CatalogueTable) => `CREATE TABLE ${t.name} (${t.columns.map(columnSql).join(', ')})`;

/** What makes `have` (a column of table `table`) into `want` (either may be missing). */
function alterColumnSql(table: string, want: Column | undefined, have: Column | undefined): string[] {
  if (!want) return [`ALTER TABLE ${table} DROP COLUMN ${have!.name}`];
  const alter = `ALTER TABLE ${table} ALTER COLUMN ${want.name}`;
  if (!have) {
    // DuckDB adds no column with a constraint: the rows there get a default first.
    const fill = want.type === 'VARCHAR' ? "''" : '0';
    return want.nullable
      ? [`ALTER TABLE ${table} ADD COLUMN ${want.name} ${want.type}`]
      : [
          `ALTER TABLE ${table} ADD COLUMN ${want.name} ${want.type} DEFAULT ${fill}`,
          `${alter} SET NOT NULL`,
          `${alter} DROP DEFAULT`,
        ];
  }
  return [
    ...(want.type !== have.type ? [`${alter} TYPE ${want.type}`] : []),
    ...(want.nullable !== have.nullable ? [`${alter} ${want.nullable ? 'DROP' : 'SET'} NOT NULL`] : []),
  ];
}

/**
 * The table the rows of a missing `t` are folded from: one of `present` of the same kind
 * whose keys hold t's and whose buckets cut into t's, the coarsest such tier first (it
 * keeps the most history), then the smallest cube. None: t starts empty.
 */
function sourceOf(t: CatalogueTable, present: CatalogueTable[]): CatalogueTable | undefined {
  return present
    .filter(
      (s) =>
        s.sketch === t.sketch && TIER_MS[t.tier] % TIER_MS[s.tier] === 0 && t.keys.every((k) => s.keys.includes(k)),
    )
    .sort((a, b) => TIER_MS[b.tier] - TIER_MS[a.tier] || a.keys.length - b.keys.length)[0];
}

/**
 * The statements that give a file holding `have` the rollup and sketch tables `cat`
 * defines: its tables' columns altered first (a fold reads every measure), then each
 * missing table created and filled. Nothing when they match; tables outside the
 * catalogue are left alone.
 */
export function catalogueChanges(have: FileTables, cat: Catalogue = CATALOGUE): string[] {
  const tables = catalogueTables(cat);
  const present = tables.filter((t) => have.has(t.name));
  const alters = present.flatMap((t) => {
    const old = have.get(t.name)!;
    const names = [...new Set([...t.columns, ...old].map((c) => c.name))];
    return names.flatMap((name) =>
      alterColumnSql(
        t.name,
        t.columns.find((c) => c.name === name),
        old.find((c) => c.name === name),
      ),
    );
  });
  const creates = tables
    .filter((t) => !have.has(t.name))
    .flatMap((t) => {
      const source = sourceOf(t, present);
      const bucket = source && source.tier !== t.tier ? bucketSql(t.tier, 'bucket') : 'bucket';
      return [
        createTableSql(t),
        ...(source ? [`INSERT INTO ${t.name} BY NAME ${mergeSelect(t, source.name, 'true', bucket, cat)}`] : []),
      ];
    });
  return [...alters, ...creates];
}

/** The tables of the file `db` is connected to, with their columns. */
export async function fileTables(db: Queryable): Promise<Map<string, Column[]>> {
  const rows = await db.all<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_catalog = current_database() AND table_schema = current_schema()
      ORDER BY table_name, ordinal_position`,
  );
  const tables = new Map<string, Column[]>();
  for (const r of rows) {
    if (!tables.has(r.table_name)) tables.set(r.table_name, []);
    tables.get(r.table_name)!.push({ name: r.column_name, type: r.data_type, nullable: r.is_nullable === 'YES' });
  }
  return tables;
}

/** The migration step: makes the file's rollup tables what the catalogue defines. */
export async function applyCatalogue(tx: Queryable): Promise<void> {
  for (const statement of catalogueChanges(await fileTables(tx))) await tx.run(statement);
}
