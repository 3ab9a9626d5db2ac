// A session belongs to the user whose key sent its events: someone who sends an event with a
// colleague's session id (stamped earlier, even) has a session of their own, neither takes the
// colleague's over nor reads its events; the two are two sessions everywhere.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN, ingestKey, signIn, startTestServer, type TestServer } from './helpers.js';

type Ctx = {
  server: TestServer;
  a: { key: string; userId: string };
  b: { key: string; userId: string };
  tenantId: string;
};
const owner = suite<Ctx>('session ownership');

owner.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop(); // each test rolls up when it says so
  const a = await ingestKey(ctx.server, ['ingest', 'read'], 'ana@acme.test');
  const b = await ingestKey(ctx.server, ['ingest', 'read'], 'bo@acme.test');
  Object.assign(ctx, { a, b, tenantId: a.tenantId });
});
owner.after.each(async (ctx) => ctx.server.stop());

const SESSION = 'f3c1e2d4-shared';

async function call(ctx: Ctx, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${ctx.server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

owner(
  "an earlier event under a colleague's session id makes a session of one's own; each reads only their own events",
  async (ctx) => {
    const now = Date.now();
    for (const body of [
      { hook_event_name: 'SessionStart', session_id: SESSION, cwd: '/home/ana/src/acme-web', source: 'startup' },
      { hook_event_name: 'UserPromptSubmit', session_id: SESSION, prompt: 'ana-secret-prompt' },
    ])
      assert.is((await call(ctx, ctx.a.key, 'POST', '/api/v1/hooks/claude-code', body)).status, 200);
    const planted = await call(ctx, ctx.b.key, 'POST', '/api/metrics/commands', {
      command_name: 'bo-command',
      execution_time_ms: 5,
      status: 'success',
      session_id: SESSION,
      executed_at: new Date(now - 3_600_000).toISOString(),
    });
    assert.is(planted.status, 201);

    const check = async (label: string) => {
      const ana = await call(ctx, ctx.a.key, 'GET', `/api/v1/sessions/${SESSION}`);
      assert.is(ana.status, 200, `${label}: ana still has her session`);
      assert.is(ana.json().user_id, ctx.a.userId);
      assert.ok(ana.text.includes('ana-secret-prompt'));
      assert.not.ok(ana.text.includes('bo-command'), `${label}: no one else's event inside her timeline`);
      const bo = await call(ctx, ctx.b.key, 'GET', `/api/v1/sessions/${SESSION}`);
      assert.is(bo.status, 200);
      assert.is(bo.json().user_id, ctx.b.userId);
      assert.ok(bo.text.includes('bo-command'));
      assert.not.ok(bo.text.includes('ana-secret-prompt'), `${label}: bo cannot read ana's prompt`);
      assert.is(bo.json().totals.prompts, 0);
      assert.is(
        (await call(ctx, ctx.b.key, 'GET', `/api/v1/sessions/${SESSION}?user=${ctx.a.userId}`)).status,
        404,
        `${label}: nor by asking for her`,
      );

      // The admin sees two sessions, and is asked to say whose when the id alone is ambiguous.
      const admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
      const list = (await (await admin.request('/api/v1/sessions')).json()) as {
        sessions: { session_id: string; user_id: string; prompts: number; events: number }[];
      };
      const listed = list.sessions
        .filter((s) => s.session_id === SESSION)
        .map((s) => [s.user_id, s.prompts])
        .sort();
      assert.equal(
        listed,
        [
          [ctx.a.userId, 1],
          [ctx.b.userId, 0],
        ].sort(),
        `${label}: two sessions in the list`,
      );
      const ambiguous = await admin.request(`/api/v1/sessions/${SESSION}`);
      assert.is(ambiguous.status, 409);
      assert.is(((await ambiguous.json()) as { field: string }).field, 'user');
      const hers = (await (await admin.request(`/api/v1/sessions/${SESSION}?user=${ctx.a.userId}`)).json()) as {
        user_id: string;
        totals: { prompts: number };
      };
      assert.equal([hers.user_id, hers.totals.prompts], [ctx.a.userId, 1]);
      const page = await (await admin.get(`/sessions/${SESSION}`)).text();
      assert.ok(
        page.includes(`?user=${ctx.a.userId}`) && page.includes(`?user=${ctx.b.userId}`),
        `${label}: the page offers both`,
      );
      const herPage = await (await admin.get(`/sessions/${SESSION}?user=${ctx.a.userId}`)).text();
      assert.ok(herPage.includes('ana-secret-prompt') && !herPage.includes('bo-command'));
    };
    await check('before the worker');
    await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
    await check('rolled up');
    // Figures stored per session once they are quiet: still apart.
    ctx.server.ctx.now = () => new Date(now + 10 * 60_000);
    await ctx.server.ctx.aggregator.runOnce(ctx.tenantId);
    const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
    const stored = await db.all<{ user_id: string; prompts: number; commands: number }>(
      `SELECT user_id, prompts, commands FROM session_figures WHERE session_id = '${SESSION}' ORDER BY user_id`,
    );
    assert.equal(
      stored.map((r) => [r.user_id, r.prompts, r.commands]).sort(),
      [
        [ctx.a.userId, 1, 0],
        [ctx.b.userId, 0, 1],
      ].sort(),
    );
    await check('figures stored');
  },
);

owner.run();
