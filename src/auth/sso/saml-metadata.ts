// An identity provider's SAML metadata: what the appliance needs from it (entity id, where
// to send people, which certificates sign its assertions), parsed from XML that an admin
// uploads or that is fetched from the IdP's metadata URL with a timeout and a size cap.
import { X509Certificate } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';

export const REDIRECT_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const POST_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

export type IdpMetadata = {
  entityId: string;
  /** Where AuthnRequests go, by the HTTP-Redirect binding (the one the appliance uses). */
  ssoUrl: string;
  ssoBinding: typeof REDIRECT_BINDING;
  /** Base64 DER bodies of the signing certificates: several while the IdP rotates its key. */
  signingCerts: string[];
};

/** Metadata the appliance cannot use; `message` says why, for the admin. */
export class SamlMetadataError extends Error {
  override readonly name = 'SamlMetadataError';
}

export function parseIdpMetadata(xml: string): IdpMetadata {
  let doc: ReturnType<typeof parseXml>;
  try {
    doc = parseXml(xml);
  } catch (err) {
    throw new SamlMetadataError((err as Error).message);
  }
  const descriptors = Array.from(doc.getElementsByTagNameNS(MD, 'IDPSSODescriptor'));
  if (descriptors.length !== 1)
    throw new SamlMetadataError(`expected one IDPSSODescriptor, found ${descriptors.length}`);
  const idp = descriptors[0]!;
  const entity = idp.parentNode as Element | null;
  const entityId = entity?.localName === 'EntityDescriptor' ? entity.getAttribute('entityID')?.trim() : undefined;
  if (!entityId) throw new SamlMetadataError('the EntityDescriptor has no entityID');

  const sso = children(idp, MD, 'SingleSignOnService').find((s) => s.getAttribute('Binding') === REDIRECT_BINDING);
  const ssoUrl = sso?.getAttribute('Location')?.trim();
  if (!ssoUrl) throw new SamlMetadataError('the IdP offers no SingleSignOnService with the HTTP-Redirect binding');
  if (!/^https?:\/\//i.test(ssoUrl))
    throw new SamlMetadataError('the SingleSignOnService location is not an http(s) URL');

  // A KeyDescriptor without `use` serves signing and encryption alike.
  const signingCerts = children(idp, MD, 'KeyDescriptor')
    .filter((k) => (k.getAttribute('use') || 'signing') === 'signing')
    .flatMap((k) => Array.from(k.getElementsByTagNameNS(DS, 'X509Certificate')))
    .map((c) => (c.textContent ?? '').replace(/\s+/g, ''))
    .filter((c) => c.length > 0);
  if (!signingCerts.length) throw new SamlMetadataError('the IdP metadata names no signing certificate');
  for (const cert of signingCerts) {
    if (!isCertificate(cert)) throw new SamlMetadataError('a signing certificate is not an X.509 certificate');
  }
  return { entityId, ssoUrl, ssoBinding: REDIRECT_BINDING, signingCerts: [...new Set(signingCerts)] };
}

export type FetchMetadataOptions = { timeoutMs?: number; maxBytes?: number; fetch?: typeof fetch };

/**
 * Fetches an IdP's metadata XML. Only http(s); a slow or oversized answer is cut off, so a
 * misconfigured IdP cannot hold a request or fill memory. Parse the result with parseIdpMetadata.
 */
export async function fetchIdpMetadata(
  url: string,
  { timeoutMs = 10_000, maxBytes = 1_000_000, fetch: get = fetch }: FetchMetadataOptions = {},
): Promise<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SamlMetadataError('the metadata URL is not a URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new SamlMetadataError('the metadata URL must be http(s)');
  if (parsed.username || parsed.password)
    throw new SamlMetadataError('the metadata URL must not hold a user name or password');
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await get(parsed, {
      signal,
      redirect: 'follow',
      headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' },
    });
    if (!response.ok) throw new SamlMetadataError(`the metadata URL answered ${response.status}`);
    if (Number(response.headers.get('content-length') ?? 0) > maxBytes)
      throw new SamlMetadataError(`the metadata is larger than ${maxBytes} bytes`);
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new SamlMetadataError(`the metadata is larger than ${maxBytes} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof SamlMetadataError) throw err;
    if (signal.aborted) throw new SamlMetadataError(`the metadata URL did not answer within ${timeoutMs} ms`);
    // The cause's code (ECONNREFUSED), not fetch's message, which may quote the URL.
    const e = err as Error & { cause?: { code?: string; message?: string } };
    throw new SamlMetadataError(
      `the metadata URL could not be fetched (${e.cause?.code ?? e.cause?.message ?? e.message})`,
    );
  }
}

/** A DOM of `xml`; malformed XML throws instead of being half-parsed. */
export function parseXml(xml: string) {
  const problems: string[] = [];
  const doc = new DOMParser({
    locator: {},
    errorHandler: { warning: () => undefined, error: (m) => problems.push(m), fatalError: (m) => problems.push(m) },
  }).parseFromString(xml, 'text/xml');
  if (problems.length || !doc?.documentElement)
    throw new Error(`not well-formed XML: ${problems[0] ?? 'empty document'}`);
  return doc;
}

function isCertificate(base64Der: string): boolean {
  try {
    return /^[A-Za-z0-9+/]+={0,2}$/.test(base64Der) && !!new X509Certificate(Buffer.from(base64Der, 'base64'));
  } catch {
    return false;
  }
}

function children(parent: Element, ns: string, name: string): Element[] {
  return Array.from(parent.childNodes).filter(
    (n): n is Element => n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === name,
  );
}

/**
 * The metadata a tenant admin gives for a SAML provider, checked before it is stored: the XML
 * itself, or an https URL to fetch it from (https only: an admin's form must not make the
 * appliance fetch plain-http or internal addresses for them). The error names the field.
 */
export async function adminSamlMetadata(
  input: { metadata?: string; metadataUrl?: string },
  options: FetchMetadataOptions = {},
): Promise<string | { field: 'metadata' | 'metadata_url'; message: string }> {
  let xml = input.metadata;
  if (input.metadataUrl) {
    if (!/^https:\/\//i.test(input.metadataUrl))
      return { field: 'metadata_url', message: 'metadata_url: must be an https:// URL (or paste the XML)' };
    try {
      xml = await fetchIdpMetadata(input.metadataUrl, options);
    } catch (err) {
      return { field: 'metadata_url', message: `metadata_url: ${(err as Error).message}` };
    }
  }
  if (!xml)
    return {
      field: 'metadata',
      message: "metadata: paste the identity provider's metadata XML, or give its https URL",
    };
  try {
    parseIdpMetadata(xml);
  } catch (err) {
    return {
      field: input.metadataUrl ? 'metadata_url' : 'metadata',
      message: `${input.metadataUrl ? 'metadata_url' : 'metadata'}: ${(err as Error).message}`,
    };
  }
  return xml;
}
