// Signed-in pages: API keys.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import {
  createApiKey,
  getApiKey,
  keyStatus,
  listApiKeys,
  newApiKeySchema,
  revokeApiKey,
  SCOPES,
  type CreatedApiKey,
} from '../../auth/api-keys.js';
import { can, type Permission } from '../../auth/permissions.js';
import { signedIn as signedInAs } from '../dashboard-page.js';
import type { Env } from '../env.js';
import { firstIssue } from '../errors.js';
import type { Renderer } from '../render.js';
import { clientIp } from '../client-ip.js';

export function pageRoutes(ctx: AppContext, render: Renderer) {
  const signedIn = (c: Context<Env>) => signedInAs(ctx, c);

  const keysPage = async (
    c: Context<Env>,
    extra: { created?: CreatedApiKey; error?: { message: string; field?: string } } = {},
    status: 200 | 400 | 403 = 200,
  ) => {
    const identity = c.var.identity!;
    const keys = (await listApiKeys(ctx.control, identity.user.tenantId, identity.user.id)).map((k) => ({
      ...k,
      status: keyStatus(k),
    }));
    return render(
      c,
      'api-keys',
      {
        keys,
        scopes: SCOPES,
        canCreate: can(identity.user, 'apikey.create'),
        can: (p: Permission) => can(identity.user, p),
        ...extra,
      },
      status,
    );
  };

  return new Hono<Env>()
    .get('/settings/api-keys', async (c) => {
      const identity = await signedIn(c);
      return identity instanceof Response ? identity : keysPage(c);
    })
    .post('/settings/api-keys', async (c) => {
      const identity = await signedIn(c);
      if (identity instanceof Response) return identity;
      if (!can(identity.user, 'apikey.create'))
        return keysPage(c, { error: { message: `Your role (${identity.user.role}) cannot create API keys.` } }, 403);
      const form = await c.req.parseBody({ all: true });
      const parsed = newApiKeySchema.safeParse({
        name: form.name,
        scopes: ([] as unknown[]).concat(form.scopes ?? []),
      });
      if (!parsed.success) return keysPage(c, { error: firstIssue(parsed.error) }, 400);
      const created = await createApiKey(ctx.control, identity.user, parsed.data);
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: identity.user.id,
        tenantId: identity.user.tenantId,
        action: 'apikey.create',
        target: created.id,
        ip: clientIp(c),
        detail: { scopes: created.scopes },
      });
      c.header('cache-control', 'no-store'); // the page shows the key, once
      return keysPage(c, { created });
    })
    .post('/settings/api-keys/:id/revoke', async (c) => {
      const identity = await signedIn(c);
      if (identity instanceof Response) return identity;
      const key = await getApiKey(ctx.control, identity.user.tenantId, c.req.param('id'));
      if (
        key &&
        key.userId === identity.user.id &&
        (await revokeApiKey(ctx, identity.user.tenantId, key.id, ctx.now()))
      ) {
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: identity.user.tenantId,
          action: 'apikey.revoke',
          target: key.id,
          ip: clientIp(c),
        });
      }
      return c.redirect('/settings/api-keys', 303);
    });
}
