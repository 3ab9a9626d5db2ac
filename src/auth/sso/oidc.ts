// OpenID Connect with openid-client: discovery from the issuer, authorization code with PKCE,
// state and nonce, and the ID token's signature, issuer, audience, expiry and nonce checked by
// the library. Every request to the provider has a short timeout, so a provider that is down
// or slow fails this sign-in alone.
import * as oidc from 'openid-client';
import { isLoopback, type Provider } from './providers.js';
import type { Flow } from './flow.js';
import { SsoError } from './flow.js';
import type { VerifiedIdentity } from './sign-in.js';

const TIMEOUT_SECONDS = 5;

async function configure(provider: Provider, clientSecret: string): Promise<oidc.Configuration> {
  const issuer = new URL(provider.config.issuer!);
  // Plain http only for a provider on this machine (a test's); anything else must be https.
  const execute = issuer.protocol === 'http:' && isLoopback(issuer.hostname) ? [oidc.allowInsecureRequests] : [];
  try {
    // The ID token's signature is checked against the issuer's keys even though it came
    // straight from the token endpoint: openid-client skips that unless asked.
    return await oidc.discovery(issuer, provider.config.clientId!, clientSecret, undefined, {
      timeout: TIMEOUT_SECONDS,
      execute: [...execute, oidc.enableNonRepudiationChecks],
    });
  } catch (err) {
    throw unreachable(provider, err);
  }
}

function unreachable(provider: Provider, err: unknown): SsoError {
  return new SsoError(
    'provider_unreachable',
    `${provider.name} could not be reached or answered wrongly (${describe(err)}). Try again later, or sign in another way.`,
    502,
  );
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer in time';
  return (e.cause?.code ?? e.code ?? e.message ?? 'error').slice(0, 200);
}

export async function oidcAuthorizationUrl(
  provider: Provider,
  clientSecret: string,
  flow: Flow,
  redirectUri: string,
): Promise<URL> {
  const config = await configure(provider, clientSecret);
  return oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile',
    state: flow.state,
    nonce: flow.nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
    code_challenge_method: 'S256',
  });
}

/** The identity in a verified ID token (the userinfo endpoint only when the token lacks an email). */
export async function oidcIdentity(
  provider: Provider,
  clientSecret: string,
  flow: Flow,
  redirectUri: string,
  query: URLSearchParams,
): Promise<VerifiedIdentity> {
  const config = await configure(provider, clientSecret);
  const current = new URL(redirectUri);
  for (const [k, v] of query) current.searchParams.append(k, v);
  let tokens;
  try {
    tokens = await oidc.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
  } catch (err) {
    if (err instanceof oidc.AuthorizationResponseError)
      throw new SsoError(
        'provider_error',
        `${provider.name} did not sign you in: ${err.error_description ?? err.error}.`,
        403,
      );
    if (err instanceof oidc.ResponseBodyError || isNetwork(err)) throw unreachable(provider, err);
    // Anything else is a response that failed a check: signature, issuer, audience, expiry, nonce.
    throw new SsoError(
      'invalid_id_token',
      `The answer from ${provider.name} failed its checks (${describe(err)}), so it was refused.`,
      403,
    );
  }
  let claims: Record<string, unknown> = { ...tokens.claims()! };
  if (typeof claims.email !== 'string' && config.serverMetadata().userinfo_endpoint) {
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub as string).catch((err: unknown) => {
      throw unreachable(provider, err);
    });
    claims = { ...info, ...claims };
  }
  const groups = claims[provider.config.groupsClaim ?? 'groups'];
  return {
    subject: String(claims.sub),
    email: typeof claims.email === 'string' ? claims.email : '',
    // Entra sends no email_verified; its xms_edov says the domain's owner verified the address.
    emailVerified: claims.email_verified === true || (provider.preset === 'entra' && claims.xms_edov === true),
    name: typeof claims.name === 'string' ? claims.name : null,
    groups: Array.isArray(groups) ? groups.map(String) : typeof groups === 'string' ? [groups] : [],
  };
}

function isNetwork(err: unknown): boolean {
  const e = err as { name?: string; code?: string; cause?: unknown };
  return (
    e.name === 'TimeoutError' ||
    e.name === 'AbortError' ||
    e.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' ||
    (e.name === 'TypeError' && e.cause !== undefined)
  );
}
