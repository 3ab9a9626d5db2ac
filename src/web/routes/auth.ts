// First-run setup, sign in and sign out (HTML forms).
import { Hono, type Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit } from '../../admin/audit.js';
import { AlreadySetUpError, firstRunSetup, needsSetup } from '../../admin/setup.js';
import { verifyAgainstDecoy, verifyPassword } from '../../auth/passwords.js';
import { emailSchema, findLoginByEmail, passwordSchema, recordLogin } from '../../auth/users.js';
import { tenantNameSchema } from '../../tenants/tenants.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import type { Renderer } from '../render.js';

const setupSchema = z
  .object({
    organisation: tenantNameSchema,
    name: z.string().trim().max(200).optional(),
    email: emailSchema,
    password: passwordSchema,
    password_confirm: z.string(),
  })
  .refine((v) => v.password === v.password_confirm, { message: 'passwords do not match', path: ['password_confirm'] });

const loginSchema = z.object({ email: z.string().max(254), password: z.string().max(512), next: z.string().optional() });

export const clientIp = (c: Context) => {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
};

/** Only paths on this site: never `//evil.example` or an absolute URL. */
export const safeNext = (next: unknown) => (typeof next === 'string' && /^\/(?![/\\])/.test(next) ? next : '/');

export function authRoutes(ctx: AppContext, render: Renderer) {
  const signIn = async (c: Context<Env>, userId: string, next: string) => {
    const session = await ctx.auth.createSession(userId, {});
    c.header('set-cookie', ctx.auth.createSessionCookie(session.id).serialize(), { append: true });
    return c.redirect(next, 303);
  };

  return new Hono<Env>()
    .get('/setup', async (c) => ((await needsSetup(ctx)) ? render(c, 'setup', { values: {} }) : c.redirect('/login', 303)))
    .post('/setup', async (c) => {
      if (!(await needsSetup(ctx))) return c.redirect('/login', 303);
      const form = await c.req.parseBody();
      const parsed = setupSchema.safeParse(form);
      if (!parsed.success) return render(c, 'setup', { values: form, error: firstIssue(parsed.error) }, 400);
      try {
        const { user } = await firstRunSetup(ctx, parsed.data, { ip: clientIp(c) });
        return await signIn(c, user.id, '/');
      } catch (err) {
        if (err instanceof AlreadySetUpError) return c.redirect('/login', 303);
        throw err;
      }
    })
    .get('/login', async (c) => {
      if (await needsSetup(ctx)) return c.redirect('/setup', 303);
      if (c.var.identity) return c.redirect(safeNext(c.req.query('next')), 303);
      return render(c, 'login', { values: { next: safeNext(c.req.query('next')) } });
    })
    .post('/login', async (c) => {
      const form = loginSchema.safeParse(await c.req.parseBody());
      if (!form.success) return render(c, 'login', { values: {}, error: firstIssue(form.error) }, 400);
      const { email, password } = form.data;
      const next = safeNext(form.data.next);
      const ip = clientIp(c);
      const wait = ctx.throttle.retryAfter(email, ip, ctx.now());
      if (wait > 0) {
        c.header('retry-after', String(Math.ceil(wait / 1000)));
        return render(c, 'login', { values: { email, next }, error: { message: `Too many failed attempts. Try again in ${Math.ceil(wait / 60_000)} min.` } }, 429);
      }
      const login = emailSchema.safeParse(email).success ? await findLoginByEmail(ctx.control, email) : undefined;
      const ok = login?.passwordHash && !login.disabled ? await verifyPassword(login.passwordHash, password) : await verifyAgainstDecoy(password);
      if (!ok || !login) {
        ctx.throttle.fail(email, ip, ctx.now());
        await audit(ctx.control, { actor: 'user', action: 'login.failure', tenantId: login?.tenantId ?? null, ip, detail: { email: email.slice(0, 254) } });
        // The same words whether or not the email exists.
        return render(c, 'login', { values: { email, next }, error: { message: 'Email or password is incorrect.' } }, 401);
      }
      ctx.throttle.succeed(email);
      await recordLogin(ctx.control, login.id, ctx.now());
      await audit(ctx.control, { actor: 'user', action: 'login.success', tenantId: login.tenantId, actorUserId: login.id, ip });
      return signIn(c, login.id, next);
    })
    .post('/logout', async (c) => {
      const identity = c.var.identity;
      if (identity?.via === 'session') {
        await ctx.auth.invalidateSession(identity.session.id);
        await audit(ctx.control, { actor: 'user', action: 'logout', tenantId: identity.user.tenantId, actorUserId: identity.user.id, ip: clientIp(c) });
      }
      c.header('set-cookie', ctx.auth.createBlankSessionCookie().serialize(), { append: true });
      return c.redirect('/login', 303);
    });
}
