// The query API (/api/v1): the dashboard summary, time series, any query in the query
// language (as JSON, or as a CSV/JSON/NDJSON download), sessions and their timelines, the
// most common errors (both lists also as downloads), and the caller's last event. Session cookie or an API key with
// `read`. Every handler narrows what it asks to what the caller may see (metricsView).
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { sessionsExport } from '../../dashboards/sessions-export.js';
import { commonErrors, ERROR_COLUMNS, FAILURE_KINDS } from '../../query/errors.js';
import { EXPORT_FORMATS, MEDIA_TYPE, rowsBody, type ExportFormat } from '../../query/export.js';
import { DIMENSION_NAMES, DIMENSIONS, INTERVALS, MAX_ROWS, METRICS, type QueryInput } from '../../query/model.js';
import { namePeople, tenantPeople, withPeople } from '../../query/people.js';
import { timeZoneOf } from '../../query/buckets.js';
import { runQuery } from '../../query/run.js';
import { fillGaps } from '../../query/result.js';
import {
  BadCursorError,
  findSession,
  lastEvent,
  listSessions,
  sessionSpan,
  sessionTotals,
  type SessionSpan,
} from '../../sessions/read.js';
import { sessionTimeline, timelineCursor } from '../../sessions/timeline.js';
import { API_FIGURES as SESSION_TOTALS, type SessionKey } from '../../sessions/figures.js';
import { dashboardSummary } from '../../query/summary.js';
import type { Env } from '../env.js';
import { requireIndividuals, scopeFilters } from '../../auth/scope.js';
import { reader, requireIdentity } from '../access.js';
import { auditRequest, exported } from '../audit-request.js';
import { httpError, notFound, parseWith, readJson } from '../errors.js';
import { documented, queryOf } from '../api-doc.js';
import {
  defaultInterval,
  FILTER_PARAMS,
  filterParam,
  filtersFrom,
  jsonQuerySchema,
  limitParam,
  listParam,
  needsPeople,
  queryAnswer,
  RANGE_PARAMS,
  scopedQuery,
  timeRange,
  toQuery,
} from '../query-params.js';

const formatParam = z
  .enum(EXPORT_FORMATS)
  .optional()
  .meta({ description: 'a download in this format instead of the JSON answer' });
const DIMENSION_LIST = z.string().meta({ description: `dimensions, comma-separated: ${DIMENSION_NAMES.join(', ')}` });

const OPS = {
  summary: documented({
    summary: 'The dashboard summary and the period before',
    auth: 'read',
    query: { ...RANGE_PARAMS, ...FILTER_PARAMS },
  }),
  timeseries: documented({
    summary: 'Metrics over time',
    auth: 'read',
    query: {
      metric: z.string().meta({ description: 'metrics, comma-separated' }),
      interval: z.enum(INTERVALS).optional(),
      group_by: DIMENSION_LIST.optional(),
      ...RANGE_PARAMS,
      ...FILTER_PARAMS,
    },
  }),
  query: documented({
    summary: 'Any query in the query language',
    auth: 'read',
    body: jsonQuerySchema,
    answer: '{query, rows, truncated} (and totals, previous when asked)',
  }),
  queryGet: documented({
    summary: 'A query as URL-encoded JSON, or its rows as a download',
    auth: 'read',
    query: {
      q: z.string().meta({ description: "the query as JSON (POST /api/v1/query's body)" }),
      format: formatParam,
    },
  }),
  errors: documented({
    summary: 'The most common failures',
    auth: 'read',
    query: {
      ...RANGE_PARAMS,
      user: filterParam.optional(),
      project: filterParam.optional(),
      tool: filterParam.optional(),
      model: filterParam.optional(),
      kind: filterParam.optional(),
      limit: limitParam(1000),
      format: formatParam,
    },
  }),
  lastEvent: documented({ summary: 'The newest event you sent', auth: 'read' }),
  catalogue: documented({ summary: 'The metrics, dimensions and intervals of the query language', auth: 'read' }),
  sessions: documented({
    summary: 'Sessions by latest activity, or all of a range as a download',
    auth: 'read',
    who: 'developers see their own; viewers are refused',
    query: {
      ...RANGE_PARAMS,
      user: filterParam.optional(),
      project: filterParam.optional(),
      tool: filterParam.optional(),
      model: filterParam.optional(),
      cursor: z.string().optional(),
      limit: limitParam(500),
      format: formatParam,
    },
  }),
  session: documented({
    summary: "A session's figures and its events in time order",
    auth: 'read',
    who: 'developers see their own; viewers are refused',
    query: {
      user: z.string().max(200).optional().meta({ description: 'whose session, when several people sent the id' }),
      after: z.string().optional(),
      limit: limitParam(20_000),
      counted: z.enum(['true', 'false']).optional().meta({
        description:
          "true: only the events the totals count (a tool call reported by its hook, OpenTelemetry and a transcript once); by default every event stored, each channel's copy",
      }),
    },
  }),
};

