// Query-string parameters and JSON queries → the query model's input, naming the parameter
// (or the JSON path) on any error, and a query's answer as the API gives it.
// Times are ISO 8601 (a date alone is UTC midnight) or epoch milliseconds.
import type { Context } from 'hono';
import { z } from 'zod';
import {
  DIMENSION_NAMES,
  FIRST_TIME_MS,
  LAST_TIME_MS,
  MAX_FILTER_VALUE,
  MAX_FILTER_VALUES,
  MAX_RANGE_MS,
  NOT_A_KIND,
  RANGE_TOO_LONG,
  filterValue,
  querySchema,
  type Dimension,
  type Query,
  type QueryInput,
} from '../query/model.js';
import type { QueryResult } from '../query/result.js';
import { scopeFilters, type MetricsView } from '../auth/scope.js';
import { httpError } from './errors.js';
import { isCalendarDate } from '../time/zone.js';
import { PRESETS } from '../dashboards/filters.js';
import { tenantPeople, withPeople, type People } from '../query/people.js';
import type { Queryable } from '../storage/duckdb.js';

const DAY = 86_400_000;

const TIME_ERROR = 'expected an ISO 8601 time with a zone (or a date, or epoch ms)';
/** The longest of the forms: a date, a time to the nanosecond and an offset, with room to spare. */
const MAX_TIME_LENGTH = 40;

/** A time parameter's three forms (the API description shows this schema; parseTime checks with it). */
export const timeParam = z
  .string()
  // Bounded first, and a pattern without nested repeats: a long string costs no more than a short one.
  .max(MAX_TIME_LENGTH, { error: TIME_ERROR, abort: true })
  .regex(/^(\d{1,16}|\d{4}-\d{2}-\d{2}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2}))$/, {
    error: TIME_ERROR,
  })
  .meta({ description: 'ISO 8601 with a zone, a date (UTC midnight) or epoch milliseconds' });

/** A filter parameter's value: repeated (`?tool=a&tool=b`) or comma-separated (`?tool=a,b`). */
export const filterParam = z
  .string()
  .max(MAX_FILTER_VALUE, { error: `a value is longer than ${MAX_FILTER_VALUE} characters` })
  .meta({ description: `one or more values (at most ${MAX_FILTER_VALUES}), repeated or comma-separated` });

/** The dashboards' presets that end now and mean the same in every zone (`today` and the like are the team's calendar). */
const ROLLING = Object.entries(PRESETS).flatMap(([name, p]) => ('ms' in p ? [[name, p.ms] as const] : []));
const ROLLING_ERROR = `must be one of ${ROLLING.map(([name]) => name).join(', ')}; for a day, week or month of the team's calendar give from and to with its offset`;

/** `range=`, instead of the range's two times: a rolling preset up to now. */
export const rangeParam = z
  .enum(ROLLING.map(([name]) => name) as [string, ...string[]], { error: ROLLING_ERROR })
  .optional()
  .meta({ description: 'instead of the two times of the range: this much up to now' });

/** The parameters of a range, and of the filters by dimension, as the parsers below read them. */
export const RANGE_PARAMS = { from: timeParam.optional(), to: timeParam.optional(), range: rangeParam };
export const FILTER_PARAMS = Object.fromEntries(DIMENSION_NAMES.map((d) => [d, filterParam.optional()])) as Record<
  Dimension,
  z.ZodOptional<typeof filterParam>
>;

/** `limit`, an integer from 1 to `max`. */
export const limitParam = (max: number) => {
  const error = `must be an integer from 1 to ${max}`;
  return z.coerce.number<string>().int({ error }).min(1, { error }).max(max, { error }).optional();
};

/**
 * `t`, or a 400 naming `field` when it is not a time a request may name (FIRST_TIME_MS to
 * LAST_TIME_MS). A range, its default start and the period before it are then dates too
 * (epoch ms up to 16 digits, or a JSON number, could name a time no date holds: a 500 where
 * it was shown).
 */
