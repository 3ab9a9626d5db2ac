// The SAML endpoints over real HTTP on 127.0.0.1: SP metadata, the redirect to the IdP, and
// the ACS with responses from the test IdP (accepted once; refused ones audited). The routes
// run in a small app of their own with a provider lookup and a sign-in callback, as the
// appliance wires them to its stored providers.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Hono } from 'hono';
import { createAdaptorServer } from '@hono/node-server';
import { tempDir } from './helpers.js';
import { createTestIdp, tamper, type TestIdp } from './saml-idp.js';
import { openDatabase, type Database } from '../src/storage/duckdb.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { samlUrls, type SamlIdentity } from '../src/auth/sso/saml.js';
import type { SamlProvider } from '../src/auth/sso/saml-flow.js';
import { resolveClientIp } from '../src/web/client-ip.js';
import type { Env } from '../src/web/env.js';
import { samlRoutes } from '../src/web/routes/saml.js';

let idp: TestIdp;
let db: Database;
let dir: ReturnType<typeof tempDir>;
let server: Server;
let base: string;
const signedIn: { provider: SamlProvider; identity: SamlIdentity; next: string }[] = [];
const PROVIDER_ID = 'sp_entra';

test.before(async () => {
  idp = await createTestIdp();
  dir = tempDir('saml-routes');
  db = await openDatabase(`${dir.path}/control.duckdb`);
  await migrate(db, loadMigrations('control'));
  const provider: SamlProvider = {
    id: PROVIDER_ID,
    tenantId: 't_aaaaaaaaaaaaaaaaaaaa',
    idpMetadataXml: idp.metadataXml(),
  };
  const broken: SamlProvider = {
    id: 'sp_broken',
    tenantId: 't_aaaaaaaaaaaaaaaaaaaa',
    idpMetadataXml: '<md:EntityDescriptor',
  };
  // The appliance's public URL is where this server listens, known once it does.
  let app: Hono<Env> | null = null;
  server = createAdaptorServer({ fetch: (req: Request) => app!.fetch(req) }) as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const providers: Record<string, SamlProvider> = { [PROVIDER_ID]: provider, sp_broken: broken };
  app = new Hono<Env>();
  app.use(resolveClientIp([]));
  app.route(
    '/',
    samlRoutes({
      control: db,
      publicUrl: new URL(base),
      now: () => new Date(),
      provider: async (id) => providers[id] ?? null,
      signIn: async (c, p, identity, next) => {
        signedIn.push({ provider: p, identity, next });
        return c.redirect(next, 303);
      },
    }),
  );
});
test.after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await db.close();
  dir.remove();
});

/** Starts a sign-in over HTTP; the id of the AuthnRequest the browser is sent to the IdP with. */
async function start(next: string): Promise<string> {
  const res = await fetch(`${base}/auth/saml/start/${PROVIDER_ID}?next=${encodeURIComponent(next)}`, {
    redirect: 'manual',
  });
  assert.is(res.status, 302);
  const location = new URL(res.headers.get('location')!);
  assert.is(`${location.origin}${location.pathname}`, idp.ssoUrl);
  const xml = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString();
  return /\bID="([^"]+)"/.exec(xml)![1]!;
}

const post = (samlResponse: string | null) =>
  fetch(`${base}/auth/saml/acs`, {
    method: 'POST',
    redirect: 'manual',
    body: new URLSearchParams(
      samlResponse === null ? { RelayState: 'x' } : { SAMLResponse: samlResponse, RelayState: '//evil.example' },
    ),
  });

const answer = (inResponseTo: string) => {
  const { entityId, acsUrl } = samlUrls(base, PROVIDER_ID);
  return idp.response({
    audience: entityId,
    recipient: acsUrl,
    inResponseTo,
    now: new Date(),
    attributes: { email: 'grace@example.com', groups: 'ops' },
    nameId: 'grace',
  });
};

const refusals = () =>
  db.all<{ tenantId: string | null; target: string | null; detail: string }>(
    `SELECT tenant_id AS "tenantId", target, detail FROM audit_log WHERE action = 'login.sso.refused' ORDER BY occurred_at`,
  );

test('SP metadata is served per provider; an unknown provider is 404, broken metadata 503', async () => {
  const res = await fetch(`${base}/auth/saml/metadata/${PROVIDER_ID}`);
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type')!, 'application/samlmetadata+xml');
  const xml = await res.text();
  assert.ok(xml.includes(`entityID="${base}/auth/saml/metadata/${PROVIDER_ID}"`));
  assert.ok(xml.includes(`Location="${base}/auth/saml/acs"`));
  assert.is((await fetch(`${base}/auth/saml/metadata/sp_nope`)).status, 404);
  const broken = await fetch(`${base}/auth/saml/metadata/sp_broken`);
  assert.is(broken.status, 503);
  assert.match(((await broken.json()) as { error: string }).error, 'misconfigured');
});

test('a signed answer to our request signs in once, to the path asked for at the start', async () => {
  const requestId = await start('/sessions?range=7d');
  const response = answer(requestId);
  const res = await post(response);
  assert.is(res.status, 303);
  assert.is(res.headers.get('location'), '/sessions?range=7d');
  const last = signedIn.at(-1)!;
  assert.is(last.provider.id, PROVIDER_ID);
  assert.is(last.identity.email, 'grace@example.com');
  assert.equal(last.identity.groups, ['ops']);
  // The same response again: its request is used up.
  const again = await post(response);
  assert.is(again.status, 403);
  assert.equal(await again.json(), { error: 'SAML sign-in refused: InResponseTo mismatch', field: 'SAMLResponse' });
  assert.is(signedIn.length, 1);
});

test('a tampered answer is refused with 403 and audited for the provider and its tenant', async () => {
  const before = (await refusals()).length;
  const requestId = await start('/');
  const res = await post(tamper(answer(requestId), 'grace@example.com', 'admin@example.com'));
  assert.is(res.status, 403);
  assert.equal(await res.json(), { error: 'SAML sign-in refused: bad signature', field: 'SAMLResponse' });
  const rows = await refusals();
  assert.is(rows.length, before + 1);
  assert.is(rows.at(-1)!.tenantId, 't_aaaaaaaaaaaaaaaaaaaa');
  assert.is(rows.at(-1)!.target, PROVIDER_ID);
  assert.equal(JSON.parse(rows.at(-1)!.detail), { protocol: 'saml', reason: 'bad signature' });
  assert.ok(!signedIn.some((s) => s.identity.email === 'admin@example.com'));
});

test('bad input: no SAMLResponse is a 400 naming it; a start with an outside next goes home', async () => {
  const res = await post(null);
  assert.is(res.status, 400);
  assert.equal(await res.json(), { error: 'SAMLResponse: missing', field: 'SAMLResponse' });
  const garbage = await post('not base64 at all!');
  assert.is(garbage.status, 403);
  const requestId = await start('https://evil.example/');
  const signIn = await post(answer(requestId));
  assert.is(signIn.headers.get('location'), '/');
  assert.is((await fetch(`${base}/auth/saml/start/sp_nope`, { redirect: 'manual' })).status, 404);
});

test.run();
