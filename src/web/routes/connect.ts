// "Connect Claude Code": the exact settings for the signed-in person (hooks block and
// OpenTelemetry variables for this appliance's public URL), a key made for the purpose
// (the form redirects back to /connect, which shows the key once), and the last event that
// arrived from them, which the page's live stream keeps current, so they can see it worked.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { createApiKey, type CreatedApiKey } from '../../auth/api-keys.js';
import { can } from '../../auth/permissions.js';
import {
  claudeCodeSettings,
  HOOK_EVENTS,
  KEY_VARIABLE,
  mcpAddCommand,
  reachedElsewhere,
  telemetryEnv,
} from '../../dashboards/connect.js';
import { lastEvent } from '../../sessions/read.js';
import type { Env } from '../env.js';
import { renderPage, signedIn } from '../dashboard-page.js';
import type { Renderer } from '../render.js';
import { clientIp } from '../client-ip.js';
import { requirePermission } from '../access.js';
import { createShowOnce } from '../show-once.js';

export function connectRoutes(ctx: AppContext, render: Renderer) {
  const publicUrl = () => ctx.publicUrl.href.replace(/\/$/, '');
  const createdKeys = createShowOnce<CreatedApiKey>(() => ctx.now().getTime());

  const page = async (c: Context<Env>) => {
    const identity = await signedIn(ctx, c);
    if (identity instanceof Response) return identity;
    const created = createdKeys.take(identity.session.id);
    const settings = JSON.stringify(claudeCodeSettings(publicUrl()), null, 2);
    const last = await lastEvent(ctx.tenantFiles, identity.user.tenantId, identity.user.id);
    // renderPage sends no-store with every page; this one may hold the key.
    return renderPage(
      render,
      c,
      'connect',
      { identity },
      {
        settings,
        env: telemetryEnv(publicUrl(), created?.key ?? null),
        mcp: mcpAddCommand(publicUrl()),
        created,
        keyVariable: KEY_VARIABLE,
        events: HOOK_EVENTS,
        publicUrl: publicUrl(),
        reachedAt: reachedElsewhere(publicUrl(), c.var.origin),
        last,
        canCreate: can(identity.user, 'apikey.create'),
      },
    );
  };

  return (
    new Hono<Env>()
      .get('/connect', (c) => page(c))
      // A key with the ingest scope, named for what it is for; shown once by the page it redirects to.
      .post('/connect/key', async (c) => {
        const identity = await signedIn(ctx, c);
        if (identity instanceof Response) return identity;
        requirePermission(identity, 'apikey.create');
        const created = await createApiKey(ctx.control, identity.user, {
          name: `Claude Code ${ctx.now().toISOString().slice(0, 10)}`,
          scopes: ['ingest'],
        });
        await audit(ctx.control, {
          actor: 'user',
          actorUserId: identity.user.id,
          tenantId: identity.user.tenantId,
          action: 'apikey.create',
          target: created.id,
          ip: clientIp(c),
          detail: { scopes: created.scopes, via: 'connect' },
        });
        createdKeys.put(identity.session.id, created);
        return c.redirect('/connect', 303);
      })
      .get('/connect/settings.json', async (c) => {
        const identity = await signedIn(ctx, c);
        if (identity instanceof Response) return identity;
        c.header('content-disposition', 'attachment; filename="settings.json"');
        return c.json(claudeCodeSettings(publicUrl()));
      })
  );
}
