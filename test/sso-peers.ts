// The identity providers the SSO suites sign in through, on 127.0.0.1 in the test process: a
// real OpenID provider (oidc-provider, its development login form, accounts by login name)
// and a stand-in for GitHub's OAuth and user API (authorization approves at once).
import { createServer, type Server } from 'node:http';
import { createSign, generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

export type Account = { email: string; email_verified: boolean; name?: string; groups?: string[] };

/**
 * How the peer spoils the ID tokens it issues: `payload` changes the email under the old
 * signature; `audience` and `expired` sign again, with the provider's own key, a token for
 * another client or one whose time is up.
 */
export type IdTokenTamper = false | 'payload' | 'audience' | 'expired';
export type OidcPeer = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  tamper: { idToken: IdTokenTamper };
  close(): Promise<void>;
};

/** A real OpenID provider with one confidential client whose redirect URI is `redirectUri`. */
export async function startOidcPeer(redirectUri: string, accounts: Record<string, Account>): Promise<OidcPeer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const client = {
    client_id: 'agentmeter-test',
    client_secret: 'a-test-client-secret-of-32-chars!',
    redirect_uris: [redirectUri],
  };
  // The provider's signing key is ours, so a test can sign tokens as the provider would.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk as never] },
    clients: [client],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    // Claims in the ID token itself, as Google and Entra send them.
    conformIdTokenClaims: false,
    cookies: { keys: ['a test cookie key'] },
    findAccount: (_ctx, id) => {
      const account = accounts[id];
      return account ? { accountId: id, claims: () => ({ sub: `sub-${id}`, ...account }) } : undefined;
    },
    // Consent is given at once (the appliance is the only client): only the login form shows.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client!.clientId,
        accountId: ctx.oidc.session!.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  const tamper: { idToken: IdTokenTamper } = { idToken: false };
  const resign = (header: string, claims: Record<string, unknown>) => {
    const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
  };
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (!tamper.idToken || ctx.path !== '/token' || !body?.id_token) return;
    const [header, payload, signature] = body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const id_token =
      tamper.idToken === 'payload'
        ? [
            header,
            Buffer.from(JSON.stringify({ ...claims, email: 'mallory@acme.test' })).toString('base64url'),
            signature,
          ].join('.')
        : tamper.idToken === 'audience'
          ? resign(header!, { ...claims, aud: 'another-client', azp: 'another-client' })
          : resign(header!, { ...claims, iat: now - 7200, exp: now - 3600 });
    ctx.body = { ...body, id_token };
  });
  server.on('request', provider.callback());
  return {
    issuer,
    clientId: client.client_id,
    clientSecret: client.client_secret,
    tamper,
    close: () => closeServer(server),
  };
}

export type GithubUser = {
  id: number;
  login: string;
  name: string;
  emails: { email: string; primary: boolean; verified: boolean }[];
};

export type GithubPeer = {
  url: string;
  clientId: string;
  clientSecret: string;
  user: { current: GithubUser };
  requests: string[];
  close(): Promise<void>;
};

/** GitHub's /login/oauth/authorize, /login/oauth/access_token, /user and /user/emails, for one user at a time. */
export async function startGithubPeer(): Promise<GithubPeer> {
  const clientId = 'gh-client';
  const clientSecret = 'gh-secret-value';
  const codes = new Map<string, { redirectUri: string }>();
  const requests: string[] = [];
  const user = { current: { id: 1, login: 'octo', name: 'Octo Cat', emails: [] } as GithubUser };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/login/oauth/authorize') {
      const back = new URL(url.searchParams.get('redirect_uri')!);
      const code = `code-${codes.size + 1}`;
      codes.set(code, { redirectUri: back.href });
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state')!);
      return res.writeHead(302, { location: back.href }).end();
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let text = '';
      for await (const chunk of req) text += chunk;
      const form = new URLSearchParams(text);
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      const ok =
        grant &&
        form.get('client_id') === clientId &&
        form.get('client_secret') === clientSecret &&
        form.get('redirect_uri') === grant.redirectUri;
      return json(
        200,
        ok ? { access_token: `token-${user.current.id}`, token_type: 'bearer' } : { error: 'bad_verification_code' },
      );
    }
    if (req.headers.authorization !== `Bearer token-${user.current.id}`)
      return json(401, { message: 'Bad credentials' });
    if (url.pathname === '/user')
      return json(200, { id: user.current.id, login: user.current.login, name: user.current.name });
    if (url.pathname === '/user/emails')
      return json(
        200,
        user.current.emails.map((e) => ({ ...e, visibility: null })),
      );
    return json(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, clientId, clientSecret, user, requests, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
