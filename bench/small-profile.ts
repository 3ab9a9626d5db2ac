// Where a small tenant's summary spends its time, statement by statement: each statement
// `dashboardSummary` asks its reader connections is recorded, then asked again alone on a
// reader: whole, prepared only (parse, bind, optimize, physical plan), and DuckDB's own
// detailed profile (planning steps, operators' time, memory). CPU time, the least and the
// median of the runs: on a shared machine the least says most. Run with
// BENCH_SMALL_PROFILE=1 npm run bench:dashboards (part 0).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Connection, Params, Queryable, Row } from '../src/storage/duckdb.js';
import type { TenantFiles } from '../src/storage/tenant-files.js';
import { forgetKept } from '../src/storage/kept-reads.js';
import { dashboardSummary } from '../src/query/summary.js';

const RUNS = 30;
const DAY = 86_400_000;
type Recorded = { sql: string; params?: Params };

/** The tenant files, every statement on a reader recorded into `into`. */
function recording(tf: TenantFiles, into: Recorded[]): TenantFiles {
  const rec = (q: Queryable): Queryable => ({
    all: <T = Row>(sql: string, params?: Params) => (into.push({ sql, params }), q.all<T>(sql, params)),
    get: <T = Row>(sql: string, params?: Params) => (into.push({ sql, params }), q.get<T>(sql, params)),
    run: (sql: string, params?: Params) => (into.push({ sql, params }), q.run(sql, params)),
  });
  const wrap = (c: Connection): Connection => ({
    ...c,
    ...rec(c),
    transaction: (fn) => c.transaction((tx) => fn(rec(tx))),
  });
  return {
    ...tf,
    connection: async (id, purpose) =>
      purpose === 'reader' ? wrap(await tf.connection(id, purpose)) : tf.connection(id, purpose),
  };
}

async function cpuOf(fn: () => Promise<unknown>): Promise<{ min: number; median: number }> {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const before = process.cpuUsage();
    await fn();
    const used = process.cpuUsage(before);
    out.push((used.user + used.system) / 1000);
  }
  out.sort((a, b) => a - b);
  return { min: out[0]!, median: out[Math.floor(RUNS / 2)]! };
}

/** DuckDB's detailed profile of one run of `sql`: the least of each figure over 10 runs, in ms (memory in MB). */
async function duckdbProfile(c: DuckDBConnection, s: Recorded): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'am-profile-'));
  const file = join(dir, 'profile.json');
  const least: Record<string, number> = {};
  try {
    await c.run(`SET enable_profiling = 'json'`);
    await c.run(`SET profiling_mode = 'detailed'`);
    await c.run(`SET profiling_output = '${file}'`);
    for (let i = 0; i < 10; i++) {
      await c.run(s.sql, s.params as never);
      const p = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const figures: Record<string, number> = {
        bind: Number(p.planner_binding ?? 0) * 1000,
        optimize: Number(p.all_optimizers ?? 0) * 1000,
        'physical plan': Number(p.physical_planner ?? 0) * 1000,
        operators: Number(p.cpu_time ?? 0) * 1000,
        'MB allocated': Number(p.total_memory_allocated ?? 0) / 1e6,
      };
      for (const [k, v] of Object.entries(figures)) least[k] = Math.min(least[k] ?? Infinity, v);
    }
  } finally {
    await c.run('PRAGMA disable_profiling');
    rmSync(dir, { recursive: true, force: true });
  }
  return least;
}

export async function profileSmallSummary(tf: TenantFiles, tenantId: string, now: number): Promise<void> {
  const statements: Recorded[] = [];
  const file = await tf.open(tenantId);
  const ask = (files = tf) => dashboardSummary(files, tenantId, { from: now - 7 * DAY, to: now }, {}, now);
  // Asked anew each time (what a changed file costs), then as kept in memory while it is unchanged.
  forgetKept(file);
  await ask(recording(tf, statements));
  const summary = await cpuOf(() => (forgetKept(file), ask()));
  const kept = await cpuOf(() => ask());
  const cpu = (n: { min: number; median: number }) => `${n.min.toFixed(1)} ms CPU (median ${n.median.toFixed(1)})`;
  console.log(`\n   profile of the summary (last 7 days), in-process: ${cpu(summary)}; kept: ${cpu(kept)}`);
  console.log(`   its statements, each alone (CPU ms, least / median of ${RUNS}):`);
  const reader = await tf.connection(tenantId, 'reader');
  await reader.withConnection(async (c) => {
    for (const s of statements) {
      const f = (n: { min: number; median: number }) => `${n.min.toFixed(2)} / ${n.median.toFixed(2)}`;
      const whole = await cpuOf(() => c.run(s.sql, s.params as never));
      const prepared = await cpuOf(async () => (await c.prepare(s.sql)).destroySync());
      const p = s.sql.length > 200 ? await duckdbProfile(c, s) : null;
      const figures = Object.entries(p ?? {}).map(([k, v]) => `${k} ${v.toFixed(1)}`);
      const name = `${s.sql.slice(0, 40).replace(/\s+/g, ' ').padEnd(40)} ${String(s.sql.length).padStart(5)} chars`;
      console.log(`   ${name}: whole ${f(whole)}, prepare ${f(prepared)}`);
      if (figures.length) console.log(`      DuckDB's profile (least of 10): ${figures.join(', ')}`);
    }
  });
}
