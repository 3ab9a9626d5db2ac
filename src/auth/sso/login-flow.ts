// Sign-in through a provider, from the button to the session: start (where to send the
// browser, and the flow cookie to set), then finish (the provider's answer checked by its
// protocol, then signInWithIdentity). Every refusal is audited with its reason.
import type { Session } from 'lucia';
import { audit } from '../../audit/audit.js';
import { throughStorage } from '../../storage/errors.js';
import type { SignInDeps } from '../login.js';
import type { User } from '../users.js';
import { beginFlow, SsoError, takeFlow } from './flow.js';
import { githubAuthorizationUrl, githubIdentity } from './github.js';
import { oidcAuthorizationUrl, oidcIdentity } from './oidc.js';
import { clientSecretOf, getProvider, redirectUri } from './providers.js';
import { signInWithIdentity } from './sign-in.js';

export type SsoDeps = SignInDeps & { secret: Buffer; publicUrl: URL };

export type SsoFinish =
  | { user: User; session: Session; next: string }
  | { refused: string; status: 400 | 403 | 404 | 502 };

/** Where to send the browser for `providerId`, and the cookie that binds the answer to it. */
export async function startSsoSignIn(
  deps: SsoDeps,
  providerId: string,
  next: string,
): Promise<{ url: URL; cookie: string }> {
  const provider = await getProvider(deps.control, providerId);
  // SAML providers are started by the SAML part's own route.
  if (!provider || provider.type === 'saml')
    throw new SsoError('unknown_provider', 'There is no such sign-in option.', 404);
  const { cookie, flow } = await throughStorage('start a sign-in', () =>
    beginFlow(deps.control, deps.now(), provider.id, next),
  );
  const back = redirectUri(deps.publicUrl, provider);
  const url =
    provider.type === 'github'
      ? await githubAuthorizationUrl(provider, flow, back)
      : await oidcAuthorizationUrl(provider, clientSecretOf(deps.secret, provider), flow, back);
  return { url, cookie };
}

/** The provider's answer (the callback's query) for the flow this browser's cookie names. */
export async function finishSsoSignIn(
  deps: SsoDeps,
  answer: { cookie: string | undefined; query: URLSearchParams; ip: string },
): Promise<SsoFinish> {
  let tenantId: string | null = null;
  let providerId: string | null = null;
  try {
    // A refused flow is the person's answer, not a storage failure.
    const flow = await throughStorage('finish a sign-in', () =>
      takeFlow(deps.control, deps.now(), answer.cookie, answer.query.get('state') ?? undefined).catch((err: unknown) =>
        err instanceof SsoError ? err : Promise.reject(err),
      ),
    );
    if (flow instanceof SsoError) throw flow;
    const provider = await getProvider(deps.control, flow.providerId);
    if (!provider)
      throw new SsoError(
        'unknown_provider',
        'This sign-in option was removed meanwhile. Start again from the sign-in page.',
        404,
      );
    [tenantId, providerId] = [provider.tenantId, provider.id];
    const back = redirectUri(deps.publicUrl, provider);
    const identity =
      provider.type === 'github'
        ? await githubIdentity(provider, clientSecretOf(deps.secret, provider), flow, back, answer.query)
        : await oidcIdentity(provider, clientSecretOf(deps.secret, provider), flow, back, answer.query);
    const result = await signInWithIdentity(deps, provider, identity, answer.ip);
    return 'refused' in result
      ? { refused: result.refused, status: 403 }
      : { user: result.user, session: result.session, next: flow.next };
  } catch (err) {
    if (!(err instanceof SsoError)) throw err;
    await throughStorage('audit a refused sign-in', () =>
      audit(deps.control, {
        actor: 'user',
        action: 'login.sso.refused',
        tenantId,
        target: providerId,
        ip: answer.ip,
        detail: { reason: err.reason, message: err.message },
      }),
    );
    return { refused: err.message, status: err.status };
  }
}