function checkedTime(t: number, field: string): number {
  if (!Number.isFinite(t)) throw httpError(400, `${field}: ${TIME_ERROR}`, field);
  if (t < FIRST_TIME_MS || t > LAST_TIME_MS)
    throw httpError(400, `${field}: must be a time from the year 1 to 9999`, field);
  return t;
}

export function parseTime(raw: string, field: string): number {
  if (!isCalendarDate(raw)) throw httpError(400, `${field}: ${raw.slice(0, 10)} is not a date of the calendar`, field);
  const form = timeParam.safeParse(raw).success;
  const t = !form
    ? NaN
    : /^\d{1,16}$/.test(raw)
      ? Number(raw)
      : /^\d{4}-\d{2}-\d{2}$/.test(raw)
        ? Date.parse(`${raw}T00:00:00Z`)
        : Date.parse(raw);
  return checkedTime(t, field);
}

/** The days a range covers when only its end (or nothing) is given. */
export const DEFAULT_DAYS = 7;

/** `from`/`to` (or the seeds' names), defaulting to the last `days` days up to now. */
export function timeRange(
  c: Context,
  now: number,
  names = { from: 'from', to: 'to' },
  days = DEFAULT_DAYS,
): { from: number; to: number } {
  // The other route family's names would be ignored here, and the default range answered.
  for (const other of names.from === 'from' ? ['start_date', 'end_date'] : ['from', 'to'])
    if (c.req.query(other) !== undefined)
      throw httpError(400, `${other}: this route takes ${names.from} and ${names.to}`, other);
  // Given twice, the first would be answered as if it were the one meant.
  for (const name of [names.from, names.to, 'range'])
    if ((c.req.queries(name)?.length ?? 0) > 1) throw httpError(400, `${name}: given more than once`, name);
  const [rawFrom, rawTo, range] = [c.req.query(names.from), c.req.query(names.to), c.req.query('range')];
  if (range === undefined) return rangeOf(rawFrom, rawTo, now, names, days);
  if (rawFrom !== undefined || rawTo !== undefined)
    throw httpError(400, `range: give either range or ${names.from}/${names.to}`, 'range');
  const ms = ROLLING.find(([name]) => name === range)?.[1];
  if (ms === undefined) throw httpError(400, `range: ${ROLLING_ERROR}`, 'range');
  return { from: now - ms, to: now };
}

/** A range from raw `from`/`to` values (parseTime's forms), checked as timeRange does. */
export function rangeOf(
  rawFrom: string | undefined,
  rawTo: string | undefined,
  now: number,
  names = { from: 'from', to: 'to' },
  days = DEFAULT_DAYS,
): { from: number; to: number } {
  const to = rawTo ? parseTime(rawTo, names.to) : now;
  const from = rawFrom ? parseTime(rawFrom, names.from) : to - days * DAY;
  if (from >= to) throw httpError(400, `${names.from}: must be before ${names.to}`, names.from);
  if (to - from > MAX_RANGE_MS) throw httpError(400, `${names.from}: ${RANGE_TOO_LONG}`, names.from);
  return { from, to };
}

/** A time series' interval when none is asked for: hours up to three days, days beyond. */
export const defaultInterval = (range: { from: number; to: number }) => (range.to - range.from > 3 * DAY ? '1d' : '1h');

