// Alert delivery against real receivers on 127.0.0.1 (HTTP servers and an SMTP server): the
// outbox sends each notification once per channel, across a restart; retries, timeouts and
// disabling a failing target; the webhook signature; the SSRF guard.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  rotateWebhookSecret,
  sendTestEmail,
  setSmtpSettings,
  smtpInputSchema,
} from '../src/alerts/channel-settings.js';
import { createDelivery, type Delivery, type DeliveryDeps } from '../src/alerts/deliver.js';
import type { Notification } from '../src/alerts/notification.js';
import { checkTarget } from '../src/alerts/targets.js';
import { newId } from '../src/ids.js';
import { createLogger } from '../src/log.js';
import { openDatabase, type Database } from '../src/storage/duckdb.js';
import { loadMigrations, migrate } from '../src/storage/migrate.js';
import { createTenantFiles, type TenantFiles } from '../src/storage/tenant-files.js';
import { startSmtpSink } from './smtp-sink.js';
import { setUp, startTestServer, tempDir, waitFor, type TestServer } from './helpers.js';

type Received = { headers: IncomingMessage['headers']; body: string };
type Receiver = {
  url: string;
  port: number;
  received: Received[];
  answer: (req: Received, res: ServerResponse) => void;
  close(): Promise<void>;
};

