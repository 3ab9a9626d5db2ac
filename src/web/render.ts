// Server-rendered pages: Eta templates from views/ (embedded in the executable).
// `<%= %>` escapes HTML; every string that came from a user or an agent goes through it.
import { Eta } from 'eta';
import type { Context } from 'hono';
import { readAssetText } from '../assets.js';
import { can } from '../auth/permissions.js';
import type { User } from '../auth/users.js';
import type { Env } from './env.js';
import { zonedFormat } from '../dashboards/format.js';

/** The main navigation's optional entries, by what the person may see. */
export function navFor(user: User) {
  return {
    team: can(user, 'metrics.view_team'),
    me: can(user, 'dashboard.personal'),
    sessions: can(user, 'metrics.view_own') || can(user, 'metrics.view_team'),
    admin: can(user, 'user.manage'),
    import: can(user, 'apikey.create'),
    alerts: can(user, 'alerts.view'),
  };
}

export type Renderer = (
  c: Context<Env>,
  view: string,
  data?: Record<string, unknown>,
  status?: 200 | 400 | 401 | 403 | 404 | 429 | 500 | 502 | 503,
) => Response;

export function createRenderer(): Renderer {
  const eta = new Eta({ views: 'views', cache: true, autoEscape: true });
  eta.resolvePath = (name) => `views/${name.replace(/^[@./]+/, '')}${name.endsWith('.eta') ? '' : '.eta'}`;
  eta.readFile = (path) => readAssetText(path);
  return (c, view, data = {}, status = 200) => {
    const identity = c.var.identity;
    const html = eta.render(view, {
      // Times in the tenant's zone; a page about a range overrides it with its filters' (renderPage).
      fmt: zonedFormat(c.var.zone ?? null),
      user: identity?.user ?? null,
      nav: identity ? navFor(identity.user) : null,
      csrf: c.var.csrfToken,
      path: c.req.path,
      ...data,
    });
    return c.html(html, status);
  };
}
