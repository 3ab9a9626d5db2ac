// Settings → Single sign-on, for tenant admins (user.manage): the tenant's identity providers
// (add, remove; secrets go in and never come back out), its login page slug and whether it
// requires SSO. Every change is audited.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { can, ROLES } from '../../auth/permissions.js';
import {
  createProvider,
  listProviders,
  providerInputSchema,
  removeProvider,
  viewOf,
} from '../../auth/sso/providers.js';
import { getTenantSso, setTenantSso, SlugTakenError, tenantSsoSchema } from '../../auth/sso/tenant-sso.js';
import { adminSamlMetadata } from '../../auth/sso/saml-metadata.js';
import { clientIp } from '../client-ip.js';
import { renderPage, signedIn, type SessionIdentity } from '../dashboard-page.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import type { Renderer } from '../render.js';

type Extra = { error?: { message: string; field?: string }; done?: string; values?: Record<string, unknown> };

export function ssoSettingsRoutes(ctx: AppContext, render: Renderer) {
  const page = async (
    c: Context<Env>,
    identity: SessionIdentity,
    extra: Extra = {},
    status: 200 | 400 | 403 | 404 = 200,
  ) => {
    const tenantId = identity.user.tenantId;
    const [providers, settings] = await Promise.all([
      listProviders(ctx.control, tenantId),
      getTenantSso(ctx.control, tenantId),
    ]);
    const views = providers.map((p) => viewOf(p, p.sealed !== null, ctx.publicUrl));
    const roles = ROLES.filter((r) => r !== 'super_admin');
    return renderPage(
      render,
      c,
      'sso-settings',
      { identity },
      { providers: views, settings, roles, publicUrl: ctx.publicUrl.href, values: {}, ...extra },
      status,
    );
  };

  /** Only tenant admins (and super admins) manage their tenant's sign-in. */
  const admin = async (c: Context<Env>) => {
    const identity = await signedIn(ctx, c);
    if (identity instanceof Response) return identity;
    if (!can(identity.user, 'user.manage'))
      return render(
        c,
        'error',
        { status: 403, message: `Your role (${identity.user.role}) cannot manage single sign-on.` },
        403,
      );
    return identity;
  };
  const by = (c: Context<Env>, identity: SessionIdentity) => ({
    actor: 'user' as const,
    actorUserId: identity.user.id,
    tenantId: identity.user.tenantId,
    ip: clientIp(c),
  });

  return new Hono<Env>()
    .get('/settings/sso', async (c) => {
      const identity = await admin(c);
      return identity instanceof Response ? identity : page(c, identity);
    })
    .post('/settings/sso/providers', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const { metadata_url: metadataUrl, ...form } = Object.fromEntries(
        Object.entries(await c.req.parseBody()).filter(([, v]) => typeof v === 'string' && v !== ''),
      ) as Record<string, string>;
      if (form.type === 'saml') {
        const metadata = await adminSamlMetadata({ metadata: form.metadata, metadataUrl });
        if (typeof metadata !== 'string')
          return page(c, identity, { error: metadata, values: { ...form, client_secret: '' } }, 400);
        form.metadata = metadata;
      }
      const parsed = providerInputSchema.safeParse(form);
      if (!parsed.success)
        return page(c, identity, { error: firstIssue(parsed.error), values: { ...form, client_secret: '' } }, 400);
      const provider = await createProvider(ctx.control, ctx.secret, identity.user.tenantId, parsed.data);
      await audit(ctx.control, {
        ...by(c, identity),
        action: 'sso.provider.set',
        target: provider.id,
        detail: { type: provider.preset, name: provider.name },
      });
      return page(c, identity, {
        done: `${provider.name} added. Register ${viewOf(provider, true, ctx.publicUrl).redirect_uri} as its redirect URI.`,
      });
    })
    .post('/settings/sso/providers/:id/remove', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      // Scoped to the admin's tenant: another tenant's provider is "not found".
      if (!(await removeProvider(ctx.control, identity.user.tenantId, c.req.param('id'))))
        return page(c, identity, { error: { message: 'There is no such provider in your organisation.' } }, 404);
      await audit(ctx.control, { ...by(c, identity), action: 'sso.provider.remove', target: c.req.param('id') });
      return page(c, identity, { done: 'Provider removed. People it created keep their accounts.' });
    })
    .post('/settings/sso/tenant', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const parsed = tenantSsoSchema.safeParse(await c.req.parseBody());
      if (!parsed.success) return page(c, identity, { error: firstIssue(parsed.error) }, 400);
      try {
        const settings = await setTenantSso(ctx.control, identity.user.tenantId, parsed.data);
        await audit(ctx.control, { ...by(c, identity), action: 'sso.settings', detail: settings });
        return page(c, identity, { done: 'Sign-in settings saved.' });
      } catch (err) {
        if (err instanceof SlugTakenError)
          return page(c, identity, { error: { message: err.message, field: 'slug' } }, 400);
        throw err;
      }
    });
}
