// A SAML identity provider for tests: a key pair and self-signed certificate made at test
// time, its metadata XML, and SAMLResponses signed with xml-crypto for given claims,
// audience, recipient, InResponseTo and validity window, signed or not, or altered after
// signing. Times are relative to the `now` given (the real clock where node-saml checks them).
import { randomBytes } from 'node:crypto';
import { generate } from 'selfsigned';
import { SignedXml } from 'xml-crypto';

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

export type SigningKey = {
  privateKey: string;
  certPem: string /** base64 DER, as metadata carries it */;
  cert: string;
};

export async function signingKey(name = 'agentmeter test idp'): Promise<SigningKey> {
  const pems = await generate([{ name: 'commonName', value: name }], { keySize: 2048, algorithm: 'sha256' });
  return {
    privateKey: pems.private,
    certPem: pems.cert,
    cert: pems.cert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''),
  };
}

export type ResponseOptions = {
  audience: string;
  /** The ACS URL: SubjectConfirmationData's Recipient and, unless `destination` says otherwise, the Destination. */
  recipient: string;
  destination?: string | null;
  inResponseTo: string | null;
  now: Date;
  nameId?: string;
  nameIdFormat?: string;
  attributes?: Record<string, string | string[]>;
  /** Offsets from `now`, in ms. */
  notBeforeMs?: number;
  notOnOrAfterMs?: number;
  assertionId?: string;
  issuer?: string;
  /** What carries the signature. */
  sign?: 'assertion' | 'response' | 'both' | 'none';
  /** Signs with another key than the IdP's own (as a forger would). */
  key?: SigningKey;
};

export type TestIdp = {
  entityId: string;
  ssoUrl: string;
  key: SigningKey;
  /** Metadata naming this IdP's certificate, then any `extraCerts` (a rotation in progress). */
  metadataXml(extraCerts?: string[], options?: { ssoBinding?: string }): string;
  /** A base64 SAMLResponse, as the browser posts it to the ACS. */
  response(options: ResponseOptions): string;
};

export async function createTestIdp({
  entityId = 'https://idp.example.test/metadata',
  ssoUrl = 'https://idp.example.test/sso',
} = {}): Promise<TestIdp> {
  const key = await signingKey();
  return {
    entityId,
    ssoUrl,
    key,
    metadataXml: (extraCerts = [], { ssoBinding = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect' } = {}) =>
      `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${esc(entityId)}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
${[key.cert, ...extraCerts]
  .map(
    (cert) => `    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>${cert.match(/.{1,64}/g)!.join('\n')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>`,
  )
  .join('\n')}
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(ssoUrl)}/post"/>
    <md:SingleSignOnService Binding="${esc(ssoBinding)}" Location="${esc(ssoUrl)}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`,
    response: (options) => Buffer.from(responseXml(entityId, key, options)).toString('base64'),
  };
}

function responseXml(entityId: string, idpKey: SigningKey, o: ResponseOptions): string {
  const at = (offsetMs: number) => new Date(o.now.getTime() + offsetMs).toISOString();
  const issuer = esc(o.issuer ?? entityId);
  const assertionId = o.assertionId ?? `_a${randomBytes(16).toString('hex')}`;
  const inResponseTo = o.inResponseTo === null ? '' : ` InResponseTo="${esc(o.inResponseTo)}"`;
  const destination = o.destination === null ? '' : ` Destination="${esc(o.destination ?? o.recipient)}"`;
  const notBefore = at(o.notBeforeMs ?? -60_000);
  const notOnOrAfter = at(o.notOnOrAfterMs ?? 5 * 60_000);
  const attributes = Object.entries(o.attributes ?? {})
    .map(
      ([name, values]) =>
        `<saml:Attribute Name="${esc(name)}">${[values]
          .flat()
          .map((v) => `<saml:AttributeValue>${esc(v)}</saml:AttributeValue>`)
          .join('')}</saml:Attribute>`,
    )
    .join('');
  const assertion =
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${assertionId}" Version="2.0" IssueInstant="${at(0)}">` +
    `<saml:Issuer>${issuer}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${esc(o.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress')}">${esc(o.nameId ?? 'ada@example.com')}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${notOnOrAfter}" Recipient="${esc(o.recipient)}"/>` +
    `</saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}">` +
    `<saml:AudienceRestriction><saml:Audience>${esc(o.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${at(0)}" SessionIndex="${assertionId}"><saml:AuthnContext>` +
    `<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>` +
    `</saml:AuthnContext></saml:AuthnStatement>` +
    (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
    `</saml:Assertion>`;
  const key = o.key ?? idpKey;
  const sign = o.sign ?? 'assertion';
  const body = sign === 'assertion' || sign === 'both' ? signed(assertion, key, 'Assertion') : assertion;
  const response =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ` +
    `ID="_r${randomBytes(16).toString('hex')}" Version="2.0" IssueInstant="${at(0)}"${destination}${inResponseTo}>` +
    `<saml:Issuer>${issuer}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
    body +
    `</samlp:Response>`;
  return sign === 'response' || sign === 'both' ? signed(response, key, 'Response') : response;
}

/** `xml` with an enveloped signature over its top `element`, placed after that element's Issuer. */
function signed(xml: string, key: SigningKey, element: 'Assertion' | 'Response'): string {
  const target = `/*[local-name(.)='${element}']`;
  const sig = new SignedXml({
    privateKey: key.privateKey,
    publicCert: key.certPem,
    signatureAlgorithm: RSA_SHA256,
    canonicalizationAlgorithm: EXC_C14N,
  });
  sig.addReference({ xpath: target, digestAlgorithm: SHA256, transforms: [ENVELOPED, EXC_C14N] });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}

/** A response changed after signing: every occurrence of `from` becomes `to`. */
export function tamper(samlResponse: string, from: string, to: string): string {
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  if (!xml.includes(from)) throw new Error(`tamper: "${from}" is not in the response`);
  return Buffer.from(xml.split(from).join(to)).toString('base64');
}

function esc(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
