// A person turns their own weekly digest on and off on their account page (CSRF-checked,
// audited); a viewer, who has no figures of their own, cannot.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { runCommand } from '../src/admin/commands.js';
import { personalDigest } from '../src/alerts/digest.js';
import { setUp, signIn, startTestServer, type TestServer } from './helpers.js';

const test = suite<{ server: TestServer }>('personal digest setting');
test.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  await setUp(ctx.server);
});
test.after.each(async (ctx) => ctx.server.stop());

test('a developer turns it on and off; a viewer gets 403; a post without the token is refused', async (ctx) => {
  const tenant = (await ctx.server.ctx.control.get<{ id: string }>('SELECT id FROM tenants LIMIT 1'))!.id;
  const dev = (await runCommand(ctx.server.ctx, 'user create', {
    tenant,
    email: 'dev@acme.test',
    role: 'developer',
    password: 'correct horse staple 9',
  })) as { id: string };
  await runCommand(ctx.server.ctx, 'user create', {
    tenant,
    email: 'view@acme.test',
    role: 'viewer',
    password: 'battery staple horse 7',
  });
  const db = await ctx.server.ctx.tenantFiles.open(tenant);

  const browser = await signIn(ctx.server, 'dev@acme.test', 'correct horse staple 9');
  assert.match(await (await browser.get('/settings')).text(), 'Email me my own figures every Monday');
  assert.is((await browser.post('/settings/digest', { weekly: 'on' }, { csrf: false })).status, 403, 'no CSRF token');
  assert.is(await personalDigest(db, dev.id), false);
  assert.is((await browser.post('/settings/digest', { weekly: 'on' })).status, 303);
  assert.is(await personalDigest(db, dev.id), true);
  assert.match(await (await browser.get('/settings')).text(), /name="weekly" checked/);
  assert.is((await browser.post('/settings/digest', {})).status, 303);
  assert.is(await personalDigest(db, dev.id), false);

  const viewer = await signIn(ctx.server, 'view@acme.test', 'battery staple horse 7');
  assert.not.match(await (await viewer.get('/settings')).text(), 'Weekly digest');
  assert.is((await viewer.post('/settings/digest', { weekly: 'on' })).status, 403);
});

test.run();
