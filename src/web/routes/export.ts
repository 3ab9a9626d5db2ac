// Exports (/api/metrics/export/csv and /json): the caller's tenant's raw events, streamed,
// or with `metric=` the query model's rows. Needs `reports.export` on top of `read`;
// filters and times as on the other query endpoints (or the seeds' start_date/end_date).
// `format=ndjson` on /json for one object per line; `escape_formulas=false` on /csv for
// the exact data (see src/query/export.ts).
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { createExportPool, exportEvents, formatRows, type ExportFormat } from '../../query/export.js';
import { MAX_ROWS, type QueryInput } from '../../query/model.js';
import { namePeople, tenantPeople } from '../../query/people.js';
import { runQuery } from '../../query/run.js';
import type { Env } from '../env.js';
import { auditRequest, exported } from '../audit-request.js';
import { requirePermission, scopeFilters } from '../access.js';
import { httpError } from '../errors.js';
import { filtersFrom, listParam, timeRange, toQuery } from '../query-params.js';
import { reader } from './query.js';

const ALIASES = { user_id: 'user', command_name: 'command', tool_name: 'tool' } as const;
const SEED_NAMES = { from: 'start_date', to: 'end_date' };
const CONTENT_TYPE: Record<ExportFormat, string> = { csv: 'text/csv; charset=utf-8', json: 'application/json; charset=utf-8', ndjson: 'application/x-ndjson; charset=utf-8' };

export function exportRoutes(ctx: AppContext) {
  const pool = createExportPool(ctx.tenantFiles);

  const handler = (endpoint: 'csv' | 'json') => async (c: Context<Env>) => {
    const { identity, tenantId, view } = reader(c);
    requirePermission(identity, 'reports.export');
    const format = formatParam(c, endpoint);
    const escapeFormulas = booleanParam(c, 'escape_formulas', true);
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
      const q = toQuery({ metrics, group_by: groupBy as QueryInput['group_by'], filters, ...range, interval, limit: MAX_ROWS }, { metrics: 'metric' });
      const result = await runQuery(ctx.tenantFiles, tenantId, q, { now: ctx.now().getTime() });
      // An export is whole or refused, never silently cut short.
      if (result.truncated) throw httpError(400, `group_by: more than ${MAX_ROWS} rows; narrow the range or the grouping, or choose a larger interval`, 'group_by');
      const named = namePeople(result.rows, [...(q.interval ? ['t'] : []), ...q.group_by, ...q.metrics], await tenantPeople(ctx.control, tenantId));
      await auditRequest(ctx.control, c, identity, { action: 'export.metrics', detail: exported(format, q) });
      return c.body(formatRows(named.rows, named.columns, format, escapeFormulas), 200, headers('metrics', q.from, q.to));
    }

    if (groupBy.length || c.req.query('interval') !== undefined) throw httpError(400, 'metric: is required with interval or group_by', 'metric');
    // Raw events name people and sessions.
    if (!view.individuals) throw httpError(403, 'your role sees team figures only');
    const q = toQuery({ metrics: ['events'], filters: scopeFilters(view, filtersFrom(c, ALIASES)), ...range });
    // Hono answers HEAD with the GET handler and drops the body unread: no export for it.
    if (c.req.method === 'HEAD') return c.body(null, 200, headers('events', q.from, q.to));
    const requestId = c.var.requestId;
    const onFailure = (err: unknown) => ctx.log.warn('export ended early', { request_id: requestId, tenant: tenantId, error: String(err) });
    const people = await tenantPeople(ctx.control, tenantId);
    const out = await exportEvents(pool, tenantId, { from: q.from, to: q.to, filters: q.filters, format, escapeFormulas, people }, onFailure);
    if (!out) throw httpError(429, 'exports: this organisation already has exports running; try again when one has finished', 'exports', { 'retry-after': '10' });
    await auditRequest(ctx.control, c, identity, { action: 'export.events', detail: { ...exported(format, q), rows: out.rows } });
    return c.body(out.body, 200, { ...headers('events', q.from, q.to), 'x-export-rows': String(out.rows) });
  };

  return new Hono<Env>().get('/csv', handler('csv')).get('/json', handler('json'));
}

/** `from`/`to`, or the seeds' `start_date`/`end_date` (one pair, not both). */
function rangeParams(c: Context, now: number) {
  const given = (names: string[]) => names.some((n) => c.req.query(n) !== undefined);
  if (!given(['start_date', 'end_date'])) return timeRange(c, now);
  if (given(['from', 'to'])) throw httpError(400, 'from: use from/to or start_date/end_date, not both', 'from');
  return timeRange(c, now, SEED_NAMES);
}

function formatParam(c: Context, endpoint: 'csv' | 'json'): ExportFormat {
  const raw = c.req.query('format') ?? endpoint;
  const allowed: ExportFormat[] = endpoint === 'csv' ? ['csv'] : ['json', 'ndjson'];
  if (!allowed.includes(raw as ExportFormat)) throw httpError(400, `format: must be ${allowed.join(' or ')} here`, 'format');
  return raw as ExportFormat;
}

function booleanParam(c: Context, name: string, fallback: boolean): boolean {
  const raw = c.req.query(name);
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw httpError(400, `${name}: must be true or false`, name);
}

/** A time for a file name: 20250905T100000Z. */
const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
