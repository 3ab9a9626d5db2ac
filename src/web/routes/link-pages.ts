// The pages a single-use link leads to, open to anyone holding it: `/invite/<token>` (choose
// a name and password, join with the invited role) and `/reset/<token>` (a new password; every
// other session of that person ends). Both sign the person in as the sign-in form would after
// the password (single sign-on or a second factor first, where required). Showing the form leaves the
// link usable (mail scanners open links); only the form's POST uses it up.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { afterPassword } from '../../auth/login.js';
import { acceptInvite, acceptSchema, openInvite } from '../../auth/invites.js';
import { LinkError, type Link } from '../../auth/links.js';
import { openResetLink, redeemResetLink } from '../../auth/people.js';
import { DuplicateEmailError, type User } from '../../auth/users.js';
import { clientIp } from '../client-ip.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import type { Renderer } from '../render.js';
import { setPendingLoginCookie } from '../pending-login-cookie.js';
import { setSessionCookie } from '../session-cookie.js';

const KINDS = {
  invite: { open: openInvite, title: 'Join agentmeter', button: 'Join' },
  reset: { open: openResetLink, title: 'Choose a new password', button: 'Set password' },
} as const;

export function linkPageRoutes(ctx: AppContext, render: Renderer) {
  const page = (
    c: Context<Env>,
    kind: keyof typeof KINDS,
    data: { link?: Link; error?: { message: string; field?: string }; gone?: string },
    status: 200 | 400 | 403 | 404 = 200,
  ) => {
    c.header('cache-control', 'no-store');
    return render(c, 'link', { kind, ...KINDS[kind], action: c.req.path, ...data }, status);
  };

  /** The link behind the URL, or the page saying why it does not work. */
  const open = async (c: Context<Env>, kind: keyof typeof KINDS) => {
    try {
      return await KINDS[kind].open(ctx.control, c.req.param('token') ?? '', ctx.now());
    } catch (err) {
      if (err instanceof LinkError) return page(c, kind, { gone: err.message }, 404);
      throw err;
    }
  };

  /** As after the sign-in form's password: single sign-on where the organisation requires it, then the second factor. */
  const signIn = async (c: Context<Env>, kind: keyof typeof KINDS, user: User) => {
    const result = await afterPassword(ctx, user, clientIp(c));
    if (result.outcome === 'sso-required') {
      const gone = `Your ${kind === 'invite' ? 'account is ready' : 'password is set'}, but your organisation signs in through its identity provider: sign in with single sign-on.`;
      return page(c, kind, { gone }, 403);
    }
    if (result.outcome === 'second-factor') {
      setPendingLoginCookie(c, result.token, ctx.publicUrl.protocol === 'https:');
      return c.redirect('/login/mfa?next=%2F', 303);
    }
    setSessionCookie(ctx.auth, c, result.session.id);
    return c.redirect('/', 303);
  };

  const submit = (kind: keyof typeof KINDS) => async (c: Context<Env>) => {
    const link = await open(c, kind);
    if (link instanceof Response) return link;
    const parsed = acceptSchema(link.email).safeParse(await c.req.parseBody());
    if (!parsed.success) return page(c, kind, { link, error: firstIssue(parsed.error) }, 400);
    const token = c.req.param('token')!;
    try {
      const user =
        kind === 'invite'
          ? await acceptInvite(ctx, token, parsed.data, clientIp(c))
          : await redeemResetLink(ctx, token, parsed.data.password, clientIp(c));
      return await signIn(c, kind, user);
    } catch (err) {
      if (err instanceof LinkError) return page(c, kind, { gone: err.message }, 404);
      if (err instanceof DuplicateEmailError)
        return page(c, kind, { gone: 'An account with this email exists already; sign in instead.' }, 400);
      throw err;
    }
  };

  return new Hono<Env>()
    .get('/invite/:token', async (c) => {
      const link = await open(c, 'invite');
      return link instanceof Response ? link : page(c, 'invite', { link });
    })
    .post('/invite/:token', submit('invite'))
    .get('/reset/:token', async (c) => {
      const link = await open(c, 'reset');
      return link instanceof Response ? link : page(c, 'reset', { link });
    })
    .post('/reset/:token', submit('reset'));
}
