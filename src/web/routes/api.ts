// JSON API for people and scripts: who am I, API keys, tenants and their users, audit.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit, auditCsv, auditFilterSchema, searchAudit } from '../../audit/audit.js';
import { createApiKey, listApiKeys, newApiKeySchema, revocableKey, revokeApiKey } from '../../auth/api-keys.js';
import { can, canGrantRole } from '../../auth/permissions.js';
import { createUser, DuplicateEmailError, listUsers, newUserSchema } from '../../auth/users.js';
import { stampedTenant } from '../../storage/tenant-files.js';
import { createTenant, deleteTenant, getTenant, listTenants, tenantNameSchema } from '../../tenants/tenants.js';
import type { Env } from '../env.js';
import { requireIdentity, requirePermission, requireSession, requireTenantAccess, tenantScope } from '../access.js';
import { auditRequest } from '../audit-request.js';
import { httpError, notFound, parseWith, readInput } from '../errors.js';
import { clientIp } from '../client-ip.js';
import { documented, queryOf } from '../api-doc.js';

const tenantBody = z.object({ name: tenantNameSchema });
const OPS = {
  me: documented({ summary: 'The caller, their tenant and the tenant file it reaches', auth: 'read' }),
  keys: documented({ summary: "Your API keys (a tenant admin: everyone's with ?all=1)", auth: 'read' }),
  createKey: documented({
    summary: 'Create an API key (shown once)',
    auth: 'session',
    body: newApiKeySchema,
    status: 201,
  }),
  revokeKey: documented({ summary: 'Revoke an API key', auth: 'session', status: 204 }),
  tenants: documented({ summary: 'Organisations (a super admin: every one)', auth: 'read' }),
  createTenant: documented({
    summary: 'Create an organisation',
    auth: 'session',
    who: 'super admins',
    body: tenantBody,
    status: 201,
  }),
  tenant: documented({ summary: 'An organisation', auth: 'read' }),
  deleteTenant: documented({
    summary: 'Delete an organisation and its data file',
    auth: 'session',
    who: 'super admins',
    status: 204,
  }),
  users: documented({ summary: 'The people of an organisation', auth: 'read', who: 'tenant admins and up' }),
  createUser: documented({
    summary: 'Create a person',
    auth: 'session',
    who: 'tenant admins and up',
    body: newUserSchema,
    status: 201,
  }),
  audit: documented({
    summary: 'The audit log, newest first, or every match as CSV',
    auth: 'read',
    who: 'tenant admins and up',
    query: {
      ...auditFilterSchema.shape,
      tenant: z.string().max(100).optional().meta({ description: 'one organisation (super admins)' }),
      format: z.enum(['json', 'csv']).optional(),
    },
  }),
};