/** A list parameter: repeated (`?tool=a&tool=b`) or comma-separated (`?tool=a,b`). */
export function listParam(c: Context, name: string): string[] | undefined {
  const all = (c.req.queries(name) ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return all.length ? all : undefined;
}

/**
 * Filters from parameters named after dimensions (or `aliases`: parameter → dimension),
 * each value checked as the query model takes it (a 400 naming the parameter otherwise).
 */
export function filtersFrom(c: Context, aliases: Record<string, Dimension> = {}): Partial<Record<Dimension, string[]>> {
  const out: Partial<Record<Dimension, string[]>> = {};
  const names: [string, Dimension][] = [
    ...DIMENSION_NAMES.map((d) => [d, d] as [string, Dimension]),
    ...Object.entries(aliases),
  ];
  for (const [param, dim] of names) {
    const values = listParam(c, param);
    if (!values) continue;
    if (values.some((v) => !filterParam.safeParse(v).success))
      throw httpError(400, `${param}: a value is longer than ${MAX_FILTER_VALUE} characters`, param);
    const wrong = values.find((v) => !filterValue(dim).safeParse(v).success);
    if (wrong !== undefined) throw httpError(400, `${param}: ${JSON.stringify(wrong)} is ${NOT_A_KIND}`, param);
    out[dim] = [...(out[dim] ?? []), ...values];
    if (out[dim].length > MAX_FILTER_VALUES)
      throw httpError(400, `${param}: more than ${MAX_FILTER_VALUES} values`, param);
  }
  return out;
}

/**
 * Validates a query. Errors name the query-string parameter (`paramOf` renames the
 * model's fields; a filter is its dimension's parameter), or with `body` the JSON path.
 */
export function toQuery(input: QueryInput, paramOf: Record<string, string> = {}, body = false): Query {
  const parsed = querySchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const path = parsed.error.issues[0]!.path.map(String);
  const field = body
    ? path.join('.') || 'body'
    : (paramOf[path[0]!] ?? (path[0] === 'filters' && path[1] ? path[1] : path[0]) ?? 'query');
  throw httpError(400, `${field}: ${parsed.error.issues[0]!.message}`, field);
}

/** A time in JSON: epoch milliseconds, or a string in timeParam's forms. */
const jsonTime = z
  .union([z.number().int(), timeParam], { error: TIME_ERROR })
  .optional()
  .meta({ description: 'epoch ms, or ISO 8601 with a zone, or a date' });

/** A query as JSON (POST /query's body, GET /query's `q`): the query language's, with `to` now and `from` a week before by default. */
export const jsonQuerySchema = z.strictObject({ ...querySchema.shape, from: jsonTime, to: jsonTime });

/** A query sent as JSON (the POST body, or `q`), validated (errors name its JSON path) and narrowed to `view`. */
export function scopedQuery(body: unknown, view: MetricsView, name: 'body' | 'q', now: number): Query {
  const input = jsonQuerySchema.safeParse(body);
  if (!input.success) {
    const issue = input.error.issues[0]!;
    const field = issue.path.map(String).join('.') || name;
    throw httpError(400, `${field}: ${issue.message}`, field);
  }
  const raw = body as Record<string, unknown>;
  // `to` defaults to now, `from` to DEFAULT_DAYS before `to` (as the GET endpoints' ranges).
  const time = (k: 'from' | 'to') =>
    typeof raw[k] === 'string'
      ? parseTime(raw[k], k)
      : raw[k] === undefined
        ? undefined
        : checkedTime(raw[k] as number, k);
  const to = time('to') ?? now;
  const from = time('from') ?? to - DEFAULT_DAYS * 86_400_000;
  const parsed = toQuery({ ...raw, from, to } as QueryInput, {}, true);
  return { ...parsed, filters: scopeFilters(view, parsed.filters, parsed.group_by) };
}

/**
 * A query's JSON answer. Grouped by user, each row also names the person (`people`, which
 * the caller reads only then: `needsPeople`).
 */
export const queryAnswer = (q: Query, result: QueryResult, people?: People) => {
  const named = people && q.group_by.includes('user');
  return {
    query: { ...q, from: new Date(q.from).toISOString(), to: new Date(q.to).toISOString() },
    ...result,
    ...(named && { rows: withPeople(result.rows, people) }),
    ...(named &&
      result.previous && { previous: { ...result.previous, rows: withPeople(result.previous.rows, people) } }),
  };
};

/** The people of the tenant when `q`'s answer names them (grouped by user), else nothing read. */
export const needsPeople = (q: Query, control: Queryable, tenantId: string) =>
  q.group_by.includes('user') ? tenantPeople(control, tenantId) : undefined;
