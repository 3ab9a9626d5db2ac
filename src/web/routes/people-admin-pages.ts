// The people page (Settings → People and roles), for those who may manage people: the
// tenant's people with their role and access, invitations, deleting, reset links. Each
// handler checks `user.manage` first, calls one domain function and renders the page again;
// the rules (own tenant, own role or below, not yourself, not the last admin) are the domain's.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import {
  invitePerson,
  inviteSchema,
  listInvites,
  resendInvite,
  revokeInvite,
  type Delivery,
} from '../../auth/invites.js';
import {
  changeRole,
  createResetLink,
  deleteUser,
  PeopleError,
  setActive,
  type ByWhom,
  type ResetLink,
} from '../../auth/people.js';
import { can, canGrantRole, ROLES, roleSchema } from '../../auth/permissions.js';
import { createUser, DuplicateEmailError, getUser, lastLogins, listUsers, newUserSchema } from '../../auth/users.js';
import { mfaUsers } from '../../auth/mfa.js';
import { eraseDeps, erasePerson, erasureRefusal } from '../../privacy/erase.js';
import { getTenant } from '../../tenants/tenants.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import { renderPage, signedIn, type SessionIdentity } from '../dashboard-page.js';
import type { Renderer } from '../render.js';
import { clientIp } from '../client-ip.js';

type Shown = { error?: { message: string; field?: string }; done?: string; delivery?: Delivery; reset?: ResetLink };

