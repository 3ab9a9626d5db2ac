// Signing in with GitHub against a local stand-in for its OAuth and user API: only the
// primary email, and only once GitHub has verified it; the person is made once and found again.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { ADMIN, Client, startTestServer, type TestServer } from './helpers.js';
import { startGithubPeer, type GithubPeer } from './sso-peers.js';

const s = suite<{ server: TestServer; peer: GithubPeer; providerId: string }>('sso: GitHub');

s.before(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.peer = await startGithubPeer();
  await runCommand(ctx.server.ctx, 'setup', { name: 'Acme', email: ADMIN.email, password: ADMIN.password });
  const provider = (await runCommand(ctx.server.ctx, 'sso set', {
    tenant: 'Acme',
    type: 'github',
    client_id: ctx.peer.clientId,
    client_secret: ctx.peer.clientSecret,
    github_oauth_url: ctx.peer.url,
    github_api_url: ctx.peer.url,
  })) as { id: string; redirect_uri: string };
  assert.is(provider.redirect_uri, `${ctx.server.url}/auth/github/callback`);
  ctx.providerId = provider.id;
});
s.after(async (ctx) => {
  await ctx.peer?.close();
  await ctx.server?.stop();
});

/** The button, GitHub's approval (the stand-in approves at once), and the way back. */
async function signInWithGithub(server: TestServer, providerId: string): Promise<{ client: Client; res: Response }> {
  const client = new Client(server.url);
  await client.get('/login');
  const start = await client.get(`/auth/sso/${providerId}/start`);
  assert.is(start.status, 303);
  const approved = await fetch(start.headers.get('location')!, { redirect: 'manual' });
  const back = new URL(approved.headers.get('location')!);
  assert.is(back.origin + back.pathname, `${server.url}/auth/github/callback`);
  return { client, res: await client.get(back.pathname + back.search) };
}

const me = async (client: Client) =>
  (await (await client.request('/api/v1/me')).json()) as { user: { id: string; email: string; role: string } };

s(
  'a primary email GitHub has not verified is refused, even beside a verified one',
  async ({ server, peer, providerId }) => {
    peer.user.current = {
      id: 42,
      login: 'octo',
      name: 'Octo Cat',
      emails: [
        { email: 'octo@acme.test', primary: true, verified: false },
        { email: 'octo@other.test', primary: false, verified: true },
      ],
    };
    const { client, res } = await signInWithGithub(server, providerId);
    assert.is(res.status, 403);
    assert.match(await res.text(), 'did not confirm this email address');
    assert.not.ok(client.cookies.has('am_session'));
    assert.is(
      (await server.ctx.control.all("SELECT 1 FROM users WHERE email IN ('octo@acme.test', 'octo@other.test')")).length,
      0,
    );
  },
);

s(
  'a verified primary email signs in: the first time creates the person, the second finds them',
  async ({ server, peer, providerId }) => {
    peer.user.current = {
      id: 42,
      login: 'octo',
      name: 'Octo Cat',
      emails: [{ email: 'octo@acme.test', primary: true, verified: true }],
    };
    const first = await signInWithGithub(server, providerId);
    assert.is(first.res.status, 303);
    assert.is(first.res.headers.get('location'), '/');
    const created = await me(first.client);
    assert.equal([created.user.email, created.user.role], ['octo@acme.test', 'developer']);
    const second = await signInWithGithub(server, providerId);
    assert.is((await me(second.client)).user.id, created.user.id);
    assert.is((await server.ctx.control.all(`SELECT 1 FROM users WHERE email = 'octo@acme.test'`)).length, 1);
    assert.ok(peer.requests.includes('GET /user/emails'));
  },
);

s(
  "fields of GitHub's answer that are not text (an Enterprise server answers as it likes) are left out, not a 5xx",
  async ({ server, peer, providerId }) => {
    peer.user.current = {
      id: 43,
      login: 7 as unknown as string,
      name: 42 as unknown as string,
      emails: [{ email: 'numbers@acme.test', primary: true, verified: true }],
    };
    const { client, res } = await signInWithGithub(server, providerId);
    assert.is(res.status, 303);
    assert.is((await me(client)).user.email, 'numbers@acme.test');
    const made = await server.ctx.control.get<{ name: string | null }>(
      `SELECT name FROM users WHERE email = 'numbers@acme.test'`,
    );
    assert.is(made!.name, null);
    peer.user.current = {
      id: 44,
      login: 'x',
      name: 'X',
      emails: [{ email: 5, primary: true, verified: true }],
    } as never;
    const odd = await signInWithGithub(server, providerId);
    assert.ok(odd.res.status >= 400 && odd.res.status < 500, `an email that is not text: ${odd.res.status}`);
  },
);

s('an answer with an unknown code is refused', async ({ server, providerId }) => {
  const client = new Client(server.url);
  const start = await client.get(`/auth/sso/${providerId}/start`);
  const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
  const res = await client.get(`/auth/github/callback?code=forged&state=${state}`);
  assert.is(res.status, 403);
  assert.match(await res.text(), 'refused the sign-in');
  assert.not.ok(client.cookies.has('am_session'));
});

s.run();
