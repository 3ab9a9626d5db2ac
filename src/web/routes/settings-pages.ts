// Settings pages: your account (name, password, your signed-in browsers). API keys live in
// pages.ts, the people page in people-admin-pages.ts. Every change is audited.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { verifyPassword } from '../../auth/passwords.js';
import { passwordSchema, strongPassword } from '../../auth/password-policy.js';
import { endOtherSessions, listSessions } from '../../auth/sessions.js';
import { passwordHashOf, profileSchema, setPassword, updateName } from '../../auth/users.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import { renderPage, signedIn, type SessionIdentity } from '../dashboard-page.js';
import type { Renderer } from '../render.js';
import { clientIp } from '../client-ip.js';
import { setSessionCookie } from '../session-cookie.js';
import { personalDigest, setPersonalDigest } from '../../alerts/digest.js';
import { can } from '../../auth/permissions.js';

type Message = { message: string; field?: string } | undefined;

/** A new password for the person with `email`. */
const passwordChangeSchema = (email: string) =>
  z
    .object({ current: z.string().max(512), password: passwordSchema, password_confirm: z.string().max(512) })
    .refine((f) => f.password === f.password_confirm, {
      path: ['password_confirm'],
      message: 'the two passwords differ',
    })
    .superRefine((f, check) => strongPassword({ ...f, email }, check));

export function settingsPageRoutes(ctx: AppContext, render: Renderer) {
  const account = async (
    c: Context<Env>,
    identity: SessionIdentity,
    extra: { error?: Message } = {},
    status: 200 | 400 | 403 = 200,
  ) => {
    const sessions = await listSessions(ctx.control, identity.user.id, identity.session.id);
    // Shown to whoever may turn it on, and to whoever has it on (to turn it off).
    const on = await personalDigest(await ctx.tenantFiles.open(identity.user.tenantId), identity.user.id);
    const digest = on || can(identity.user, 'metrics.view_own') ? on : null;
    return renderPage(
      render,
      c,
      'settings',
      { identity },
      { saved: c.req.query('saved'), sessions, digest, ...extra },
      status,
    );
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
      await updateName(ctx, identity.user.id, parsed.data.name);
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: identity.user.id,
        tenantId: identity.user.tenantId,
        action: 'user.update',
        target: identity.user.id,
        ip: clientIp(c),
      });
      return c.redirect('/settings?saved=name', 303);
    })
    .post('/settings/digest', async (c) => {
      // Who: anyone who sees their own figures, for their own weekly digest (by email, to their
      // address); anyone may turn theirs off (a role changed since it was turned on).
      const identity = await signedIn(ctx, c);
      if (identity instanceof Response) return identity;
      const on = (await c.req.parseBody()).weekly === 'on';
      if (on && !can(identity.user, 'metrics.view_own'))
        return account(
          c,
          identity,
          { error: { message: `Your role (${identity.user.role}) has no figures of its own to send.` } },
          403,
        );
      await setPersonalDigest(
        await ctx.tenantFiles.open(identity.user.tenantId),
        identity.user.id,
        on ? identity.user.email : null,
      );
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: identity.user.id,
        tenantId: identity.user.tenantId,
        action: 'digest.personal',
        target: identity.user.id,
        ip: clientIp(c),
        detail: { on },
      });
      return c.redirect('/settings?saved=digest', 303);
    })
    .post('/settings/password', async (c) => {
      const identity = await signedIn(ctx, c);
      if (identity instanceof Response) return identity;
      const parsed = passwordChangeSchema(identity.user.email).safeParse(await c.req.parseBody());
      if (!parsed.success) return account(c, identity, { error: firstIssue(parsed.error) }, 400);
      const hash = await passwordHashOf(ctx.control, identity.user.id);
      if (!hash || !(await verifyPassword(hash, parsed.data.current)))
        return account(
          c,
          identity,
          { error: { message: 'current: that is not your current password', field: 'current' } },
          400,
        );
      await setPassword(ctx.control, identity.user.id, parsed.data.password, ctx.now());
      // Every session ended with the old password; this browser gets a new one.
      setSessionCookie(ctx.auth, c, (await ctx.auth.createSession(identity.user.id, {})).id);
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: identity.user.id,
        tenantId: identity.user.tenantId,
        action: 'user.password',
        target: identity.user.id,
        ip: clientIp(c),
      });
      return c.redirect('/settings?saved=password', 303);
    })
    .post('/settings/sessions/end-others', async (c) => {
      const identity = await signedIn(ctx, c);
      if (identity instanceof Response) return identity;
      await endOtherSessions(ctx.control, identity.user, identity.session.id, clientIp(c));
      return c.redirect('/settings?saved=sessions', 303);
    });
}