export function peopleAdminPageRoutes(ctx: AppContext, render: Renderer) {
  const people = async (
    c: Context<Env>,
    identity: SessionIdentity,
    shown: Shown = {},
    status: 200 | 400 | 404 = 200,
  ) => {
    const tenantId = identity.user.tenantId;
    const [users, logins, invites, mfaOn] = await Promise.all([
      listUsers(ctx.control, tenantId),
      lastLogins(ctx.control, tenantId),
      listInvites(ctx.control, tenantId, ctx.now()),
      mfaUsers(ctx.control, tenantId),
    ]);
    const grantable = ROLES.filter((r) => canGrantRole(identity.user, r));
    // A link shown here is shown once: the page that holds it is never cached.
    return renderPage(
      render,
      c,
      'users',
      { identity },
      { users, logins, grantable, invites, mfaOn, emailConfigured: ctx.mailer !== null, ...shown },
      status,
    );
  };

  /** The signed-in person if they may manage people, else the page saying why not. */
  const admin = async (c: Context<Env>) => {
    const identity = await signedIn(ctx, c);
    if (identity instanceof Response) return identity;
    if (!can(identity.user, 'user.manage'))
      return renderPage(
        render,
        c,
        'error',
        { identity },
        { status: 403, message: `Your role (${identity.user.role}) cannot manage people.` },
        403,
      );
    return identity;
  };

  const by = (c: Context<Env>, identity: SessionIdentity): ByWhom => ({
    actor: 'user',
    user: identity.user,
    ip: clientIp(c),
  });
  const tenantName = async (identity: SessionIdentity) =>
    (await getTenant(ctx.control, identity.user.tenantId))?.name ?? 'your organisation';

  /** Runs a people action and shows the page with what it did, or with why it was refused. */
  const act = async (c: Context<Env>, identity: SessionIdentity, action: () => Promise<Shown>) => {
    try {
      return await people(c, identity, await action());
    } catch (err) {
      if (!(err instanceof PeopleError)) throw err;
      return people(
        c,
        identity,
        { error: { message: err.message, field: err.field } },
        err.kind === 'not_found' ? 404 : 400,
      );
    }
  };

  return new Hono<Env>()
    .get('/settings/users', async (c) => {
      const identity = await admin(c);
      return identity instanceof Response ? identity : people(c, identity);
    })
    .post('/settings/users', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const form = await c.req.parseBody();
      const parsed = newUserSchema.safeParse({ ...form, name: form.name || undefined });
      if (!parsed.success) return people(c, identity, { error: firstIssue(parsed.error) }, 400);
      if (!canGrantRole(identity.user, parsed.data.role))
        return people(
          c,
          identity,
          { error: { message: `role: your role may not grant ${parsed.data.role}`, field: 'role' } },
          400,
        );
      try {
        const user = await createUser(ctx.control, identity.user.tenantId, parsed.data);
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: identity.user.tenantId,
          action: 'user.create',
          target: user.id,
          ip: clientIp(c),
          detail: { email: user.email, role: user.role },
        });
        return people(c, identity, { done: `${user.email} can now sign in as ${user.role.replace('_', ' ')}.` });
      } catch (err) {
        if (err instanceof DuplicateEmailError)
          return people(c, identity, { error: { message: `email: ${err.message}`, field: 'email' } }, 400);
        throw err;
      }
    })
    .post('/settings/users/:id/role', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const role = roleSchema.safeParse((await c.req.parseBody()).role);
      if (!role.success) return people(c, identity, { error: { message: 'role: not a role', field: 'role' } }, 400);
      return act(c, identity, async () => {
        const user = await changeRole(ctx, by(c, identity), identity.user.tenantId, c.req.param('id'), role.data);
        return { done: `${user.email} is now ${role.data.replace('_', ' ')}.` };
      });
    })
    .post('/settings/users/:id/access', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const disable = (await c.req.parseBody()).disabled === 'true';
      return act(c, identity, async () => {
        const user = await setActive(ctx, by(c, identity), identity.user.tenantId, c.req.param('id'), !disable);
        return {
          done: `${user.email} ${disable ? 'is deactivated: signed out everywhere, and can no longer sign in or send data' : 'is active again and can sign in'}.`,
        };
      });
    })
    .post('/settings/users/:id/delete', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      return act(c, identity, async () => {
        const user = await deleteUser(ctx, by(c, identity), identity.user.tenantId, c.req.param('id'));
        return { done: `${user.email}'s account is deleted and their keys revoked; their events stay in the figures.` };
      });
    })
    .post('/settings/users/:id/reset-link', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      return act(c, identity, async () => ({
        reset: await createResetLink(ctx, by(c, identity), identity.user.tenantId, c.req.param('id')),
      }));
    })

    .post('/settings/invites', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const parsed = inviteSchema.safeParse(await c.req.parseBody());
      if (!parsed.success) return people(c, identity, { error: firstIssue(parsed.error) }, 400);
      return act(c, identity, async () => ({
        delivery: await invitePerson(
          ctx,
          by(c, identity),
          identity.user.tenantId,
          parsed.data,
          await tenantName(identity),
        ),
      }));
    })
    .post('/settings/invites/:id/resend', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      return act(c, identity, async () => ({
        delivery: await resendInvite(
          ctx,
          by(c, identity),
          identity.user.tenantId,
          c.req.param('id'),
          await tenantName(identity),
        ),
      }));
    })
    .post('/settings/invites/:id/revoke', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      return act(c, identity, async () => {
        await revokeInvite(ctx, by(c, identity), identity.user.tenantId, c.req.param('id'));
        return { done: 'The invitation is withdrawn; its link no longer works.' };
      });
    })
    .post('/settings/users/:id/erase', async (c) => {
      // Who: a tenant admin, for a person of their tenant (not themselves, not a role above their own), confirmed by typing the email.
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const target = await getUser(ctx.control, c.req.param('id'));
      if (!target || target.tenantId !== identity.user.tenantId)
        return people(c, identity, { error: { message: 'There is no such person in your organisation.' } }, 404);
      const refusal = await erasureRefusal(ctx.control, identity.user, target);
      if (refusal) return people(c, identity, { error: { message: refusal.message } }, 400);
      const confirm = String((await c.req.parseBody()).confirm ?? '')
        .trim()
        .toLowerCase();
      if (confirm !== target.email)
        return people(
          c,
          identity,
          { error: { message: `confirm: type ${target.email} to erase this person`, field: 'confirm' } },
          400,
        );
      const erased = await erasePerson(eraseDeps(ctx), target, {
        actor: 'user',
        actorUserId: identity.user.id,
        ip: clientIp(c),
      });
      return people(c, identity, {
        done: `${target.email} is erased: ${erased.events} events, ${erased.sessions} sessions and ${erased.api_keys} API keys are gone.`,
      });
    });
}
