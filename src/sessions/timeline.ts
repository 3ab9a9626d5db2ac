// A session's timeline: its events in time order, a page at a time, as JSON made by DuckDB
// (read only within the session's span, from sessionSpan in read.ts).
import { countedSinceCtes, tsLiteral } from '../aggregate/rollup.js';
import { watermark } from '../query/watermark.js';
import { inKinds, METRIC_POINT_KINDS, REQUEST_KINDS } from '../query/model.js';
import { EVENT_NUMBER_COLUMNS, EVENT_TEXT_COLUMNS } from '../storage/events.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import type { SessionKey } from './figures.js';
import { BadCursorError, MAX_DATE_MS, type SessionSpan } from './read.js';

export type TimelineEvent = Record<string, unknown> & { seq: number; at: string; kind: string };

/** Where a timeline page begins: after this event ("<epoch ms>.<seq>" in a URL). */
export type TimelineCursor = { ms: number; seq: number };

/** The `after` parameter of a timeline page, checked; null for the first page. */
export function timelineCursor(after: string | undefined): TimelineCursor | null {
  if (after === undefined) return null;
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(after);
  if (!m || Number(m[1]) > MAX_DATE_MS || !Number.isSafeInteger(Number(m[2])))
    throw new BadCursorError('after: not one this server gave out');
  return { ms: Number(m[1]), seq: Number(m[2]) };
}

/** A page of a session's timeline: its events as a JSON array's text (see eventJson). */
export type TimelinePage = { eventsJson: string; next_after: string | null };

/**
 * A session's events in time order, after the cursor. Its span (from sessionSpan) holds
 * every event it stored, so DuckDB reads the row groups of those hours only. `asRead`
 * gives the timeline as a person reads it: Claude Code's OpenTelemetry session start (the
 * session.count point, stamped when it is exported, after the session's first events) as
 * the first event, and what the figures leave out left out: the token and cost points its
 * requests already count (the counting-once rule), a copy of an event sent before (as the
 * worker judged it, or the queries judge the tail), and OpenTelemetry's session start beside
 * the hook's. `counted` leaves out the same events but keeps each one's own time (the API's
 * `counted=true`: the events its totals count).
 */
export async function sessionTimeline(
  tf: TenantFiles,
  tenantId: string,
  session: SessionKey,
  span: SessionSpan,
  o: { after: TimelineCursor | null; limit: number; asRead?: boolean; counted?: boolean },
): Promise<TimelinePage> {
  const reader = await tf.connection(tenantId, 'reader');
  const params = {
    user: session.user_id,
    id: session.session_id,
    limit: o.limit + 1,
    ...(o.after ? { ats: o.after.ms, aseq: o.after.seq } : {}),
  };
  const inSpan = `ts >= ${tsLiteral(span.first)} AND ts < ${tsLiteral(span.last + 1)}`;
  const mine = `user_id = $user AND session_id = $id AND ${inSpan}`;
  // A late start goes just before the first event (the page shows seconds); never later
  // than ts, so `ts >= $ats` still bounds what a later page reads.
  const at = o.asRead
    ? `CASE WHEN kind = 'session_start' AND source = 'otlp' AND ts > ${tsLiteral(span.first)} THEN ${tsLiteral(span.first - 1)} ELSE ts END`
    : 'ts';
  // As read, an event counts once: a copy of one sent before (its hook and its OpenTelemetry
  // event) is left out as the worker leaves it out, and so is OpenTelemetry's session start
  // beside the hook's.
  const counting = o.asRead || o.counted;
  const counted = counting
    ? `AND NOT (${inKinds(METRIC_POINT_KINDS)} AND EXISTS (SELECT 1 FROM events WHERE ${mine} AND ${inKinds(REQUEST_KINDS)}))
       AND NOT (kind = 'session_start' AND source = 'otlp' AND EXISTS (SELECT 1 FROM events WHERE ${mine} AND kind = 'session_start' AND source <> 'otlp'))`
    : '';
  const after = o.after
    ? `AND (at_ms > $ats OR (at_ms = $ats AND seq > $aseq)) AND ts >= make_timestamp($ats * 1000)`
    : '';
  const select = (source: string, from: string) =>
    `${source}SELECT seq, at_ms, ${eventJson('shown_ts')} AS event FROM (SELECT *, ${at} AS shown_ts, epoch_ms(${at}) AS at_ms FROM ${from} WHERE ${mine} ${counted})
      WHERE true ${after}
      ORDER BY at_ms, seq LIMIT $limit`;
  type Row = { seq: number; at_ms: number; event: string };
  // As read, the events the figures count: as the worker judged them (uncounted_events) up to
  // its watermark, and the tail judged as the queries judge it, read in one snapshot.
  const rows = counting
    ? await reader.transaction(async (tx) => {
        const w = await watermark(tx);
        return tx.all<Row>(select(`WITH ${countedSinceCtes('once', mine, w.lastSeq, w.tail)} `, 'once'), params);
      })
    : await reader.all<Row>(select('', 'events'), params);
  const page = rows.slice(0, o.limit);
  return {
    eventsJson: `[${page.map((r) => r.event).join(',')}]`,
    next_after: rows.length > o.limit ? `${Number(page.at(-1)!.at_ms)}.${Number(page.at(-1)!.seq)}` : null,
  };
}

const TIMELINE_COLUMNS = [
  'seq',
  ...EVENT_TEXT_COLUMNS.filter((c) => c !== 'session_id'),
  ...EVENT_NUMBER_COLUMNS,
  'error',
];
/**
 * A stored event as the timeline shows it, as JSON text made by DuckDB: the columns it has
 * (nulls left out), its time (the timestamp column `at`) as ISO, its attributes as sent. One
 * string a row, joined into the page's array unparsed: handing 25 columns of 2,000 rows to
 * JavaScript value by value cost some 30 ms a page; json_object, JSON.parse to drop the
 * nulls and JSON.stringify again, some 20; this, 11.
 */
const eventJson = (at: string) =>
  `'{' || concat_ws(',', ${[
    ...TIMELINE_COLUMNS.map((c) => `'"${c}":' || to_json(${c})`),
    `'"at":"' || strftime(${at}, '%Y-%m-%dT%H:%M:%S.%gZ') || '"'`,
    `'"attributes":' || nullif(attributes::VARCHAR, 'null')`,
  ].join(', ')}) || '}'`;
