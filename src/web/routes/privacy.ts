// Privacy (GDPR): a person's download of everything stored about them, and a tenant admin's
// erasure of a person (src/privacy/). Both need a signed-in person: an API key is a machine
// credential kept in shell profiles and agent settings, and should not reach a person's
// whole history or erase anyone.
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { getUser } from '../../auth/users.js';
import { eraseDeps, erasePerson, erasureRefusal } from '../../privacy/erase.js';
import { personalExport } from '../../privacy/export.js';
import type { Env } from '../env.js';
import { requirePermission, requireSession, requireTenantAccess } from '../access.js';
import { httpError, notFound } from '../errors.js';
import { clientIp } from '../client-ip.js';
import { documented } from '../api-doc.js';

const OPS = {
  export: documented({ summary: 'Everything stored about you, as a zip', auth: 'session', answer: 'application/zip' }),
  erase: documented({
    summary: 'Erase a person: their events, figures, keys and sessions',
    auth: 'session',
    who: 'tenant admins and up',
  }),
};

export function privacyRoutes(ctx: AppContext) {
  return new Hono<Env>()
    .get('/me/export', OPS.export, async (c) => {
      // Who: any signed-in person, for themselves only.
      const identity = requireSession(c);
      const { user } = identity;
      const now = ctx.now();
      const onFailure = (err: unknown) =>
        ctx.log.warn('personal export ended early', {
          request_id: c.var.requestId,
          tenant: user.tenantId,
          error: String(err),
        });
      const body = await personalExport(
        { control: ctx.control, tenantFiles: ctx.tenantFiles, pool: ctx.exports },
        user,
        now,
        onFailure,
      );
      if (!body)
        throw httpError(
          429,
          'exports: this organisation already has exports running; try again when one has finished',
          'exports',
          { 'retry-after': '10' },
        );
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: user.id,
        tenantId: user.tenantId,
        action: 'privacy.export',
        target: user.id,
        ip: clientIp(c),
      });
      const stamp = now.toISOString().slice(0, 10);
      return c.body(body, 200, {
        'content-type': 'application/zip',
        'content-disposition': `attachment; filename="agentmeter-my-data-${stamp}.zip"`,
        'cache-control': 'no-store',
      });
    })

    .post('/tenants/:id/users/:userId/erase', OPS.erase, async (c) => {
      // Who: a signed-in tenant admin (or super admin) of the tenant; not themselves, not a role above their own.
      const identity = requireSession(c);
      const tenantId = c.req.param('id');
      requireTenantAccess(identity, tenantId);
      requirePermission(identity, 'user.manage');
      const target = await getUser(ctx.control, c.req.param('userId'));
      if (!target || target.tenantId !== tenantId) throw notFound('no such user');
      const refusal = await erasureRefusal(ctx.control, identity.user, target);
      if (refusal) throw httpError(refusal.done || refusal.conflict ? 409 : 403, refusal.message, 'userId');
      const erased = await erasePerson(eraseDeps(ctx), target, {
        actor: 'user',
        actorUserId: identity.user.id,
        ip: clientIp(c),
      });
      return c.json({ erased: { user_id: target.id, ...erased } });
    });
}
