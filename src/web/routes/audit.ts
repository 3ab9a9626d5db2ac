// The audit log's page (/settings/audit; GET /api/v1/audit is in api.ts): filtered by person
// (email), action (a name or its area: `login`) and date range, paged, with a link to the
// CSV. Tenant admins read their tenant's; a super admin every tenant's, or one (`tenant`).
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { auditActions, auditFilterSchema, searchAudit } from '../../audit/audit.js';
import { can } from '../../auth/permissions.js';
import { listUsers } from '../../auth/users.js';
import { listTenants } from '../../tenants/tenants.js';
import type { Env } from '../env.js';
import { DEFAULT_TIME_ZONE } from '../../time/zone.js';
import { tenantScope } from '../access.js';
import { renderPage, signedInWith } from '../dashboard-page.js';
import { firstIssue } from '../errors.js';
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

export function auditPageRoutes(ctx: AppContext, render: Renderer) {
  return new Hono<Env>().get('/settings/audit', async (c) => {
    const identity = await signedInWith(ctx, c, render, 'user.manage');
    if (identity instanceof Response) return identity;
    const tenantId = tenantScope(identity, c.req.query('tenant') || undefined);
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
    // The log reads in UTC, as its date filter counts days (and the page says so).
    return renderPage(render, c, 'audit', { identity, zone: DEFAULT_TIME_ZONE }, data, parsed.success ? 200 : 400);
  });
}
