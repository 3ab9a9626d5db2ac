// WebSocket gateway GET /api/v1/stream: a long-lived ingest connection for agents that
// emit many small events.
//
// Auth (on upgrade, before any frame): `Authorization: Bearer <API key>`, or — for
// browsers, which cannot set headers — the subprotocol list `agentmeter.v1, bearer.<key>`
// (the server answers with `agentmeter.v1`, never echoing the key). No query-string tokens.
// The key needs the `ingest` scope: unknown/revoked key → HTTP 401, no scope → 403, the
// tenant's file unavailable → 503 with Retry-After. The tenant and user come from the key only.
//
// Messages (JSON text frames, ≤ 4 MiB): one unified event `{kind, ..., ref?}`, an array of
// events, or `{ref?, events: [...]}`. `ref` (string ≤ 200 chars or number) is echoed back.
// Each message is answered, in message order, with
//   {type:'ack', ref, accepted, rejected:[{index, field, message}]}   after the commit;
//   {type:'error', ref, field, error[, rejected]}  malformed JSON (field `body`), a bad shape,
//                                                   or no valid event (field = the first bad one);
//   {type:'error', ref, error:'storage unavailable', retry:true, retry_after: seconds}  disk trouble
//                                      (or the tenant's file unavailable, with its own words): resend;
//   {type:'error', ref, error:'rate limit exceeded', retry:true, retry_after: seconds}.
// The connection stays open after an error.
//
// Backpressure: a connection's messages are ingested in order with at most `maxInFlight`
// (8) at once; further messages wait in a queue. When `maxQueued` (64) messages or
// `maxQueuedBytes` (8 MiB) are waiting, or the acks not yet written to the client exceed
// `maxBufferedBytes` (4 MiB), the server stops reading the TCP socket until the queue is
// back to half its limits and the outgoing buffer below its limit. Memory per connection
// is therefore bounded; a fast producer is slowed to the disk's pace.
//
// Keepalive: a ping every `pingMs` (30 s); a client that has not answered the previous ping
// by then is terminated (not counted while the server itself holds the socket paused for its
// own queue). `close()` stops reading, lets queued messages finish (≤ 3 s), then closes
// every client with 1001 and the server.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { KeyCache } from '../auth/api-keys.js';
import { maySendEvents, SENDS_NO_EVENTS } from '../auth/permissions.js';
import type { Logger } from '../log.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import {
  retryAfterSeconds,
  StorageUnavailableError,
  TENANT_UNAVAILABLE,
  TenantUnavailableError,
} from '../storage/errors.js';
import type { IngestResult, Ingestor, Who } from './ingest.js';
import type { RateLimiter } from './rate-limit.js';
import { MessageError, parseMessage, type Ref, size } from './ws-messages.js';
import { RecordTooLargeError } from './writer.js';

export const STREAM_PATH = '/api/v1/stream';
export const STREAM_PROTOCOL = 'agentmeter.v1';
const MAX_PAYLOAD = 4 * 1024 * 1024;
/**
 * Streams one API key may hold open at once. Each holds a socket, a descriptor and up to
 * 12 MiB of queued messages and acks; without a bound, one leaked key could take every
 * descriptor the process has and stop ingest for every tenant.
 */
export const STREAMS_PER_KEY = 64;

export type GatewayOptions = {
  /** Keepalive ping interval (ms). */
  pingMs?: number;
  /** Messages of one connection being ingested at once. */
  maxInFlight?: number;
  /** Messages waiting before the socket is paused. */
  maxQueued?: number;
  /** Bytes of waiting messages before the socket is paused. */
  maxQueuedBytes?: number;
  /** Unsent outgoing bytes before the socket is paused. */
  maxBufferedBytes?: number;
};

/** What the gateway touches: the keys, the tenants' files, ingest and its rate limit, a count of open streams, the log, the clock. */
export type GatewayDeps = {
  keys: Pick<KeyCache, 'resolve'>;
  tenantFiles: Pick<TenantFiles, 'open'>;
  ingest: Pick<Ingestor, 'accept'>;
  ingestLimiter: RateLimiter;
  metrics: { websocketClients: { inc(): void; dec(): void } };
  log: Logger;
  now: () => Date;
};

type Reply = Record<string, unknown> & { type: 'ack' | 'error'; ref: Ref };

type Conn = {
  ws: WebSocket;
  socket: Duplex;
  who: Who;
  /** The key the stream was opened with: checked again before each message, so a revocation cuts the stream. */
  key: string;
  /** Received, not yet started. */
  queue: RawData[];
  queuedBytes: number;
  /** Started or finished, in message order; replies leave from the head. */
  pending: { reply: Reply | null }[];
  inFlight: number;
  alive: boolean;
  paused: boolean;
  pausedForQueue: boolean;
};

