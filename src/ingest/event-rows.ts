// An event as it is stored: the events table's columns. Rows travel to DuckDB as one JSON
// document bound to a prepared INSERT (INSERT_SQL), and to the ingest journal as JSON
// records (encodeRows / decodeRows), so a replay inserts exactly what was acknowledged.

export type EventRow = {
  id: bigint;
  ts: number;
  receivedAt: number;
  kind: string;
  source: string;
  userId: string;
  sessionId: string | null;
  project: string | null;
  promptId: string | null;
  toolUseId: string | null;
  requestId: string | null;
  agentId: string | null;
  agentType: string | null;
  name: string | null;
  model: string | null;
  status: string | null;
  durationMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  cacheReadTokens: number | null;
  cacheCreationTokens: number | null;
  costUsd: number | null;
  linesAdded: number | null;
  linesRemoved: number | null;
  value: number | null;
  error: string | null;
  attributes: string | null;
  /** The import run that sent it (src/import/runs.ts), or null for live events. */
  importRun: string | null;
};

// Rows travel to DuckDB as the journal's own records: the JSON objects of columns that
// `encodeRows` writes, bound as one document (`recordsDocument`) to a prepared INSERT that
// unnests them. So a row is serialised once, for the journal, and DuckDB parses it on its own
// thread. (The appender's per-value calls and its synchronous flush held the event loop ~15 µs
// a row plus 2–4 ms a commit; a second stringify for the apply cost 1.5–5 ms a batch.)
const TEXT_COLUMNS = {
  kind: 'kind',
  source: 'source',
  user_id: 'userId',
  session_id: 'sessionId',
  project: 'project',
  prompt_id: 'promptId',
  tool_use_id: 'toolUseId',
  request_id: 'requestId',
  agent_id: 'agentId',
  agent_type: 'agentType',
  name: 'name',
  model: 'model',
  status: 'status',
  error: 'error',
  import_run: 'importRun',
} as const;
const NUMBER_COLUMNS = {
  duration_ms: 'durationMs',
  input_tokens: 'inputTokens',
  output_tokens: 'outputTokens',
  cache_read_tokens: 'cacheReadTokens',
  cache_creation_tokens: 'cacheCreationTokens',
  cost_usd: 'costUsd',
  lines_added: 'linesAdded',
  lines_removed: 'linesRemoved',
  value: 'value',
} as const;

/**
 * The rows of the records bound as $1 (`[{"seq": s, "rows": <record>}, ...]`) as a
 * relation of the events table's columns, each record's rows numbered from its `seq`.
 */
const BATCH_SQL = (() => {
  const types: Record<string, string> = {
    id: 'VARCHAR[]',
    ts: 'BIGINT[]',
    receivedAt: 'BIGINT[]',
    attributes: 'VARCHAR[]',
  };
  const select: Record<string, string> = {
    id: 'unnest(r.rows.id)::UBIGINT',
    ts: 'epoch_ms(unnest(r.rows.ts))',
    received_at: 'epoch_ms(unnest(r.rows.receivedAt))',
    seq: '(r.seq + unnest(range(len(r.rows.id))))::UBIGINT',
    attributes: 'unnest(r.rows.attributes)',
  };
  for (const [column, key] of Object.entries(TEXT_COLUMNS))
    (types[key] = 'VARCHAR[]'), (select[column] = `unnest(r.rows.${key})`);
  for (const [column, key] of Object.entries(NUMBER_COLUMNS))
    (types[key] = 'DOUBLE[]'), (select[column] = `unnest(r.rows.${key})`);
  const shape = JSON.stringify([{ seq: 'UBIGINT', rows: types }]);
  const columns = Object.keys(select);
  return {
    columns: columns.join(', '),
    sql: `SELECT ${columns.map((c) => `${select[c]} AS ${c}`).join(', ')} FROM (SELECT unnest(from_json($1::VARCHAR, '${shape}')) AS r)`,
  };
})();

/** Every row of the batch, unchecked (nothing stored may share an id with them). */
export const INSERT_SQL = `INSERT INTO events (${BATCH_SQL.columns}) ${BATCH_SQL.sql}`;

