// SAML 2.0 sign-in as a service provider, on @node-saml/node-saml: the AuthnRequest redirect,
// the SP metadata an IdP registers, and the validation of the IdP's answer. An answer counts
// only when its assertion (or the whole response) is signed by a certificate of the IdP's
// metadata, is meant for this provider's entity id and ACS, is within its validity window,
// answers a request this appliance sent, and was not used before.
import { randomBytes } from 'node:crypto';
import {
  SAML,
  SamlStatusError,
  ValidateInResponseTo,
  generateServiceProviderMetadata,
  type CacheProvider,
  type SamlConfig,
} from '@node-saml/node-saml';
import { parseXml, type IdpMetadata } from './saml-metadata.js';

/** How far the IdP's clock may be from ours. */
export const ACCEPTED_CLOCK_SKEW_MS = 2 * 60_000;

const ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

// Attribute names the common IdPs (Entra ID, Okta, Google, ADFS, Shibboleth) use.
const EMAIL_ATTRIBUTES = [
  'email',
  'mail',
  'emailAddress',
  'urn:oid:0.9.2342.19200300.100.1.3',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
];
const NAME_ATTRIBUTES = [
  'displayName',
  'name',
  'cn',
  'urn:oid:2.16.840.1.113730.3.1.241',
  'http://schemas.microsoft.com/identity/claims/displayname',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
];
export const DEFAULT_GROUP_ATTRIBUTES = [
  'groups',
  'memberOf',
  'urn:oid:1.3.6.1.4.1.5923.1.5.1.1',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
];

export type SamlRefusal =
  | 'unsigned'
  | 'bad signature'
  | 'wrong issuer'
  | 'wrong audience'
  | 'expired'
  | 'not yet valid'
  | 'wrong recipient/destination'
  | 'InResponseTo mismatch'
  | 'replayed'
  | 'idp error'
  | 'malformed';

