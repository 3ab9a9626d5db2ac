// Sign-in under attack, over real HTTP: the throttle counts an attempt before its password
// is checked and never locks out a correct password because of others' failures; the
// client's address behind a trusted proxy; `next=` never leaves the site nor breaks the
// Location header; a full disk answers 503.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../src/config.js';
import { createLoginThrottle, DEFAULT_THROTTLE } from '../src/auth/throttle.js';
import { ADMIN, Client, setUp, startTestServer, tempDir, type TestServer } from './helpers.js';

/** A sign-in form posted the way the page does, optionally as seen through a proxy. */
async function attempt(
  client: Client,
  email: string,
  password: string,
  extra: { next?: string; forwardedFor?: string } = {},
) {
  if (!client.csrf) await client.get('/login');
  const form: Record<string, string> = {
    _csrf: client.csrf!,
    email,
    password,
    ...(extra.next !== undefined ? { next: extra.next } : {}),
  };
  const headers: Record<string, string> = {
    accept: 'text/html',
    ...(extra.forwardedFor ? { 'x-forwarded-for': extra.forwardedFor } : {}),
  };
  return client.request('/login', { method: 'POST', form, headers });
}

/** The server's throttle, rebuilt with a sleep that records each delay instead of waiting it out. */
function recordDelays(server: TestServer): number[] {
  const delays: number[] = [];
  server.ctx.throttle = createLoginThrottle(DEFAULT_THROTTLE, async (ms) => {
    delays.push(ms);
  });
  return delays;
}

const failureIps = async (server: TestServer) =>
  (
    await server.ctx.control.all<{ ip: string }>(
      `SELECT ip FROM audit_log WHERE action = 'login.failure' ORDER BY occurred_at`,
    )
  ).map((r) => r.ip);

const throttle = suite<{ server: TestServer }>('login throttle');
throttle.before.each(async (ctx) => {
  ctx.server = await startTestServer();
});
throttle.after.each(async (ctx) => ctx.server.stop());

throttle(
  'wrong passwords sent in parallel for one email: only 5 are evaluated, the rest get 429',
  async ({ server }) => {
    await setUp(server);
    const browser = new Client(server.url);
    await browser.get('/login');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => attempt(browser, ADMIN.email, `wrong guess ${i}`)),
    );
    const statuses = answers.map((r) => r.status).sort();
    assert.equal(statuses, [...Array(5).fill(401), ...Array(7).fill(429)]);
    for (const refused of answers.filter((r) => r.status === 429))
      assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After given');
    assert.is((await failureIps(server)).length, 5, 'only the evaluated attempts were audited');
    assert.is(
      (await attempt(browser, ADMIN.email, ADMIN.password)).status,
      429,
      'the right password too, until the window passes',
    );

    const later = new Date(Date.now() + DEFAULT_THROTTLE.windowMs + 1000);
    server.ctx.now = () => later;
    assert.is((await attempt(browser, ADMIN.email, ADMIN.password)).status, 303, 'after the window');
  },
);

throttle(
  'failures of other accounts from one address slow it down, but a correct password is never refused',
  async ({ server }) => {
    await setUp(server);
    const delays = recordDelays(server);
    const attacker = new Client(server.url);
    for (let account = 0; account < 5; account++) {
      for (let i = 0; i < 5; i++)
        assert.is((await attempt(attacker, `someone${account}@acme.test`, `wrong guess ${i}`)).status, 401);
    }
    // The first 20 from the address go unhindered; then each waits twice as long, up to 4 s.
    assert.equal(delays, [250, 500, 1000, 2000, 4000]);

    const colleague = new Client(server.url); // same address, as behind a proxy
    const res = await attempt(colleague, ADMIN.email, ADMIN.password);
    assert.is(res.status, 303, 'signed in despite the address having failed 25 times');
    assert.is(delays.at(-1), DEFAULT_THROTTLE.maxDelayMs, 'but slowed down, at most by the bound');
    assert.ok(delays.every((ms) => ms <= DEFAULT_THROTTLE.maxDelayMs));
  },
);

throttle("a successful sign-in clears the email's failures", async ({ server }) => {
  await setUp(server);
  const browser = new Client(server.url);
  for (let i = 0; i < 4; i++) assert.is((await attempt(browser, ADMIN.email, `wrong guess ${i}`)).status, 401);
  assert.is((await attempt(browser, ADMIN.email, ADMIN.password)).status, 303);
  const other = new Client(server.url);
  for (let i = 0; i < 5; i++)
    assert.is(
      (await attempt(other, ADMIN.email, `wrong again ${i}`)).status,
      401,
      `attempt ${i + 1} of a fresh window`,
    );
  assert.is((await attempt(other, ADMIN.email, 'wrong once more')).status, 429);
});