export function attachStreamGateway(
  server: Server,
  deps: GatewayDeps,
  options: GatewayOptions = {},
): { close(): Promise<void> } {
  const pingMs = options.pingMs ?? 30_000;
  const maxInFlight = options.maxInFlight ?? 8;
  const maxQueued = options.maxQueued ?? 64;
  const maxQueuedBytes = options.maxQueuedBytes ?? 8 * 1024 * 1024;
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD,
    perMessageDeflate: false,
    // Answer the app protocol when offered; never echo a `bearer.<key>` entry.
    handleProtocols: (protocols) => (protocols.has(STREAM_PROTOCOL) ? STREAM_PROTOCOL : false),
  });
  const conns = new Set<Conn>();
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      path = '';
    }
    if (path !== STREAM_PATH) {
      // Someone else's upgrade, if anyone listens; otherwise nobody will answer it.
      if (server.listenerCount('upgrade') <= 1) socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    if (closing) return refuse(socket, 503, 'server shutting down');
    authenticate(req)
      .then((auth) => {
        if ('status' in auth) return refuse(socket, auth.status, auth.error, auth.retryAfter);
        if (closing) return refuse(socket, 503, 'server shutting down');
        // Counted and opened in one turn of the event loop (handleUpgrade adds it at once): no race.
        if ([...conns].filter((c) => c.key === auth.key).length >= STREAMS_PER_KEY)
          return refuse(socket, 429, `at most ${STREAMS_PER_KEY} streams per API key are open at once`, 1);
        wss.handleUpgrade(req, socket, head, (ws) => open(ws, socket, auth));
      })
      .catch((err: unknown) => {
        deps.log.error('websocket upgrade failed', { error: String(err) });
        refuse(socket, 500, 'internal error');
      });
  };
  server.on('upgrade', onUpgrade);

  async function authenticate(
    req: IncomingMessage,
  ): Promise<(Who & { key: string }) | { status: 401 | 403 | 503; error: string; retryAfter?: number }> {
    let presented: string | undefined;
    const authorization = req.headers.authorization;
    if (authorization !== undefined) presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    else {
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      presented = offered.find((p) => p.startsWith('bearer.'))?.slice('bearer.'.length);
    }
    if (!presented) return { status: 401, error: 'send Authorization: Bearer <API key>' };
    const resolved = await deps.keys.resolve(presented);
    if (!resolved) return { status: 401, error: 'invalid or revoked API key' };
    if (!resolved.scopes.includes('ingest')) return { status: 403, error: 'this API key lacks the "ingest" scope' };
    if (!maySendEvents(resolved.user)) return { status: 403, error: SENDS_NO_EVENTS(resolved.user.role) };
    try {
      await deps.tenantFiles.open(resolved.user.tenantId);
    } catch (err) {
      if (err instanceof TenantUnavailableError)
        return { status: 503, error: TENANT_UNAVAILABLE, retryAfter: retryAfterSeconds(err) };
      throw err;
    }
    return { tenantId: resolved.user.tenantId, userId: resolved.user.id, key: presented };
  }

  function open(ws: WebSocket, socket: Duplex, { key, ...who }: Who & { key: string }) {
    const conn: Conn = {
      ws,
      socket,
      who,
      key,
      queue: [],
      queuedBytes: 0,
      pending: [],
      inFlight: 0,
      alive: true,
      paused: false,
      pausedForQueue: false,
    };
    conns.add(conn);
    deps.metrics.websocketClients.inc();
    deps.log.debug('stream opened', { tenant: who.tenantId });
    ws.on('message', (data) => {
      conn.queue.push(data);
      conn.queuedBytes += size(data);
      pump(conn);
    });
    ws.on('pong', () => (conn.alive = true));
    ws.on('error', (err) => deps.log.debug('stream error', { tenant: who.tenantId, error: err.message }));
    ws.on('close', () => {
      conns.delete(conn);
      deps.metrics.websocketClients.dec();
      conn.queue.length = 0;
      conn.queuedBytes = 0;
      deps.log.debug('stream closed', { tenant: who.tenantId });
    });
    // The outgoing buffer drained: maybe resume reading.
    socket.on('drain', () => flow(conn));
  }

  /** Starts queued messages while there is room, then pauses or resumes reading. */
  function pump(conn: Conn) {
    while (conn.inFlight < maxInFlight && conn.queue.length && conn.ws.readyState === conn.ws.OPEN) {
      const data = conn.queue.shift()!;
      conn.queuedBytes -= size(data);
      const slot: { reply: Reply | null } = { reply: null };
      conn.pending.push(slot);
      conn.inFlight++;
      handle(conn, data)
        .then((reply) => (slot.reply = reply))
        .catch((err: unknown) => {
          deps.log.error('stream message failed', { tenant: conn.who.tenantId, error: String(err) });
          slot.reply = { type: 'error', ref: null, error: 'internal error' };
        })
        .finally(() => {
          conn.inFlight--;
          sendReplies(conn);
          pump(conn);
        });
    }
    flow(conn);
  }

  function sendReplies(conn: Conn) {
    while (conn.pending.length && conn.pending[0]!.reply) {
      const { reply } = conn.pending.shift()!;
      if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(reply));
    }
  }

  /** Pause reading while too much waits (in our queue or the outgoing buffer); resume when it drains. */
  function flow(conn: Conn) {
    const { ws } = conn;
    if (ws.readyState !== ws.OPEN) return;
    const buffered = ws.bufferedAmount;
    const queueFull = conn.queue.length >= maxQueued || conn.queuedBytes >= maxQueuedBytes;
    if (!conn.paused && (queueFull || buffered > maxBuffered || closing)) {
      conn.paused = true;
      conn.pausedForQueue = queueFull;
      ws.pause();
    } else if (
      conn.paused &&
      !closing &&
      conn.queue.length <= maxQueued / 2 &&
      conn.queuedBytes <= maxQueuedBytes / 2 &&
      buffered <= maxBuffered
    ) {
      conn.paused = false;
      conn.pausedForQueue = false;
      ws.resume();
    } else if (conn.paused)
      conn.pausedForQueue = conn.queue.length > maxQueued / 2 || conn.queuedBytes > maxQueuedBytes / 2;
  }

  async function handle(conn: Conn, data: RawData): Promise<Reply> {
    let ref: Ref = null;
    try {
      const message = parseMessage(data);
      ref = message.ref;
      const still = await deps.keys.resolve(conn.key);
      if (!still?.scopes.includes('ingest')) {
        setImmediate(() => conn.ws.close(1008, 'API key revoked'));
        return { type: 'error', ref, error: 'API key revoked or without the "ingest" scope' };
      }
      if (!maySendEvents(still.user)) {
        setImmediate(() => conn.ws.close(1008, 'role may not send events'));
        return { type: 'error', ref, error: SENDS_NO_EVENTS(still.user.role) };
      }
      const decision = deps.ingestLimiter.take(conn.who.tenantId);
      if (!decision.allowed)
        return {
          type: 'error',
          ref,
          error: 'rate limit exceeded for this tenant',
          retry: true,
          retry_after: Math.ceil(decision.resetMs / 1000),
        };
      let result: Omit<IngestResult, 'stored'>;
      try {
        result = await deps.ingest.accept(conn.who, 'ws', message.events, deps.now());
      } catch (err) {
        if (err instanceof StorageUnavailableError) {
          const error = err instanceof TenantUnavailableError ? TENANT_UNAVAILABLE : 'storage unavailable';
          return { type: 'error', ref, error, retry: true, retry_after: retryAfterSeconds(err) };
        }
        if (err instanceof RecordTooLargeError) return { type: 'error', ref, field: err.field, error: err.message };
        throw err;
      }
      if (result.accepted === 0 && result.rejected.length) {
        const first = result.rejected[0]!;
        const own = first.field === '(event)' ? '' : first.field;
        const field = message.single
          ? own || 'body'
          : [message.enveloped ? 'events' : '', String(first.index), own].filter(Boolean).join('.');
        return { type: 'error', ref, field, error: `${field}: ${first.message}`, rejected: result.rejected };
      }
      return { type: 'ack', ref, accepted: result.accepted, rejected: result.rejected };
    } catch (err) {
      if (err instanceof MessageError)
        return { type: 'error', ref: err.ref ?? ref, field: err.field, error: `${err.field}: ${err.message}` };
      throw err;
    }
  }

  const timer = setInterval(() => {
    for (const conn of conns) {
      // A socket we paused for our own queue cannot read the pong; that is not the client's fault.
      if (!conn.alive && !conn.pausedForQueue) {
        deps.log.debug('stream missed a pong', { tenant: conn.who.tenantId });
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, pingMs);
  timer.unref();

  return {
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(timer);
      server.off('upgrade', onUpgrade);
      for (const conn of conns) flow(conn);
      // Let what was already received finish and be acked, briefly.
      const until = Date.now() + 3000;
      while ([...conns].some((c) => c.inFlight || c.queue.length) && Date.now() < until)
        await new Promise((r) => setTimeout(r, 10));
      const closed = [...conns].map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.ws.readyState === conn.ws.CLOSED) return resolve();
            conn.ws.once('close', () => resolve());
            conn.ws.close(1001, 'server shutting down');
          }),
      );
      const force = setTimeout(() => {
        for (const conn of conns) conn.ws.terminate();
      }, 2000);
      await Promise.all(closed);
      clearTimeout(force);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

const REASONS: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Answers an upgrade request with a plain HTTP error and hangs up. */
function refuse(socket: Duplex, status: 401 | 403 | 429 | 500 | 503, error: string, retryAfter?: number) {
  if (!socket.writable) return socket.destroy();
  const body = JSON.stringify({ error, field: status === 401 || status === 403 ? 'authorization' : undefined });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      (status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '') +
      (retryAfter ? `Retry-After: ${retryAfter}\r\n` : '') +
      '\r\n' +
      body,
  );
  socket.once('finish', () => socket.destroy());
}
