// A SAML sign-in from start to finish: the redirect to the IdP with its request remembered,
// and the ACS's answer taken apart: which request it answers (so which provider), then the
// validation. Providers come from the caller's lookup; this file stores none.
import type { Connection } from '../../storage/duckdb.js';
import { parseIdpMetadata } from './saml-metadata.js';
import { claimedInResponseTo, samlServiceProvider, SamlResponseError, type SamlIdentity } from './saml.js';
import { rememberAssertion, rememberRequest, takeRequest } from './saml-store.js';

export type SamlProvider = { id: string; tenantId: string; idpMetadataXml: string; groupAttributes?: string[] };
export type SamlProviderLookup = (providerId: string) => Promise<SamlProvider | null>;
export type SamlFlowDeps = { control: Connection; publicUrl: URL | string; provider: SamlProviderLookup };

const spFor = (deps: SamlFlowDeps, provider: SamlProvider) =>
  samlServiceProvider({
    providerId: provider.id,
    publicUrl: deps.publicUrl,
    idp: parseIdpMetadata(provider.idpMetadataXml),
    groupAttributes: provider.groupAttributes,
  });

/** The SP metadata XML of a provider, or null when there is no such provider. */
export async function samlMetadata(deps: SamlFlowDeps, providerId: string): Promise<string | null> {
  const provider = await deps.provider(providerId);
  return provider ? spFor(deps, provider).metadataXml() : null;
}

/** Where to send the browser to sign in with `providerId`; null when there is no such provider. */
export async function startSamlSignIn(
  deps: SamlFlowDeps,
  providerId: string,
  relayState: string,
  now: Date,
): Promise<string | null> {
  const provider = await deps.provider(providerId);
  if (!provider) return null;
  const { url, requestId } = await spFor(deps, provider).authorizeUrl(relayState);
  await rememberRequest(deps.control, { id: requestId, providerId: provider.id, relayState }, now);
  return url;
}

/** A refusal, with the provider when the response answered one of our requests. */
export class SamlSignInError extends Error {
  override readonly name = 'SamlSignInError';
  constructor(
    readonly refusal: SamlResponseError,
    readonly provider: SamlProvider | null,
  ) {
    super(refusal.message);
  }
}

/**
 * Validates a SAMLResponse posted to the ACS. The request it claims to answer is taken
 * (once) from the pending requests; that request names the provider whose certificates,
 * entity id and ACS the response must match.
 */
export async function finishSamlSignIn(
  deps: SamlFlowDeps,
  samlResponse: string,
  now: Date,
): Promise<{ provider: SamlProvider; identity: SamlIdentity; relayState: string | null }> {
  const claimed = claimedInResponseTo(samlResponse);
  const pending = claimed ? await takeRequest(deps.control, claimed, now) : null;
  if (!pending)
    throw new SamlSignInError(
      new SamlResponseError('InResponseTo mismatch', 'the response answers no pending request of this appliance'),
      null,
    );
  const provider = await deps.provider(pending.providerId);
  if (!provider)
    throw new SamlSignInError(
      new SamlResponseError('InResponseTo mismatch', 'the provider of this request no longer exists'),
      null,
    );
  try {
    const identity = await spFor(deps, provider).validate(samlResponse, {
      expectedRequestId: pending.id,
      now,
      remember: (assertionId, expiresAt) =>
        rememberAssertion(deps.control, { providerId: provider.id, assertionId, expiresAt }, now),
    });
    return { provider, identity, relayState: pending.relayState };
  } catch (err) {
    if (err instanceof SamlResponseError) throw new SamlSignInError(err, provider);
    throw err;
  }
}
