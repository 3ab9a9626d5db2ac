// The overview dashboard, its live-update stream and its widget layout.
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { can } from '../../auth/permissions.js';
import { sessionRole } from '../../auth/sessions.js';
import { keptRead } from '../../storage/kept-reads.js';
import { layoutFor, layoutSchema, resetLayout, saveLayout, WIDGETS, type WidgetId } from '../../dashboards/layout.js';
import { loadOverview } from '../../dashboards/overview.js';
import { STREAMS_PER_PERSON } from '../../dashboards/live.js';
import type { Env } from '../env.js';
import { metricsView } from '../../auth/scope.js';
import { requirePermission, requireSession } from '../access.js';
import { dashboardPage, renderPage } from '../dashboard-page.js';
import { httpError, parseWith, readJson } from '../errors.js';
import { firingFor } from '../../alerts/access.js';
import type { Renderer } from '../render.js';
import { documented } from '../api-doc.js';

/** How long a quiet stream waits before a comment line keeps proxies from closing it. */
const KEEPALIVE_MS = 25_000;

const LAYOUT = {
  save: documented({
    summary: "Save the overview's layout: yours, or (tenant admins) the team's default",
    auth: 'session',
    body: layoutSchema.extend({ scope: z.enum(['me', 'tenant']).default('me') }),
  }),
  reset: documented({ summary: "Go back to the team's default layout", auth: 'session' }),
};

export function dashboardRoutes(ctx: AppContext, render: Renderer) {
  return (
    new Hono<Env>()
      .get('/', async (c) => {
        const page = await dashboardPage(ctx, c);
        if (page instanceof Response) return page;
        const file = await ctx.tenantFiles.open(page.tenantId);
        const reader = await ctx.tenantFiles.connection(page.tenantId, 'reader');
        const layout = await layoutFor(file, page.identity.user.id, reader);
        const overview = await loadOverview(ctx.tenantFiles, page.tenantId, page.filters, page.view, layout, page.now);
        page.notices.push(...overview.notices);
        // A viewer sees team figures only: no list of sessions to show or arrange.
        const available = (id: WidgetId) => id !== 'recent_sessions' || page.view.individuals;
        const shown = { ...layout, order: layout.order.filter(available) };
        return renderPage(render, c, 'overview', page, {
          layout: shown,
          widgets: WIDGETS,
          overview,
          canSetDefault: can(page.identity.user, 'dashboard.manage'),
        });
      })

      // Server-Sent Events: `update` whenever the viewer's tenant committed events they may
      // see; the id is the tenant's last seq (a developer's: a count of their own updates, see
      // live.ts), so a reconnect (Last-Event-ID) that missed one
      // is told at once. `alerts` carries the bell's number, on connecting and on each change. A signed-out page hears `expired` and goes to the login page.
      .get('/live', async (c) => {
        const identity = c.var.identity;
        // A tenant whose file is unavailable gets its 503 (the page tries again), not a silent stream.
        if (identity?.via === 'session') await ctx.tenantFiles.open(identity.user.tenantId);
        const release = identity?.via === 'session' ? ctx.live.admit(identity.user.id) : () => {};
        if (!release)
          throw httpError(429, `at most ${STREAMS_PER_PERSON} live streams per person: close some of your pages`);
        return streamSSE(c, async (stream) => {
          try {
            if (identity?.via !== 'session') {
              await stream.writeSSE({ event: 'expired', data: 'sign in again' });
              return;
            }
            const tenantId = identity.user.tenantId;
            const view = metricsView(identity);
            let ended = false;
            let wake: () => void = () => {};
            let sending = false;
            let pending: number | null = null;
            const send = async (seq: number) => {
              pending = seq;
              if (sending) return; // the newest seq goes out when the write in flight is done
              sending = true;
              // Only to someone still signed in with the role the stream was opened with; a check that
              // fails ends the stream (the page connects again).
              const gone = () => signedOut().catch(() => (end(), true));
              try {
                while (pending !== null && !ended && !(await gone())) {
                  const next = pending;
                  pending = null;
                  await stream
                    .writeSSE({ id: String(next), event: 'update', data: String(next) })
                    .catch(() => undefined);
                }
              } finally {
                sending = false;
              }
            };
            const end = () => {
              ended = true;
              wake();
            };
            /**
             * The stream lives no longer than its session (signed out, deactivated or a new
             * password end it: the page goes to sign in), nor than the role it was opened with
             * (it ends, and the page connects again with what the new role may hear).
             */
            const signedOut = async () => {
              // Kept while the control database is unchanged (a sign-out or a new role is a write to it).
              const role = await keptRead(ctx.control, `live role ${identity.session.id}`, () =>
                sessionRole(ctx.control, identity.session.id),
              );
              if (role === identity.user.role) return false;
              if (!ended && role === null)
                await stream.writeSSE({ event: 'expired', data: 'sign in again' }).catch(() => undefined);
              end();
              return true;
            };
            // `alerts`: the bell's number for this person, counted afresh whenever some alert changed.
            let bell = Promise.resolve();
            const alerts = () => {
              bell = bell
                .then(async () => {
                  if (!ended && !(await signedOut()))
                    await stream.writeSSE({
                      event: 'alerts',
                      data: String(await firingFor(ctx.tenantFiles, identity)),
                    });
                })
                .catch(() => undefined);
            };
            const unsubscribe = ctx.live.subscribe(tenantId, {
              ownUser: view.ownUser,
              send: (seq) => void send(seq),
              alerts,
              end,
            });
            stream.onAbort(end);
            try {
              const version = ctx.live.version(tenantId, view.ownUser);
              const lastEventId = c.req.header('last-event-id');
              await stream.writeSSE({ id: String(version), event: 'hello', data: String(version), retry: 2000 });
              // A developer's count does not move while none of the tenant's pages is open: any reconnect catches up.
              if (lastEventId !== undefined && (lastEventId !== String(version) || view.ownUser !== null))
                void send(version);
              alerts();
              while (!ended) {
                await new Promise<void>((resolve) => {
                  const timer = setTimeout(resolve, KEEPALIVE_MS);
                  wake = () => {
                    clearTimeout(timer);
                    resolve();
                  };
                });
                if (!ended && !(await signedOut())) await stream.write(': keepalive\n\n');
              }
            } finally {
              unsubscribe();
            }
          } finally {
            release();
          }
        });
      })

      // The overview's layout: a person's own (or, for a tenant admin, the tenant's default).
      .put('/api/v1/dashboard/layout', LAYOUT.save, async (c) => {
        const identity = requireSession(c);
        const { scope, ...layout } = parseWith(LAYOUT.save.operation.body, await readJson(c));
        if (scope === 'tenant') requirePermission(identity, 'dashboard.manage');
        const db = await ctx.tenantFiles.open(identity.user.tenantId);
        await saveLayout(db, scope === 'me' ? identity.user.id : null, layout);
        return c.json({ saved: scope, ...layout });
      })
      .delete('/api/v1/dashboard/layout', LAYOUT.reset, async (c) => {
        const identity = requireSession(c);
        const db = await ctx.tenantFiles.open(identity.user.tenantId);
        await resetLayout(db, identity.user.id);
        return c.json(await layoutFor(db, identity.user.id));
      })
  );
}
