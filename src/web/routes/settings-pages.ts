// Settings pages: your account (name, password) and, for tenant admins, the tenant's people
// and their roles. API keys live in pages.ts. Every change is audited.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit } from '../../admin/audit.js';
import { verifyPassword } from '../../auth/passwords.js';
import { mfaUsers } from '../../auth/mfa.js';
import { can, canGrantRole, ROLES, roleSchema } from '../../auth/permissions.js';
import { passwordSchema, strongPassword } from '../../auth/password-policy.js';
import { createUser, DuplicateEmailError, getUser, lastLogins, listUsers, newUserSchema, passwordHashOf, profileSchema, setDisabled, setPassword, setRole, updateName } from '../../auth/users.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import { renderPage, signedIn, type SessionIdentity } from '../dashboard-page.js';
import type { Renderer } from '../render.js';
import { clientIp } from '../client-ip.js';
import { setSessionCookie } from '../session-cookie.js';
import { eraseDeps, erasePerson, erasureRefusal } from '../../privacy/erase.js';

type Message = { message: string; field?: string } | undefined;

/** A new password for the person with `email`. */
const passwordChangeSchema = (email: string) =>
  z
    .object({ current: z.string().max(512), password: passwordSchema, password_confirm: z.string().max(512) })
    .refine((f) => f.password === f.password_confirm, { path: ['password_confirm'], message: 'the two passwords differ' })
    .superRefine((f, check) => strongPassword({ ...f, email }, check));

