// GitHub: plain OAuth 2.0 (authorization code with state and PKCE), then its /user and
// /user/emails API; only the primary email, and only when GitHub has verified it. The base
// URLs come from the provider (github.com by default; GitHub Enterprise, or a test's stand-in).
import { calculatePKCECodeChallenge } from 'openid-client';
import type { Flow } from './flow.js';
import { SsoError } from './flow.js';
import type { Provider } from './providers.js';
import type { VerifiedIdentity } from './sign-in.js';

const TIMEOUT_MS = 5000;

export async function githubAuthorizationUrl(provider: Provider, flow: Flow, redirectUri: string): Promise<URL> {
  const url = new URL('/login/oauth/authorize', provider.config.githubOauthUrl);
  url.search = new URLSearchParams({
    client_id: provider.config.clientId!,
    redirect_uri: redirectUri,
    scope: 'read:user user:email',
    state: flow.state,
    code_challenge: await calculatePKCECodeChallenge(flow.verifier),
    code_challenge_method: 'S256',
    allow_signup: 'false',
  }).toString();
  return url;
}

export async function githubIdentity(
  provider: Provider,
  clientSecret: string,
  flow: Flow,
  redirectUri: string,
  query: URLSearchParams,
): Promise<VerifiedIdentity> {
  const denied = query.get('error');
  if (denied)
    throw new SsoError(
      'provider_error',
      `${provider.name} did not sign you in: ${query.get('error_description') ?? denied}.`,
      403,
    );
  const code = query.get('code');
  if (!code) throw new SsoError('provider_error', `${provider.name} sent no authorization code.`);
  const token = await call<{ access_token?: string; error?: string }>(
    provider,
    new URL('/login/oauth/access_token', provider.config.githubOauthUrl),
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: provider.config.clientId!,
        client_secret: clientSecret,
        code,
        redirect_uri: redirectUri,
        code_verifier: flow.verifier,
      }),
    },
  );
  if (!token.access_token)
    throw new SsoError(
      'provider_error',
      `${provider.name} refused the sign-in (${token.error ?? 'no access token'}).`,
      403,
    );
  const auth = { authorization: `Bearer ${token.access_token}` };
  const api = provider.config.githubApiUrl!.replace(/\/+$/, '');
  // What GitHub (or an Enterprise server an admin named) answers is checked, never trusted.
  type Fields = Record<string, unknown> | null;
  const user = await call<Fields>(provider, new URL(`${api}/user`), { headers: auth });
  const emails = await call<unknown>(provider, new URL(`${api}/user/emails`), { headers: auth });
  if (typeof user?.id !== 'number' || !Array.isArray(emails))
    throw new SsoError('provider_error', `${provider.name} answered with something unexpected.`, 502);
  const primary = (emails as Fields[]).find((e) => e?.primary === true);
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    subject: String(user.id),
    email: text(primary?.email) ?? '',
    emailVerified: primary?.verified === true,
    name: text(user.name) ?? text(user.login) ?? null,
    groups: [],
  };
}

async function call<T>(provider: Provider, url: URL, init: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      ...init,
      headers: { accept: 'application/json', 'user-agent': 'agentmeter', ...init.headers },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? 'no answer in time' : (e.cause?.code ?? 'network error');
    throw new SsoError(
      'provider_unreachable',
      `${provider.name} could not be reached (${why}). Try again later, or sign in another way.`,
      502,
    );
  }
  const body = await res.json().catch(() => undefined);
  if (!res.ok || body === undefined)
    throw new SsoError(
      'provider_unreachable',
      `${provider.name} answered ${res.status}. Try again later, or sign in another way.`,
      502,
    );
  return body as T;
}