/** Each write's journal record (or, for rows not journaled, one made now), numbered on from `first`. */
export function numberedRecords(
  writes: readonly { rows: readonly EventRow[]; body?: Buffer }[],
  first: bigint,
): { seq: bigint; body: Buffer }[] {
  const out: { seq: bigint; body: Buffer }[] = [];
  let seq = first;
  for (const w of writes) {
    if (w.rows.length === 0) continue;
    out.push({ seq, body: w.body ?? encodeRows(w.rows) });
    seq += BigInt(w.rows.length);
  }
  return out;
}

/** Journal records (`encodeRows`), each with the seq of its first row, as the document INSERT_SQL reads. */
export function recordsDocument(records: readonly { seq: bigint; body: Buffer }[]): string {
  // Bound as text: measured cheaper (DuckDB and JavaScript CPU) than a BLOB that DuckDB decodes.
  return `[${records.map(({ seq, body }) => `{"seq":${seq},"rows":${body.toString()}}`).join(',')}]`;
}

/** A span of event time, epoch ms, both ends included. */
export type TsWindow = { from: number; to: number };

/**
 * Which of the ids bound as $1 (decimal, comma-separated) are stored among the events whose
 * `ts` falls in `window`, or were and raw retention deleted them (retired_events). The
 * bounds are literals so DuckDB reads only the row groups whose ts range meets the window
 * (zonemaps); events arrive roughly in ts order, so a live batch reads the last few row
 * groups of `events` whatever the table holds, and none of retired_events. (The same
 * anti-join inside the INSERT measured 3-4 times slower than this lookup and a plain
 * INSERT: bench/dedupe.ts.)
 */
export function storedIdsSql(window: TsWindow): string {
  const ms = (t: number) => `epoch_ms(${Math.round(t)}::BIGINT)`;
  // One filter over both tables: DuckDB pushes it into each (a filter per branch, with the
  // id list built twice, measured 0.5-0.7 ms more per lookup; this 0.0-0.3).
  return `SELECT id FROM (SELECT id, ts FROM events UNION ALL SELECT id, ts FROM retired_events)
    WHERE ts BETWEEN ${ms(window.from)} AND ${ms(window.to)} AND id IN (SELECT unnest(string_split($1::VARCHAR, ','))::UBIGINT)`;
}

/** Every field of a row, in the journal record's order: the id and times first, then the columns. */
const ROW_KEYS = [
  'id',
  'ts',
  'receivedAt',
  'attributes',
  ...Object.values(TEXT_COLUMNS),
  ...Object.values(NUMBER_COLUMNS),
] as const satisfies readonly (keyof EventRow)[];

/**
 * A journal record's body: the rows as one JSON object of columns (`{"columns": 2, "id":
 * [...], "ts": [...], ...}`, ids as decimal strings: 64 bits). Columns, not an object per
 * row: no key is written a thousand times and no row is copied to write it (a third of
 * the time of the earlier array of rows, which `decodeRows` still reads).
 */
export function encodeRows(rows: readonly EventRow[]): Buffer {
  const doc: Record<string, unknown> = { columns: ROW_KEYS.length };
  doc.id = rows.map((r) => r.id.toString());
  // Whole milliseconds, and no lone surrogate: DuckDB reads the record as it is (the appender stored U+FFFD).
  doc.ts = rows.map((r) => Math.trunc(r.ts));
  doc.receivedAt = rows.map((r) => Math.trunc(r.receivedAt));
  doc.attributes = rows.map((r) => r.attributes); // JSON text: lone surrogates arrive escaped
  for (const key of Object.values(TEXT_COLUMNS)) doc[key] = rows.map((r) => r[key]?.toWellFormed() ?? null);
  for (const key of Object.values(NUMBER_COLUMNS)) doc[key] = rows.map((r) => r[key]);
  return Buffer.from(JSON.stringify(doc));
}

/** The rows of a journal record, in either format (records written before the columns are an array of rows). */
export function decodeRows(body: Buffer): EventRow[] {
  const doc = JSON.parse(body.toString()) as Record<string, unknown[]> | (Omit<EventRow, 'id'> & { id: string })[];
  if (Array.isArray(doc)) return doc.map((r) => ({ ...r, id: BigInt(r.id) }));
  const ids = doc.id as string[];
  const rows: EventRow[] = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const row: Record<string, unknown> = {};
    for (const key of ROW_KEYS) row[key] = key === 'id' ? BigInt(ids[i]!) : doc[key]![i];
    rows[i] = row as EventRow;
  }
  return rows;
}
