// GET /metrics: every family the appliance exports, read back with a Prometheus text parser
// after real ingest (hooks, REST, WebSocket), a live dashboard, alert deliveries to real
// receivers and a commit that fails; labels hold route patterns and never a tenant, a
// person, a key or an id; who may scrape (loopback, --metrics-token); the Grafana dashboard.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import parsePrometheusTextFormat, { type Family } from 'parse-prometheus-text-format';
import { WebSocket } from 'ws';
import { ConfigError, loadConfig } from '../src/config.js';
import type { Notification } from '../src/alerts/notification.js';
import { tenantPath } from '../src/storage/datadir.js';
import { ADMIN, ingestKey, ROOT, setUp, startTestServer, waitFor, type Client, type TestServer } from './helpers.js';

type Json = Record<string, unknown>;

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`, { headers });
  assert.is(res.status, 200, `GET /metrics: ${res.status}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Map(parsePrometheusTextFormat(await res.text()).map((f) => [f.name, f]));
}

/** The one sample of `name` whose labels include `labels`. */
function sample(families: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  const family = families.get(name);
  assert.ok(family, `family ${name} is exported`);
  const found = family.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  assert.is(
    found.length,
    1,
    `${name}${JSON.stringify(labels)}: one sample (of ${JSON.stringify(family.metrics.map((m) => m.labels))})`,
  );
  return found[0]!;
}
const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) =>
  Number(sample(families, name, labels).value);

