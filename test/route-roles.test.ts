// Every route × every role, against the README's table ("Routes and roles"): the list of
// routes comes from the app itself, so a route added without a row in the table fails here,
// and a row for a route that is gone fails too. Each signed-in role (and nobody) asks each
// route once; what it gets must be what the table says:
//   ok     answered (anything but 401, 403, 404 and 5xx, and not sent to the login page)
//   login  sent to the login page (303)
//   401 / 403 / 404
// Bodies are empty, ids made up: an allowed request may well be a 400 or a 404; a refused
// one must be refused before its input is looked at. ROUTE_ROLES_PRINT=1 prints the table as
// observed (to write the README's after adding routes: then read it as a reviewer would).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { csrfToken } from '../src/auth/csrf.js';
import { SESSION_COOKIE } from '../src/auth/lucia.js';
import { runCommand } from '../src/admin/commands.js';
import { createApp } from '../src/web/app.js';
import { ADMIN, Client, ROOT, setUp, signIn, startTestServer, type TestServer } from './helpers.js';

const WHO = ['nobody', 'viewer', 'developer', 'manager', 'tenant_admin', 'super_admin'] as const;
type Who = (typeof WHO)[number];

/** The README's rows: `METHOD /path` → the expected answer per column. */
function readmeTable(): Map<string, Record<Who, string>> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Routes and roles');
  assert.ok(start >= 0, 'the README has a "Routes and roles" section');
  const rows = new Map<string, Record<Who, string>>();
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    const m = /^\| `([A-Z]+ [^`]+)` \|(.+)\|\s*$/.exec(line);
    if (!m) continue;
    const cells = m[2]!.split('|').map((c) => c.trim());
    rows.set(m[1]!, Object.fromEntries(WHO.map((w, i) => [w, cells[i] ?? ''])) as Record<Who, string>);
  }
  return rows;
}

/**
 * A concrete path for a route pattern: the caller's own organisation (so what a role may do
 * in it shows, not a 404 for a made-up one), made-up ids for the rest, a real window, a real
 * static file.
 */
const concrete = (path: string, tenantId: string) =>
  path
    .replace('/public/*', '/public/app.css')
    .replace('/tenants/:id', `/tenants/${tenantId}`)
    .replace(':window', '1m')
    .replace(/:[A-Za-z]+\{.*\}$/, 'made-up-slug')
    .replace(/:[A-Za-z]+/g, 'made-up-id');

function outcome(res: Response): string {
  if (res.status === 401 || res.status === 403 || res.status === 404) return String(res.status);
  if (res.status >= 500) return String(res.status); // never a role's answer
  if (res.status >= 300 && res.status < 400 && (res.headers.get('location') ?? '').startsWith('/login')) return 'login';
  return 'ok';
}

type Ctx = { server: TestServer; clients: Record<Who, Client>; routes: string[]; tenantId: string };
const test = suite<Ctx>('routes × roles');

test.before(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  const admin = await setUp(ctx.server);
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>(
    'SELECT tenant_id AS id FROM users WHERE email = $email',
    { email: ADMIN.email },
  ))!.id;
  ctx.tenantId = tenant;
  ctx.clients = { nobody: new Client(ctx.server.url), super_admin: admin } as Record<Who, Client>;
  for (const role of ['viewer', 'developer', 'manager', 'tenant_admin'] as const) {
    const email = `${role}@acme.test`;
    await runCommand(ctx.server.ctx, 'user create', { tenant, email, role, password: 'role password 12345' });
    ctx.clients[role] = await signIn(ctx.server, email, 'role password 12345');
  }
  const seen = new Set<string>();
  for (const r of createApp(ctx.server.ctx).routes) {
    if (r.method === 'ALL') continue;
    seen.add(`${r.method} ${r.path}`);
  }
  // Signing out ends the session the later requests need: last.
  ctx.routes = [...seen].sort(
    (a, b) => Number(a === 'POST /logout') - Number(b === 'POST /logout') || a.localeCompare(b),
  );
});
test.after(async (ctx) => ctx.server.stop());

test('every route has a row in the README, every row a route, and each role gets what its row says', async (ctx) => {
  const observed = new Map<string, Record<Who, string>>();
  for (const route of ctx.routes) {
    const [method, path] = route.split(' ') as [string, string];
    const row = {} as Record<Who, string>;
    for (const who of WHO) {
      const client = ctx.clients[who];
      const session = client.cookies.get(SESSION_COOKIE);
      const api = path.startsWith('/api/') || path.startsWith('/v1/') || path === '/mcp';
      const headers: Record<string, string> = { accept: api ? 'application/json' : 'text/html' };
      if (session) headers['x-csrf-token'] = csrfToken(ctx.server.ctx.secret, session);
      const init: RequestInit & { form?: Record<string, string>; json?: unknown } = { method, headers };
      if (method !== 'GET' && method !== 'DELETE') {
        if (api) init.json = {};
        else init.form = {};
      }
      row[who] = outcome(await client.request(concrete(path, ctx.tenantId), init));
    }
    observed.set(route, row);
  }
  if (process.env.ROUTE_ROLES_PRINT) {
    console.log(`| route | ${WHO.join(' | ')} |\n| --- |${WHO.map(() => ' --- |').join('')}`);
    for (const [route, row] of observed) console.log(`| \`${route}\` | ${WHO.map((w) => row[w]).join(' | ')} |`);
  }
  const table = readmeTable();
  assert.equal(
    [...observed.keys()].filter((r) => !table.has(r)),
    [],
    'routes with no row in the README',
  );
  assert.equal(
    [...table.keys()].filter((r) => !observed.has(r)),
    [],
    'rows in the README for routes that do not exist',
  );
  const wrong = [...observed].flatMap(([route, row]) =>
    WHO.filter((w) => row[w] !== table.get(route)![w]).map(
      (w) => `${route} as ${w}: got ${row[w]}, the README says ${table.get(route)![w]}`,
    ),
  );
  assert.equal(wrong, []);
});

test.run();