throttle.run();

const proxy = suite('trusted proxy and the client address');

proxy('--trusted-proxy / AGENTMETER_TRUSTED_PROXY: addresses and CIDR ranges, checked', () => {
  assert.equal(loadConfig({}, {}).trustedProxies, []);
  assert.equal(loadConfig({ 'trusted-proxy': '10.0.0.5, 192.168.0.0/16,fd00::/8' }, {}).trustedProxies, [
    '10.0.0.5',
    '192.168.0.0/16',
    'fd00::/8',
  ]);
  assert.equal(loadConfig({}, { AGENTMETER_TRUSTED_PROXY: '127.0.0.1' }).trustedProxies, ['127.0.0.1']);
  assert.throws(
    () => loadConfig({ 'trusted-proxy': 'proxy.local' }, {}),
    /invalid setting --trusted-proxy="proxy.local": "proxy.local" is not an IP address or CIDR range/,
  );
  assert.throws(
    () => loadConfig({}, { AGENTMETER_TRUSTED_PROXY: '10.0.0.0/33' }),
    /AGENTMETER_TRUSTED_PROXY.*not an IP address or CIDR range/,
  );
});

proxy('the client is the right-most X-Forwarded-For entry that is not a trusted proxy', async () => {
  const { clientAddress, trustedProxyList } = await import('../src/web/client-ip.js');
  const proxies = trustedProxyList(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  assert.is(clientAddress('127.0.0.1', '198.51.100.7', proxies), '198.51.100.7');
  assert.is(
    clientAddress('127.0.0.1', 'forged, 198.51.100.7', proxies),
    '198.51.100.7',
    'what the client wrote itself is left of its real address',
  );
  assert.is(
    clientAddress('127.0.0.1', '198.51.100.7, 10.1.2.3', proxies),
    '198.51.100.7',
    'a chain of trusted proxies',
  );
  assert.is(clientAddress('::ffff:127.0.0.1', '[2001:db8::1]:4711', proxies), '2001:db8::1');
  assert.is(clientAddress('fd00::1', '203.0.113.9:443', proxies), '203.0.113.9');
  assert.is(
    clientAddress('203.0.113.50', '198.51.100.7', proxies),
    '203.0.113.50',
    'an untrusted peer is the client, whatever it claims',
  );
  assert.is(clientAddress('127.0.0.1', 'unknown', proxies), '127.0.0.1', 'a proxy that names no address is the client');
  assert.is(
    clientAddress('127.0.0.1', '198.51.100.7', null),
    '127.0.0.1',
    'without trusted proxies the header is ignored',
  );
});

proxy('without --trusted-proxy, X-Forwarded-For changes nothing', async () => {
  const server = await startTestServer();
  try {
    await setUp(server);
    assert.is(
      (await attempt(new Client(server.url), ADMIN.email, 'wrong guess', { forwardedFor: '198.51.100.7' })).status,
      401,
    );
    assert.equal(await failureIps(server), ['127.0.0.1']);
  } finally {
    await server.stop();
  }
});

proxy(
  'behind a trusted proxy, audit and throttle see each client, so one client does not slow the others',
  async () => {
    const server = await startTestServer({ flags: { 'trusted-proxy': '127.0.0.1' } });
    try {
      await setUp(server);
      const delays = recordDelays(server);
      const attacker = new Client(server.url);
      for (let account = 0; account < 5; account++) {
        for (let i = 0; i < 5; i++)
          await attempt(attacker, `someone${account}@acme.test`, `wrong ${i}`, {
            forwardedFor: 'forged, 198.51.100.7',
          });
      }
      assert.equal([...new Set(await failureIps(server))], ['198.51.100.7']);
      assert.is(delays.length, 5, 'the attacker is slowed down');
      const res = await attempt(new Client(server.url), ADMIN.email, ADMIN.password, { forwardedFor: '198.51.100.8' });
      assert.is(res.status, 303);
      assert.is(delays.length, 5, 'another client behind the same proxy is not');
    } finally {
      await server.stop();
    }
  },
);

proxy.run();

const next = suite<{ server: TestServer }>('next= after sign-in');
next.before.each(async (ctx) => {
  ctx.server = await startTestServer();
});
next.after.each(async (ctx) => ctx.server.stop());

// Each one, after a browser drops tabs and newlines and reads \ as /, leaves the site or breaks the header.
const HOSTILE = [
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r\n/x',
  '/\\evil.example',
  '/\t\\evil.example',
  '\\\\evil.example',
  '//evil.example',
  '///evil.example',
  'https:evil.example',
  'https://evil.example/',
  'javascript:alert(1)',
  ' //evil.example',
  '/\u0000/x',
];

next('hostile next= values lead to / through GET and POST /login', async ({ server }) => {
  const admin = await setUp(server);
  for (const value of HOSTILE) {
    const anonymous = new Client(server.url);
    const page = await (await anonymous.get(`/login?next=${encodeURIComponent(value)}`)).text();
    assert.is(/name="next" value="([^"]*)"/.exec(page)?.[1], '/', `login form keeps ${JSON.stringify(value)} out`);
    const posted = await attempt(anonymous, ADMIN.email, ADMIN.password, { next: value });
    assert.is(posted.status, 303, JSON.stringify(value));
    assert.is(posted.headers.get('location'), '/', `POST with ${JSON.stringify(value)}`);
    const again = await admin.get(`/login?next=${encodeURIComponent(value)}`);
    assert.is(again.status, 303, `GET signed in with ${JSON.stringify(value)}`);
    assert.is(again.headers.get('location'), '/', `GET signed in with ${JSON.stringify(value)}`);
  }
});

