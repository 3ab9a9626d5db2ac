// The rollup catalogue is the schema: a tenant file's rollup and sketch tables (as DuckDB
// describes them) are exactly what src/aggregate/catalogue.ts defines, whether the file is
// new or was made by the migrations before the catalogue existed, and a measure added to
// the catalogue becomes exactly that column. Real tenant files in a temporary directory.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { catalogueChanges } from '../src/aggregate/catalogue-ddl.js';
import { CATALOGUE, catalogueTables, type Catalogue, type Column } from '../src/aggregate/catalogue.js';
import { foldSelect, foldSketchSelect } from '../src/aggregate/rollup.js';
import { sessionSteps } from '../src/sessions/worker-steps.js';
import { createAggregator } from '../src/aggregate/worker.js';
import { newId } from '../src/ids.js';
import { createIngestor } from '../src/ingest/ingest.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { createLogger } from '../src/log.js';
import { openDatabase, type Queryable } from '../src/storage/duckdb.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { tenantPath } from '../src/storage/datadir.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { tempDir } from './helpers.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 2, 2);
/** The migration that first runs the catalogue's step: files before it were made by hand-written SQL. */
const CATALOGUE_MIGRATION = 19;

/** The file's tables that have a `bucket` column (every rollup and sketch table, found without the catalogue). */
async function bucketTables(db: Queryable): Promise<Record<string, Column[]>> {
  const rows = await db.all<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_catalog = current_database() AND table_schema = current_schema()
        AND table_name IN (SELECT table_name FROM information_schema.columns WHERE column_name = 'bucket')
      ORDER BY table_name, ordinal_position`,
  );
  const out: Record<string, Column[]> = {};
  for (const r of rows)
    (out[r.table_name] ??= []).push({ name: r.column_name, type: r.data_type, nullable: r.is_nullable === 'YES' });
  return out;
}

/** What the catalogue says the same tables are. */
const defined = (cat: Catalogue = CATALOGUE) =>
  Object.fromEntries(catalogueTables(cat).map((t) => [t.name, t.columns]));

/** Every constraint of the tables (only NOT NULL ones: rollup rows have no key, a key may appear in many). */
async function constraints(db: Queryable, tables: string[]): Promise<string[]> {
  const rows = await db.all<{ table_name: string; constraint_type: string; constraint_column_names: string[] }>(
    `SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints()
      WHERE database_name = current_database() AND table_name IN (${tables.map((t) => `'${t}'`).join(', ')})`,
  );
  return rows.map((r) => `${r.table_name}.${r.constraint_column_names.join(',')} ${r.constraint_type}`).sort();
}

const notNullOf = (tables: Record<string, Column[]>) =>
  Object.entries(tables)
    .flatMap(([table, columns]) => columns.filter((c) => !c.nullable).map((c) => `${table}.${c.name} NOT NULL`))
    .sort();

/** Events of every kind the measures read, over two days. */
const EVENTS: IngestEvent[] = [0, 1, 2, 3, 4, 5].flatMap((i) => [
  {
    id: `a${i}`,
    kind: 'api_request',
    ts: BASE + i * 7 * HOUR,
    session_id: `s${i % 2}`,
    request_id: `r${i}`,
    model: 'claude-sonnet-4-5',
    input_tokens: 100 + i,
    output_tokens: 10 * i,
    cache_read_tokens: i,
    ...(i % 2 ? { cost_usd: 0.01 * i } : {}),
    duration_ms: 900 + 37 * i,
  },
  {
    id: `t${i}`,
    kind: 'tool_call',
    ts: BASE + i * 7 * HOUR + 60_000,
    session_id: `s${i % 2}`,
    tool_use_id: `u${i}`,
    name: i % 3 ? 'Bash' : 'Edit',
    status: i === 4 ? 'failure' : 'success',
    duration_ms: 20 * i,
  },
]);

/** A tenant made by this build, with EVENTS rolled up; returns its file's path. */
async function tenantWithData(dir: string): Promise<string> {
  const files = createTenantFiles(dir);
  const tenantId = newId('t');
  await files.create(tenantId);
  const errors: string[] = [];
  await createIngestor(files).ingest({ tenantId, userId: 'u_ana' }, 'rest', EVENTS);
  const aggregator = createAggregator({
    tenantFiles: files,
    sessions: sessionSteps,
    tenants: async () => [tenantId],
    log: createLogger('error', (line) => errors.push(line)),
    now: () => BASE + 3 * 24 * HOUR,
  });
  await aggregator.runOnce(tenantId, { compact: true });
  assert.equal(errors, [], 'the worker logged no failure');
  await files.closeAll();
  return tenantPath(dir, tenantId);
}

/** Rows as text, numbers to 12 digits (a fold adds in another order). */
const rounded = (rows: Record<string, unknown>[]) =>
  rows.map((r) =>
    JSON.stringify(Object.values(r).map((v) => (typeof v === 'number' ? Number(v.toPrecision(12)) : String(v)))),
  );

/** Each table's rows, on `columns`. */
async function contents(db: Queryable, tables: Record<string, Column[]>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [table, columns] of Object.entries(tables))
    out[table] = rounded(await db.all(`SELECT ${columns.map((c) => c.name).join(', ')} FROM ${table} ORDER BY ALL`));
  return out;
}

test('a new tenant file holds exactly the rollup and sketch tables of the catalogue', async () => {
  const dir = tempDir('am-cat');
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  try {
    await files.create(tenantId);
    const db = await files.open(tenantId);
    const tables = await bucketTables(db);
    assert.equal(Object.keys(tables).length, 30, 'five tiers, three cubes, a rollup and a sketch each');
    assert.equal(tables, defined());
    assert.equal(await constraints(db, Object.keys(tables)), notNullOf(defined()), 'no key, NOT NULL as defined');
  } finally {
    await files.closeAll();
    dir.remove();
  }
});

test('a file made by the migrations before the catalogue comes out of them with its tables', async () => {
  const dir = tempDir('am-cat');
  const db = await openDatabase(join(dir.path, 't.duckdb'));
  try {
    const all = loadMigrations('tenant');
    await migrate(db, all.slice(0, CATALOGUE_MIGRATION - 1));
    assert.equal(Object.keys(await bucketTables(db)).length, 30);
    assert.equal(
      await migrate(db, all),
      all.slice(CATALOGUE_MIGRATION - 1).map((m) => m.version),
    );
    const tables = await bucketTables(db);
    assert.equal(tables, defined());
    assert.equal(await constraints(db, Object.keys(tables)), notNullOf(defined()));
  } finally {
    await db.close();
    dir.remove();
  }
});

test('the catalogue migration leaves the tables and rows of a file at migration 18 as they were', async () => {
  const dir = tempDir('am-cat');
  const db = await openDatabase(await tenantWithData(dir.path));
  try {
    const every = async () => {
      const names = await db.all<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY 1`,
      );
      const tables: Record<string, Column[]> = {};
      for (const { table_name } of names) {
        const columns = await db.all<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() AND table_name = '${table_name}' ORDER BY ordinal_position`,
        );
        tables[table_name] = columns.map((c) => ({ name: c.column_name, type: '', nullable: true }));
      }
      return { tables, rows: await contents(db, tables) };
    };
    await db.run(`DELETE FROM schema_migrations WHERE version >= ${CATALOGUE_MIGRATION}`);
    const before = await every();
    assert.ok(before.rows.team_1h!.length > 0 && before.rows.rollup_1m_dur!.length > 0, 'the worker wrote rollups');
    const applied = await migrate(db, loadMigrations('tenant'));
    assert.equal(applied[0], CATALOGUE_MIGRATION);
    assert.equal(await every(), before);
  } finally {
    await db.close();
    dir.remove();
  }
});

test('the catalogue migration makes a missing table again from the rows of another, and a missing column', async () => {
  const dir = tempDir('am-cat');
  const db = await openDatabase(await tenantWithData(dir.path));
  try {
    const folded = async () => ({
      team_1h: rounded(await db.all(`${foldSelect('team_1h', 'true', 'team')} ORDER BY ALL`)),
      team_1h_dur: rounded(await db.all(`${foldSketchSelect('team_1h_dur', 'true', 'team')} ORDER BY ALL`)),
      session_1d: rounded(await db.all(`${foldSelect('session_1d', 'true', 'session')} ORDER BY ALL`)),
    });
    const want = await folded();
    assert.ok(want.team_1h.length > 0 && want.team_1h_dur.length > 0 && want.session_1d.length > 0);
    for (const table of ['team_1h', 'team_1h_dur', 'session_1d']) await db.run(`DROP TABLE ${table}`);
    await db.run('ALTER TABLE rollup_5m DROP COLUMN value');
    await db.run('ALTER TABLE team_1m_dur DROP COLUMN hi');
    await db.run(`DELETE FROM schema_migrations WHERE version >= ${CATALOGUE_MIGRATION}`);
    await migrate(db, loadMigrations('tenant'));
    assert.equal(await bucketTables(db), defined());
    assert.equal(await folded(), want, 'folded from the full cube of the tier');
    const filled = await db.all<{ n: number; value: number }>(
      'SELECT count(*) AS n, sum(value) AS value FROM rollup_5m',
    );
    assert.ok(Number(filled[0]!.n) > 0 && filled[0]!.value === 0, 'a new sum is 0 in rows rolled up before');
    const his = await db.all<{ n: number }>('SELECT count(*) AS n FROM team_1m_dur WHERE hi IS NOT NULL');
    assert.is(Number(his[0]!.n), 0, 'a new bound is NULL in rows rolled up before');
  } finally {
    await db.close();
    dir.remove();
  }
});

test('a measure added to the catalogue is exactly one column added to each rollup table', async () => {
  const added: Catalogue = {
    ...CATALOGUE,
    measures: [...CATALOGUE.measures, { name: 'retries', type: 'DOUBLE', sql: 'count(retry)::DOUBLE', merge: 'sum' }],
  };
  const now = new Map(catalogueTables().map((t) => [t.name, t.columns]));
  assert.equal(catalogueChanges(now), [], 'a file that matches needs nothing');
  const rollups = catalogueTables().filter((t) => !t.sketch);
  assert.is(rollups.length, 15);
  assert.equal(
    catalogueChanges(now, added),
    rollups.flatMap((t) => [
      `ALTER TABLE ${t.name} ADD COLUMN retries DOUBLE DEFAULT 0`,
      `ALTER TABLE ${t.name} ALTER COLUMN retries SET NOT NULL`,
      `ALTER TABLE ${t.name} ALTER COLUMN retries DROP DEFAULT`,
    ]),
  );
  // And run on a real file, they give it the tables of the changed catalogue.
  const dir = tempDir('am-cat');
  const db = await openDatabase(join(dir.path, 't.duckdb'));
  try {
    await migrate(db, loadMigrations('tenant'));
    for (const statement of catalogueChanges(now, added)) await db.run(statement);
    assert.equal(await bucketTables(db), defined(added));
  } finally {
    await db.close();
    dir.remove();
  }
});

test.run();
