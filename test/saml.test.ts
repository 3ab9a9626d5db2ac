// SAML 2.0: responses from a test IdP (signed with xml-crypto by a key made at test time)
// validated by the SP module against a real control database. node-saml reads the system
// clock, so responses are dated from the real `Date.now()` with minutes of margin; the
// injected `now` governs the module's own window check, the stores and their expiry.
import { createServer, type Server } from 'node:http';
import { inflateRawSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DOMParser } from '@xmldom/xmldom';
import { tempDir } from './helpers.js';
import { createTestIdp, signingKey, tamper, type ResponseOptions, type TestIdp } from './saml-idp.js';
import { openDatabase, type Database } from '../src/storage/duckdb.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import {
  samlServiceProvider,
  SamlResponseError,
  claimedInResponseTo,
  type SamlServiceProvider,
} from '../src/auth/sso/saml.js';
import { fetchIdpMetadata, parseIdpMetadata, SamlMetadataError } from '../src/auth/sso/saml-metadata.js';
import { rememberAssertion, rememberRequest, takeRequest } from '../src/auth/sso/saml-store.js';

const PUBLIC_URL = 'https://meter.example.com';
const PROVIDER = 'sp_okta';
const ACS = `${PUBLIC_URL}/auth/saml/acs`;
const ENTITY = `${PUBLIC_URL}/auth/saml/metadata/${PROVIDER}`;

let idp: TestIdp;
let db: Database;
let dir: ReturnType<typeof tempDir>;

test.before(async () => {
  idp = await createTestIdp();
  dir = tempDir('saml');
  db = await openDatabase(`${dir.path}/control.duckdb`);
  await migrate(db, loadMigrations('control'));
});
test.after(async () => {
  await db.close();
  dir.remove();
});

const sp = (metadata = idp.metadataXml()) =>
  samlServiceProvider({ providerId: PROVIDER, publicUrl: PUBLIC_URL, idp: parseIdpMetadata(metadata) });

/** The ACS's steps: take the pending request the response claims to answer, then validate. */
async function acs(provider: SamlServiceProvider, samlResponse: string, now = new Date()) {
  const claimed = claimedInResponseTo(samlResponse);
  const pending = claimed ? await takeRequest(db, claimed, now) : null;
  return provider.validate(samlResponse, {
    expectedRequestId: pending?.id ?? '',
    now,
    remember: (assertionId, expiresAt) => rememberAssertion(db, { providerId: PROVIDER, assertionId, expiresAt }, now),
  });
}

/** Starts a sign-in (the request remembered) and has the IdP answer it with `options`. */
async function answer(options: Partial<ResponseOptions> = {}, provider = sp()) {
  const { requestId } = await provider.authorizeUrl('/dashboards');
  await rememberRequest(db, { id: requestId, providerId: PROVIDER, relayState: '/dashboards' }, new Date());
  const response = idp.response({
    audience: ENTITY,
    recipient: ACS,
    inResponseTo: requestId,
    now: new Date(),
    ...options,
  });
  return { provider, requestId, response };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SamlResponseError) return err.reason;
    throw err;
  }
  throw new Error('accepted');
}

const claims = {
  attributes: { email: 'Ada@Example.com', displayName: 'Ada Lovelace', groups: ['engineering', 'agentmeter-managers'] },
  nameId: 'ada@example.com',
};

test('a signed assertion is accepted and gives the identity', async () => {
  const { provider, response } = await answer(claims);
  const identity = await acs(provider, response);
  assert.is(identity.subject, 'ada@example.com');
  assert.is(identity.email, 'ada@example.com');
  assert.is(identity.emailVerified, true);
  assert.is(identity.name, 'Ada Lovelace');
  assert.equal(identity.groups, ['engineering', 'agentmeter-managers']);
  assert.equal(identity.attributes.groups, ['engineering', 'agentmeter-managers']);
  assert.is(identity.issuer, idp.entityId);
  assert.ok(identity.assertionId.startsWith('_a'));
  assert.ok(identity.notOnOrAfter.getTime() > Date.now());
});

test('a response signed as a whole (assertion unsigned) is accepted', async () => {
  const { provider, response } = await answer({ ...claims, sign: 'response' });
  assert.is((await acs(provider, response)).email, 'ada@example.com');
});

test('an unsigned response is refused', async () => {
  const { provider, response } = await answer({ ...claims, sign: 'none' });
  assert.is(await refusal(acs(provider, response)), 'unsigned');
});

test('an assertion changed after signing is refused', async () => {
  const { provider, response } = await answer(claims);
  assert.is(
    await refusal(acs(provider, tamper(response, 'agentmeter-managers', 'agentmeter-admins'))),
    'bad signature',
  );
});

