// `agentmeter version`: the versions an operator reports or checks after an upgrade: the
// app's (package.json, bundled into the executable), the Node runtime actually running it
// (inside the executable, the embedded one) and the DuckDB library it loaded.
import pkg from '../../package.json' with { type: 'json' };
import { openDatabase } from '../storage/duckdb.js';

export type Versions = { app: string; node: string; duckdb: string };

export async function versions(): Promise<Versions> {
  // An in-memory database: the question is which library is loaded, not what a data directory holds.
  const db = await openDatabase(':memory:');
  try {
    const row = await db.get<{ version: string }>('SELECT version() AS version');
    return { app: pkg.version, node: process.versions.node, duckdb: row?.version ?? 'unknown' };
  } finally {
    await db.close();
  }
}

/** One line for people: `agentmeter 0.1.0 (Node 24.22.3, DuckDB v1.5.2)`. */
export function versionLine(v: Versions): string {
  return `agentmeter ${v.app} (Node ${v.node}, DuckDB ${v.duckdb})`;
}
