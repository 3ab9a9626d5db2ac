// The weekly digest: figures of the week against the week before (expected computed from
// the events sent), sent once at Monday 08:00 UTC and not again after a restart, a person's
// digest holding only their figures, the admins' "send now" (CSRF), and the Slack shape.
// Real SMTP sink and a Slack-shaped HTTP receiver.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setPersonalDigest } from '../src/alerts/digest.js';
import { startSmtpSink } from './smtp-sink.js';
import { runCommand } from '../src/admin/commands.js';
import { ingestKey, setUp, signIn, startTestServer, tempDir } from './helpers.js';

const test = suite('alerts-digest');
const DAY = 86_400_000;
const MONDAY = Date.UTC(2026, 10, 30); // Monday 30 November 2026, 00:00 UTC

test('sent once at Monday 08:00 with the right figures, not again after a restart; personal digest holds one person', async () => {
  const sink = await startSmtpSink();
  const dir = tempDir('am-digest');
  let server = await startTestServer({
    dataDir: dir.path,
    flags: { 'smtp-url': sink.url, 'smtp-from': 'am@acme.test' },
  });
  const admin = await setUp(server);
  const a = await ingestKey(server, ['ingest', 'read'], 'ann@acme.test');
  const b = await ingestKey(server, ['ingest', 'read'], 'bob@acme.test');
  const ev = (n: number, ts: number, session: string, tool = 'Bash') => ({
    id: `${session}:${n}`,
    kind: 'tool_call' as const,
    ts,
    session_id: session,
    name: tool,
    status: n % 2 ? 'failure' : 'success',
    project: 'acme/x',
  });
  // Last week: ann 4 tool calls (2 failed), bob 2 (1 failed); the week before: ann 1.
  await server.ctx.ingest.ingest(
    { tenantId: a.tenantId, userId: a.userId },
    'rest',
    [0, 1, 2, 3].map((n) => ev(n, MONDAY - 3 * DAY + n, 'sa')),
  );
  await server.ctx.ingest.ingest(
    { tenantId: b.tenantId, userId: b.userId },
    'rest',
    [0, 1].map((n) => ev(n, MONDAY - 2 * DAY + n, 'sb')),
  );
  await server.ctx.ingest.ingest({ tenantId: a.tenantId, userId: a.userId }, 'rest', [ev(0, MONDAY - 10 * DAY, 'sc')]);
  // Ann's spend, named by her address in the team's top spend (not her user id).
  const request = {
    id: 'sa:r',
    kind: 'api_request' as const,
    ts: MONDAY - 3 * DAY,
    session_id: 'sa',
    model: 'x-model',
  };
  await server.ctx.ingest.ingest({ tenantId: a.tenantId, userId: a.userId }, 'rest', [{ ...request, cost_usd: 2 }]);
  await admin.get('/settings/alerts');
  const saved = await admin.post('/settings/alerts/digest', {
    enabled: 'true',
    channel: 'email',
    target: 'team@acme.test',
  });
  assert.is(saved.status, 200);
  await setPersonalDigest(await server.ctx.tenantFiles.open(a.tenantId), a.userId, 'ann@acme.test');

  server.ctx.now = () => new Date(MONDAY + 8 * 3_600_000 - 1);
  assert.equal(await server.ctx.digests.runOnce(), []);
  assert.is(sink.mails.length, 0);
  server.ctx.now = () => new Date(MONDAY + 8 * 3_600_000);
  assert.equal((await server.ctx.digests.runOnce()).sort(), ['tenant', a.userId].sort());
  const team = sink.mails.find((m) => m.to.includes('team@acme.test'))!;
  assert.match(team.text, /sessions: 2 \(week before 1, \+100%\)/);
  assert.match(team.text, /active_users: 2 \(week before 1/);
  assert.match(team.text, /tool_calls: 6 \(week before 1, \+500%\)/);
  assert.match(team.text, /tool_failure_rate: 50\.0% \(week before 0\.0%/);
  assert.match(team.text, /Bash: 3 failures/);
  assert.match(team.text, /Top spend by user:\r?\n {2}(\S.* <)?ann@acme\.test>?: /);
  assert.not.match(team.text, new RegExp(a.userId));
  const ann = sink.mails.find((m) => m.to.includes('ann@acme.test'))!;
  assert.match(ann.text, /tool_calls: 4 \(week before 1/);
  assert.match(ann.text, /active_users: 1 /);

  await server.stop();
  server = await startTestServer({ dataDir: dir.path, flags: { 'smtp-url': sink.url, 'smtp-from': 'am@acme.test' } });
  server.ctx.now = () => new Date(MONDAY + 9 * 3_600_000);
  assert.equal(await server.ctx.digests.runOnce(), []);
  assert.is(sink.mails.length, 2);
  await server.stop();
  await sink.stop();
  dir.remove();
});

test("a person's digest goes to an enabled account that may see its figures; erasure takes the choice", async () => {
  const sink = await startSmtpSink();
  const server = await startTestServer({ flags: { 'smtp-url': sink.url, 'smtp-from': 'am@acme.test' } });
  try {
    await setUp(server);
    const people = ['kept', 'erased', 'disabled', 'deleted', 'viewer'];
    const ids: Record<string, string> = {};
    let tenant = '';
    for (const p of people) {
      const k = await ingestKey(server, ['ingest', 'read'], `${p}@acme.test`);
      ids[p] = k.userId;
      tenant = k.tenantId;
      const ev = { id: `${p}:1`, kind: 'tool_call' as const, ts: MONDAY - 3 * DAY, session_id: `s-${p}`, name: 'Bash' };
      await server.ctx.ingest.ingest({ tenantId: k.tenantId, userId: k.userId }, 'rest', [ev]);
      const person = await signIn(server, `${p}@acme.test`, 'ingest password 1');
      await person.get('/settings');
      assert.is((await person.post('/settings/digest', { weekly: 'on' })).status, 303, p);
    }
    await runCommand(server.ctx, 'user erase', { tenant, email: 'erased@acme.test' });
    await runCommand(server.ctx, 'user disable', { tenant, email: 'disabled@acme.test' });
    await runCommand(server.ctx, 'user delete', { tenant, email: 'deleted@acme.test' });
    await runCommand(server.ctx, 'user role', { tenant, email: 'viewer@acme.test', role: 'viewer' });
    const db = await server.ctx.tenantFiles.open(tenant);
    const chosen = async () =>
      (await db.all<{ user_id: string }>('SELECT user_id FROM digest_people ORDER BY user_id')).map((r) => r.user_id);
    assert.equal(await chosen(), [ids.kept, ids.disabled, ids.deleted, ids.viewer].sort(), 'erasure took its row');

    server.ctx.now = () => new Date(MONDAY + 8 * 3_600_000);
    assert.equal(await server.ctx.digests.runOnce(), [ids.kept]);
    assert.equal(
      sink.mails.map((m) => m.to),
      [['kept@acme.test']],
    );
    assert.equal(
      await chosen(),
      [ids.kept, ids.disabled, ids.viewer].sort(),
      "a deleted account's choice goes with it",
    );
    // A viewer may not turn it on, but may turn theirs off.
    const viewer = await signIn(server, 'viewer@acme.test', 'ingest password 1');
    assert.match(await (await viewer.get('/settings')).text(), /name="weekly" checked/);
    assert.is((await viewer.post('/settings/digest', { weekly: 'on' })).status, 403);
    assert.is((await viewer.post('/settings/digest', {})).status, 303);
    assert.equal(await chosen(), [ids.kept, ids.disabled].sort());
    assert.not.match(await (await viewer.get('/settings')).text(), /name="weekly"/);
  } finally {
    await server.stop();
    await sink.stop();
  }
});

test('send now: admins only with the CSRF token', async () => {
  const sink = await startSmtpSink();
  const server = await startTestServer({ flags: { 'smtp-url': sink.url, 'smtp-from': 'am@acme.test' } });
  const admin = await setUp(server);
  await admin.get('/settings/alerts');
  await admin.post('/settings/alerts/digest', { enabled: 'false', channel: 'email', target: 'team@acme.test' });
  const forged = await admin.post('/settings/alerts/digest/send', {}, { csrf: false });
  assert.is(forged.status, 403);
  assert.is(sink.mails.length, 0);
  const res = await admin.post('/settings/alerts/digest/send', {});
  assert.is(res.status, 200);
  assert.match(await res.text(), /digest was sent/);
  assert.is(sink.mails.length, 1);
  assert.match(sink.mails[0]!.text, /weekly digest/);
  await server.stop();
  await sink.stop();
});

test('by Slack: text and blocks, top failing tools and model API errors, names from agents escaped', async () => {
  const received: string[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => (received.push(body), res.writeHead(200).end('ok')));
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const server = await startTestServer({ flags: { 'alert-allow-private': 'true' } });
  const admin = await setUp(server);
  const a = await ingestKey(server, ['ingest', 'read'], 'ann@acme.test');
  const at = MONDAY - 3 * DAY;
  await server.ctx.ingest.ingest({ tenantId: a.tenantId, userId: a.userId }, 'rest', [
    ...[0, 1, 2].map((n) => ({
      id: `t${n}`,
      kind: 'tool_call' as const,
      ts: at + n,
      session_id: 's1',
      name: '<!channel>',
      status: 'failure',
      project: 'acme/x',
    })),
    ...[0, 1].map((n) => ({
      id: `e${n}`,
      kind: 'api_error' as const,
      ts: at + 10 + n,
      session_id: 's1',
      model: 'claude-sonnet-4-5',
      project: 'acme/x',
    })),
  ]);
  await admin.get('/settings/alerts');
  const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/slack`;
  assert.is(
    (await admin.post('/settings/alerts/digest', { enabled: 'true', channel: 'slack', target: url })).status,
    200,
  );
  server.ctx.now = () => new Date(MONDAY + 8 * 3_600_000);
  assert.equal(await server.ctx.digests.runOnce(), ['tenant']);
  assert.is(received.length, 1);
  const body = JSON.parse(received[0]!) as {
    text: string;
    blocks: { type: string; text: { type: string; text: string } }[];
  };
  assert.is(body.text, '[agentmeter] Weekly digest: Acme');
  assert.equal(
    body.blocks.map((b) => b.type),
    ['header', 'section'],
  );
  const digest = body.blocks[1]!.text.text;
  assert.match(digest, /^```agentmeter weekly digest for Acme: 2026-11-23 to 2026-11-30/);
  assert.match(digest, /Top failing tools:\n {2}&lt;!channel&gt;: 3 failures/);
  assert.not.match(digest, /<!channel>/);
  assert.match(digest, /Model API errors:\n {2}claude-sonnet-4-5: 2 errors/);
  await server.stop();
  hook.close();
});

test.run();
