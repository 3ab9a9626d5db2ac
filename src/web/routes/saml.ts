// SAML 2.0 endpoints: SP metadata per provider, the redirect to the IdP, and the one ACS for
// every provider (samlRoutes, over any provider lookup and sign-in callback); samlSignInRoutes
// serves them for the tenants' stored SAML providers. Mount before csrfProtection: the ACS is
// a cross-site POST from the IdP; its signature and single-use InResponseTo protect it.
import { Hono, type Context } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import type { Connection } from '../../storage/duckdb.js';
import { SamlMetadataError } from '../../auth/sso/saml-metadata.js';
import {
  finishSamlSignIn,
  samlMetadata,
  SamlSignInError,
  startSamlSignIn,
  type SamlProvider,
  type SamlProviderLookup,
} from '../../auth/sso/saml-flow.js';
import type { SamlIdentity } from '../../auth/sso/saml.js';
import { getProvider } from '../../auth/sso/providers.js';
import { signInWithIdentity } from '../../auth/sso/sign-in.js';
import { clientIp } from '../client-ip.js';
import type { Env } from '../env.js';
import { httpError, notFound } from '../errors.js';
import type { Renderer } from '../render.js';
import { setSessionCookie } from '../session-cookie.js';
import { safeNext } from '../safe-next.js';

export type SamlRouteDeps = {
  control: Connection;
  /** The appliance's public URL, asked for each request (it is known only once the server listens). */
  publicUrl: URL | (() => URL);
  now: () => Date;
  provider: SamlProviderLookup;
  /** A valid assertion: sign the person in and answer (e.g. a redirect to `next`, already a path on this site). */
  signIn: (c: Context<Env>, provider: SamlProvider, identity: SamlIdentity, next: string) => Promise<Response>;
};

export function samlRoutes(deps: SamlRouteDeps) {
  const flow = () => ({
    control: deps.control,
    publicUrl: typeof deps.publicUrl === 'function' ? deps.publicUrl() : deps.publicUrl,
    provider: deps.provider,
  });
  return new Hono<Env>()
    .get('/auth/saml/metadata/:providerId', async (c) => {
      // Anyone: the IdP's administrator reads it to register this appliance.
      const xml = await misconfigured(samlMetadata(flow(), c.req.param('providerId')));
      if (xml === null) throw notFound('no such SAML provider');
      return c.body(xml, 200, { 'content-type': 'application/samlmetadata+xml; charset=utf-8' });
    })
    .get('/auth/saml/start/:providerId', async (c) => {
      // Anyone: the start of a sign-in.
      const url = await misconfigured(
        startSamlSignIn(flow(), c.req.param('providerId'), safeNext(c.req.query('next')), deps.now()),
      );
      if (url === null) throw notFound('no such SAML provider');
      return c.redirect(url, 302);
    })
    .post('/auth/saml/acs', async (c) => {
      // Anyone: the IdP's answer, posted by the browser; it must answer a request we sent.
      const form = await c.req.parseBody();
      if (typeof form.SAMLResponse !== 'string' || !form.SAMLResponse)
        throw httpError(400, 'SAMLResponse: missing', 'SAMLResponse');
      try {
        const { provider, identity, relayState } = await misconfigured(
          finishSamlSignIn(flow(), form.SAMLResponse, deps.now()),
        );
        return await deps.signIn(c, provider, identity, safeNext(relayState));
      } catch (err) {
        if (!(err instanceof SamlSignInError)) throw err;
        const { reason } = err.refusal;
        await audit(deps.control, {
          action: 'login.sso.refused',
          actor: 'user',
          tenantId: err.provider?.tenantId ?? null,
          target: err.provider?.id ?? null,
          ip: clientIp(c),
          detail: { protocol: 'saml', reason },
        });
        throw httpError(403, `SAML sign-in refused: ${reason}`, 'SAMLResponse');
      }
    });
}

/** The SAML routes over the tenants' stored SAML providers, signing people in through the shared SSO sign-in. */
export function samlSignInRoutes(ctx: AppContext, render: Renderer) {
  return samlRoutes({
    control: ctx.control,
    publicUrl: () => ctx.publicUrl,
    now: ctx.now,
    provider: async (id) => {
      const p = await getProvider(ctx.control, id);
      if (p?.type !== 'saml' || !p.config.metadata) return null;
      return {
        id: p.id,
        tenantId: p.tenantId,
        idpMetadataXml: p.config.metadata,
        groupAttributes: p.config.groupsClaim ? [p.config.groupsClaim] : undefined,
      };
    },
    signIn: async (c, saml, identity, next) => {
      const provider = await getProvider(ctx.control, saml.id);
      if (!provider) return render(c, 'sso-refused', { message: 'There is no such sign-in option.' }, 404);
      if (!identity.email)
        return render(
          c,
          'sso-refused',
          {
            message:
              'The identity provider sent no email address; ask your administrator to release the email attribute.',
          },
          403,
        );
      const result = await signInWithIdentity(ctx, provider, identity, clientIp(c));
      if ('refused' in result) return render(c, 'sso-refused', { message: result.refused }, 403);
      setSessionCookie(ctx.auth, c, result.session.id);
      return c.redirect(next, 303);
    },
  });
}

// Stored metadata that no longer parses is the provider's configuration to fix, not a crash.
async function misconfigured<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof SamlMetadataError) throw httpError(503, `the SAML provider is misconfigured: ${err.message}`);
    throw err;
  }
}