test('an assertion signed by a key the metadata does not name is refused', async () => {
  const { provider, response } = await answer({ ...claims, key: await signingKey('forger') });
  assert.is(await refusal(acs(provider, response)), 'bad signature');
});

test('an assertion used a second time is refused as a replay', async () => {
  const { provider, requestId, response } = await answer(claims);
  await acs(provider, response);
  // Through the ACS the request is answered once, so the second try fails there first...
  assert.is(await refusal(acs(provider, response)), 'InResponseTo mismatch');
  // ...and should a request be accepted again, the assertion id is still remembered.
  const now = new Date();
  const remember = (assertionId: string, expiresAt: Date) =>
    rememberAssertion(db, { providerId: PROVIDER, assertionId, expiresAt }, now);
  assert.is(await refusal(provider.validate(response, { expectedRequestId: requestId, now, remember })), 'replayed');
});

test('an expired assertion is refused, and one not yet valid', async () => {
  const expired = await answer({ ...claims, notBeforeMs: -20 * 60_000, notOnOrAfterMs: -10 * 60_000 });
  assert.is(await refusal(acs(expired.provider, expired.response)), 'expired');
  const early = await answer({ ...claims, notBeforeMs: 10 * 60_000, notOnOrAfterMs: 20 * 60_000 });
  assert.is(await refusal(acs(early.provider, early.response)), 'not yet valid');
});

test('the injected clock decides the window: an hour later a fresh assertion has expired', async () => {
  const { provider, requestId, response } = await answer(claims);
  const later = new Date(Date.now() + 60 * 60_000);
  const remember = (assertionId: string, expiresAt: Date) =>
    rememberAssertion(db, { providerId: PROVIDER, assertionId, expiresAt }, later);
  assert.is(
    await refusal(provider.validate(response, { expectedRequestId: requestId, now: later, remember })),
    'expired',
  );
});

test('an assertion for another audience is refused', async () => {
  const { provider, response } = await answer({ ...claims, audience: `${PUBLIC_URL}/auth/saml/metadata/sp_other` });
  assert.is(await refusal(acs(provider, response)), 'wrong audience');
});

test('a response for another recipient or destination is refused', async () => {
  const recipient = await answer({ ...claims, recipient: 'https://elsewhere.example.com/acs', destination: ACS });
  assert.is(await refusal(acs(recipient.provider, recipient.response)), 'wrong recipient/destination');
  const destination = await answer({ ...claims, destination: 'https://elsewhere.example.com/acs' });
  assert.is(await refusal(acs(destination.provider, destination.response)), 'wrong recipient/destination');
});

test('a response that answers no request of ours is refused (InResponseTo)', async () => {
  const other = await answer({ ...claims, inResponseTo: '_not_a_request_we_sent' });
  assert.is(await refusal(acs(other.provider, other.response)), 'InResponseTo mismatch');
  // IdP-initiated: no InResponseTo at all.
  const unsolicited = await answer({ ...claims, inResponseTo: null });
  assert.is(await refusal(acs(unsolicited.provider, unsolicited.response)), 'InResponseTo mismatch');
});

test('an assertion issued in the name of another IdP is refused', async () => {
  const { provider, response } = await answer({ ...claims, issuer: 'https://other-idp.example.test/metadata' });
  assert.is(await refusal(acs(provider, response)), 'wrong issuer');
});

