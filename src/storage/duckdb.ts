// A DuckDB file with one connection whose statements run one at a time, so a
// transaction can never interleave with another caller's statements.
import { DuckDBInstance, type DuckDBConnection, type DuckDBPreparedStatement, type DuckDBValue } from '@duckdb/node-api';

export type Params = Record<string, unknown>;
export type Row = Record<string, unknown>;

export type Queryable = {
  all<T = Row>(sql: string, params?: Params): Promise<T[]>;
  get<T = Row>(sql: string, params?: Params): Promise<T | undefined>;
  run(sql: string, params?: Params): Promise<void>;
};

/** One connection whose statements run one at a time. */
export type Connection = Queryable & {
  /**
   * Runs `fn` with the raw connection, alone; `fn` manages its own transaction. `prepared`
   * gives a statement prepared once per connection and destroyed when the database closes.
   */
  withConnection<T>(fn: (connection: DuckDBConnection, prepared: (sql: string) => Promise<DuckDBPreparedStatement>) => Promise<T>): Promise<T>;
  /** Runs `fn` inside BEGIN/COMMIT; any error rolls back and is rethrown. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Tasks queued or running on this connection. */
  busy(): number;
};

export type Database = Connection & {
  readonly path: string;
  /**
   * Another connection to the same file, for work that must not wait behind this one's
   * queue (the aggregation worker, dashboard reads). DuckDB runs them concurrently, each
   * transaction on its own snapshot.
   */
  connect(): Promise<Connection>;
  close(): Promise<void>;
};

export async function openDatabase(path: string): Promise<Database> {
  const instance = await DuckDBInstance.create(path);
  let closing: Promise<void> | null = null;
  let closed = false;
  const connections: { raw: DuckDBConnection; idle: () => Promise<void>; statements: Map<string, Promise<DuckDBPreparedStatement>> }[] = [];
  const isOpen = () => {
    if (closed) throw new Error(`database ${path} is closed`);
  };
  const allIdle = () => Promise.all(connections.map((c) => c.idle()));
  const connect = async () => {
    if (closing) throw new Error(`database ${path} is closed`);
    const raw = await instance.connect();
    const { connection, idle, statements } = serialized(raw, isOpen);
    connections.push({ raw, idle, statements });
    return connection;
  };
  const main = await connect();
  return {
    ...main,
    path,
    connect,
    // What is queued on any connection (a commit, the worker, a read, an export) runs
    // first; then nothing new starts, and the native handles go only once every
    // connection is idle: closing under a running statement crashes the process.
    close: () =>
      (closing ??= (async () => {
        await allIdle();
        closed = true;
        await allIdle();
        for (const c of connections) {
          // A statement left to the garbage collector would hold the file open after close.
          for (const statement of c.statements.values()) (await statement.catch(() => null))?.destroySync();
          c.raw.closeSync();
        }
        instance.closeSync();
      })()),
  };
}

function serialized(connection: DuckDBConnection, isOpen: () => void) {
  const queue = createQueue();
  const statements = new Map<string, Promise<DuckDBPreparedStatement>>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = connection.prepare(sql);
      statement.catch(() => statements.delete(sql));
      statements.set(sql, statement);
    }
    return statement;
  };
  const direct = queryable(connection);
  const inQueue = <R>(fn: () => Promise<R>) =>
    queue(() => {
      isOpen();
      return fn();
    });
  const wrapped: Connection = {
    all: <T = Row>(sql: string, params?: Params) => inQueue(() => direct.all<T>(sql, params)),
    get: <T = Row>(sql: string, params?: Params) => inQueue(() => direct.get<T>(sql, params)),
    run: (sql: string, params?: Params) => inQueue(() => direct.run(sql, params)),
    withConnection: <T>(fn: (c: DuckDBConnection, p: typeof prepared) => Promise<T>) => inQueue(() => fn(connection, prepared)),
    busy: () => queue.size(),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      inQueue(async () => {
        await connection.run('BEGIN TRANSACTION');
        try {
          const result = await fn(direct);
          await connection.run('COMMIT');
          return result;
        } catch (err) {
          await connection.run('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
  };
  // Settles when everything queued so far has run (the queue never rejects).
  return { connection: wrapped, idle: () => queue(async () => undefined), statements };
}

function queryable(connection: DuckDBConnection): Queryable {
  const all = async <T = Row>(sql: string, params?: Params): Promise<T[]> => {
    const reader = await connection.runAndReadAll(sql, bind(params));
    return rowsOf(reader.columnNames(), reader.getColumnsJS()) as T[];
  };
  return {
    all,
    get: async <T = Row>(sql: string, params?: Params) => (await all<T>(sql, params))[0],
    run: async (sql: string, params?: Params) => {
      await connection.run(sql, bind(params));
    },
  };
}

function bind(params?: Params): Record<string, DuckDBValue> | undefined {
  if (!params) return undefined;
  const out: Record<string, DuckDBValue> = {};
  for (const [k, v] of Object.entries(params)) {
    out[k] = (v instanceof Date ? v.toISOString() : v === undefined ? null : v) as DuckDBValue;
  }
  return out;
}

/**
 * Row objects built from the result's columns: several times faster than the client's
 * row objects for a result of thousands of rows. BIGINT columns arrive as bigint; counts
 * and ids in this app fit in a double.
 */
function rowsOf(names: string[], columns: unknown[][]): Row[] {
  const plain = columns.map((column) => (column.some((v) => typeof v === 'bigint') ? column.map((v) => (typeof v === 'bigint' ? Number(v) : v)) : column));
  const count = plain[0]?.length ?? 0;
  const rows: Row[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const row: Row = {};
    for (let j = 0; j < names.length; j++) row[names[j]!] = plain[j]![i];
    rows[i] = row;
  }
  return rows;
}

function createQueue() {
  let tail: Promise<unknown> = Promise.resolve();
  let size = 0;
  const run = <T>(task: () => Promise<T>): Promise<T> => {
    size++;
    const next = tail.then(task, task).finally(() => size--);
    tail = next.catch(() => undefined);
    return next;
  };
  return Object.assign(run, { size: () => size });
}