/** A webhook receiver on loopback answering every request with `status`. */
async function receiver(status: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res: ServerResponse) => {
    req.resume();
    req.on('end', () => res.writeHead(status).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function notification(tenantId: string, id: string, url: string): Notification {
  return {
    id,
    tenantId,
    ruleId: 'r1',
    ruleName: 'Spend jump',
    severity: 'warning',
    state: 'firing',
    renotify: false,
    metric: 'cost',
    group: {},
    value: 612.5,
    condition: 'above 500',
    window: '1d',
    at: new Date().toISOString(),
    link: 'http://metrics.test/alerts/r1',
    channels: [{ type: 'webhook', url }],
  };
}

/** An open /live stream (Server-Sent Events) of a signed-in browser, until closed. */
async function openLive(server: TestServer, client: Client): Promise<() => Promise<void>> {
  const controller = new AbortController();
  const res = await fetch(`${server.url}/live`, {
    headers: { accept: 'text/event-stream', cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    signal: controller.signal,
  });
  assert.is(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  await reader.read(); // the hello: the stream is subscribed
  return async () => {
    controller.abort();
    await reader.closed.catch(() => undefined);
  };
}

/** A WebSocket ingest stream; `send` resolves with the server's answer to one message. */
async function openStream(server: TestServer, key: string) {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/stream`, [], {
    headers: { authorization: `Bearer ${key}` },
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return {
    send: (message: unknown) =>
      new Promise<Json>((resolve) => {
        ws.once('message', (data) => resolve(JSON.parse(String(data)) as Json));
        ws.send(JSON.stringify(message));
      }),
    close: () => new Promise((resolve) => ws.once('close', resolve).close()),
  };
}

test('/metrics exports every family, counted from real traffic, with route patterns and no tenant, person or key', async () => {
  const server = await startTestServer({ flags: { 'alert-allow-private': 'true' } });
  await server.ctx.aggregator.stop(); // the lag is read before and after a pass this test runs
  const receivers = [await receiver(200), await receiver(500)];
  let closeLive: (() => Promise<void>) | null = null;
  try {
    const browser = await setUp(server);
    const { key, tenantId, userId } = await ingestKey(server);
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    // Ingest by three entry points: 3 events stored, 1 duplicate, 1 invalid; 4 commits.
    const stream = await openStream(server, key);
    const ack = await stream.send([
      { kind: 'prompt', id: 'p-1', session_id: 'sess-secret-1' },
      { kind: 'no-such-kind' },
    ]);
    assert.is(ack.type, 'ack', JSON.stringify(ack));
    assert.is((await stream.send([{ kind: 'prompt', id: 'p-1', session_id: 'sess-secret-1' }])).type, 'ack');
    const hook = {
      session_id: 'sess-secret-2',
      cwd: '/w',
      hook_event_name: 'PostToolUse',
      tool_name: 'Bash',
      tool_input: {},
      tool_response: {},
      tool_use_id: 'tu-1',
    };
    assert.is(
      (
        await fetch(`${server.url}/api/v1/hooks/claude-code`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify(hook),
        })
      ).status,
      200,
    );
    const command = {
      command_name: 'plan-product',
      execution_time_ms: 1500,
      status: 'success',
      context: { session_id: 'sess-secret-3' },
    };
    assert.is(
      (
        await fetch(`${server.url}/api/metrics/commands`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify(command),
        })
      ).status,
      201,
    );

    // Requests whose paths hold an id, a path no route has, and a refused key.
    assert.is((await fetch(`${server.url}/api/v1/sessions/sess-secret-2`, { headers: auth })).status, 200);
    assert.is((await fetch(`${server.url}/no-such-page-sess-secret-4`)).status, 404);
    assert.is(
      (await fetch(`${server.url}/api/v1/sessions`, { headers: { authorization: 'Bearer am_not_a_key' } })).status,
      401,
    );

    // One live dashboard open; two alert deliveries, one received, one refused.
    closeLive = await openLive(server, browser);
    await server.ctx.delivery.deliver(notification(tenantId, 'n-sent', receivers[0]!.url));
    await server.ctx.delivery.deliver(notification(tenantId, 'n-failed', receivers[1]!.url));
    await server.ctx.delivery.flush();

    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const secret of [
      tenantId,
      userId,
      key,
      ADMIN.organisation,
      ADMIN.email,
      'agent@acme.test',
      'sess-secret',
      receivers[0]!.url,
      receivers[1]!.url,
    ]) {
      assert.not.ok(text.includes(secret), `the scrape shows ${secret}`);
    }
    const m = await scrape(server.url);
    assert.is(value(m, 'agentmeter_ingest_events_total', { source: 'ws', outcome: 'stored' }), 1);
    assert.is(value(m, 'agentmeter_ingest_events_total', { source: 'ws', outcome: 'duplicate' }), 1);
    assert.is(value(m, 'agentmeter_ingest_events_total', { source: 'ws', outcome: 'invalid' }), 1);
    assert.is(value(m, 'agentmeter_ingest_events_total', { source: 'hook', outcome: 'stored' }), 1);
    assert.is(value(m, 'agentmeter_ingest_events_total', { source: 'rest', outcome: 'stored' }), 1);
    assert.is(
      value(m, 'agentmeter_ingest_events_total', { source: 'otlp', outcome: 'stored' }),
      0,
      'every series exists from the start',
    );
    assert.is(m.get('agentmeter_ingest_events_total')!.type, 'COUNTER');

    const commits = sample(m, 'agentmeter_commit_seconds');
    assert.is(m.get('agentmeter_commit_seconds')!.type, 'HISTOGRAM');
    assert.is(Number(commits.count), 4, 'one commit per ingest call that had events');
    assert.ok(Number(commits.sum) > 0);
    assert.is(Number(commits.buckets!['+Inf']), 4);

    assert.is(value(m, 'agentmeter_aggregation_lag_events'), 3, 'the stored events, none rolled up yet');
    assert.ok(value(m, 'agentmeter_aggregation_lag_seconds') >= 0);

    const requests = m.get('agentmeter_http_requests_total')!;
    assert.is(
      value(m, 'agentmeter_http_requests_total', { method: 'GET', route: '/api/v1/sessions/:id', status: '200' }),
      1,
    );
    assert.is(
      value(m, 'agentmeter_http_requests_total', { method: 'POST', route: '/api/v1/hooks/claude-code', status: '200' }),
      1,
    );
    assert.is(value(m, 'agentmeter_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.is(
      value(m, 'agentmeter_http_requests_total', { method: 'GET', route: '/api/v1/sessions', status: '401' }),
      1,
      'a request a middleware refused keeps its route',
    );
    const routes = new Set(requests.metrics.map((r) => r.labels!.route!));
    for (const route of routes) assert.ok(route === 'unmatched' || route.startsWith('/'), `route label ${route}`);
    // The parser folds a histogram's series into one, so its per-route count is read from the line itself.
    assert.is(m.get('agentmeter_http_request_duration_seconds')!.type, 'HISTOGRAM');
    assert.match(
      text,
      /^agentmeter_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/sessions\/:id"\} 1$/m,
    );
    assert.match(
      text,
      /^agentmeter_http_request_duration_seconds_bucket\{le="\+Inf",method="GET",route="\/api\/v1\/sessions\/:id"\} 1$/m,
    );

    assert.is(value(m, 'agentmeter_sse_clients'), 1);
    assert.is(value(m, 'agentmeter_websocket_clients'), 1);
    assert.is(value(m, 'agentmeter_tenant_files_open'), 1);
    assert.is(value(m, 'agentmeter_alert_deliveries_total', { channel: 'webhook', outcome: 'sent' }), 1);
    assert.is(value(m, 'agentmeter_alert_deliveries_total', { channel: 'webhook', outcome: 'failed' }), 1);
    assert.is(value(m, 'agentmeter_alert_deliveries_total', { channel: 'email', outcome: 'sent' }), 0);

    // prom-client's default process metrics.
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_gc_duration_seconds',
    ]) {
      assert.ok(m.has(name), `default metric ${name}`);
    }

    // Streams closed, rollups caught up: the gauges follow.
    await stream.close();
    await closeLive();
    closeLive = null;
    await server.ctx.aggregator.runOnce();
    // The server hears the close a moment after the client does.
    const after = await waitFor(async () => {
      const m = await scrape(server.url);
      return value(m, 'agentmeter_websocket_clients') === 0 ? m : undefined;
    }, 'the closed WebSocket stream to leave the gauge');
    assert.is(value(after, 'agentmeter_aggregation_lag_events'), 0);
    assert.is(value(after, 'agentmeter_aggregation_lag_seconds'), 0);
    // (The SSE stream's end reaches the server when it next writes: a keepalive, 15 s on. Not waited for here.)

    // A commit to a file deleted under the server is refused, and counted as failed.
    rmSync(tenantPath(server.dataDir, tenantId));
    const lost = await fetch(`${server.url}/api/v1/hooks/claude-code`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ ...hook, tool_use_id: 'tu-2' }),
    });
    assert.is(lost.status, 503);
    const failed = await scrape(server.url);
    assert.is(value(failed, 'agentmeter_ingest_events_total', { source: 'hook', outcome: 'failed' }), 1);
    assert.is(value(failed, 'agentmeter_ingest_events_total', { source: 'hook', outcome: 'stored' }), 1);
    assert.is(value(failed, 'agentmeter_tenant_files_open'), 0, 'the stale file was closed');
  } finally {
    await closeLive?.();
    for (const r of receivers) await r.close();
    await server.stop();
  }
});

/** A request to /metrics as if a proxy on this machine had forwarded it. */
const viaProxy = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9', ...headers } });

test('/metrics answers a local scraper; through a proxy or from elsewhere only with --metrics-token', async () => {
  const open = await startTestServer();
  try {
    assert.is((await fetch(`${open.url}/metrics`)).status, 200);
    const refused = await viaProxy(open.url);
    assert.is(refused.status, 403);
    assert.equal(((await refused.json()) as Json).field, 'authorization');
    for (const header of ['forwarded', 'x-real-ip'])
      assert.is((await fetch(`${open.url}/metrics`, { headers: { [header]: 'for=203.0.113.9' } })).status, 403, header);
  } finally {
    await open.stop();
  }

  const token = 'scrape-token-0123456789';
  const guarded = await startTestServer({ flags: { 'metrics-token': token, host: '0.0.0.0' } });
  try {
    const local = `http://127.0.0.1:${guarded.port}`;
    assert.is((await fetch(`${local}/metrics`)).status, 200, 'loopback needs no token');
    const missing = await viaProxy(local);
    assert.is(missing.status, 401);
    assert.is(missing.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await missing.json()) as Json).field, 'authorization');
    assert.is((await viaProxy(local, { authorization: `Bearer ${token}x` })).status, 401);
    assert.is((await viaProxy(local, { authorization: token })).status, 401, 'the token as a bearer token only');
    const allowed = await viaProxy(local, { authorization: `Bearer ${token}` });
    assert.is(allowed.status, 200, 'the token is not taken for an API key');
    assert.match(await allowed.text(), /^# HELP /m);

    // From another address of this machine, when it has one: a peer that is not loopback.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!external)
      console.log('\n  SKIPPED "/metrics from a non-loopback address": this machine has no non-loopback IPv4 address');
    else {
      const remote = `http://${external}:${guarded.port}`;
      assert.is((await fetch(`${remote}/metrics`)).status, 401);
      assert.is((await fetch(`${remote}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    }
  } finally {
    await guarded.stop();
  }
});

test('a --metrics-token shorter than 16 characters stops the start, naming the setting and not the value', () => {
  try {
    loadConfig({ 'metrics-token': 'short-token' }, {});
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as Error).message, /--metrics-token/);
    assert.not.match((err as Error).message, /short-token/);
  }
  assert.is(
    loadConfig({}, { AGENTMETER_METRICS_TOKEN: 'scrape-token-0123456789' }).metricsToken,
    'scrape-token-0123456789',
  );
  assert.is(loadConfig({}, {}).metricsToken, null);
});

test('the Grafana dashboard in deploy/ charts every agentmeter family, and only families /metrics serves', async () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/agentmeter.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  assert.ok(exprs.length > 0);
  const charted = new Set(
    exprs
      .flatMap((e) => e.match(/\b(agentmeter|process|nodejs)_[a-z0-9_]+/g) ?? [])
      .map((n) => n.replace(/_(bucket|sum|count)$/, '')),
  );

  const server = await startTestServer();
  try {
    const served = await scrape(server.url);
    for (const name of charted)
      assert.ok(served.has(name), `the dashboard charts ${name}, which /metrics does not serve`);
    for (const name of served.keys())
      if (name.startsWith('agentmeter_')) assert.ok(charted.has(name), `the dashboard does not chart ${name}`);
  } finally {
    await server.stop();
  }
});

test.run();