test('SP metadata names the entity id and the ACS with the POST binding', async () => {
  const doc = new DOMParser().parseFromString(sp().metadataXml(), 'text/xml');
  const md = 'urn:oasis:names:tc:SAML:2.0:metadata';
  assert.is(doc.documentElement.getAttribute('entityID'), ENTITY);
  const descriptor = doc.getElementsByTagNameNS(md, 'SPSSODescriptor')[0]!;
  assert.is(descriptor.getAttribute('WantAssertionsSigned'), 'true');
  const acsElement = doc.getElementsByTagNameNS(md, 'AssertionConsumerService')[0]!;
  assert.is(acsElement.getAttribute('Location'), ACS);
  assert.is(acsElement.getAttribute('Binding'), 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
});

test('the authorize URL carries an AuthnRequest with the remembered id, our issuer and ACS', async () => {
  const { url, requestId } = await sp().authorizeUrl('/sessions');
  const parsed = new URL(url);
  assert.is(`${parsed.origin}${parsed.pathname}`, idp.ssoUrl);
  assert.is(parsed.searchParams.get('RelayState'), '/sessions');
  const request = new DOMParser().parseFromString(
    inflateRawSync(Buffer.from(parsed.searchParams.get('SAMLRequest')!, 'base64')).toString(),
    'text/xml',
  );
  const root = request.documentElement;
  assert.is(root.localName, 'AuthnRequest');
  assert.is(root.getAttribute('ID'), requestId);
  assert.is(root.getAttribute('AssertionConsumerServiceURL'), ACS);
  assert.is(root.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Issuer')[0]!.textContent, ENTITY);
  assert.is.not((await sp().authorizeUrl('/sessions')).requestId, requestId);
});

test('IdP metadata with two certificates (a rotation): assertions signed by either are accepted', async () => {
  const next = await signingKey('next key');
  const metadata = idp.metadataXml([next.cert]);
  assert.equal(parseIdpMetadata(metadata).signingCerts, [idp.key.cert, next.cert]);
  const byNew = await answer({ ...claims, key: next }, sp(metadata));
  assert.is((await acs(byNew.provider, byNew.response)).email, 'ada@example.com');
  const byOld = await answer(claims, sp(metadata));
  assert.is((await acs(byOld.provider, byOld.response)).email, 'ada@example.com');
});

test('IdP metadata: entity id and redirect SSO URL read; unusable metadata refused with a reason', () => {
  const parsed = parseIdpMetadata(idp.metadataXml());
  assert.is(parsed.entityId, idp.entityId);
  assert.is(parsed.ssoUrl, idp.ssoUrl);
  const refused = (xml: string) => {
    try {
      parseIdpMetadata(xml);
    } catch (err) {
      assert.instance(err, SamlMetadataError);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };
  assert.match(refused('<not xml'), 'not well-formed XML');
  assert.match(refused(idp.metadataXml([], { ssoBinding: 'urn:example:other' })), 'HTTP-Redirect');
  assert.match(
    refused(idp.metadataXml().replace(/<md:KeyDescriptor[\s\S]*<\/md:KeyDescriptor>/, '')),
    'no signing certificate',
  );
  assert.match(
    refused(idp.metadataXml().replace(/<ds:X509Certificate>[^<]*</, '<ds:X509Certificate>QUJD<')),
    'not an X.509 certificate',
  );
});

test('replay store: an id is remembered until it expires, then purged', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const entry = { providerId: 'sp_a', assertionId: '_x1', expiresAt: new Date('2030-01-01T00:05:00Z') };
  assert.is(await rememberAssertion(db, entry, now), true);
  assert.is(await rememberAssertion(db, entry, new Date('2030-01-01T00:04:59Z')), false);
  assert.is(
    await rememberAssertion(db, { ...entry, providerId: 'sp_b', expiresAt: new Date('2030-01-01T00:10:00Z') }, now),
    true,
  );
  assert.is(await rememberAssertion(db, entry, new Date('2030-01-01T00:05:00Z')), true);
  const rows = await db.all<{ n: number }>(
    "SELECT count(*)::INTEGER AS n FROM saml_assertions WHERE assertion_id = '_x1'",
  );
  assert.is(rows[0]!.n, 2);
});

test('pending requests: taken once, and not after they expire', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  await rememberRequest(db, { id: '_r1', providerId: PROVIDER, relayState: '/x' }, now);
  assert.equal(await takeRequest(db, '_r1', now), { id: '_r1', providerId: PROVIDER, relayState: '/x' });
  assert.is(await takeRequest(db, '_r1', now), null);
  await rememberRequest(db, { id: '_r2', providerId: PROVIDER, relayState: null }, now);
  assert.is(await takeRequest(db, '_r2', new Date('2030-01-01T00:10:00Z')), null);
});

test('fetching metadata: served XML read; too large, too slow and non-http refused', async () => {
  const metadata = idp.metadataXml();
  const server: Server = createServer((req, res) => {
    if (req.url === '/metadata') res.end(metadata);
    else if (req.url === '/huge') res.end('x'.repeat(2_000_000));
    // /slow: never answers; the client's timeout ends it.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const message = async (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (err: Error) => (err instanceof SamlMetadataError ? err.message : `unexpected ${err}`),
    );
  try {
    assert.is(parseIdpMetadata(await fetchIdpMetadata(`${base}/metadata`)).entityId, idp.entityId);
    assert.match(await message(fetchIdpMetadata(`${base}/huge`, { maxBytes: 100_000 })), 'larger than 100000 bytes');
    assert.match(await message(fetchIdpMetadata(`${base}/slow`, { timeoutMs: 200 })), 'did not answer within 200 ms');
    assert.match(await message(fetchIdpMetadata('file:///etc/passwd')), 'must be http(s)');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test.run();
