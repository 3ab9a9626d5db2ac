// /api/openapi.json and the /api page: the document names only routes the app has, documents
// every JSON API and ingest route it has, and each schema in it is the one its route checks
// with: a body (or a parameter) the schema refuses gets the route's 400, naming the same field
// with the same words. Real server, real requests.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { z } from 'zod';
import type { Documented } from '../src/web/api-doc.js';
import { createApp } from '../src/web/app.js';
import { firstIssue } from '../src/web/errors.js';
import { Client, ingestKey, setUp, startTestServer, type TestServer } from './helpers.js';

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { name: string; in: string }[];
        requestBody?: { content: Record<string, unknown> };
        security: unknown[];
      }
    >
  >;
};
type Ctx = {
  server: TestServer;
  routes: ReturnType<typeof createApp>['routes'];
  admin: Client;
  key: string;
  tenantId: string;
  doc: Doc;
  ops: Map<string, Documented['operation']>;
};
const test = suite<Ctx>('OpenAPI document');

/** Documented and answering for the JSON API: /api/v1 (but the document itself), the seeds' /api/metrics and OTLP. */
const API = /^\/(api\/v1|api\/metrics|v1)\//;

test.before(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  ctx.admin = await setUp(ctx.server);
  await ctx.admin.get('/settings'); // the session's CSRF token
  const made = await ingestKey(ctx.server);
  ctx.key = made.key;
  ctx.tenantId = made.tenantId;
  const res = await fetch(new URL('/api/openapi.json', ctx.server.url));
  assert.is(res.status, 200, 'served to anyone, without a key');
  ctx.doc = (await res.json()) as Doc;
  // The operations as the routes carry them: the schemas their handlers validate with.
  ctx.routes = createApp(ctx.server.ctx).routes;
  ctx.ops = new Map();
  for (const r of ctx.routes) {
    const op = (r.handler as Partial<Documented>).operation;
    if (op) ctx.ops.set(`${r.method} ${r.path}`, op);
  }
});
test.after(async (ctx) => {
  await ctx.server.stop();
});

const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;

test('every documented operation is a route of the app, and every API route is documented', (ctx) => {
  assert.is(ctx.doc.openapi, '3.1.0');
  const routes = new Set(ctx.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
  const documented = Object.entries(ctx.doc.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((m) => routeKey(m, path)),
  );
  assert.ok(documented.length >= 70, `${documented.length} operations`);
  for (const op of documented) assert.ok(routes.has(op), `${op} is documented but the app has no such route`);
  const missing = [...routes].filter((r) => API.test(r.split(' ')[1]!) && !documented.includes(r));
  assert.equal(missing, [], 'API routes without a description');
});

test("every documented route answers (401 without credentials, never the app's 404)", async (ctx) => {
  for (const [path, methods] of Object.entries(ctx.doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const concrete = path.replace('{window}', '1m').replace(/\{\w+\}/g, 'made-up-id');
      const res = await fetch(new URL(concrete, ctx.server.url), { method: method.toUpperCase() });
      await res.arrayBuffer();
      assert.ok(
        res.status === 401 || op.security.length === 0,
        `${method} ${path} answered ${res.status} without credentials`,
      );
    }
  }
});

/** A value of the body (or parameter) the schema refuses: a missing field, else a wrong one. */
function refused(
  schema: z.ZodType,
  fields: string[],
  wrap: (field: string, value: unknown) => unknown = (f, v) => ({ [f]: v }),
): unknown {
  if (!schema.safeParse({}).success) return {};
  for (const field of fields) {
    for (const value of ['not-a-valid-value', -12345.5, 'x'.repeat(600), {}, null]) {
      const sample = wrap(field, value);
      if (!schema.safeParse(sample).success) return sample;
    }
  }
  return undefined;
}

/** A schema's fields; a map's (a record's) a made-up key. */
const propertiesOf = (schema: z.ZodType) => {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: object;
    additionalProperties?: unknown;
  };
  return json.properties
    ? Object.keys(json.properties)
    : typeof json.additionalProperties === 'object'
      ? ['some-key']
      : [];
};

