// SAML sign-in wired to the tenants' identity providers: the SAML routes (routes/saml.ts)
// look providers up among the SAML ones stored by `agentmeter sso set --type saml` or the
// settings page, and a valid assertion signs the person in through the same function as
// OIDC and GitHub (find, link or create the person within the provider's tenant).
import type { AppContext } from '../../context.js';
import { getProvider } from '../../auth/sso/providers.js';
import { signInWithIdentity } from '../../auth/sso/sign-in.js';
import { clientIp } from '../client-ip.js';
import type { Renderer } from '../render.js';
import { setSessionCookie } from '../session-cookie.js';
import { samlRoutes } from './saml.js';

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
