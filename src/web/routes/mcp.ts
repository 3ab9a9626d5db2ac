// The MCP endpoint (/mcp): the tools of web/mcp/tools.ts over Streamable HTTP, stateless (a
// server and a transport per request, answers as JSON), for an API key with the `read` scope
// sent as a bearer token. A session cookie never counts here, so no page can make a browser
// call it (and it needs no CSRF token); the tenant is the key's.
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import type { Env } from '../env.js';
import { alertReader } from '../../alerts/access.js';
import { metricsView } from '../../auth/scope.js';
import { httpError } from '../errors.js';
import { mcpServer, type McpCaller } from '../mcp/tools.js';
import { badToolCall } from '../mcp/params.js';

/** As the other API routes' bodies (the app's body limit answers first). */
const MAX_BODY = 1024 * 1024;

export function mcpRoutes(ctx: AppContext) {
  return (
    new Hono<Env>()
      .post('/mcp', async (c) => {
        const who = caller(c);
        const bad = await badCall(c.req.raw);
        if (bad) return c.json(bad);
        const server = mcpServer(ctx, who);
        const transport = new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: undefined,
          enableJsonResponse: true,
          maxRequestBodySize: MAX_BODY,
        });
        await server.connect(transport);
        try {
          return await transport.handleRequest(c.req.raw);
        } finally {
          await server.close();
        }
      })
      // Stateless: there is no stream to open and no session to end (the SDK's advice: 405).
      .on(['GET', 'DELETE'], '/mcp', (c) =>
        c.json(
          { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: send JSON-RPC with POST' }, id: null },
          405,
          { allow: 'POST' },
        ),
      )
  );
}

/** The caller: an API key with the `read` scope, else a 401 with a challenge. */
function caller(c: Context<Env>): McpCaller {
  const identity = c.var.identity;
  if (identity?.via !== 'apikey') {
    throw httpError(
      401,
      'authorization: send Authorization: Bearer <API key> with a key that has the read scope',
      'authorization',
      { 'www-authenticate': 'Bearer realm="agentmeter"' },
    );
  }
  if (!identity.scopes.includes('read')) {
    throw httpError(401, 'authorization: this API key lacks the "read" scope', 'authorization', {
      'www-authenticate': 'Bearer realm="agentmeter", error="insufficient_scope", scope="read"',
    });
  }
  return {
    tenantId: identity.user.tenantId,
    view: metricsView(identity),
    alerts: alertReader(identity),
    requestId: c.var.requestId,
  };
}

/** A single tools/call message with bad params (badToolCall), read from a copy of the body; else null (the SDK reads it). */
async function badCall(request: Request): Promise<ReturnType<typeof badToolCall>> {
  if (!request.headers.get('content-type')?.includes('application/json')) return null;
  try {
    return badToolCall(JSON.parse(await request.clone().text()));
  } catch {
    return null; // not JSON: the SDK answers a parse error
  }
}
