// JSON API for managing a tenant's people (signed-in `user.manage` only: API keys cannot manage
// people): invitations, role, deactivate/reactivate, delete, reset links; and one's own
// browser sessions. The rules are the domain's (src/auth/people.ts); a refusal becomes
// 404 (another tenant's person), 403 (above your role, or yourself) or 409 (the last admin).
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { invitePerson, inviteSchema, listInvites, resendInvite, revokeInvite } from '../../auth/invites.js';
import { changeRole, createResetLink, deleteUser, setActive, type ByWhom } from '../../auth/people.js';
import { roleSchema } from '../../auth/permissions.js';
import { endOtherSessions, listSessions } from '../../auth/sessions.js';
import { getTenant } from '../../tenants/tenants.js';
import type { Env } from '../env.js';
import { requirePermission, requireSession, requireTenantAccess } from '../access.js';
import { notFound, readInput } from '../errors.js';
import { clientIp } from '../client-ip.js';

const NO_STORE = { 'cache-control': 'no-store' }; // answers that hold a link show it once

export function peopleApiRoutes(ctx: AppContext) {
  /** A tenant admin (or super admin) signed in, acting on tenant `:id`, which they may reach. */
  const admin = async (c: Context<Env>): Promise<{ by: ByWhom; tenantId: string; tenantName: string }> => {
    const identity = requireSession(c);
    const tenantId = c.req.param('id')!;
    requireTenantAccess(identity, tenantId);
    requirePermission(identity, 'user.manage');
    const tenant = await getTenant(ctx.control, tenantId);
    if (!tenant) throw notFound('no such tenant');
    return { by: { actor: 'user', user: identity.user, ip: clientIp(c) }, tenantId, tenantName: tenant.name };
  };

  return new Hono<Env>()
    .get('/tenants/:id/invites', async (c) => {
      const { tenantId } = await admin(c);
      return c.json({ invites: await listInvites(ctx.control, tenantId, ctx.now()) });
    })
    .post('/tenants/:id/invites', async (c) => {
      const { by, tenantId, tenantName } = await admin(c);
      const input = await readInput(c, inviteSchema);
      return c.json(await invitePerson(ctx, by, tenantId, input, tenantName), 201, NO_STORE);
    })
    .post('/tenants/:id/invites/:invite/resend', async (c) => {
      const { by, tenantId, tenantName } = await admin(c);
      return c.json(await resendInvite(ctx, by, tenantId, c.req.param('invite'), tenantName), 200, NO_STORE);
    })
    .delete('/tenants/:id/invites/:invite', async (c) => {
      const { by, tenantId } = await admin(c);
      await revokeInvite(ctx, by, tenantId, c.req.param('invite'));
      return c.body(null, 204);
    })

    .put('/tenants/:id/users/:user/role', async (c) => {
      const { by, tenantId } = await admin(c);
      const { role } = await readInput(c, z.object({ role: roleSchema }));
      return c.json(await changeRole(ctx, by, tenantId, c.req.param('user'), role));
    })
    .post('/tenants/:id/users/:user/disable', async (c) => {
      const { by, tenantId } = await admin(c);
      return c.json(await setActive(ctx, by, tenantId, c.req.param('user'), false));
    })
    .post('/tenants/:id/users/:user/enable', async (c) => {
      const { by, tenantId } = await admin(c);
      return c.json(await setActive(ctx, by, tenantId, c.req.param('user'), true));
    })
    .delete('/tenants/:id/users/:user', async (c) => {
      const { by, tenantId } = await admin(c);
      await deleteUser(ctx, by, tenantId, c.req.param('user'));
      return c.body(null, 204);
    })
    .post('/tenants/:id/users/:user/reset-link', async (c) => {
      const { by, tenantId } = await admin(c);
      return c.json(await createResetLink(ctx, by, tenantId, c.req.param('user')), 201, NO_STORE);
    })

    // Anyone signed in: their own browsers.
    .get('/me/sessions', async (c) => {
      const identity = requireSession(c);
      return c.json({ sessions: await listSessions(ctx.control, identity.user.id, identity.session.id) });
    })
    .post('/me/sessions/end-others', async (c) => {
      const identity = requireSession(c);
      return c.json({ ended: await endOtherSessions(ctx.control, identity.user, identity.session.id, clientIp(c)) });
    });
}
