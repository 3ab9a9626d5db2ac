// The tools page and the agents & commands page: who may see what comes from dashboardPage
// (metricsView); the figures from the loaders in src/dashboards; the HTML from the views.
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { loadAgents } from '../../dashboards/agents.js';
import { loadTools } from '../../dashboards/tools.js';
import type { Env } from '../env.js';
import { dashboardPage, renderPage } from '../dashboard-page.js';
import type { Renderer } from '../render.js';

export function toolPageRoutes(ctx: AppContext, render: Renderer) {
  return new Hono<Env>()
    .get('/tools', async (c) => {
      const page = await dashboardPage(ctx, c);
      if (page instanceof Response) return page;
      const tools = await loadTools(ctx.tenantFiles, page.tenantId, page.filters, page.view, page.now);
      page.notices.push(...tools.notices);
      return renderPage(render, c, 'tools', page, { tools });
    })
    .get('/agents', async (c) => {
      const page = await dashboardPage(ctx, c);
      if (page instanceof Response) return page;
      const agents = await loadAgents(ctx.tenantFiles, page.tenantId, page.filters, page.view, page.now);
      page.notices.push(...agents.notices);
      return renderPage(render, c, 'agents', page, { agents });
    });
}
