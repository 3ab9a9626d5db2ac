// The Connect page's settings point at the public URL. Started on every address without
// --public-url, that is localhost, which no developer's laptop reaches: opened at another
// address, the page says so and suggests the one it was opened at (through a trusted proxy,
// the address the proxy was asked for). Real HTTP, with the Host header a browser sends.
import { get } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reachedElsewhere } from '../src/dashboards/connect.js';
import { setUp, startTestServer, type Client } from './helpers.js';

const LOCAL = 'http://localhost:8080';

test('addresses only the machine itself reaches (or none) are not elsewhere', () => {
  for (const host of [
    'localhost:8080',
    'LOCALHOST',
    'localhost.',
    'app.localhost',
    '127.0.0.1',
    '127.1',
    '0.0.0.0:8080',
    '0',
    '[::1]',
    '[::]',
    '[0:0:0:0:0:0:0:1]',
  ])
    assert.is(reachedElsewhere(LOCAL, { proto: 'http', host }), null, host);
  for (const host of [undefined, '', 'a b'])
    assert.is(reachedElsewhere(LOCAL, { proto: 'http', host }), null, String(host));
});

test('another address is named as a URL of its own scheme; a public URL that others reach says nothing', () => {
  assert.is(
    reachedElsewhere(LOCAL, { proto: 'http', host: 'Metrics.Example.com:8080' }),
    'http://metrics.example.com:8080',
  );
  assert.is(reachedElsewhere(LOCAL, { proto: 'https', host: 'metrics.example.com' }), 'https://metrics.example.com');
  assert.is(
    reachedElsewhere('http://127.0.0.1:8080/', { proto: 'http', host: '[fe80::1]:8080' }),
    'http://[fe80::1]:8080',
  );
  assert.is(reachedElsewhere('https://metrics.example.com/', { proto: 'http', host: '10.0.0.5:8080' }), null);
});

/** The Connect page as `client` gets it with `headers` (node:http sends the Host given; fetch sends its own). */
function connectPage(url: string, client: Client, headers: Record<string, string>): Promise<string> {
  const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  return new Promise((resolve, reject) =>
    get(`${url}/connect`, { headers: { accept: 'text/html', cookie, ...headers } }, (res) => {
      let body = `${res.statusCode} `;
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject),
  );
}
const NOTICE =
  /These settings send to <code>([^<]*)<\/code>, which only the appliance's own machine reaches; you opened this page at <code>([^<]*)<\/code>/;

test('the page says so, at another Host; through a trusted proxy, at the address it was asked for', async () => {
  const server = await startTestServer({ flags: { 'trusted-proxy': '127.0.0.1' } });
  try {
    const admin = await setUp(server);
    const port = new URL(server.url).port;
    assert.is(NOTICE.exec(await connectPage(server.url, admin, {}))?.[0], undefined, 'opened where the settings point');
    const elsewhere = await connectPage(server.url, admin, { host: `metrics.example.com:${port}` });
    assert.match(elsewhere, /^200 /);
    assert.equal(NOTICE.exec(elsewhere)?.slice(1), [`http://127.0.0.1:${port}`, `http://metrics.example.com:${port}`]);
    // nginx's default passes the upstream's Host, and says what it was asked for in X-Forwarded-*.
    const proxied = await connectPage(server.url, admin, {
      host: `127.0.0.1:${port}`,
      'x-forwarded-host': 'metrics.example.com',
      'x-forwarded-proto': 'https',
    });
    assert.equal(NOTICE.exec(proxied)?.slice(1), [`http://127.0.0.1:${port}`, 'https://metrics.example.com']);
  } finally {
    await server.stop();
  }
});

test('X-Forwarded-Host from a peer that is not a trusted proxy is not believed', async () => {
  const server = await startTestServer();
  try {
    const admin = await setUp(server);
    const page = await connectPage(server.url, admin, { 'x-forwarded-host': 'metrics.example.com' });
    assert.match(page, /^200 /);
    assert.not.match(page, NOTICE);
  } finally {
    await server.stop();
  }
});

test.run();
