// Stored events made fast for the benchmarks: INSERT … SELECT from range(), no HTTP, no
// ingest. Row i gets the id DuckDB's hash(i) (as random as SHA-256's), seq i + 1, and a ts
// `stepMs` after row i - 1's, so the table is in ts order as live ingest leaves it.
import type { DuckDBConnection } from '@duckdb/node-api';

export type Spacing = { t0: number; stepMs: number };

/** Rows `from` … `to - 1`. */
export async function fillEvents(
  conn: DuckDBConnection,
  from: number,
  to: number,
  { t0, stepMs }: Spacing,
  table = 'events',
) {
  if (to <= from) return;
  const ts = `epoch_ms(${t0} + floor(i * ${stepMs})::BIGINT)`;
  await conn.run(`INSERT INTO ${table} (id, ts, received_at, kind, source, user_id, session_id, name, status, duration_ms, attributes, seq)
    SELECT hash(i), ${ts}, ${ts}, 'command', 'rest', 'u_bench', 'bench-s' || (i % 500),
           ['plan-product', 'create-trd', 'implement', 'review'][i % 4 + 1],
           CASE WHEN i % 17 = 0 THEN 'failure' ELSE 'success' END, 100 + i % 900, '{"k":' || i || '}', i + 1
      FROM range(${from}, ${to}) t(i)`);
}