test("a body the documented schema refuses gets the route's 400 with the schema's words", async (ctx) => {
  const rule = await ctx.admin.request('/api/v1/alerts/rules', {
    method: 'POST',
    headers: { 'x-csrf-token': ctx.admin.csrf! },
    json: { name: 'r', metric: 'events', window: '1h', condition: { type: 'threshold', op: 'above', value: 1 } },
  });
  assert.is(rule.status, 201, await rule.clone().text());
  const ruleId = ((await rule.json()) as { id: string }).id;
  let checked = 0;
  for (const [path, methods] of Object.entries(ctx.doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!op.requestBody?.content['application/json']) continue;
      const operation = ctx.ops.get(routeKey(method, path))!;
      if (!operation.body) continue; // described in words (Claude Code's hooks)
      const sample = refused(operation.body, propertiesOf(operation.body));
      assert.ok(sample !== undefined, `${method} ${path}: found no body its schema refuses`);
      const concrete = path
        .replace('{id}', path.startsWith('/api/v1/alerts/rules') ? ruleId : ctx.tenantId)
        .replace('{sessionId}', 'session-1')
        .replace(/\{\w+\}/g, 'made-up-id');
      const headers: Record<string, string> =
        operation.auth === 'ingest' ? { authorization: `Bearer ${ctx.key}` } : { 'x-csrf-token': ctx.admin.csrf! };
      const client = operation.auth === 'ingest' ? new Client(ctx.server.url) : ctx.admin;
      const res = await client.request(concrete, { method: method.toUpperCase(), headers, json: sample });
      const body = (await res.json()) as { error: string; field: string };
      const expected = firstIssue(operation.body.safeParse(sample).error!);
      assert.is(res.status, 400, `${method} ${path} ${JSON.stringify(sample)}: ${JSON.stringify(body)}`);
      assert.equal(
        { error: body.error, field: body.field },
        { error: expected.message, field: expected.field },
        `${method} ${path}`,
      );
      checked++;
    }
  }
  assert.ok(checked >= 25, `${checked} bodies checked`);
});

test('a query parameter its schema refuses gets a 400 naming the field the schema names', async (ctx) => {
  let checked = 0;
  for (const [path, methods] of Object.entries(ctx.doc.paths)) {
    const get = methods.get;
    if (!get) continue;
    const operation = ctx.ops.get(routeKey('get', path))!;
    const schema = z.object(operation.query ?? {});
    for (const name of Object.keys(operation.query ?? {})) {
      const sample = refused(schema, [name]) as Record<string, unknown> | undefined;
      if (!sample || typeof sample[name] !== 'string') continue; // a query string holds strings only
      const expected = firstIssue(schema.safeParse(sample).error!);
      const concrete = path.replace('{window}', '1m').replace(/\{\w+\}/g, 'made-up-id');
      const res = await ctx.admin.request(`${concrete}?${new URLSearchParams({ [name]: sample[name] as string })}`);
      const body = (await res.json()) as { error: string; field: string };
      assert.is(res.status, 400, `GET ${path}?${name}=…: ${JSON.stringify(body)}`);
      assert.is(body.field, expected.field, `GET ${path}?${name}=…: ${JSON.stringify(body)}`);
      checked++;
    }
  }
  assert.ok(checked >= 40, `${checked} parameters checked`);
});

test("the API page renders the document for signed-in people, from the appliance's own assets", async (ctx) => {
  const nobody = await new Client(ctx.server.url).get('/api');
  assert.is(nobody.status, 303);
  assert.ok(nobody.headers.get('location')!.startsWith('/login'));
  const res = await ctx.admin.get('/api');
  assert.is(res.status, 200);
  const html = await res.text();
  for (const path of Object.keys(ctx.doc.paths))
    assert.ok(html.includes(`<code>${path}</code>`), `the page lists ${path}`);
  // A body's fields, nested ones by their path, with their constraints.
  assert.ok(
    /<code>condition<\/code>/.test(html) && /<code>channels\[\]\.type<\/code>/.test(html),
    'the alert rule body is listed field by field',
  );
  assert.ok(html.includes('at most 1000 items'), 'constraints are shown');
  assert.ok(html.includes('href="/api/openapi.json"'));
  assert.not.match(
    html,
    /https?:\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\/[^"]*\.(js|css)/i,
    'no script or style from elsewhere',
  );
});

test.run();
