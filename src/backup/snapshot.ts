// A consistent copy of one live DuckDB file, taken inside the process that holds it: the
// target is attached to the file's own instance and filled by `COPY FROM DATABASE` in one
// transaction, so it is the file as of one moment while other connections keep committing.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Connection } from '../storage/duckdb.js';

/** Reads facts about the source (`catalog`, quoted) in the copy's own transaction, so they describe the copy. */
export type SnapshotFacts<T> = (conn: DuckDBConnection, catalog: string) => Promise<T>;

/**
 * Copies the DuckDB file at `source` (attached to `conn`'s instance) into a new file at
 * `target` (which must not exist) and returns what `facts` read in the same transaction.
 * The copy is complete (no WAL beside it) when this resolves.
 */
export async function snapshotDatabase<T>(
  conn: Connection,
  source: string,
  target: string,
  facts: SnapshotFacts<T>,
): Promise<T> {
  if (existsSync(target)) throw new Error(`${target} already exists`);
  return conn.withConnection(async (raw) => {
    // By path, not current_database(): the file need not be the connection's default catalog.
    const found = (
      await raw.runAndReadAll(`SELECT database_name FROM duckdb_databases() WHERE path = ${sqlString(source)}`)
    ).getRows()[0];
    if (!found) throw new Error(`${source} is not open on this connection`);
    const catalog = sqlIdent(found[0] as string);
    const alias = `backup_${randomBytes(6).toString('hex')}`;
    await raw.run(`ATTACH ${sqlString(target)} AS ${alias}`);
    let result: T;
    try {
      await raw.run('BEGIN TRANSACTION');
      try {
        result = await facts(raw, catalog);
        await raw.run(`COPY FROM DATABASE ${catalog} TO ${alias}`);
        await raw.run('COMMIT');
        // Here rather than in DETACH, whose error would not say why (a full disk, say).
        await raw.run(`CHECKPOINT ${alias}`);
      } catch (err) {
        await raw.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      await raw.run(`DETACH ${alias}`);
    }
    if (existsSync(`${target}.wal`)) throw new Error(`${target}.wal was left beside the copy`);
    return result;
  });
}

export const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sqlIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