/** An answer from the IdP that is refused; `reason` is for the audit log, `message` for the log. */
export class SamlResponseError extends Error {
  override readonly name = 'SamlResponseError';
  constructor(
    readonly reason: SamlRefusal,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

export type SamlIdentity = {
  /** The NameID. */
  subject: string;
  email: string;
  /** The IdP vouches for the addresses it asserts. */
  emailVerified: true;
  name: string | null;
  groups: string[];
  attributes: Record<string, string[]>;
  issuer: string;
  assertionId: string;
  notOnOrAfter: Date;
};

export type ValidateOptions = {
  /** The AuthnRequest ID this answer must carry as InResponseTo (see saml-store.ts takeRequest). */
  expectedRequestId: string;
  now: Date;
  /** Records the assertion as used; false when it already was (saml-store.ts rememberAssertion). */
  remember: (assertionId: string, expiresAt: Date) => Promise<boolean>;
};

export type SamlServiceProvider = {
  entityId: string;
  acsUrl: string;
  /** The IdP's URL to send the browser to (HTTP-Redirect binding) and the request's ID to remember. */
  authorizeUrl(relayState: string): Promise<{ url: string; requestId: string }>;
  metadataXml(): string;
  validate(samlResponseBase64: string, options: ValidateOptions): Promise<SamlIdentity>;
};

/** The SP's own URLs: its entity id is its metadata URL, one ACS serves every provider. */
export function samlUrls(publicUrl: URL | string, providerId: string) {
  const base = String(publicUrl).replace(/\/+$/, '');
  const entityId = `${base}/auth/saml/metadata/${encodeURIComponent(providerId)}`;
  return { entityId, metadataUrl: entityId, acsUrl: `${base}/auth/saml/acs` };
}

export function samlServiceProvider(config: {
  providerId: string;
  publicUrl: URL | string;
  idp: IdpMetadata;
  groupAttributes?: string[];
}): SamlServiceProvider {
  const { entityId, acsUrl } = samlUrls(config.publicUrl, config.providerId);
  const idpCert = config.idp.signingCerts.map(toPem);
  const groupAttributes = config.groupAttributes ?? DEFAULT_GROUP_ATTRIBUTES;
  const saml = (options: Partial<SamlConfig> = {}) =>
    new SAML({
      issuer: entityId,
      callbackUrl: acsUrl,
      entryPoint: config.idp.ssoUrl,
      idpCert,
      audience: entityId,
      // A signed response covers its assertion; otherwise the assertion itself must be signed.
      wantAssertionsSigned: false,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: ACCEPTED_CLOCK_SKEW_MS,
      validateInResponseTo: ValidateInResponseTo.always,
      // The IdP decides how people authenticate (MFA included); NameID in its default format.
      disableRequestedAuthnContext: true,
      identifierFormat: null,
      ...options,
    });

  return {
    entityId,
    acsUrl,
    async authorizeUrl(relayState) {
      const requestId = `_${randomBytes(20).toString('hex')}`;
      // The request id is remembered by the caller (saml-store.ts), not by node-saml's cache.
      const url = await saml({
        generateUniqueId: () => requestId,
        cacheProvider: requestCache(null, new Date()),
      }).getAuthorizeUrlAsync(relayState, undefined, {});
      return { url, requestId };
    },
    metadataXml() {
      return generateServiceProviderMetadata({
        issuer: entityId,
        callbackUrl: acsUrl,
        wantAssertionsSigned: true,
        identifierFormat: null,
      });
    },
    async validate(samlResponseBase64, { expectedRequestId, now, remember }) {
      const xml = decodeResponse(samlResponseBase64);
      let assertionXml: string;
      try {
        const { profile } = await saml({
          cacheProvider: requestCache(expectedRequestId, now),
        }).validatePostResponseAsync({ SAMLResponse: samlResponseBase64 });
        if (!profile?.getAssertionXml) throw new SamlResponseError('malformed', 'no assertion');
        assertionXml = profile.getAssertionXml();
      } catch (err) {
        throw refusal(err, xml, now);
      }
      // From here on only the signed assertion is read (the response around it may be unsigned).
      const assertion = parseXml(assertionXml).documentElement;
      checkDestination(xml, acsUrl);
      const issuer = text(child(assertion, ASSERTION, 'Issuer'));
      if (issuer !== config.idp.entityId)
        throw new SamlResponseError('wrong issuer', `expected ${config.idp.entityId}, got ${issuer}`);
      const notOnOrAfter = checkWindow(assertion, acsUrl, now);
      const identity = identityOf(assertion, issuer, notOnOrAfter, groupAttributes);
      if (!(await remember(identity.assertionId, new Date(notOnOrAfter.getTime() + ACCEPTED_CLOCK_SKEW_MS)))) {
        throw new SamlResponseError('replayed', `assertion ${identity.assertionId} was already used`);
      }
      return identity;
    },
  };
}

/** The InResponseTo of a response, unverified: only to find which pending request it claims to answer. */
export function claimedInResponseTo(samlResponseBase64: string): string | null {
  try {
    return parseXml(decodeResponse(samlResponseBase64)).documentElement?.getAttribute('InResponseTo') || null;
  } catch {
    return null;
  }
}

function decodeResponse(samlResponseBase64: string): string {
  const trimmed = samlResponseBase64.replace(/\s+/g, '');
  if (!trimmed || !/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed))
    throw new SamlResponseError('malformed', 'SAMLResponse is not base64');
  return Buffer.from(trimmed, 'base64').toString('utf8');
}

// node-saml asks its cache whether an InResponseTo is one of ours; the one answer is the
// request the caller took from its store (already checked for expiry there).
function requestCache(expectedRequestId: string | null, now: Date): CacheProvider {
  return {
    saveAsync: async () => null,
    getAsync: async (key) => (expectedRequestId !== null && key === expectedRequestId ? now.toISOString() : null),
    removeAsync: async () => null,
  };
}

/** Maps node-saml's errors (plain Errors with messages) to a refusal reason. */
function refusal(err: unknown, xml: string, now: Date): SamlResponseError {
  if (err instanceof SamlResponseError) return err;
  if (err instanceof SamlStatusError) return new SamlResponseError('idp error', err.message);
  const message = (err as Error)?.message ?? String(err);
  if (/signature/i.test(message))
    return new SamlResponseError(hasSignature(xml) ? 'bad signature' : 'unsigned', message);
  if (/InResponseTo/.test(message)) return new SamlResponseError('InResponseTo mismatch', message);
  if (/audience/i.test(message)) return new SamlResponseError('wrong audience', message);
  if (/not yet valid/.test(message)) return new SamlResponseError('not yet valid', message);
  if (/expired/.test(message)) return new SamlResponseError('expired', message);
  // Raised when no SubjectConfirmation is within its window; only the label is read from the XML here.
  if (/No valid subject confirmation/.test(message))
    return new SamlResponseError(startsLater(xml, now) ? 'not yet valid' : 'expired', message);
  return new SamlResponseError('malformed', message);
}

function hasSignature(xml: string): boolean {
  try {
    return parseXml(xml).getElementsByTagNameNS(DSIG, 'Signature').length > 0;
  } catch {
    return false;
  }
}

function startsLater(xml: string, now: Date): boolean {
  try {
    const data = Array.from(parseXml(xml).getElementsByTagNameNS(ASSERTION, 'SubjectConfirmationData'));
    return data.some((d) => Date.parse(d.getAttribute('NotBefore') ?? '') > now.getTime() + ACCEPTED_CLOCK_SKEW_MS);
  } catch {
    return false;
  }
}

// SAML's Destination (on the response, optional unless the response is signed) must name our ACS.
function checkDestination(xml: string, acsUrl: string) {
  const destination = parseXml(xml).documentElement?.getAttribute('Destination');
  if (destination && destination !== acsUrl)
    throw new SamlResponseError('wrong recipient/destination', `Destination ${destination} is not ${acsUrl}`);
}

/**
 * Checks the signed assertion's bearer confirmation (Recipient = our ACS) and validity
 * window against `now`, and returns when it stops being valid. node-saml checked the same
 * window on the system clock; this is the check an injected clock governs.
 */
function checkWindow(assertion: Element, acsUrl: string, now: Date): Date {
  const subject = child(assertion, ASSERTION, 'Subject');
  const confirmations = subject
    ? children(subject, ASSERTION, 'SubjectConfirmation').map((c) => child(c, ASSERTION, 'SubjectConfirmationData'))
    : [];
  const data = confirmations.find((d) => d?.getAttribute('Recipient') === acsUrl);
  if (!data)
    throw new SamlResponseError(
      'wrong recipient/destination',
      `no SubjectConfirmationData names the Recipient ${acsUrl}`,
    );
  const conditions = child(assertion, ASSERTION, 'Conditions');
  const t = now.getTime();
  const notBefore = [conditions?.getAttribute('NotBefore'), data.getAttribute('NotBefore')]
    .filter((v): v is string => !!v)
    .map(instant);
  const notAfter = [conditions?.getAttribute('NotOnOrAfter'), data.getAttribute('NotOnOrAfter')]
    .filter((v): v is string => !!v)
    .map(instant);
  if (!notAfter.length) throw new SamlResponseError('malformed', 'the assertion has no NotOnOrAfter');
  if (notBefore.some((nb) => t + ACCEPTED_CLOCK_SKEW_MS < nb))
    throw new SamlResponseError('not yet valid', 'NotBefore is in the future');
  const end = Math.min(...notAfter);
  if (t - ACCEPTED_CLOCK_SKEW_MS >= end)
    throw new SamlResponseError('expired', `NotOnOrAfter ${new Date(end).toISOString()} has passed`);
  return new Date(end);
}

function instant(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new SamlResponseError('malformed', `not a time: ${value}`);
  return ms;
}

function identityOf(assertion: Element, issuer: string, notOnOrAfter: Date, groupAttributes: string[]): SamlIdentity {
  const assertionId = assertion.getAttribute('ID');
  if (!assertionId) throw new SamlResponseError('malformed', 'the assertion has no ID');
  const nameId = child(child(assertion, ASSERTION, 'Subject'), ASSERTION, 'NameID');
  const subject = text(nameId);
  if (!subject) throw new SamlResponseError('malformed', 'the assertion has no NameID');
  const attributes: Record<string, string[]> = {};
  for (const statement of children(assertion, ASSERTION, 'AttributeStatement')) {
    for (const attribute of children(statement, ASSERTION, 'Attribute')) {
      const name = attribute.getAttribute('Name');
      if (!name) continue;
      const values = children(attribute, ASSERTION, 'AttributeValue')
        .map(text)
        .filter((v) => v !== '');
      attributes[name] = [...(attributes[name] ?? []), ...values];
    }
  }
  const first = (names: string[]) => names.map((n) => attributes[n]?.[0]).find((v) => v);
  const email = first(EMAIL_ATTRIBUTES) ?? (nameId?.getAttribute('Format') === EMAIL_FORMAT ? subject : '');
  const groups = [...new Set(groupAttributes.flatMap((n) => attributes[n] ?? []))];
  return {
    subject,
    email: email.trim().toLowerCase(),
    emailVerified: true,
    name: first(NAME_ATTRIBUTES) ?? null,
    groups,
    attributes,
    issuer,
    assertionId,
    notOnOrAfter,
  };
}

function toPem(base64Der: string): string {
  return `-----BEGIN CERTIFICATE-----\n${base64Der.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function children(parent: Element | null | undefined, ns: string, name: string): Element[] {
  if (!parent) return [];
  return Array.from(parent.childNodes).filter(
    (n): n is Element => n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === name,
  );
}

function child(parent: Element | null | undefined, ns: string, name: string): Element | null {
  return children(parent, ns, name)[0] ?? null;
}

function text(element: Element | null | undefined): string {
  return (element?.textContent ?? '').trim();
}
