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
import { documented } from '../api-doc.js';

const roleBody = z.object({ role: roleSchema });
const admins = { auth: 'session', who: 'tenant admins and up' } as const;
const OPS = {
  invites: documented({ summary: 'Pending invitations', ...admins }),
  invite: documented({
    summary: 'Invite an email with a role (the answer holds the link unless it was emailed)',
    body: inviteSchema,
    status: 201,
    ...admins,
  }),
  resend: documented({ summary: 'A new link for an invitation (the old one stops working)', ...admins }),
  revoke: documented({ summary: 'Withdraw an invitation', status: 204, ...admins }),
  role: documented({ summary: "Change a person's role", body: roleBody, ...admins }),
  disable: documented({ summary: 'Deactivate a person (sessions end, keys refused)', ...admins }),
  enable: documented({ summary: 'Reactivate a person', ...admins }),
  delete: documented({ summary: 'Delete a person (their events stay)', status: 204, ...admins }),
  resetLink: documented({ summary: 'A single-use link to set a new password', status: 201, ...admins }),
  sessions: documented({ summary: 'Your browser sessions', auth: 'session' }),
  endOthers: documented({ summary: 'Sign out your other browser sessions', auth: 'session' }),
};

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

  return (
    new Hono<Env>()
      .get('/tenants/:id/invites', OPS.invites, async (c) => {
        const { tenantId } = await admin(c);
        return c.json({ invites: await listInvites(ctx.control, tenantId, ctx.now()) });
      })
      .post('/tenants/:id/invites', OPS.invite, async (c) => {
        const { by, tenantId, tenantName } = await admin(c);
        const input = await readInput(c, OPS.invite.operation.body);
        return c.json(await invitePerson(ctx, by, tenantId, input, tenantName), 201, NO_STORE);
      })
      .post('/tenants/:id/invites/:invite/resend', OPS.resend, async (c) => {
        const { by, tenantId, tenantName } = await admin(c);
        return c.json(await resendInvite(ctx, by, tenantId, c.req.param('invite'), tenantName), 200, NO_STORE);
      })
      .delete('/tenants/:id/invites/:invite', OPS.revoke, async (c) => {
        const { by, tenantId } = await admin(c);
        await revokeInvite(ctx, by, tenantId, c.req.param('invite'));
        return c.body(null, 204);
      })

      .put('/tenants/:id/users/:user/role', OPS.role, async (c) => {
        const { by, tenantId } = await admin(c);
        const { role } = await readInput(c, OPS.role.operation.body);
        return c.json(await changeRole(ctx, by, tenantId, c.req.param('user'), role));
      })
      .post('/tenants/:id/users/:user/disable', OPS.disable, async (c) => {
        const { by, tenantId } = await admin(c);
        return c.json(await setActive(ctx, by, tenantId, c.req.param('user'), false));
      })
      .post('/tenants/:id/users/:user/enable', OPS.enable, async (c) => {
        const { by, tenantId } = await admin(c);
        return c.json(await setActive(ctx, by, tenantId, c.req.param('user'), true));
      })
      .delete('/tenants/:id/users/:user', OPS.delete, async (c) => {
        const { by, tenantId } = await admin(c);
        await deleteUser(ctx, by, tenantId, c.req.param('user'));
        return c.body(null, 204);
      })
      .post('/tenants/:id/users/:user/reset-link', OPS.resetLink, async (c) => {
        const { by, tenantId } = await admin(c);
        return c.json(await createResetLink(ctx, by, tenantId, c.req.param('user')), 201, NO_STORE);
      })

      // Anyone signed in: their own browsers.
      .get('/me/sessions', OPS.sessions, async (c) => {
        const identity = requireSession(c);
        return c.json({ sessions: await listSessions(ctx.control, identity.user.id, identity.session.id) });
      })
      .post('/me/sessions/end-others', OPS.endOthers, async (c) => {
        const identity = requireSession(c);
        return c.json({ ended: await endOtherSessions(ctx.control, identity.user, identity.session.id, clientIp(c)) });
      })
  );
}
