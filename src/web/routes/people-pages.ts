// The people pages: the sessions list, one session's timeline, the team compared person by
// person (managers and up) and a person's own page. Each handler checks its access in
// sight, asks its loader (src/dashboards/) and renders.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { can } from '../../auth/permissions.js';
import { listUsers } from '../../auth/users.js';
import { loadSession, loadSessionList } from '../../dashboards/sessions.js';
import {
  DEFAULT_TREND_METRIC,
  loadMe,
  loadTeam,
  TREND_METRICS,
  valueIn,
  type TrendMetric,
} from '../../dashboards/team.js';
import { filterSearch } from '../../dashboards/filters.js';
import { getTenant } from '../../tenants/tenants.js';
import type { Env } from '../env.js';
import { metricsView, TEAM_ONLY } from '../../auth/scope.js';
import { dashboardPage, renderPage, signedIn, tenantZone, type DashboardPage } from '../dashboard-page.js';
import type { Renderer } from '../render.js';

export function peopleRoutes(ctx: AppContext, render: Renderer) {
  /** An error page inside the dashboard's frame (nav for the person's role), with its status. */
  const refuse = (c: Context<Env>, page: Parameters<typeof renderPage>[3], status: 403 | 404, message: string) => {
    const res = renderPage(render, c, 'error', page, { status, message });
    return new Response(res.body, { status, headers: res.headers });
  };

  return new Hono<Env>()
    .get('/sessions', async (c) => {
      const page = await dashboardPage(ctx, c);
      if (page instanceof Response) return page;
      if (!page.view.individuals)
        return refuse(
          c,
          page,
          403,
          `Sessions name the people who ran them, and ${TEAM_ONLY}. The overview has the team's figures.`,
        );
      const limit = sizeParam(c.req.query('limit'), 25, 200, page.notices);
      const list = await loadSessionList(ctx.tenantFiles, page.tenantId, page.filters, page.view, {
        cursor: c.req.query('cursor') || undefined,
        limit,
        now: page.now,
      });
      page.notices.push(...list.notices);
      if (page.view.ownUser) page.options = { ...page.options, user: [] }; // only themselves: nobody to pick
      const keep: Record<string, string> = limit === 25 ? {} : { limit: String(limit) };
      return renderPage(render, c, 'sessions', page, {
        list,
        olderHref: list.nextCursor
          ? `/sessions${withParams(filterSearch(page.filters), { ...keep, cursor: list.nextCursor })}`
          : null,
        newestHref: `/sessions${withParams(filterSearch(page.filters), keep)}`,
      });
    })

    .get('/sessions/:id', async (c) => {
      const page = await personPage(ctx, c);
      if (page instanceof Response) return page;
      if (!page.view.individuals)
        return refuse(c, page, 403, `Sessions name the people who ran them, and ${TEAM_ONLY}.`);
      const notices: string[] = [];
      const limit = sizeParam(c.req.query('limit'), 200, 2000, notices);
      const id = c.req.param('id');
      const session = await loadSession(ctx.tenantFiles, page.tenantId, id, page.view, {
        user: c.req.query('user') || undefined,
        after: c.req.query('after') || undefined,
        limit,
        now: ctx.now().getTime(),
      });
      if (!session) return refuse(c, page, 404, 'There is no such session, or it is not yours to see.');
      if ('owners' in session) return renderPage(render, c, 'session-owners', page, { id, owners: session.owners });
      const base = `/sessions/${encodeURIComponent(session.id)}`;
      const keep: Record<string, string> = { user: session.userId, ...(limit === 200 ? {} : { limit: String(limit) }) };
      return renderPage(render, c, 'session', page, {
        session,
        notices: [...notices, ...session.notices],
        nextHref: session.nextAfter ? `${base}${withParams('', { ...keep, after: session.nextAfter })}` : null,
        startHref: session.after ? `${base}${withParams('', keep)}` : null,
      });
    })

    .get('/team', async (c) => {
      const page = await dashboardPage(ctx, c);
      if (page instanceof Response) return page;
      const user = page.identity.user;
      if (!can(user, 'metrics.view_team')) {
        const why = page.view.individuals ? `your role (${user.role}) sees its own figures, on your page` : TEAM_ONLY;
        return refuse(c, page, 403, `Comparing people one by one is for managers and admins; ${why}.`);
      }
      const metric = metricParam(c.req.query('metric'), page.notices);
      everyone(page, 'The team page compares everyone; the person filter is ignored here.');
      const team = await loadTeam(ctx.tenantFiles, page.tenantId, page.filters, metric, page.people, page.now);
      page.notices.push(...team.notices);
      // The filter bar keeps the chosen metric (htmx adds its fields to this path's query);
      // the metric links keep the filters.
      const path = metric === DEFAULT_TREND_METRIC ? '/team' : `/team?metric=${metric}`;
      const metricLinks = Object.entries(TREND_METRICS).map(([m, { label }]) => ({
        label,
        current: m === metric,
        href: `/team${withParams(filterSearch(page.filters), m === DEFAULT_TREND_METRIC ? {} : { metric: m })}`,
      }));
      return renderPage(render, c, 'team', page, { team, metricLinks, valueIn, path });
    })

    .get('/me', async (c) => {
      const page = await dashboardPage(ctx, c);
      if (page instanceof Response) return page;
      const user = page.identity.user;
      if (!can(user, 'dashboard.personal'))
        return refuse(c, page, 403, `A personal page is for people who run agents; ${TEAM_ONLY}, on the overview.`);
      everyone(page, 'This page is always your own; the person filter is ignored here.');
      const me = await loadMe(
        ctx.tenantFiles,
        page.tenantId,
        user.id,
        page.filters,
        page.now,
        page.view.ownUser === null,
      );
      page.notices.push(...me.notices);
      return renderPage(render, c, 'me', page, { me, valueIn, name: page.people.get(user.id) ?? user.email });
    });
}

/** The signed-in person and what they may see, without the filter bar (a session page has none). */
async function personPage(ctx: AppContext, c: Context<Env>) {
  const identity = await signedIn(ctx, c);
  if (identity instanceof Response) return identity;
  const tenantId = identity.user.tenantId;
  const users = await listUsers(ctx.control, tenantId);
  return {
    identity,
    tenantId,
    view: metricsView(identity),
    tenantName: (await getTenant(ctx.control, tenantId))?.name ?? '',
    people: new Map(users.map((u) => [u.id, u.name || u.email])),
    zone: tenantZone(c),
  };
}

/** Pages that are about everyone (or only you) hide the person filter and drop its value. */
function everyone(page: DashboardPage, notice: string) {
  if (page.filters.values.user) page.notices.push(notice);
  delete page.filters.values.user;
  page.options = { ...page.options, user: [] };
}

function sizeParam(raw: string | undefined, fallback: number, max: number, notices: string[]): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 1 && n <= max) return n;
  notices.push(`The page size must be a whole number from 1 to ${max}; showing ${fallback}.`);
  return fallback;
}

function metricParam(raw: string | undefined, notices: string[]): TrendMetric {
  if (raw === undefined || raw === '') return DEFAULT_TREND_METRIC;
  if (Object.hasOwn(TREND_METRICS, raw)) return raw as TrendMetric;
  notices.push(`The team page cannot chart “${raw.slice(0, 100)}”; showing cost.`);
  return DEFAULT_TREND_METRIC;
}

/** `search` (a query string, maybe empty) with `extra` parameters added. */
function withParams(search: string, extra: Record<string, string>): string {
  const p = new URLSearchParams(search);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}