export function apiRoutes(ctx: AppContext) {
  return (
    new Hono<Env>()
      .get('/me', OPS.me, async (c) => {
        const identity = requireIdentity(c, 'read');
        // Read from the tenant's own file: it proves which file this identity reaches. The two
        // reads go to two databases, so they run side by side.
        const [tenant, stamped] = await Promise.all([
          getTenant(ctx.control, identity.user.tenantId),
          ctx.tenantFiles.open(identity.user.tenantId).then(stampedTenant),
        ]);
        return c.json({
          user: identity.user,
          tenant,
          via: identity.via,
          scopes: identity.scopes,
          tenant_file: { tenant_id: stamped },
        });
      })

      .get('/api-keys', OPS.keys, async (c) => {
        const identity = requireIdentity(c, 'read');
        const everyone = c.req.query('all') === '1' && can(identity.user, 'user.manage');
        return c.json({
          api_keys: await listApiKeys(ctx.control, identity.user.tenantId, everyone ? undefined : identity.user.id),
        });
      })
      .post('/api-keys', OPS.createKey, async (c) => {
        const identity = requireSession(c);
        requirePermission(identity, 'apikey.create');
        const input = await readInput(c, OPS.createKey.operation.body);
        const key = await createApiKey(ctx.control, identity.user, input);
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: identity.user.tenantId,
          action: 'apikey.create',
          target: key.id,
          ip: clientIp(c),
          detail: { scopes: key.scopes },
        });
        return c.json(key, 201, { 'cache-control': 'no-store' }); // the only time the key is shown
      })
      .delete('/api-keys/:id', OPS.revokeKey, async (c) => {
        const identity = requireSession(c);
        const key = await revocableKey(ctx.control, identity.user, c.req.param('id'));
        if (!key) throw notFound('no such API key');
        if (!(await revokeApiKey(ctx, identity.user.tenantId, key.id, ctx.now()))) throw notFound('no such API key');
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: identity.user.tenantId,
          action: 'apikey.revoke',
          target: key.id,
          ip: clientIp(c),
        });
        return c.body(null, 204);
      })

      .get('/tenants', OPS.tenants, async (c) => {
        const identity = requireIdentity(c, 'read');
        const all = await listTenants(ctx.control);
        return c.json({
          tenants: can(identity.user, 'tenant.manage') ? all : all.filter((t) => t.id === identity.user.tenantId),
        });
      })
      .post('/tenants', OPS.createTenant, async (c) => {
        const identity = requireSession(c);
        requirePermission(identity, 'tenant.manage');
        const { name } = await readInput(c, OPS.createTenant.operation.body);
        const tenant = await createTenant(ctx, name);
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: tenant.id,
          action: 'tenant.create',
          target: tenant.id,
          ip: clientIp(c),
          detail: { name },
        });
        return c.json(tenant, 201);
      })
      .get('/tenants/:id', OPS.tenant, async (c) => {
        const identity = requireIdentity(c, 'read');
        requireTenantAccess(identity, c.req.param('id'));
        const tenant = await getTenant(ctx.control, c.req.param('id'));
        if (!tenant) throw notFound('no such tenant');
        return c.json(tenant);
      })
      .delete('/tenants/:id', OPS.deleteTenant, async (c) => {
        const identity = requireSession(c);
        requireTenantAccess(identity, c.req.param('id'));
        requirePermission(identity, 'tenant.manage');
        const id = c.req.param('id');
        if (id === identity.user.tenantId) throw httpError(409, 'you cannot delete the tenant you belong to', 'id');
        if (!(await deleteTenant(ctx, id))) throw notFound('no such tenant');
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: id,
          action: 'tenant.delete',
          target: id,
          ip: clientIp(c),
        });
        return c.body(null, 204);
      })

      .get('/tenants/:id/users', OPS.users, async (c) => {
        const identity = requireIdentity(c, 'read');
        requireTenantAccess(identity, c.req.param('id'));
        requirePermission(identity, 'user.manage');
        return c.json({ users: await listUsers(ctx.control, c.req.param('id')) });
      })
      .post('/tenants/:id/users', OPS.createUser, async (c) => {
        const identity = requireSession(c);
        const tenantId = c.req.param('id');
        requireTenantAccess(identity, tenantId);
        requirePermission(identity, 'user.manage');
        if (!(await getTenant(ctx.control, tenantId))) throw notFound('no such tenant');
        const input = await readInput(c, OPS.createUser.operation.body);
        if (!canGrantRole(identity.user, input.role))
          throw httpError(403, `your role (${identity.user.role}) may not grant ${input.role}`, 'role');
        const user = await createUser(ctx.control, tenantId, input).catch((err: unknown) => {
          throw err instanceof DuplicateEmailError ? httpError(409, `email: ${err.message}`, 'email') : err;
        });
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId,
          action: 'user.create',
          target: user.id,
          ip: clientIp(c),
          detail: { email: user.email, role: user.role },
        });
        return c.json(user, 201);
      })

      // Filters as on the audit page; a super admin reads every tenant's, or `tenant`'s.
      .get('/audit', OPS.audit, async (c) => {
        const identity = requireIdentity(c, 'read');
        requirePermission(identity, 'user.manage');
        const { tenant, format = 'json' } = queryOf(c, OPS.audit);
        const q = {
          ...parseWith(auditFilterSchema, c.req.query()),
          tenantId: tenantScope(identity, tenant || undefined),
        };
        if (format === 'json') {
          const found = await searchAudit(ctx.control, q);
          return c.json({ entries: found.entries, page: found.page, next_page: found.more ? found.page + 1 : null });
        }
        const { body, truncated } = await auditCsv(ctx.control, q);
        await auditRequest(ctx.control, c, identity, {
          action: 'export.audit',
          detail: { format, filters: { ...q, tenantId: undefined }, tenant: q.tenantId },
        });
        const stamp = ctx
          .now()
          .toISOString()
          .replace(/\.\d+Z$/, 'Z')
          .replace(/[-:]/g, '');
        const headers = {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': `attachment; filename="agentmeter-audit-${stamp}.csv"`,
          'cache-control': 'no-store',
          'x-truncated': String(truncated),
        };
        return c.body(body, 200, headers);
      })
  );
}