export function settingsPageRoutes(ctx: AppContext, render: Renderer) {
  const account = (c: Context<Env>, identity: SessionIdentity, extra: { error?: Message } = {}, status: 200 | 400 | 403 = 200) =>
    renderPage(render, c, 'settings', { identity }, { saved: c.req.query('saved'), ...extra }, status);

  const people = async (c: Context<Env>, identity: SessionIdentity, extra: { error?: Message; done?: string } = {}, status: 200 | 400 | 403 = 200) => {
    const tenantId = identity.user.tenantId;
    const [users, logins, mfaOn] = await Promise.all([listUsers(ctx.control, tenantId), lastLogins(ctx.control, tenantId), mfaUsers(ctx.control, tenantId)]);
    const grantable = ROLES.filter((r) => canGrantRole(identity.user, r));
    return renderPage(render, c, 'users', { identity }, { users, logins, grantable, mfaOn, ...extra }, status);
  };

  /** A person of the admin's own tenant whose role the admin may change. */
  const manageable = async (identity: SessionIdentity, id: string) => {
    const target = await getUser(ctx.control, id);
    if (!target || target.tenantId !== identity.user.tenantId) return { error: 'There is no such person in your organisation.' };
    if (target.id === identity.user.id) return { error: 'You cannot change your own role or access; ask another admin.' };
    if (!canGrantRole(identity.user, target.role)) return { error: `Your role (${identity.user.role}) cannot change a ${target.role.replace('_', ' ')}.` };
    return { target };
  };

  const admin = async (c: Context<Env>) => {
    const identity = await signedIn(ctx, c);
    if (identity instanceof Response) return identity;
    if (!can(identity.user, 'user.manage')) return account(c, identity, { error: { message: `Your role (${identity.user.role}) cannot manage people.` } }, 403);
    return identity;
  };

  return new Hono<Env>()
    .get('/settings', async (c) => {
      const identity = await signedIn(ctx, c);
      return identity instanceof Response ? identity : account(c, identity);
    })
    .post('/settings/account', async (c) => {
      const identity = await signedIn(ctx, c);
      if (identity instanceof Response) return identity;
      const parsed = profileSchema.safeParse(await c.req.parseBody());
      if (!parsed.success) return account(c, identity, { error: firstIssue(parsed.error) }, 400);
      await updateName(ctx.control, identity.user.id, parsed.data.name);
      await audit(ctx.control, { actor: 'user', actorUserId: identity.user.id, tenantId: identity.user.tenantId, action: 'user.update', target: identity.user.id, ip: clientIp(c) });
      return c.redirect('/settings?saved=name', 303);
    })
    .post('/settings/password', async (c) => {
      const identity = await signedIn(ctx, c);
      if (identity instanceof Response) return identity;
      const parsed = passwordChangeSchema(identity.user.email).safeParse(await c.req.parseBody());
      if (!parsed.success) return account(c, identity, { error: firstIssue(parsed.error) }, 400);
      const hash = await passwordHashOf(ctx.control, identity.user.id);
      if (!hash || !(await verifyPassword(hash, parsed.data.current))) return account(c, identity, { error: { message: 'current: that is not your current password', field: 'current' } }, 400);
      await setPassword(ctx.control, identity.user.id, parsed.data.password);
      // Every session ended with the old password; this browser gets a new one.
      setSessionCookie(ctx.auth, c, (await ctx.auth.createSession(identity.user.id, {})).id);
      await audit(ctx.control, { actor: 'user', actorUserId: identity.user.id, tenantId: identity.user.tenantId, action: 'user.password', target: identity.user.id, ip: clientIp(c) });
      return c.redirect('/settings?saved=password', 303);
    })

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
      if (!canGrantRole(identity.user, parsed.data.role)) return people(c, identity, { error: { message: `role: your role may not grant ${parsed.data.role}`, field: 'role' } }, 400);
      try {
        const user = await createUser(ctx.control, identity.user.tenantId, parsed.data);
        await audit(ctx.control, { actor: 'user', actorUserId: identity.user.id, tenantId: identity.user.tenantId, action: 'user.create', target: user.id, ip: clientIp(c), detail: { email: user.email, role: user.role } });
        return people(c, identity, { done: `${user.email} can now sign in as ${user.role.replace('_', ' ')}.` });
      } catch (err) {
        if (err instanceof DuplicateEmailError) return people(c, identity, { error: { message: `email: ${err.message}`, field: 'email' } }, 400);
        throw err;
      }
    })
    .post('/settings/users/:id/role', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const role = roleSchema.safeParse((await c.req.parseBody()).role);
      if (!role.success || !canGrantRole(identity.user, role.data)) return people(c, identity, { error: { message: 'role: not a role you may grant', field: 'role' } }, 400);
      const { target, error } = await manageable(identity, c.req.param('id'));
      if (!target) return people(c, identity, { error: { message: error! } }, 400);
      await setRole(ctx.control, target.id, role.data);
      ctx.keys.invalidate();
      await audit(ctx.control, { actor: 'user', actorUserId: identity.user.id, tenantId: identity.user.tenantId, action: 'user.role', target: target.id, ip: clientIp(c), detail: { from: target.role, to: role.data } });
      return people(c, identity, { done: `${target.email} is now ${role.data.replace('_', ' ')}.` });
    })
    .post('/settings/users/:id/access', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const disable = (await c.req.parseBody()).disabled === 'true';
      const { target, error } = await manageable(identity, c.req.param('id'));
      if (!target) return people(c, identity, { error: { message: error! } }, 400);
      await setDisabled(ctx.control, target.id, disable);
      ctx.keys.invalidate();
      await audit(ctx.control, { actor: 'user', actorUserId: identity.user.id, tenantId: identity.user.tenantId, action: disable ? 'user.disable' : 'user.enable', target: target.id, ip: clientIp(c) });
      return people(c, identity, { done: `${target.email} ${disable ? 'can no longer sign in or send data' : 'can sign in again'}.` });
    })
    .post('/settings/users/:id/erase', async (c) => {
      // Who: a tenant admin, for a person of their tenant (not themselves, not a role above their own), confirmed by typing the email.
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const { target, error } = await manageable(identity, c.req.param('id'));
      if (!target) return people(c, identity, { error: { message: error! } }, 400);
      const refusal = erasureRefusal(identity.user, target);
      if (refusal) return people(c, identity, { error: { message: refusal.message } }, 400);
      const confirm = String((await c.req.parseBody()).confirm ?? '').trim().toLowerCase();
      if (confirm !== target.email) return people(c, identity, { error: { message: `confirm: type ${target.email} to erase this person`, field: 'confirm' } }, 400);
      const erased = await erasePerson(eraseDeps(ctx), target, { actor: 'user', actorUserId: identity.user.id, ip: clientIp(c) });
      return people(c, identity, { done: `${target.email} is erased: ${erased.events} events, ${erased.sessions} sessions and ${erased.api_keys} API keys are gone.` });
    });
}
