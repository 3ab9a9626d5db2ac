// The API's description: /api/openapi.json for tools (anyone: it describes the software, not
// any data), and /api, the page that shows it to signed-in people. Both are made from the
// app's own documented routes (src/web/api-doc.ts), once, on first request.
import { Hono } from 'hono';
import type { RouterRoute } from 'hono/types';
import type { AppContext } from '../../context.js';
import { openApiDocument, pageSections, type OpenApiDocument } from '../api-doc.js';
import { renderPage, signedIn } from '../dashboard-page.js';
import type { Env } from '../env.js';
import type { Renderer } from '../render.js';

export const API_VERSION = 'v1';

export function apiDocRoutes(ctx: AppContext, render: Renderer, routes: () => readonly RouterRoute[]) {
  let doc: OpenApiDocument | undefined;
  const document = () => (doc ??= openApiDocument(routes(), API_VERSION));
  return new Hono<Env>()
    .get('/api/openapi.json', (c) => c.json(document()))
    .get('/api', async (c) => {
      const identity = await signedIn(ctx, c);
      if (identity instanceof Response) return identity;
      return renderPage(
        render,
        c,
        'api',
        { identity },
        { sections: pageSections(document()), publicUrl: ctx.publicUrl.href.replace(/\/$/, '') },
      );
    });
}
