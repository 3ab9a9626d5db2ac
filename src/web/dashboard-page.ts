// What every dashboard page starts from: the signed-in person (or a trip to the login page
// and back), what of the tenant's metrics they may see, and the filters from the URL with
// the options the filter bar offers. Pages render through `renderPage`, which sends only
// the page's <main> to htmx requests.
import type { Context } from 'hono';
import type { AppContext } from '../context.js';
import { needsSetup } from '../admin/setup.js';
import { listUsers } from '../auth/users.js';
import { getTenant } from '../tenants/tenants.js';
import { can, type Permission } from '../auth/permissions.js';
import {
  allOf,
  dateOf,
  dropUnknown,
  filterHint,
  filterSearch,
  parseFilters,
  PRESETS,
  type Filters,
} from '../dashboards/filters.js';
import { filterOptions, shortPath, type FilterOptions } from '../dashboards/options.js';
import { zonedFormat } from '../dashboards/format.js';
import { DEFAULT_TIME_ZONE } from '../time/zone.js';
import { deepFreeze, keptRead } from '../storage/kept-reads.js';
import type { Env, Identity } from './env.js';
import { metricsView, type MetricsView } from '../auth/scope.js';
import type { Renderer } from './render.js';

export type SessionIdentity = Extract<Identity, { via: 'session' }>;

/** The signed-in person, or the response that sends them to sign in (and back here). */
export async function signedIn(ctx: AppContext, c: Context<Env>): Promise<SessionIdentity | Response> {
  const identity = c.var.identity;
  if (identity?.via === 'session') return identity;
  if (await needsSetup(ctx)) return c.redirect('/setup', 303);
  const url = new URL(c.req.url);
  // htmx follows redirects inside the page; tell it to leave the page instead.
  const current = c.req.header('hx-current-url');
  const back = c.req.header('hx-request') && current && URL.canParse(current, url) ? new URL(current, url) : url;
  const login = `/login?next=${encodeURIComponent(back.pathname + back.search)}`;
  if (c.req.header('hx-request')) return c.body(null, 204, { 'hx-redirect': login });
  return c.redirect(login, 303);
}

/** The signed-in person if their role may `permission`; else the 403 page (or the trip to sign in). */
export async function signedInWith(
  ctx: AppContext,
  c: Context<Env>,
  render: Renderer,
  permission: Permission,
): Promise<SessionIdentity | Response> {
  const identity = await signedIn(ctx, c);
  if (identity instanceof Response || can(identity.user, permission)) return identity;
  return render(
    c,
    'error',
    { status: 403, message: `Your role (${identity.user.role.replace('_', ' ')}) cannot open this page.` },
    403,
  );
}

export type DashboardPage = {
  identity: SessionIdentity;
  tenantId: string;
  view: MetricsView;
  filters: Filters;
  notices: string[];
  options: FilterOptions;
  tenantName: string;
  /** The tenant's people by id, to show names instead of ids. */
  people: Map<string, string>;
  now: number;
};

/** The signed-in person's tenant's time zone, read from its settings once per request (middleware.ts), never from the request. */
export const tenantZone = (c: Context<Env>): string => c.var.zone ?? DEFAULT_TIME_ZONE;

export async function dashboardPage(ctx: AppContext, c: Context<Env>): Promise<DashboardPage | Response> {
  const identity = await signedIn(ctx, c);
  if (identity instanceof Response) return identity;
  const view = metricsView(identity);
  const tenantId = identity.user.tenantId;
  const now = ctx.now().getTime();
  const { filters, notices } = parseFilters(new URL(c.req.url), now, tenantZone(c));
  // Kept while the control database is unchanged: every page asks them.
  const users = await keptRead(ctx.control, `users ${tenantId}`, () => listUsers(ctx.control, tenantId));
  const tenant = await keptRead(ctx.control, `tenant ${tenantId}`, () => getTenant(ctx.control, tenantId));
  const options = await cachedOptions(ctx, tenantId, filters, view, users, now);
  dropUnknown(filters, options, notices);
  return {
    identity,
    tenantId,
    tenantName: tenant?.name ?? '',
    view,
    filters,
    notices,
    options,
    people: new Map(users.map((u) => [u.id, u.name || u.email])),
    now,
  };
}

/**
 * The filter bar's options cost a query per dimension, and a page re-renders on every live
 * update: they are kept up to OPTIONS_TTL_MS per tenant, view and range. A value missing from
 * the kept options is looked up afresh before it is called unknown, so a tool that appeared
 * a moment ago is never refused; it may only be missing from the dropdown for a minute.
 */
const OPTIONS_TTL_MS = 60_000;
const optionsCaches = new WeakMap<AppContext, Map<string, { at: number; options: FilterOptions }>>();

async function cachedOptions(
  ctx: AppContext,
  tenantId: string,
  filters: Filters,
  view: MetricsView,
  users: Parameters<typeof filterOptions>[4],
  now: number,
): Promise<FilterOptions> {
  let cache = optionsCaches.get(ctx);
  if (!cache) optionsCaches.set(ctx, (cache = new Map()));
  const key = JSON.stringify([
    tenantId,
    view,
    filters.range,
    filters.range === 'custom' ? [filters.from, filters.to] : null,
    users.map((u) => u.id),
  ]);
  const kept = cache.get(key);
  const known = (o: FilterOptions) =>
    Object.entries(filters.values).every(([d, v]) => o[d as keyof FilterOptions].some((x) => x.value === v));
  if (kept && now - kept.at < OPTIONS_TTL_MS && known(kept.options)) return kept.options;
  // Frozen: every request of the next minute gets this very object, so none may change it.
  const options = deepFreeze(await filterOptions(ctx.tenantFiles, tenantId, filters, view, users, now));
  for (const [k, v] of cache) if (now - v.at >= OPTIONS_TTL_MS) cache.delete(k);
  cache.set(key, { at: now, options });
  return options;
}

/** Renders a dashboard view with what every dashboard template uses. */
export function renderPage(
  render: Renderer,
  c: Context<Env>,
  view: string,
  page: DashboardPage | { identity: SessionIdentity; zone?: string },
  data: Record<string, unknown> = {},
  status: Parameters<Renderer>[3] = 200,
) {
  const partial = c.req.header('hx-request') === 'true' && c.req.header('hx-history-restore-request') !== 'true';
  const user = page.identity.user;
  const filterBar =
    'filters' in page
      ? {
          filters: page.filters,
          options: page.options,
          notices: page.notices,
          hint: filterHint,
          search: (changes = {}) => filterSearch(page.filters, changes),
        }
      : null;
  // Times on a page about the tenant's data read in its zone, as its dates and charts do.
  const zone = 'filters' in page ? page.filters.zone : (page.zone ?? c.var.zone ?? null);
  /** The mark of a figure the tool or model filter does not narrow ("all models"), or null. */
  const allOfFigure = (metric: string) => ('filters' in page ? allOf(page.filters, metric) : null);
  c.header('cache-control', 'no-store');
  c.header('vary', 'hx-request');
  return render(
    c,
    view,
    {
      partial,
      tenantName: 'tenantName' in page ? page.tenantName : null,
      fmt: zonedFormat(zone),
      page,
      filterBar,
      allOf: allOfFigure,
      presets: PRESETS,
      dateOf,
      shortPath,
      can: (p: Permission) => can(user, p),
      ...data,
    },
    status,
  );
}
