// First-run setup, sign in and sign out (HTML forms).
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { AlreadySetUpError, firstRunSetup, needsSetup } from '../../admin/setup.js';
import { passwordLogin, startSession } from '../../auth/login.js';
import { passwordSchema, strongPassword } from '../../auth/password-policy.js';
import { emailSchema } from '../../auth/users.js';
import { tenantNameSchema } from '../../tenants/tenants.js';
import { clientIp } from '../client-ip.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import type { Renderer } from '../render.js';
import { safeNext } from '../safe-next.js';
import { setSessionCookie } from '../session-cookie.js';
import { setPendingLoginCookie } from '../pending-login-cookie.js';
import { loginChoices } from '../../auth/sso/tenant-sso.js';

const setupSchema = z
  .object({
    organisation: tenantNameSchema,
    name: z.string().trim().max(200).optional(),
    email: emailSchema,
    password: passwordSchema,
    password_confirm: z.string(),
  })
  .refine((v) => v.password === v.password_confirm, { message: 'passwords do not match', path: ['password_confirm'] })
  .superRefine(strongPassword);

const loginSchema = z.object({
  email: z.string().max(254),
  password: z.string().max(512),
  next: z.string().optional(),
});

const DEACTIVATED = 'This account is deactivated. Ask an admin of your organisation to reactivate it.';

export function authRoutes(ctx: AppContext, render: Renderer) {
  const signedIn = (c: Context<Env>, sessionId: string, next: string) => {
    setSessionCookie(ctx.auth, c, sessionId);
    return c.redirect(next, 303);
  };

  return new Hono<Env>()
    .get('/setup', async (c) =>
      (await needsSetup(ctx)) ? render(c, 'setup', { values: {} }) : c.redirect('/login', 303),
    )
    .post('/setup', async (c) => {
      if (!(await needsSetup(ctx))) return c.redirect('/login', 303);
      const form = await c.req.parseBody();
      const parsed = setupSchema.safeParse(form);
      if (!parsed.success) return render(c, 'setup', { values: form, error: firstIssue(parsed.error) }, 400);
      try {
        const { user } = await firstRunSetup(ctx, parsed.data, { ip: clientIp(c) });
        return signedIn(c, (await startSession(ctx, user, clientIp(c))).id, '/');
      } catch (err) {
        if (err instanceof AlreadySetUpError) return c.redirect('/login', 303);
        throw err;
      }
    })
    .get('/login', async (c) => {
      if (await needsSetup(ctx)) return c.redirect('/setup', 303);
      if (c.var.identity?.via === 'session') return c.redirect(safeNext(c.req.query('next')), 303);
      return render(c, 'login', {
        values: { next: safeNext(c.req.query('next')) },
        ...(await loginChoices(ctx.control)),
      });
    })
    .post('/login', async (c) => {
      const form = loginSchema.safeParse(await c.req.parseBody());
      if (!form.success) return render(c, 'login', { values: {}, error: firstIssue(form.error) }, 400);
      const { email, password } = form.data;
      const next = safeNext(form.data.next);
      const result = await passwordLogin(ctx, { email, password, ip: clientIp(c) });
      if (result.outcome === 'throttled') {
        c.header('retry-after', String(Math.ceil(result.retryAfterMs / 1000)));
        const message = `Too many failed attempts. Try again in ${Math.ceil(result.retryAfterMs / 60_000)} min.`;
        return render(c, 'login', { values: { email, next }, error: { message } }, 429);
      }
      // The same words whether or not the email exists.
      if (result.outcome === 'wrong')
        return render(
          c,
          'login',
          { values: { email, next }, error: { message: 'Email or password is incorrect.' } },
          401,
        );
      if (result.outcome === 'second-factor') {
        // No session yet: the second step (routes/mfa.ts) starts it.
        setPendingLoginCookie(c, result.token, ctx.publicUrl.protocol === 'https:');
        return c.redirect(`/login/mfa?next=${encodeURIComponent(next)}`, 303);
      }
      if (result.outcome === 'deactivated')
        return render(c, 'login', { values: { email, next }, error: { message: DEACTIVATED } }, 403);
      if (result.outcome === 'sso-required') {
        const message =
          'Your organisation signs in through its identity provider: use "Continue with single sign-on" or its button.';
        return render(
          c,
          'login',
          { values: { email, next }, ...(await loginChoices(ctx.control)), ssoForm: true, error: { message } },
          403,
        );
      }
      return signedIn(c, result.session.id, next);
    })
    .post('/logout', async (c) => {
      const identity = c.var.identity;
      if (identity?.via === 'session') {
        await ctx.auth.invalidateSession(identity.session.id);
        await audit(ctx.control, {
          actor: 'user',
          action: 'logout',
          tenantId: identity.user.tenantId,
          actorUserId: identity.user.id,
          ip: clientIp(c),
        });
      }
      c.header('set-cookie', ctx.auth.createBlankSessionCookie().serialize(), { append: true });
      return c.redirect('/login', 303);
    });
}
