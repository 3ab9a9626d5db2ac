// Exports (/api/metrics/export/csv and /json): the caller's tenant's raw events, streamed,
// or with `metric=` the query model's rows. Needs `reports.export` on top of `read`;
// filters and times as on the other query endpoints (or the seeds' start_date/end_date).
// `format=ndjson` on /json for one object per line; `escape_formulas=false` on /csv for
// the exact data (see src/query/export.ts).
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { exportEvents, formatRows, type ExportFormat } from '../../query/export.js';
import { MAX_ROWS, type QueryInput } from '../../query/model.js';
import { namePeople, tenantPeople } from '../../query/people.js';
import { runQuery } from '../../query/run.js';
import type { Env } from '../env.js';
import { auditRequest, exported } from '../audit-request.js';
import { requireIndividuals, scopeFilters } from '../../auth/scope.js';
import { reader, requirePermission } from '../access.js';
import { httpError } from '../errors.js';
import { documented, queryOf } from '../api-doc.js';
import {
  FILTER_PARAMS,
  filterParam,
  filtersFrom,
  listParam,
  RANGE_PARAMS,
  timeParam,
  timeRange,
  toQuery,
} from '../query-params.js';

const ALIASES = { user_id: 'user', command_name: 'command', tool_name: 'tool' } as const;
const SEED_NAMES = { from: 'start_date', to: 'end_date' };
const CONTENT_TYPE: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

const FORMATS = { csv: z.enum(['csv']), json: z.enum(['json', 'ndjson']) } as const;
const exportOp = (endpoint: 'csv' | 'json') =>
  documented({
    summary: `Raw events (or, with metric, the query's rows) as ${endpoint === 'csv' ? 'CSV' : 'JSON or NDJSON'}, streamed`,
    auth: 'read',
    who: 'managers and up (reports.export)',
    query: {
      ...RANGE_PARAMS,
      start_date: timeParam.optional(),
      end_date: timeParam.optional(),
      ...FILTER_PARAMS,
      user_id: filterParam.optional(),
      command_name: filterParam.optional(),
      tool_name: filterParam.optional(),
      metric: z.string().optional().meta({ description: 'metrics, comma-separated: their rows instead of raw events' }),
      interval: z.string().optional(),
      group_by: z.string().optional(),
      format: FORMATS[endpoint].optional(),
      escape_formulas: z
        .enum(['true', 'false', '1', '0'])
        .optional()
        .meta({ description: "CSV cells starting with = + - @ get a leading ' (true)" }),
    },
  });
const OPS = { csv: exportOp('csv'), json: exportOp('json') };

export function exportRoutes(ctx: AppContext) {
  const handler = (endpoint: 'csv' | 'json') => async (c: Context<Env>) => {
    const { identity, tenantId, view } = reader(c);
    requirePermission(identity, 'reports.export');
    const { format = endpoint, escape_formulas: escapeParam = 'true' } = queryOf(c, OPS[endpoint]);
    const escapeFormulas = escapeParam === 'true' || escapeParam === '1';
    const range = rangeParams(c, ctx.now().getTime());
    const metrics = listParam(c, 'metric') ?? listParam(c, 'metrics');
    const groupBy = listParam(c, 'group_by') ?? [];
    const headers = (what: string, from: number, to: number) => ({
      'content-type': CONTENT_TYPE[format],
      'content-disposition': `attachment; filename="agentmeter-${what}-${stamp(from)}-${stamp(to)}.${format}"`,
      'cache-control': 'no-store',
    });

    if (metrics) {
      const interval = c.req.query('interval') as QueryInput['interval'];
      const filters = scopeFilters(view, filtersFrom(c, ALIASES), groupBy);
      const q = toQuery(
        { metrics, group_by: groupBy as QueryInput['group_by'], filters, ...range, interval, limit: MAX_ROWS },
        { metrics: 'metric' },
      );
      const result = await runQuery(ctx.tenantFiles, tenantId, q, { now: ctx.now().getTime() });
      // An export is whole or refused, never silently cut short.
      if (result.truncated)
        throw httpError(
          400,
          `group_by: more than ${MAX_ROWS} rows; narrow the range or the grouping, or choose a larger interval`,
          'group_by',
        );
      const named = namePeople(
        result.rows,
        [...(q.interval ? ['t'] : []), ...q.group_by, ...q.metrics],
        await tenantPeople(ctx.control, tenantId),
      );
      await auditRequest(ctx.control, c, identity, { action: 'export.metrics', detail: exported(format, q) });
      return c.body(
        formatRows(named.rows, named.columns, format, escapeFormulas),
        200,
        headers('metrics', q.from, q.to),
      );
    }

    if (groupBy.length || c.req.query('interval') !== undefined)
      throw httpError(400, 'metric: is required with interval or group_by', 'metric');
    // Raw events name people and sessions.
    requireIndividuals(view);
    const q = toQuery({ metrics: ['events'], filters: scopeFilters(view, filtersFrom(c, ALIASES)), ...range });
    // Hono answers HEAD with the GET handler and drops the body unread: no export for it.
    if (c.req.method === 'HEAD') return c.body(null, 200, headers('events', q.from, q.to));
    const requestId = c.var.requestId;
    const onFailure = (err: unknown) =>
      ctx.log.warn('export ended early', { request_id: requestId, tenant: tenantId, error: String(err) });
    const people = await tenantPeople(ctx.control, tenantId);
    const out = await exportEvents(
      ctx.exports,
      tenantId,
      { from: q.from, to: q.to, filters: q.filters, format, escapeFormulas, people },
      onFailure,
    );
    if (!out)
      throw httpError(
        429,
        'exports: this organisation already has exports running; try again when one has finished',
        'exports',
        { 'retry-after': '10' },
      );
    try {
      await auditRequest(ctx.control, c, identity, {
        action: 'export.events',
        detail: { ...exported(format, q), rows: out.rows },
      });
    } catch (err) {
      await out.body.cancel(); // its slot and snapshot go now, not when it stalls
      throw err;
    }
    return c.body(out.body, 200, { ...headers('events', q.from, q.to), 'x-export-rows': String(out.rows) });
  };

  return new Hono<Env>().get('/csv', OPS.csv, handler('csv')).get('/json', OPS.json, handler('json'));
}

/** `from`/`to`, or the seeds' `start_date`/`end_date` (one pair, not both). */
function rangeParams(c: Context, now: number) {
  const given = (names: string[]) => names.some((n) => c.req.query(n) !== undefined);
  if (!given(['start_date', 'end_date'])) return timeRange(c, now);
  if (given(['from', 'to'])) throw httpError(400, 'from: use from/to or start_date/end_date, not both', 'from');
  return timeRange(c, now, SEED_NAMES);
}

/** A time for a file name: 20250905T100000Z. */
const stamp = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');
