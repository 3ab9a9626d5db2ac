import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import type { AppContext } from '../src/context.js';
import { createRateLimiter } from '../src/ingest/rate-limit.js';
import { attachStreamGateway, STREAMS_PER_KEY, type GatewayOptions } from '../src/ingest/ws-gateway.js';
import { ingestKey, startTestServer, waitFor, type TestServer } from './helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Ctx = {
  server: TestServer;
  key: string;
  tenantId: string;
  userId: string;
  open: WebSocket[];
  sides: { close(): Promise<void> }[];
  stopped?: boolean;
};

const ws = suite<Ctx>('WebSocket stream gateway');
ws.before.each(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.open = [];
  ctx.sides = [];
  ctx.stopped = false;
  ({ key: ctx.key, tenantId: ctx.tenantId, userId: ctx.userId } = await ingestKey(ctx.server));
});
ws.after.each(async (ctx) => {
  for (const s of ctx.open) s.terminate();
  for (const side of ctx.sides) await side.close();
  if (!ctx.stopped) await ctx.server.stop();
});

const streamUrl = (base: string) => `${base.replace(/^http/, 'ws')}/api/v1/stream`;

/** A connected client whose incoming messages can be awaited one by one. */
type Client = { ws: WebSocket; next(): Promise<Json>; closed: Promise<{ code: number }> };

function connect(
  ctx: Ctx,
  options: { url?: string; key?: string | null; protocols?: string[]; autoPong?: boolean } = {},
): Promise<Client> {
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? ctx.key : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const socket = new WebSocket(options.url ?? streamUrl(ctx.server.url), options.protocols ?? [], {
    headers,
    autoPong: options.autoPong ?? true,
  });
  ctx.open.push(socket);
  const inbox: Json[] = [];
  const waiting: ((m: Json) => void)[] = [];
  socket.on('message', (data) => {
    const m = JSON.parse(String(data)) as Json;
    const w = waiting.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  const closed = new Promise<{ code: number }>((resolve) => socket.on('close', (code) => resolve({ code })));
  return new Promise((resolve, reject) => {
    socket.once('open', () =>
      resolve({
        ws: socket,
        closed,
        next: () => (inbox.length ? Promise.resolve(inbox.shift()!) : new Promise<Json>((r) => waiting.push(r))),
      }),
    );
    socket.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })),
    );
    socket.once('error', reject);
  });
}

async function refusedWith(promise: Promise<unknown>): Promise<number | string> {
  try {
    await promise;
    return 'connected';
  } catch (err) {
    return (err as { status?: number }).status ?? (err as Error).message;
  }
}

async function count(ctx: Ctx, where = 'true'): Promise<number> {
  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  return Number((await db.get<{ n: number }>(`SELECT count(*) AS n FROM events WHERE ${where}`))!.n);
}