const badCursor = (err: unknown): never => {
  if (err instanceof BadCursorError) throw httpError(400, err.message, err.message.split(':')[0]);
  throw err;
};

export function queryRoutes(ctx: AppContext) {
  const now = () => ctx.now().getTime();
  return (
    new Hono<Env>()
      .get('/dashboard/summary', OPS.summary, async (c) => {
        const { tenantId, view } = reader(c);
        const range = timeRange(c, now());
        const filters = scopeFilters(view, filtersFrom(c));
        return c.json(await dashboardSummary(ctx.tenantFiles, tenantId, range, filters, now()));
      })

      .get('/metrics/timeseries', OPS.timeseries, async (c) => {
        const { tenantId, view } = reader(c);
        const metrics = listParam(c, 'metric') ?? listParam(c, 'metrics');
        if (!metrics) throw httpError(400, 'metric: is required', 'metric');
        const groupBy = listParam(c, 'group_by') ?? [];
        const range = timeRange(c, now());
        const interval = c.req.query('interval') ?? defaultInterval(range);
        const filters = scopeFilters(view, filtersFrom(c), groupBy);
        const q = toQuery(
          {
            metrics,
            group_by: groupBy as QueryInput['group_by'],
            filters,
            ...range,
            interval: interval as QueryInput['interval'],
            limit: 10_000,
          },
          { metrics: 'metric' },
        );
        const [result, zone, people] = await Promise.all([
          runQuery(ctx.tenantFiles, tenantId, q, { now: now() }),
          timeZoneOf(ctx.tenantFiles, tenantId),
          needsPeople(q, ctx.control, tenantId),
        ]);
        return c.json({
          metrics: q.metrics,
          interval: q.interval,
          group_by: q.group_by,
          from: new Date(q.from).toISOString(),
          to: new Date(q.to).toISOString(),
          points: !q.group_by.length
            ? fillGaps(result.rows, q, zone)
            : people
              ? withPeople(result.rows, people)
              : result.rows,
          truncated: result.truncated,
        });
      })

      // Any question in the query language, as JSON: { metrics, group_by, filters, from, to, interval, order_by, limit }.
      .post('/query', OPS.query, async (c) => {
        const { tenantId, view } = reader(c);
        const q = scopedQuery(await readJson(c), view, 'body', now());
        const result = await runQuery(ctx.tenantFiles, tenantId, q, { now: now() });
        return c.json(queryAnswer(q, result, await needsPeople(q, ctx.control, tenantId)));
      })
      // The same, with the query as URL-encoded JSON in `q`; with `format` the rows as a download.
      .get('/query', OPS.queryGet, async (c) => {
        const { identity, tenantId, view } = reader(c);
        const format = formatOf(c);
        const raw = c.req.query('q');
        if (raw === undefined) throw httpError(400, 'q: is required (a query as URL-encoded JSON)', 'q');
        for (const name of ['range', 'from', 'to', 'start_date', 'end_date'])
          if (c.req.query(name) !== undefined) throw httpError(400, `${name}: give from and to inside q`, name);
        const q = scopedQuery(parseJsonParam(raw, 'q'), view, 'q', now());
        const result = await runQuery(ctx.tenantFiles, tenantId, q, { now: now() });
        if (!format) return c.json(queryAnswer(q, result, await needsPeople(q, ctx.control, tenantId)));
        const named = namePeople(
          result.rows,
          [...(q.interval ? ['t'] : []), ...q.group_by, ...q.metrics],
          await tenantPeople(ctx.control, tenantId),
        );
        await auditRequest(ctx.control, c, identity, { action: 'export.query', detail: exported(format, q) });
        // x-truncated: the query's own limit cut it short (a top-N query does on purpose).
        return download(c, format, `query-${stamp(q.from)}-${stamp(q.to)}`, named.rows, named.columns, {
          'x-truncated': String(result.truncated),
        });
      })

      .get('/errors', OPS.errors, async (c) => {
        const { identity, tenantId, view } = reader(c);
        const format = formatOf(c);
        const range = timeRange(c, now());
        const { user, project, tool, model, kind } = filtersFrom(c);
        // Another kind has no failures: listing none would read as "no errors".
        const other = kind?.find((k) => !(FAILURE_KINDS as readonly string[]).includes(k));
        if (other !== undefined)
          throw httpError(400, `kind: ${JSON.stringify(other)} has no failures (${FAILURE_KINDS.join(', ')})`, 'kind');
        const filters = scopeFilters(view, {
          ...(user && { user }),
          ...(project && { project }),
          ...(tool && { tool }),
          ...(model && { model }),
          ...(kind && { kind }),
        });
        const result = await commonErrors(
          ctx.tenantFiles,
          tenantId,
          range,
          filters,
          queryOf(c, OPS.errors).limit ?? 20,
        );
        if (format) {
          await auditRequest(ctx.control, c, identity, {
            action: 'export.errors',
            detail: exported(format, { ...range, filters }),
          });
          return download(c, format, `errors-${stamp(range.from)}-${stamp(range.to)}`, result.errors, ERROR_COLUMNS, {
            'x-truncated': String(result.truncated),
          });
        }
        return c.json({ from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), ...result });
      })

      // Anyone's own last event, whatever their role: "is my agent sending?"
      .get('/me/last-event', OPS.lastEvent, async (c) => {
        const { user } = requireIdentity(c, 'read');
        return c.json({ user_id: user.id, last_event: await lastEvent(ctx.tenantFiles, user.tenantId, user.id) });
      })

      .get('/metrics/catalogue', OPS.catalogue, (c) => {
        reader(c);
        return c.json(catalogue());
      })

      .get('/sessions', OPS.sessions, async (c) => {
        const { identity, tenantId, view } = reader(c);
        const range = timeRange(c, now(), undefined, 30);
        const filters = scopeFilters(view, filtersFrom(c));
        requireIndividuals(view);
        const format = formatOf(c);
        if (format) {
          const all = await sessionsExport(
            ctx.tenantFiles,
            tenantId,
            {
              ...range,
              user: filters.user,
              project: filters.project,
              tool: filters.tool,
              model: filters.model,
              now: now(),
            },
            await tenantPeople(ctx.control, tenantId),
          );
          // A download is whole or refused (the list pages instead).
          if (all.truncated)
            throw httpError(400, `from: more than ${MAX_ROWS} sessions; narrow the range or the filters`, 'from');
          await auditRequest(ctx.control, c, identity, {
            action: 'export.sessions',
            detail: exported(format, { ...range, filters }),
          });
          return download(c, format, `sessions-${stamp(range.from)}-${stamp(range.to)}`, all.rows, all.columns);
        }
        const result = await listSessions(ctx.tenantFiles, tenantId, {
          ...range,
          user: filters.user,
          project: filters.project,
          tool: filters.tool,
          model: filters.model,
          cursor: c.req.query('cursor'),
          limit: queryOf(c, OPS.sessions).limit ?? 50,
          now: now(),
        }).catch(badCursor);
        return c.json(result);
      })
      .get('/sessions/:id', OPS.session, async (c) => {
        const { tenantId, view } = reader(c);
        requireIndividuals(view);
        const id = c.req.param('id');
        const user = c.req.query('user') || undefined;
        if (id.length > 200 || (user?.length ?? 0) > 200) throw notFound('no such session');
        const after = (() => {
          try {
            return timelineCursor(c.req.query('after'));
          } catch (err) {
            return badCursor(err);
          }
        })();
        const limit = queryOf(c, OPS.session).limit ?? 2000;
        // A developer's colleague's session does not exist, as far as the developer can tell.
        const session = await findSession(ctx.tenantFiles, tenantId, id, { ownUser: view.ownUser, user });
        if (session && 'owners' in session)
          throw httpError(
            409,
            `user: several people sent a session with this id (${session.owners.join(', ')}); say whose with ?user=`,
            'user',
          );
        const span = session && (await sessionSpan(ctx.tenantFiles, tenantId, session));
        if (!session || !span) throw notFound('no such session');
        // The events and the figures (unless stored) side by side, on the tenant's two readers.
        const [timeline, totals] = await Promise.all([
          sessionTimeline(ctx.tenantFiles, tenantId, session, span, {
            after,
            limit,
            counted: queryOf(c, OPS.session).counted === 'true',
          }),
          sessionFigures(ctx, tenantId, session, span),
        ]);
        // The events' JSON goes out as DuckDB made it, not parsed and made again.
        const head = JSON.stringify({ session_id: id, user_id: span.user_id, ...totals });
        const tail = JSON.stringify({ next_after: timeline.next_after });
        return c.body(`${head.slice(0, -1)},"events":${timeline.eventsJson},${tail.slice(1)}`, 200, {
          'content-type': 'application/json',
        });
      })
  );
}