next('paths on the site are kept, percent-encoded for the Location header', async ({ server }) => {
  const admin = await setUp(server);
  for (const [value, location] of [
    ['/settings/api-keys', '/settings/api-keys'],
    ['/sessions?range=7d&user=a#top', '/sessions?range=7d&user=a#top'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['/tools/ünïcode €', '/tools/%C3%BCn%C3%AFcode%20%E2%82%AC'],
  ]) {
    const res = await admin.get(`/login?next=${encodeURIComponent(value!)}`);
    assert.is(res.headers.get('location'), location, value);
    assert.is(new URL(res.headers.get('location')!, server.url).origin, new URL(server.url).origin);
  }
  const posted = await attempt(new Client(server.url), ADMIN.email, ADMIN.password, { next: '/tools?range=24h' });
  assert.is(posted.headers.get('location'), '/tools?range=24h');
});

next('signed in, GET /login?next=/%0a/x answers a redirect, not 500', async ({ server }) => {
  const admin = await setUp(server);
  const res = await admin.get('/login?next=/%0a/x');
  assert.is(res.status, 303);
  assert.is(res.headers.get('location'), '/');
});

next.run();

// A real full disk: a small tmpfs as the data directory (needs root and mount).
function mountProblem(): string | null {
  const probe = tempDir('am-mount-probe');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe.path], { stdio: 'pipe' });
    execFileSync('umount', [probe.path], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return String((err as { stderr?: Buffer }).stderr ?? err).trim() || 'mount failed';
  } finally {
    probe.remove();
  }
}

const full = suite('a full disk during sign-in');
const cannotMount = mountProblem();
if (cannotMount) console.log(`  skipped: "a full disk during sign-in" needs to mount a tmpfs (${cannotMount})`);

(cannotMount ? full.skip : full)(
  'with the disk full, POST /login answers 503 with Retry-After, and works again once there is room',
  async () => {
    const mount = tempDir('am-full');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mount.path]);
    let server: TestServer | null = null;
    try {
      const dataDir = join(mount.path, 'data');
      mkdirSync(dataDir);
      server = await startTestServer({ dataDir });
      await setUp(server);
      // Written into the database file now, so the next sign-in has to grow the write-ahead log.
      await server.ctx.control.run('CHECKPOINT');
      const filler = join(mount.path, 'filler');
      const fd = openSync(filler, 'w');
      for (const size of [1 << 20, 4096, 1]) {
        const chunk = Buffer.alloc(size);
        try {
          for (;;) writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        }
      }
      closeSync(fd);

      const browser = new Client(server.url);
      const right = await attempt(browser, ADMIN.email, ADMIN.password);
      assert.is(right.status, 503);
      assert.ok(Number(right.headers.get('retry-after')) > 0, 'Retry-After given');
      assert.match(await right.text(), /storage unavailable/);
      const wrong = await attempt(browser, ADMIN.email, 'wrong password here');
      assert.is(wrong.status, 503, 'a failure that cannot be audited is not answered as a failure');

      rmSync(filler);
      assert.is((await attempt(browser, ADMIN.email, ADMIN.password)).status, 303);
    } finally {
      await server?.stop();
      execFileSync('umount', [mount.path]);
      mount.remove();
    }
  },
);

full.run();