/** A second gateway on its own HTTP server, with test options and (optionally) a doctored context. */
async function sideGateway(ctx: Ctx, options: GatewayOptions, appCtx: AppContext = ctx.server.ctx): Promise<string> {
  const http: Server = createServer();
  const gateway = attachStreamGateway(http, appCtx, options);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  let closed = false;
  ctx.sides.push({
    async close() {
      if (closed) return;
      closed = true;
      await gateway.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  });
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}/api/v1/stream`;
}

const event = (over: Json = {}) => ({
  kind: 'command',
  name: 'deploy',
  status: 'success',
  duration_ms: 12,
  session_id: 's-ws',
  ...over,
});

ws('single, array and envelope messages are acked after commit', async (ctx) => {
  const c = await connect(ctx);
  c.ws.send(JSON.stringify(event({ ref: 'one', id: 'e-1' })));
  let ack = await c.next();
  assert.equal(ack, { type: 'ack', ref: 'one', accepted: 1, rejected: [] });
  assert.is(await count(ctx), 1, 'row committed when the ack arrives');

  c.ws.send(
    JSON.stringify([
      event({ id: 'e-2' }),
      event({ id: 'e-3', kind: 'agent_interaction', name: 'reviewer', input_tokens: 10 }),
    ]),
  );
  ack = await c.next();
  assert.equal(ack, { type: 'ack', ref: null, accepted: 2, rejected: [] });
  assert.is(await count(ctx), 3);

  c.ws.send(JSON.stringify({ ref: 7, events: [event({ id: 'e-4' }), event({ kind: 'bogus' }), event({ id: 'e-1' })] }));
  ack = await c.next();
  assert.is(ack.ref, 7);
  assert.is(ack.accepted, 2);
  assert.equal(
    ack.rejected.map((r: Json) => [r.index, r.field]),
    [[1, 'kind']],
  );
  assert.is(await count(ctx), 4, 'e-1 again is a duplicate');

  const db = await ctx.server.ctx.tenantFiles.open(ctx.tenantId);
  const row = (await db.get<Json>(`SELECT source, user_id, input_tokens FROM events WHERE name = 'reviewer'`))!;
  assert.equal({ ...row }, { source: 'ws', user_id: ctx.userId, input_tokens: 10 });
});

ws('bad messages get an error naming the field, and the connection stays open', async (ctx) => {
  const c = await connect(ctx);
  c.ws.send('{nope');
  let m = await c.next();
  assert.is(m.type, 'error');
  assert.is(m.field, 'body');
  c.ws.send('42');
  assert.is((await c.next()).field, 'body');
  c.ws.send(JSON.stringify(event({ ref: 'bad-kind', kind: 'explosion' })));
  m = await c.next();
  assert.equal([m.type, m.ref, m.field], ['error', 'bad-kind', 'kind']);
  c.ws.send(JSON.stringify(event({ ref: 'neg', duration_ms: -1 })));
  assert.equal((await c.next()).field, 'duration_ms');
  c.ws.send(JSON.stringify([event({ name: 5 })]));
  assert.equal((await c.next()).field, '0.name');
  c.ws.send(JSON.stringify({ ref: 'r', events: ['x'] }));
  assert.equal((await c.next()).field, 'events.0');
  c.ws.send(JSON.stringify({ ref: 'r', events: 'x' }));
  assert.equal((await c.next()).field, 'events');
  c.ws.send(JSON.stringify(event({ ref: { no: 1 } })));
  assert.equal((await c.next()).field, 'ref');
  c.ws.send(JSON.stringify(event({ ref: 'fine' })));
  m = await c.next();
  assert.equal([m.type, m.ref, m.accepted], ['ack', 'fine', 1]);
  assert.is(await count(ctx), 1);
});

ws('upgrade needs a valid key with the ingest scope (header or bearer subprotocol)', async (ctx) => {
  assert.is(await refusedWith(connect(ctx, { key: null })), 401);
  assert.is(await refusedWith(connect(ctx, { key: 'amk_not_a_key' })), 401);
  assert.is(
    await refusedWith(connect(ctx, { key: null, url: `${streamUrl(ctx.server.url)}?access_token=${ctx.key}` })),
    401,
  );
  const reader = await ingestKey(ctx.server, ['read'], 'reader@acme.test');
  assert.is(await refusedWith(connect(ctx, { key: reader.key })), 403);

  // Browsers: the key as a subprotocol entry; the server answers with the app protocol only.
  const c = await connect(ctx, { key: null, protocols: ['agentmeter.v1', `bearer.${ctx.key}`] });
  assert.is(c.ws.protocol, 'agentmeter.v1');
  c.ws.send(JSON.stringify(event()));
  assert.is((await c.next()).type, 'ack');

  // Another path is not ours: the socket is dropped.
  const other = await refusedWith(connect(ctx, { url: `${ctx.server.url.replace(/^http/, 'ws')}/api/v1/elsewhere` }));
  assert.not.equal(other, 'connected');
  assert.is(await count(ctx), 1);
});

ws('one key holds at most STREAMS_PER_KEY streams; the next upgrade is a 429 until one closes', async (ctx) => {
  const open = [];
  for (let i = 0; i < STREAMS_PER_KEY; i++) open.push(await connect(ctx));
  assert.is(await refusedWith(connect(ctx)), 429);
  const other = await ingestKey(ctx.server, ['ingest'], 'other@acme.test');
  const colleague = await connect(ctx, { key: other.key });
  colleague.ws.send(JSON.stringify(event({ ref: 'other' })));
  assert.is((await colleague.next()).type, 'ack', "another key's stream is not held back");
  const first = open[0]!;
  first.ws.close();
  await first.closed;
  // The server hears the close on its own socket: once it counts the stream gone, its place is free.
  const streams = async () =>
    Number(/^agentmeter_websocket_clients (\S+)$/m.exec(await (await fetch(`${ctx.server.url}/metrics`)).text())?.[1]);
  await waitFor(
    async () => ((await streams()) === STREAMS_PER_KEY ? true : undefined),
    'the closed stream counted gone',
  );
  const again = await connect(ctx);
  again.ws.send(JSON.stringify(event({ ref: 'again' })));
  assert.is((await again.next()).type, 'ack', 'a closed stream frees its place');
});

ws('revoking the key cuts a live stream', async (ctx) => {
  const c = await connect(ctx);
  c.ws.send(JSON.stringify(event({ ref: 'before' })));
  assert.is((await c.next()).type, 'ack');
  const { runCommand } = await import('../src/admin/commands.js');
  const keys = (await runCommand(ctx.server.ctx, 'apikey list', { tenant: ctx.tenantId })) as {
    id: string;
    userId: string;
  }[];
  for (const k of keys.filter((k) => k.userId === ctx.userId))
    await runCommand(ctx.server.ctx, 'apikey revoke', { tenant: ctx.tenantId, id: k.id });
  c.ws.send(JSON.stringify(event({ ref: 'after', name: 'after-revoke' })));
  const reply = await c.next();
  assert.equal([reply.type, reply.ref], ['error', 'after']);
  assert.is((await c.closed).code, 1008);
  assert.is(await count(ctx, `name = 'after-revoke'`), 0, 'nothing stored after the revocation');
});

ws('a key whose owner becomes a viewer: the live stream is cut, a new one refused', async (ctx) => {
  const c = await connect(ctx);
  c.ws.send(JSON.stringify(event({ ref: 'before' })));
  assert.is((await c.next()).type, 'ack');
  const { runCommand } = await import('../src/admin/commands.js');
  await runCommand(ctx.server.ctx, 'user role', { tenant: ctx.tenantId, email: 'agent@acme.test', role: 'viewer' });
  c.ws.send(JSON.stringify(event({ ref: 'after', name: 'as-viewer' })));
  const reply = await c.next();
  assert.equal([reply.type, reply.ref], ['error', 'after']);
  assert.match(String(reply.error), /a viewer sends no events/);
  assert.is((await c.closed).code, 1008);
  assert.is(await refusedWith(connect(ctx)), 403);
  assert.is(await count(ctx, `name = 'as-viewer'`), 0, 'nothing stored as a viewer');
});

ws('a flood of 2000 messages sent at once is acked in order, none lost', async (ctx) => {
  const c = await connect(ctx);
  const n = 2000;
  for (let i = 0; i < n; i++) c.ws.send(JSON.stringify(event({ ref: i, name: `cmd-${i}`, duration_ms: i })));
  for (let i = 0; i < n; i++) {
    const ack = await c.next();
    assert.equal([ack.type, ack.ref, ack.accepted], ['ack', i, 1], `message ${i}`);
  }
  assert.is(await count(ctx), n);
});

ws('backpressure: a tiny queue and outgoing buffer still deliver every message in order', async (ctx) => {
  const url = await sideGateway(ctx, { maxInFlight: 2, maxQueued: 4, maxBufferedBytes: 1024 });
  const c = await connect(ctx, { url });
  const n = 1500;
  const pad = 'p'.repeat(200);
  for (let i = 0; i < n; i++)
    c.ws.send(
      JSON.stringify({
        ref: i,
        events: [event({ name: `bp-${i}`, attributes: { pad } }), event({ name: `bp2-${i}` })],
      }),
    );
  for (let i = 0; i < n; i++) {
    const ack = await c.next();
    assert.equal([ack.type, ack.ref, ack.accepted], ['ack', i, 2], `message ${i}`);
  }
  assert.is(await count(ctx), 2 * n);
});

ws('an id given twice in one message to different content: the later is rejected, naming id', async (ctx) => {
  const c = await connect(ctx);
  c.ws.send(JSON.stringify([event({ id: 'twice' }), event({ id: 'twice' }), event({ id: 'twice', name: 'rollback' })]));
  assert.equal(await c.next(), {
    type: 'ack',
    ref: null,
    accepted: 2,
    rejected: [{ index: 2, field: 'id', message: 'an earlier item of this request has this id, with other content' }],
  });
  assert.is(await count(ctx, `name = 'deploy'`), 1, 'the same content twice is one event');
  assert.is(await count(ctx, `name = 'rollback'`), 0);
});

ws('the rate limit and storage trouble answer with a retryable error', async (ctx) => {
  const limited: AppContext = { ...ctx.server.ctx, ingestLimiter: createRateLimiter(2) };
  let c = await connect(ctx, { url: await sideGateway(ctx, {}, limited) });
  for (let i = 0; i < 3; i++) c.ws.send(JSON.stringify(event({ ref: i, name: `rl-${i}` })));
  assert.is((await c.next()).type, 'ack');
  assert.is((await c.next()).type, 'ack');
  const m = await c.next();
  assert.equal([m.type, m.ref, m.retry], ['error', 2, true]);
  assert.ok(m.retry_after > 0 && m.retry_after <= 60, String(m.retry_after));
  assert.is(await count(ctx), 2);

  // A real storage fault under the running server: the tenant's database is closed.
  await (await ctx.server.ctx.tenantFiles.open(ctx.tenantId)).close();
  c = await connect(ctx);
  c.ws.send(JSON.stringify(event({ ref: 'x' })));
  assert.equal(await c.next(), { type: 'error', ref: 'x', error: 'storage unavailable', retry: true, retry_after: 5 });
});

ws('keepalive: a client that answers pings stays; one that does not is terminated', async (ctx) => {
  const url = await sideGateway(ctx, { pingMs: 50 });
  const good = await connect(ctx, { url });
  const silent = await connect(ctx, { url, autoPong: false });
  let pings = 0;
  const pinged = (n: number) => new Promise<void>((r) => good.ws.on('ping', () => ++pings >= n && r()));
  const threePings = pinged(3);
  // The timeout only bounds a client never terminated; it is no speed.
  const gone = await Promise.race([silent.closed, new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref())]);
  assert.ok(gone, 'the silent client was terminated');
  assert.is(gone!.code, 1006);
  await Promise.race([threePings, good.closed]); // it has lived through the ping that ended the silent one, and more
  assert.is(good.ws.readyState, WebSocket.OPEN);
  good.ws.send(JSON.stringify(event()));
  assert.is((await good.next()).type, 'ack');
});

ws('shutdown closes clients with 1001; what was acked is in order', async (ctx) => {
  const c = await connect(ctx);
  for (let i = 0; i < 50; i++) c.ws.send(JSON.stringify(event({ ref: i, name: `sd-${i}` })));
  const acks: Json[] = [await c.next()];
  const stopped = ctx.server.stop();
  ctx.stopped = true;
  const { code } = await c.closed;
  await stopped;
  assert.is(code, 1001);
  for (;;) {
    const more = await Promise.race([c.next(), new Promise<null>((r) => setTimeout(() => r(null), 50))]);
    if (!more) break;
    acks.push(more);
  }
  assert.equal(
    acks.map((a) => a.ref),
    acks.map((_, i) => i),
  );
});

ws.run();