function parseJsonParam(raw: string, name: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw httpError(400, `${name}: malformed JSON`, name);
  }
}

function formatOf(c: Context): ExportFormat | undefined {
  return parseWith(z.object({ format: formatParam }), { format: c.req.query('format') }).format;
}

/** Rows as a download in `format` (agentmeter-<name>.<format>), CSV with formula cells defused. */
function download(
  c: Context,
  format: ExportFormat,
  name: string,
  rows: readonly Record<string, string | number | null>[],
  columns: readonly string[],
  headers: Record<string, string> = {},
) {
  return c.body(rowsBody(rows, columns, format, true), 200, {
    'content-type': MEDIA_TYPE[format],
    'content-disposition': `attachment; filename="agentmeter-${name}.${format}"`,
    'cache-control': 'no-store',
    ...headers,
  });
}

/** A time for a file name: 20250905T100000Z. */
const stamp = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');

/** A session's figures over its whole life (from its first to its last event). */
async function sessionFigures(ctx: AppContext, tenantId: string, session: SessionKey, span: SessionSpan) {
  const totals = await sessionTotals(ctx.tenantFiles, tenantId, session, span, SESSION_TOTALS, ctx.now().getTime());
  return {
    first_at: new Date(span.first).toISOString(),
    last_at: new Date(span.last).toISOString(),
    duration_s: (span.last - span.first) / 1000,
    totals,
  };
}

function catalogue() {
  return {
    metrics: Object.entries(METRICS).map(([name, def]) => ({ name, description: def.description, kinds: def.kinds })),
    dimensions: Object.entries(DIMENSIONS).map(([name, d]) => ({ name, kinds: d.kinds })),
    intervals: INTERVALS,
  };
}