/** A real HTTP receiver; `answer` decides each reply (by default 200). */
async function startReceiver(): Promise<Receiver> {
  const held: ServerResponse[] = [];
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    answer: (_req, res) => res.end('ok'),
    close: () =>
      new Promise((resolve) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const r = { headers: req.headers, body };
      receiver.received.push(r);
      held.push(res);
      receiver.answer(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hook`;
  return receiver;
}

const SERVER_SECRET = Buffer.alloc(32, 7);
const SELF_PORT = 65001;

type Ctx = {
  dir: ReturnType<typeof tempDir>;
  tenantId: string;
  files: TenantFiles;
  control: Database;
  clock: Date;
  delivery: Delivery;
  receivers: Receiver[];
};

function newDelivery(ctx: Ctx, over: Partial<DeliveryDeps> = {}): Delivery {
  return createDelivery({
    tenantFiles: ctx.files,
    tenants: async () => [ctx.tenantId],
    control: ctx.control,
    secret: SERVER_SECRET,
    smtp: null,
    policy: () => ({ allowPrivate: true, selfPort: SELF_PORT }),
    now: () => ctx.clock,
    log: createLogger('silent'),
    retryMs: 60_000,
    ...over,
  });
}

let seq = 0;
function notification(ctx: Ctx, channels: Notification['channels'], over: Partial<Notification> = {}): Notification {
  seq += 1;
  return {
    id: `n${seq}`,
    tenantId: ctx.tenantId,
    ruleId: 'r1',
    ruleName: 'Spend jump',
    severity: 'warning',
    state: 'firing',
    renotify: false,
    metric: 'cost',
    group: { user: 'u_1' },
    value: 612.5,
    condition: 'above 500',
    window: '1d',
    at: ctx.clock.toISOString(),
    link: 'http://metrics.test/alerts/r1',
    channels,
    ...over,
  };
}

const webhook = (r: Receiver) => ({ type: 'webhook' as const, url: r.url });

const s = suite<Ctx>('alert delivery');
s.before.each(async (ctx) => {
  ctx.dir = tempDir('am-alerts');
  ctx.tenantId = newId('t');
  ctx.files = createTenantFiles(ctx.dir.path);
  await ctx.files.create(ctx.tenantId);
  ctx.control = await openDatabase(join(ctx.dir.path, 'control.duckdb'));
  await migrate(ctx.control, loadMigrations('control'));
  ctx.clock = new Date('2026-03-02T09:00:00Z');
  ctx.receivers = [];
  ctx.delivery = newDelivery(ctx);
});
s.after.each(async (ctx) => {
  await ctx.delivery.stop();
  for (const r of ctx.receivers) await r.close();
  await ctx.files.closeAll();
  await ctx.control.close();
  ctx.dir.remove();
});
const receiver = async (ctx: Ctx) => {
  const r = await startReceiver();
  ctx.receivers.push(r);
  return r;
};

s('a webhook gets one signed POST per notification, even when it is delivered twice', async (ctx) => {
  const r = await receiver(ctx);
  const secret = await rotateWebhookSecret(await ctx.files.open(ctx.tenantId), SERVER_SECRET, ctx.tenantId, ctx.clock);
  const n = notification(ctx, [webhook(r), { type: 'dashboard' }]);
  await ctx.delivery.deliver(n);
  await ctx.delivery.deliver(n);
  await ctx.delivery.flush();
  await ctx.delivery.flush();
  assert.is(r.received.length, 1);
  const [{ headers, body }] = r.received as [Received];
  const timestamp = headers['x-agentmeter-timestamp'] as string;
  assert.is(timestamp, String(ctx.clock.getTime() / 1000));
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
  assert.is(headers['x-agentmeter-signature'], expected);
  const json = JSON.parse(body) as Record<string, unknown>;
  assert.equal(json.rule, { id: 'r1', name: 'Spend jump', severity: 'warning' });
  assert.equal(
    [json.state, json.renotify, json.metric, json.group, json.value, json.condition, json.window, json.at, json.link],
    ['firing', false, 'cost', { user: 'u_1' }, 612.5, 'above 500', '1d', n.at, n.link],
  );
  const [status] = await ctx.delivery.status(ctx.tenantId);
  assert.is(status?.url, r.url);
  assert.equal(status?.last_success_at, ctx.clock);
});

s('a restart sends what was not sent and never what was', async (ctx) => {
  const r = await receiver(ctx);
  const first = notification(ctx, [webhook(r)]);
  await ctx.delivery.deliver(first);
  await ctx.delivery.flush();
  r.answer = () => undefined; // holds the next request: the process stops mid-way
  const second = notification(ctx, [webhook(r)]);
  ctx.delivery.start();
  await ctx.delivery.deliver(second);
  await waitFor(async () => (r.received.length === 2 ? true : undefined), 'the second POST');
  await ctx.delivery.stop();
  await ctx.files.closeAll();

  r.answer = (_req, res) => res.end('ok');
  ctx.files = createTenantFiles(ctx.dir.path);
  ctx.delivery = newDelivery(ctx);
  await ctx.delivery.flush();
  const ids = r.received.map((x) => (JSON.parse(x.body) as { id: string }).id);
  assert.equal(ids, [first.id, second.id, second.id]);
  assert.is((await ctx.delivery.status(ctx.tenantId))[0]?.pending, 0);
});

s('a receiver that answers 500 twice gets the third try, after the backoff', async (ctx) => {
  const r = await receiver(ctx);
  r.answer = (_req, res) => {
    res.statusCode = r.received.length <= 2 ? 500 : 200;
    res.end();
  };
  await ctx.delivery.deliver(notification(ctx, [webhook(r)]));
  await ctx.delivery.flush();
  assert.is(r.received.length, 1);
  await ctx.delivery.flush(); // not due yet: the first retry waits a minute
  assert.is(r.received.length, 1);
  const [failing] = await ctx.delivery.status(ctx.tenantId);
  assert.is(failing?.last_error, 'answered HTTP 500');
  assert.is(failing?.pending, 1);
  ctx.clock = new Date(ctx.clock.getTime() + 60_000);
  await ctx.delivery.flush();
  assert.is(r.received.length, 2);
  ctx.clock = new Date(ctx.clock.getTime() + 4 * 60_000);
  await ctx.delivery.flush();
  assert.is(r.received.length, 3);
  const [ok] = await ctx.delivery.status(ctx.tenantId);
  assert.equal([ok?.last_success_at, ok?.failures_in_row, ok?.pending], [ctx.clock, 0, 0]);
});

s('a receiver that never answers times out without holding up another target', async (ctx) => {
  const silent = await receiver(ctx);
  silent.answer = () => undefined;
  const fast = await receiver(ctx);
  ctx.delivery = newDelivery(ctx, { timeoutMs: 1_500 });
  ctx.delivery.start();
  await ctx.delivery.deliver(notification(ctx, [webhook(silent), webhook(fast)]));
  await waitFor(async () => (fast.received.length ? true : undefined), 'the fast receiver');
  // The fast target was answered while the silent one still held its request.
  const during = await ctx.delivery.status(ctx.tenantId);
  const silentNow = during.find((t) => t.url === silent.url);
  assert.is(silent.received.length, 1);
  assert.is(silentNow?.last_error, null);
  assert.ok(during.find((t) => t.url === fast.url)?.last_success_at);
  await waitFor(
    async () =>
      (await ctx.delivery.status(ctx.tenantId)).find((t) => t.url === silent.url && t.last_error) ?? undefined,
    'the timeout',
  );
  const after = (await ctx.delivery.status(ctx.tenantId)).find((t) => t.url === silent.url);
  assert.match(after?.last_error ?? '', /no answer within 1.5 s/);
});

s('a target with hundreds waiting behind a request it holds does not hold up another target', async (ctx) => {
  const silent = await receiver(ctx);
  silent.answer = () => undefined; // holds every request for the whole test
  const fast = await receiver(ctx);
  ctx.delivery = newDelivery(ctx, { timeoutMs: 120_000 });
  ctx.delivery.start();
  for (let i = 0; i < 250; i++) await ctx.delivery.deliver(notification(ctx, [webhook(silent)]));
  await waitFor(async () => (silent.received.length ? true : undefined), 'the first held request');
  await ctx.delivery.deliver(notification(ctx, [webhook(fast)]));
  await waitFor(async () => (fast.received.length ? true : undefined), 'the other target, past the 250 waiting');
  assert.is(silent.received.length, 1, 'one request at a time to the held target');
});

s('a target that fails again and again is disabled, with a notice, until re-enabled', async (ctx) => {
  const r = await receiver(ctx);
  r.answer = (_req, res) => ((res.statusCode = 503), res.end());
  ctx.delivery = newDelivery(ctx, { disableAfter: 3, retryMs: 0 });
  await ctx.delivery.deliver(notification(ctx, [webhook(r)]));
  await ctx.delivery.deliver(notification(ctx, [webhook(r)]));
  for (let i = 0; i < 3; i++) await ctx.delivery.flush();
  assert.is(r.received.length, 3);
  const [disabled] = await ctx.delivery.status(ctx.tenantId);
  assert.equal(disabled?.disabled_at, ctx.clock);
  assert.equal([disabled?.failures_in_row, disabled?.last_error, disabled?.pending], [3, 'answered HTTP 503', 0]);
  const notice = await ctx.control.all<{ action: string; target: string; actor: string }>(
    'SELECT action, target, actor FROM audit_log WHERE tenant_id = $t',
    { t: ctx.tenantId },
  );
  assert.equal(notice, [{ action: 'alerts.target.disabled', target: `webhook ${r.url}`, actor: 'system' }]);

  await ctx.delivery.deliver(notification(ctx, [webhook(r)]));
  await ctx.delivery.flush();
  assert.is(r.received.length, 3, 'nothing goes to a disabled target');

  r.answer = (_req, res) => res.end();
  assert.ok(await ctx.delivery.enable(ctx.tenantId, `webhook ${r.url}`));
  assert.not.ok(await ctx.delivery.enable(ctx.tenantId, `webhook ${r.url}`));
  await ctx.delivery.deliver(notification(ctx, [webhook(r)]));
  await ctx.delivery.flush();
  assert.is(r.received.length, 4);
  assert.is((await ctx.delivery.status(ctx.tenantId))[0]?.disabled_at, null);
});

s('a Slack-compatible receiver gets text and blocks', async (ctx) => {
  const r = await receiver(ctx);
  const n = notification(ctx, [{ type: 'slack', url: r.url }], { state: 'resolved', value: 120 });
  await ctx.delivery.deliver(n);
  await ctx.delivery.flush();
  assert.is(r.received.length, 1);
  const body = JSON.parse(r.received[0]!.body) as {
    text: string;
    blocks: { type: string; elements?: { url: string }[]; fields?: { text: string }[] }[];
  };
  assert.is(body.text, 'Resolved: Spend jump (user: u_1): cost 120, above 500 over 1d');
  assert.equal(
    body.blocks.map((b) => b.type),
    ['header', 'section', 'actions'],
  );
  assert.ok(body.blocks[1]!.fields!.some((f) => f.text === '*Condition*\nabove 500'));
  assert.is(body.blocks[2]!.elements![0]!.url, n.link);
  assert.is(r.received[0]!.headers['x-agentmeter-signature'], undefined);
});

s('a group value from an agent cannot mention the channel in Slack', async (ctx) => {
  const r = await receiver(ctx);
  await ctx.delivery.deliver(
    notification(ctx, [{ type: 'slack', url: r.url }], { group: { project: '<!channel> & <@U123>' } }),
  );
  await ctx.delivery.flush();
  const body = JSON.parse(r.received[0]!.body) as { text: string };
  assert.is(
    body.text,
    'Firing: Spend jump (project: &lt;!channel&gt; &amp; &lt;@U123&gt;): cost 612.5, above 500 over 1d',
  );
});

s('email goes through the tenant SMTP server; a refusing server shows on the channel', async (ctx) => {
  const sink = await startSmtpSink();
  try {
    const port = Number(new URL(sink.url).port);
    const db = await ctx.files.open(ctx.tenantId);
    const settings = (password: string) =>
      smtpInputSchema.parse({
        host: '127.0.0.1',
        port,
        security: 'none',
        user: 'mailer',
        password,
        from: 'Alerts <alerts@acme.test>',
      });
    assert.is(
      await setSmtpSettings(
        db,
        SERVER_SECRET,
        ctx.tenantId,
        settings('relay secret'),
        { allowPrivate: true },
        ctx.clock,
      ),
      null,
    );
    const stored = await db.get<{ value: string }>(`SELECT value FROM alert_settings WHERE key = 'smtp'`);
    assert.not.match(stored!.value, /relay secret/);
    await ctx.delivery.deliver(notification(ctx, [{ type: 'email', to: ['lead@acme.test', 'cfo@acme.test'] }]));
    await ctx.delivery.flush();
    assert.is(sink.mails.length, 1);
    assert.equal(sink.mails[0]!.to.sort(), ['cfo@acme.test', 'lead@acme.test']);
    assert.is(sink.mails[0]!.from, 'alerts@acme.test');
    assert.match(sink.mails[0]!.raw, /Subject: \[agentmeter\] Firing: Spend jump/);
    assert.match(sink.mails[0]!.text, /Condition: above 500/);

    await setSmtpSettings(
      db,
      SERVER_SECRET,
      ctx.tenantId,
      settings('wrong password'),
      { allowPrivate: true },
      ctx.clock,
    );
    await ctx.delivery.deliver(notification(ctx, [{ type: 'email', to: ['lead@acme.test'] }]));
    await ctx.delivery.flush();
    assert.is(sink.mails.length, 1);
    const [email] = await ctx.delivery.status(ctx.tenantId);
    assert.is(email?.target, 'email');
    assert.match(email?.last_error ?? '', /Invalid login|invalid credentials/i);
  } finally {
    await sink.stop();
  }
});

s('checkTarget refuses other schemes, the appliance itself, metadata and (by default) loopback', async () => {
  const policy = { allowPrivate: true, selfPort: SELF_PORT, self: new URL('https://metrics.acme.test') };
  const refused = (url: string, p: object = policy) => {
    const check = checkTarget(url, p);
    return check.ok ? null : check.message;
  };
  assert.match(refused(`http://127.0.0.1:${SELF_PORT}/api/v1/tenants`) ?? '', /this appliance itself/);
  assert.match(refused(`http://[::ffff:127.0.0.1]:${SELF_PORT}/`) ?? '', /this appliance itself/);
  assert.match(refused('https://metrics.acme.test/hook') ?? '', /this appliance itself/);
  assert.match(refused('http://169.254.169.254/latest/meta-data/') ?? '', /link-local/);
  assert.match(refused('http://[fe80::1]/') ?? '', /link-local/);
  assert.match(refused('http://metadata.google.internal/computeMetadata/v1/') ?? '', /metadata/);
  assert.match(refused('file:///etc/passwd') ?? '', /must be http or https, not file/);
  assert.match(refused('ftp://files.acme.test/') ?? '', /not ftp/);
  assert.match(refused('not a url') ?? '', /not an absolute URL/);
  assert.match(refused('http://127.0.0.1:9000/', {}) ?? '', /--alert-allow-private/);
  assert.match(refused('http://2130706433:9000/', {}) ?? '', /loopback/);
  assert.match(refused('http://10.1.2.3/', {}) ?? '', /private/);
  assert.is(refused('http://127.0.0.1:9000/'), null);
  assert.is(refused('https://hooks.slack.com/services/T0/B0/x', {}), null);
});

s('a name that resolves to loopback is refused when it is sent', async (ctx) => {
  const r = await receiver(ctx);
  ctx.delivery = newDelivery(ctx, { policy: () => ({ selfPort: SELF_PORT }) });
  const url = `http://localhost:${r.port}/hook`;
  assert.ok(checkTarget(url).ok, 'a name is only known at send time');
  await ctx.delivery.deliver(notification(ctx, [{ type: 'webhook', url }]));
  await ctx.delivery.flush();
  assert.is(r.received.length, 0);
  const [status] = await ctx.delivery.status(ctx.tenantId);
  assert.match(status?.last_error ?? '', /^refused: localhost resolves to (127\.0\.0\.1|::1) is a loopback/);
});

s('SMTP: loopback or metadata in any form is refused when saved, and a name resolving to it when sent', async (ctx) => {
  const db = await ctx.files.open(ctx.tenantId);
  const input = (host: string, port = 2525) =>
    smtpInputSchema.parse({ host, port, security: 'none', from: 'alerts@acme.test' });
  for (const host of ['127.0.0.1', '127.1', '2130706433', '0x7f000001', '0', 'localhost', '::1', '2852039166']) {
    const refused = await setSmtpSettings(db, SERVER_SECRET, ctx.tenantId, input(host), {}, ctx.clock);
    assert.match(refused ?? '', /loopback or private|link-local/, host);
  }
  const sink = await startSmtpSink();
  try {
    // Saved while the operator allowed private servers, then sent without that allowance: refused.
    const local = { ...input('localhost', Number(new URL(sink.url).port)), user: 'mailer', password: 'relay secret' };
    assert.is(await setSmtpSettings(db, SERVER_SECRET, ctx.tenantId, local, { allowPrivate: true }, ctx.clock), null);
    const strict = await sendTestEmail(db, SERVER_SECRET, ctx.tenantId, null, { selfPort: SELF_PORT }, 'a@acme.test');
    assert.equal(strict.sent, false);
    assert.match((strict as { error: string }).error, /refused: localhost resolves to 127\.0\.0\.1 is a loopback/);
    assert.is(sink.mails.length, 0, 'nothing reached the server');
    // Allowed: sent to the address the name resolved to.
    assert.equal(await sendTestEmail(db, SERVER_SECRET, ctx.tenantId, null, { allowPrivate: true }, 'a@acme.test'), {
      sent: true,
    });
    assert.is(sink.mails.length, 1);
  } finally {
    await sink.stop();
  }
});

s.run();

const http = suite<{ server: TestServer }>('alert channels over HTTP');
http.before.each(async (ctx) => {
  ctx.server = await startTestServer({ flags: { 'alert-allow-private': 'true' } });
});
http.after.each(async (ctx) => ctx.server.stop());

http(
  'the SMTP settings page saves a server (CSRF-checked) and its test button sends through it',
  async ({ server }) => {
    const sink = await startSmtpSink();
    try {
      const admin = await setUp(server);
      const page = await admin.get('/settings/alerts');
      assert.is(page.status, 200);
      assert.match(await page.text(), /Send a test email to me/);
      const form = {
        host: '127.0.0.1',
        port: new URL(sink.url).port,
        security: 'none',
        user: 'mailer',
        password: 'relay secret',
        from: 'alerts@acme.test',
      };
      assert.is((await admin.post('/settings/alerts/smtp', form, { csrf: false })).status, 403);
      const refused = await admin.post('/settings/alerts/smtp', { ...form, host: '169.254.169.254' });
      assert.is(refused.status, 400);
      assert.match(await refused.text(), /host: 169\.254\.169\.254 is a link-local/);
      const saved = await admin.post('/settings/alerts/smtp', form);
      assert.is(saved.status, 200);
      const html = await saved.text();
      assert.match(html, /SMTP server saved/);
      assert.not.match(html, /relay secret/);
      const tested = await admin.post('/settings/alerts/smtp/test', {});
      assert.match(await tested.text(), /A test email went to admin@acme\.test/);
      assert.equal(
        sink.mails.map((m) => [m.to, m.user]),
        [[['admin@acme.test'], 'mailer']],
      );
    } finally {
      await sink.stop();
    }
  },
);

http(
  'the API: SMTP settings name the bad field, the secret shows once, channels list their targets',
  async ({ server }) => {
    const admin = await setUp(server);
    await admin.get('/settings/alerts');
    const csrf = { 'x-csrf-token': admin.csrf! };
    const put = (json: unknown) => admin.request('/api/v1/alerts/smtp', { method: 'PUT', json, headers: csrf });
    const bad = await put({ host: 'smtp.acme.test', port: 99999, security: 'tls', from: 'alerts@acme.test' });
    assert.is(bad.status, 400);
    assert.equal(await bad.json(), { error: 'port: Too big: expected number to be <=65535', field: 'port' });
    const ok = await put({
      host: 'smtp.acme.test',
      port: 465,
      security: 'tls',
      user: 'u',
      password: 'p4ss',
      from: 'alerts@acme.test',
    });
    assert.is(ok.status, 200);
    assert.equal(await ok.json(), {
      host: 'smtp.acme.test',
      port: 465,
      security: 'tls',
      user: 'u',
      from: 'alerts@acme.test',
      password_set: true,
    });
    const rotated = (await (
      await admin.request('/api/v1/alerts/webhook-secret', { method: 'POST', headers: csrf })
    ).json()) as { secret: string };
    assert.match(rotated.secret, /^whsec_/);
    const channels = (await (await admin.request('/api/v1/alerts/channels')).json()) as Record<string, unknown>;
    assert.equal(
      [channels.targets, (channels.webhook_secret as { set: boolean }).set, channels.smtp_source],
      [[], true, 'tenant'],
    );
    assert.not.match(JSON.stringify(channels), new RegExp(rotated.secret));
    const enable = await admin.request('/api/v1/alerts/channels/enable', {
      method: 'POST',
      json: { target: 'webhook http://nowhere.test/' },
      headers: csrf,
    });
    assert.equal(
      [enable.status, await enable.json()],
      [404, { error: 'target: no such disabled target', field: 'target' }],
    );
  },
);

http.run();
