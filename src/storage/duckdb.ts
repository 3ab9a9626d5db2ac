// A DuckDB file with one connection whose statements run one at a time, so a
// transaction can never interleave with another caller's statements. An idle file can
// sleep (its native handles closed) and wakes on its next statement. After a fatal error
// replaced DuckDB's instance, each connection reconnects on its next statement.
import { isFatal } from './errors.js';
import { alone, type Attached, type MemoryBudget } from './memory.js';
import type { Logger } from '../log.js';
import type { DuckDBConnection, DuckDBPreparedStatement, DuckDBValue } from '@duckdb/node-api';

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
   * gives a statement prepared once per connection and destroyed when the database closes:
   * only for statements that read no table (an INSERT of values). DuckDB plans a statement
   * with the tables' statistics of that moment and does not plan it again when rows change:
   * a kept `SELECT count(*) FROM t WHERE x > 5` still answered 0 after a row with x = 10
   * was added (DuckDB 1.5, duckdb/duckdb#23704; with parameters it plans at every run:
   * README, *What a page costs a small tenant*).
   */
  withConnection<T>(
    fn: (connection: DuckDBConnection, prepared: (sql: string) => Promise<DuckDBPreparedStatement>) => Promise<T>,
  ): Promise<T>;
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
  /**
   * Closes the native handles if no connection has work (else resolves false); the next
   * statement on any connection opens the file again. Frees an idle file's memory.
   */
  sleep(): Promise<boolean>;
  /** True while asleep. */
  asleep(): boolean;
  /** Statements started on any connection so far: unchanged means untouched. */
  activity(): number;
  /**
   * Statements that may have changed the file, counted as each ends (committed or not) on
   * any connection: what was read while it stayed the same is still what the file holds.
   * Every statement passes through here; only a plain SELECT (or WITH) is a read.
   */
  writes(): number;
  /** True once `close` was called: nothing more will run on it. */
  isClosed(): boolean;
  close(): Promise<void>;
};

export type OpenOptions = {
  /** The process's memory budget: the file is attached to its shared instance rather than opened alone. */
  budget?: MemoryBudget;
  /** Runs before the file is opened again after `sleep`; throws to refuse (the file on disk changed). */
  beforeWake?: () => void;
  /** Where a fatal error of a file opened alone (without `budget`) is logged. */
  log?: Logger;
};

export async function openDatabase(path: string, options: OpenOptions = {}): Promise<Database> {
  let file: Attached | null = null;
  let waking: Promise<Attached> | null = null;
  let closing: Promise<void> | null = null;
  let closed = false;
  const connections: Slot[] = [];
  let writes = 0;
  const wrote = () => void writes++;

  const start = () => (options.budget ? options.budget.attach(path) : alone(path, options.log));
  const awake = async (): Promise<Attached> => {
    if (closed) throw new Error(`database ${path} is closed`);
    if (file) return file;
    waking ??= (async () => {
      try {
        options.beforeWake?.();
        return (file = await start());
      } finally {
        waking = null;
      }
    })();
    return waking;
  };
  const raw = async (slot: Slot): Promise<DuckDBConnection> => {
    if (closed) throw new Error(`database ${path} is closed`);
    const attached = await awake();
    if (slot.raw && slot.epoch !== attached.epoch()) await forget(slot); // made under an instance (or attachment) since replaced
    if (!slot.raw) {
      slot.epoch = attached.epoch(); // also before: a connect that fails on an invalidated instance must say so
      slot.raw = await attached.connect();
      slot.epoch = attached.epoch();
    }
    return slot.raw;
  };
  // What a statement's error becomes: a fatal one is a StorageUnavailableError, the next statement runs on a new instance.
  const failed = (slot: Slot, err: unknown) => (file ? file.failed(err, slot.epoch) : Promise.resolve(err));
  const release = async () => {
    for (const slot of connections) await forget(slot);
    // Kept until detached: if that fails, the next statement reconnects to the same attachment.
    await file?.detach();
    file = null;
  };
  const allIdle = () => Promise.all(connections.map((c) => c.idle()));
  const connect = async () => {
    if (closing) throw new Error(`database ${path} is closed`);
    const slot = serialized(raw, failed, wrote);
    connections.push(slot);
    await slot.connection.withConnection(async () => undefined); // opened now, so a bad file fails here
    return slot.connection;
  };
  file = await start();
  const main = await connect().catch(async (err: unknown) => {
    await release();
    throw err;
  });
  return {
    ...main,
    path,
    connect,
    activity: () => connections.reduce((n, c) => n + c.started(), 0),
    writes: () => writes,
    asleep: () => file === null && !waking,
    isClosed: () => closing !== null,
    sleep() {
      if (closing || !file || waking || connections.some((c) => c.connection.busy() > 0)) return Promise.resolve(false);
      // Every queue is empty, so each barrier starts at once; what is queued from now on
      // waits behind them and opens the file again.
      let done!: () => void;
      const barrier = new Promise<void>((resolve) => (done = resolve));
      const entered = connections.map((c) => new Promise<void>((inside) => void c.hold(() => (inside(), barrier))));
      return Promise.all(entered)
        .then(release)
        .then(
          () => (done(), true),
          (err: unknown) => {
            done();
            throw err;
          },
        );
    },
    // What is queued on any connection (a commit, the worker, a read, an export) runs
    // first; then nothing new starts, and the native handles go only once every
    // connection is idle: closing under a running statement crashes the process.
    close: () =>
      (closing ??= (async () => {
        await allIdle();
        closed = true;
        await allIdle();
        await waking?.catch(() => undefined);
        await release();
      })()),
  };
}

