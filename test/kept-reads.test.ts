// What a database has had written (Database.writes) and the reads kept while it is
// unchanged (keptRead): every kind of write on any connection moves it, a read does not,
// and a read that overlapped a write is never kept. Real DuckDB files.
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Database, openDatabase } from '../src/storage/duckdb.js';
import { forgetKept, keptRead } from '../src/storage/kept-reads.js';
import { tempDir } from './helpers.js';

type Ctx = { dir: ReturnType<typeof tempDir>; db: Database };
const s = suite<Ctx>('reads kept while a database is unchanged');

s.before.each(async (ctx) => {
  ctx.dir = tempDir();
  ctx.db = await openDatabase(join(ctx.dir.path, 'kept.duckdb'));
  await ctx.db.run('CREATE TABLE t (n INTEGER)');
});
s.after.each(async (ctx) => {
  await ctx.db.close();
  ctx.dir.remove();
});

s('every write moves the count, on any connection, once it has ended; reads do not', async ({ db }) => {
  const other = await db.connect();
  const moved = async (what: string, fn: () => Promise<unknown>, by: number) => {
    const before = db.writes();
    await fn();
    assert.is(db.writes() - before, by, what);
  };
  await moved('a SELECT', () => db.all('SELECT * FROM t'), 0);
  await moved('a WITH … SELECT', () => other.get('WITH x AS (SELECT 1 AS n) SELECT n FROM x'), 0);
  await moved('a read-only transaction', () => other.transaction((tx) => tx.all('SELECT count(*) FROM t')), 0);
  await moved('an INSERT', () => db.run('INSERT INTO t VALUES (1)'), 1);
  await moved('a WITH … INSERT', () => db.run('WITH x AS (SELECT 3 AS n) INSERT INTO t SELECT n FROM x'), 1);
  await moved(
    'a WITH … DELETE',
    () => other.run('WITH x AS (SELECT 3 AS n) DELETE FROM t WHERE n IN (SELECT n FROM x)'),
    1,
  );
  await moved('an UPDATE … RETURNING read with get', () => other.get('UPDATE t SET n = 2 RETURNING n'), 1);
  await moved('a raw connection', () => other.withConnection(async () => undefined), 1);
  await moved('a failed write', () => db.run('INSERT INTO t VALUES (1, 2)').catch(() => undefined), 1);
  const before = db.writes();
  await other.transaction(async (tx) => {
    await tx.run('DELETE FROM t');
    await tx.all('SELECT * FROM t');
    assert.is(db.writes(), before, 'not before the transaction ends');
  });
  assert.is(db.writes(), before + 1, 'a transaction that wrote, once');
});

s('a read is kept while nothing is written, and read anew after a write on another connection', async ({ db }) => {
  const other = await db.connect();
  let loads = 0;
  const count = () =>
    keptRead(db, 'count', async () => {
      loads++;
      return (await db.get<{ n: number }>('SELECT count(*)::INTEGER AS n FROM t'))!.n;
    });
  assert.is(await count(), 0);
  assert.is(await count(), 0);
  assert.is(loads, 1, 'kept');
  await other.run('INSERT INTO t VALUES (1)');
  assert.is(await count(), 1, 'read anew');
  assert.is(loads, 2);
  forgetKept(db); // a file closed for being idle
  assert.is(await count(), 1);
  assert.is(loads, 3, 'forgotten');
  assert.ok(Object.isFrozen(await keptRead(db, 'rows', () => db.all('SELECT * FROM t'))), 'shared: frozen');
});

s('a read that a write ended during is not kept', async ({ db }) => {
  const other = await db.connect();
  let loads = 0;
  const overlapped = () =>
    keptRead(db, 'rows', async () => {
      loads++;
      const rows = await db.all('SELECT * FROM t');
      if (loads === 1) await other.run('INSERT INTO t VALUES (1)');
      return rows;
    });
  assert.is((await overlapped()).length, 0);
  assert.is((await overlapped()).length, 1, 'read anew: the first may predate the write');
  assert.is(loads, 2);
});

s(
  'callers asking while the same read is under way wait for it, each with a copy of its own; after a write, one reads anew',
  async ({ db }) => {
    const other = await db.connect();
    await db.run('INSERT INTO t VALUES (1)');
    let loads = 0;
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const read = (key = 'rows') =>
      keptRead(
        db,
        key,
        async () => {
          loads++;
          await gate; // held under way until the test lets it end
          return db.all<{ n: number }>('SELECT n FROM t ORDER BY n');
        },
        { copy: true },
      );
    const first = read();
    const waiting = [read(), read()];
    const elsewhere = read('another key');
    assert.is(loads, 2, 'the same key waits for the read under way; another key reads');
    await other.run('INSERT INTO t VALUES (2)');
    const afterWrite = read();
    assert.is(loads, 3, 'a caller after a write does not wait for a read that began before it');
    open();
    const mine = await first;
    mine.push({ n: 99 }); // the first caller changes its own answer
    const theirs = await Promise.all(waiting);
    for (const rows of theirs) assert.equal(rows, theirs[0], 'the waiting callers got the same rows');
    assert.equal(theirs[0], [{ n: 1 }, { n: 2 }], "not the first caller's changes (its read ran after the write)");
    assert.ok(theirs[0] !== theirs[1], 'each its own copy');
    assert.equal(await afterWrite, [{ n: 1 }, { n: 2 }]);
    await elsewhere;
    assert.is(loads, 3);

    // A read that fails fails the callers waiting for it; the next caller reads again.
    let fail: (err: Error) => void = () => undefined;
    const failing = keptRead(db, 'fails', () => new Promise((_, reject) => (fail = reject)));
    const waiter = keptRead(db, 'fails', async () => assert.unreachable('waits instead'));
    fail(new Error('no disk'));
    for (const p of [failing, waiter])
      await p.then(
        () => assert.unreachable('failed'),
        (err: Error) => assert.is(err.message, 'no disk'),
      );
    assert.is(await keptRead(db, 'fails', async () => 'read again'), 'read again');
  },
);

s.run();
