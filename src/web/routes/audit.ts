// The audit log: the page (/settings/audit) and GET /api/v1/audit, both filtered by person
// (email), action (a name or its area: `login`) and date range, paged, and as CSV.
// Tenant admins read their tenant's; a super admin every tenant's, or one (`tenant`).
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { auditActions, auditCsv, auditFilterSchema, searchAudit, type AuditSearch } from '../../admin/audit.js';
import { can } from '../../auth/permissions.js';
import { listUsers } from '../../auth/users.js';
import { listTenants } from '../../tenants/tenants.js';
import type { Env, Identity } from '../env.js';
import { requireIdentity, requirePermission, tenantScope } from '../access.js';
import { auditRequest } from '../audit-request.js';
import { renderPage, signedInWith } from '../dashboard-page.js';
import { firstIssue, httpError, parseWith } from '../errors.js';
import type { Renderer } from '../render.js';

const FILTERS = ['person', 'action', 'from', 'to', 'tenant'] as const;

/** The request's filters as a query string, with `changes`; empty values left out. */
function searchOf(c: Context, changes: Record<string, string | number> = {}): string {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = c.req.query(name);
    if (value) params.set(name, value);
  }
  for (const [name, value] of Object.entries(changes)) params.set(name, String(value));
  const s = params.toString();
  return s ? `?${s}` : '';
}

export function auditRoutes(ctx: AppContext, render: Renderer) {
  const scope = (c: Context<Env>, identity: Identity) => tenantScope(identity, c.req.query('tenant') || undefined);

  const csv = async (c: Context<Env>, identity: Identity, q: AuditSearch) => {
    const { body, truncated } = await auditCsv(ctx.control, q);
    await auditRequest(ctx.control, c, identity, { action: 'export.audit', detail: { format: 'csv', filters: { ...q, tenantId: undefined }, tenant: q.tenantId } });
    const stamp = ctx.now().toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
    return c.body(body, 200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="agentmeter-audit-${stamp}.csv"`,
      'cache-control': 'no-store',
      'x-truncated': String(truncated),
    });
  };

  return new Hono<Env>()
    .get('/api/v1/audit', async (c) => {
      const identity = requireIdentity(c, 'read');
      requirePermission(identity, 'user.manage');
      const q = { ...parseWith(auditFilterSchema, c.req.query()), tenantId: scope(c, identity) };
      const format = c.req.query('format');
      if (format === 'csv') return csv(c, identity, q);
      if (format !== undefined && format !== 'json') throw httpError(400, 'format: must be json or csv', 'format');
      const found = await searchAudit(ctx.control, q);
      return c.json({ entries: found.entries, page: found.page, next_page: found.more ? found.page + 1 : null });
    })

    .get('/settings/audit', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      if (identity instanceof Response) return identity;
      const tenantId = scope(c, identity);
      const parsed = auditFilterSchema.safeParse(c.req.query());
      const q = { ...(parsed.success ? parsed.data : {}), tenantId };
      const everyTenant = can(identity.user, 'tenant.manage');
      const [found, actions, tenants, people] = await Promise.all([
        parsed.success ? searchAudit(ctx.control, q) : { entries: [], page: 1, more: false },
        auditActions(ctx.control, tenantId),
        everyTenant ? listTenants(ctx.control) : [],
        listUsers(ctx.control, identity.user.tenantId),
      ]);
      const data = {
        ...found,
        query: Object.fromEntries(FILTERS.map((f) => [f, c.req.query(f) ?? ''])),
        actions,
        tenants,
        tenantNames: new Map(tenants.map((t) => [t.id, t.name])),
        people: people.map((p) => p.email),
        csvHref: `/api/v1/audit${searchOf(c, { format: 'csv' })}`,
        pageHref: (page: number) => `/settings/audit${searchOf(c, { page })}`,
        error: parsed.success ? undefined : firstIssue(parsed.error),
      };
      return renderPage(render, c, 'audit', { identity }, data, parsed.success ? 200 : 400);
    });
}