type Slot = ReturnType<typeof serialized>;

/** Closes the slot's connection and its prepared statements: one left to the garbage collector would hold the file open. */
async function forget(slot: Slot): Promise<void> {
  for (const statement of slot.statements.values()) (await statement.catch(() => null))?.destroySync();
  slot.statements.clear();
  slot.raw?.closeSync();
  slot.raw = null;
}

function serialized(
  open: (slot: Slot) => Promise<DuckDBConnection>,
  failed: (slot: Slot, err: unknown) => Promise<unknown>,
  wrote: () => void,
) {
  const queue = createQueue();
  let started = 0;
  const slot = {
    raw: null as DuckDBConnection | null,
    /** The instance `raw` was made under. */
    epoch: 0,
    statements: new Map<string, Promise<DuckDBPreparedStatement>>(),
    connection: null as unknown as Connection,
    /** Settles when everything queued so far has run (the queue never rejects). */
    idle: () => queue(async () => undefined),
    /** Runs `fn` in the queue without opening the file (sleep's barrier). */
    hold: (fn: () => Promise<void>) => queue(fn),
    started: () => started,
  };
  const prepared = (connection: DuckDBConnection) => (sql: string) => {
    let statement = slot.statements.get(sql);
    if (!statement) {
      statement = connection.prepare(sql);
      statement.catch(() => slot.statements.delete(sql));
      slot.statements.set(sql, statement);
    }
    return statement;
  };
  /** `writes`: counted once `fn` ends, so a read that overlapped it is not taken for current. */
  const inQueue = <R>(fn: (connection: DuckDBConnection) => Promise<R>, writes: boolean | (() => boolean)) => {
    started++;
    return queue(async () => {
      try {
        return await fn(await open(slot));
      } catch (err) {
        throw await failed(slot, err);
      } finally {
        if (typeof writes === 'function' ? writes() : writes) wrote();
      }
    });
  };
  slot.connection = {
    all: <T = Row>(sql: string, params?: Params) => inQueue((c) => queryable(c).all<T>(sql, params), !isRead(sql)),
    get: <T = Row>(sql: string, params?: Params) => inQueue((c) => queryable(c).get<T>(sql, params), !isRead(sql)),
    run: (sql: string, params?: Params) => inQueue((c) => queryable(c).run(sql, params), !isRead(sql)),
    withConnection: <T>(
      fn: (c: DuckDBConnection, p: (sql: string) => Promise<DuckDBPreparedStatement>) => Promise<T>,
    ) => inQueue((c) => fn(c, prepared(c)), true),
    busy: () => queue.size(),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => {
      // A write inside counts when the transaction ends (its commit), not when the statement does.
      let writing = false;
      return inQueue(
        async (connection) => {
          await connection.run('BEGIN TRANSACTION');
          try {
            const result = await fn(queryable(connection, (sql) => void (writing ||= !isRead(sql))));
            await connection.run('COMMIT');
            return result;
          } catch (err) {
            await connection.run('ROLLBACK').catch((failed: unknown) => {
              if (isFatal(failed)) throw failed; // the rollback itself failed (out of memory): DuckDB is invalidated
            });
            throw err;
          }
        },
        () => writing,
      );
    },
  };
  return slot;
}

/**
 * A statement that cannot change the file: a SELECT, or a WITH that does not end in a write
 * (DuckDB takes `WITH … INSERT`/`DELETE`/`UPDATE`). A read that names one of those words
 * anywhere is counted as a write: an answer read again, never one kept too long. Nothing here
 * SELECTs nextval.
 */
const isRead = (sql: string) => /^\s*(SELECT|WITH)\b/i.test(sql) && !WRITE_WORDS.test(sql);
const WRITE_WORDS = /\b(INSERT|UPDATE|DELETE|MERGE|COPY|CREATE|DROP|ALTER)\b/i;

/** `asked` sees each statement before it runs. */
function queryable(connection: DuckDBConnection, asked?: (sql: string) => void): Queryable {
  const all = async <T = Row>(sql: string, params?: Params): Promise<T[]> => {
    asked?.(sql);
    const reader = await connection.runAndReadAll(sql, bind(params));
    return rowsOf(reader.columnNames(), reader.getColumnsJS()) as T[];
  };
  return {
    all,
    get: async <T = Row>(sql: string, params?: Params) => (await all<T>(sql, params))[0],
    run: async (sql: string, params?: Params) => {
      asked?.(sql);
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
  const plain = columns.map((column) =>
    column.some((v) => typeof v === 'bigint') ? column.map((v) => (typeof v === 'bigint' ? Number(v) : v)) : column,
  );
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
