// Sign-in through a tenant's identity providers: the buttons (by email domain, or on
// /login/<slug>), the start (to the provider, with a flow cookie bound to this browser) and
// the one callback per protocol. Protocol and people logic live in src/auth/sso/.
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { emailSchema } from '../../auth/users.js';
import { FLOW_COOKIE, FLOW_TTL_MS, SsoError } from '../../auth/sso/flow.js';
import { finishSsoSignIn, startSsoSignIn } from '../../auth/sso/login-flow.js';
import { getProvider } from '../../auth/sso/providers.js';
import { buttonOf, emailDomain, providersForEmail, providersForSlug } from '../../auth/sso/tenant-sso.js';
import { safeNext } from '../safe-next.js';
import { clientIp } from '../client-ip.js';
import type { Env } from '../env.js';
import type { Renderer } from '../render.js';
import { setSessionCookie } from '../session-cookie.js';

const emailFirstSchema = z.object({ email: emailSchema, next: z.string().optional() });

export function ssoRoutes(ctx: AppContext, render: Renderer) {
  const refused = (c: Context<Env>, message: string, status: 400 | 403 | 404 | 502) =>
    render(c, 'sso-refused', { message }, status);
  const flowCookie = {
    httpOnly: true,
    sameSite: 'Lax',
    secure: ctx.publicUrl.protocol === 'https:',
    path: '/auth',
  } as const;

  const callback = async (c: Context<Env>) => {
    // Anyone: the flow cookie and the state decide which sign-in this answer belongs to.
    const result = await finishSsoSignIn(ctx, {
      cookie: getCookie(c, FLOW_COOKIE),
      query: new URL(c.req.url).searchParams,
      ip: clientIp(c),
    });
    deleteCookie(c, FLOW_COOKIE, flowCookie);
    if ('refused' in result) return refused(c, result.refused, result.status);
    setSessionCookie(ctx.auth, c, result.session.id);
    return c.redirect(safeNext(result.next), 303);
  };

  return new Hono<Env>()
    .get('/login/:slug{[a-z0-9][a-z0-9-]{1,62}}', async (c) => {
      // Anyone: the tenant's buttons, for people who know its slug.
      const providers = await providersForSlug(ctx.control, c.req.param('slug'));
      if (!providers)
        return render(
          c,
          'error',
          { status: 404, message: 'There is no sign-in page here. Check the address with your administrator.' },
          404,
        );
      return render(c, 'login', {
        values: { next: safeNext(c.req.query('next')) },
        sso: providers.map(buttonOf),
        ssoForm: false,
      });
    })
    .post('/login/sso', async (c) => {
      // Anyone: the email's domain picks the providers (and so the tenant) to offer.
      const form = await c.req.parseBody();
      const next = safeNext(form.next);
      const parsed = emailFirstSchema.safeParse(form);
      if (!parsed.success)
        return render(
          c,
          'login',
          {
            values: { next },
            ssoForm: true,
            error: { message: 'email: enter your work email address to find its sign-in', field: 'email' },
          },
          400,
        );
      const providers = await providersForEmail(ctx.control, parsed.data.email);
      if (providers.length === 1)
        return c.redirect(`/auth/sso/${providers[0]!.id}/start?next=${encodeURIComponent(next)}`, 303);
      const values = { email: parsed.data.email, next };
      if (!providers.length)
        return render(
          c,
          'login',
          {
            values,
            ssoForm: true,
            error: {
              message: `No single sign-on is set up for ${emailDomain(parsed.data.email)}. Sign in with your password.`,
            },
          },
          404,
        );
      return render(c, 'login', { values, sso: providers.map(buttonOf), ssoForm: false });
    })
    .get('/auth/sso/:id/start', async (c) => {
      // Anyone: starts a sign-in with this provider (a SAML one at the SAML start: samlSignInRoutes in routes/saml.ts).
      const provider = await getProvider(ctx.control, c.req.param('id'));
      if (provider?.type === 'saml')
        return c.redirect(
          `/auth/saml/start/${encodeURIComponent(provider.id)}?next=${encodeURIComponent(safeNext(c.req.query('next')))}`,
          303,
        );
      try {
        const { url, cookie } = await startSsoSignIn(ctx, c.req.param('id'), safeNext(c.req.query('next')));
        setCookie(c, FLOW_COOKIE, cookie, { ...flowCookie, maxAge: FLOW_TTL_MS / 1000 });
        return c.redirect(url.href, 303);
      } catch (err) {
        if (err instanceof SsoError) return refused(c, err.message, err.status);
        throw err;
      }
    })
    .get('/auth/oidc/callback', callback)
    .get('/auth/github/callback', callback);
}
