// The messages of the WebSocket gateway (ws-gateway.ts), read before anything is ingested:
// one unified event `{kind, ..., ref?}`, an array of events, or `{ref?, events: [...]}`,
// as JSON text of at most MAX_EVENTS_PER_MESSAGE events. A message that is none of these
// is answered with an error naming the client's field (MessageError).
import type { RawData } from 'ws';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './sanitize.js';

const MAX_EVENTS_PER_MESSAGE = 10_000;

/** What the client called a message, echoed in its answer. */
export type Ref = string | number | null;

export class MessageError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly ref: Ref = null,
  ) {
    super(message);
  }
}

/** A message's size in bytes (what a connection's queue counts). */
export const size = (data: RawData) => (Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);

type Message = { ref: Ref; events: unknown[]; single: boolean; enveloped: boolean };

function parseRef(value: unknown): Ref {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.length <= 200) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new MessageError('ref', 'must be a string (at most 200 characters) or a number');
}

export function parseMessage(data: RawData): Message {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  let body: unknown;
  try {
    body = JSON.parse(buffer.toString('utf8'));
  } catch {
    throw new MessageError('body', 'malformed JSON');
  }
  if (nestedDeeperThan(body)) throw new MessageError('body', `nested more than ${MAX_JSON_DEPTH} levels deep`);
  if (Array.isArray(body)) return { ref: null, events: checkCount(body, ''), single: false, enveloped: false };
  if (!body || typeof body !== 'object')
    throw new MessageError('body', 'must be an event object, an array of events, or {ref, events: [...]}');
  const { ref: rawRef, ...rest } = body as Record<string, unknown>;
  const ref = parseRef(rawRef);
  if (!('kind' in rest) && 'events' in rest) {
    if (!Array.isArray(rest.events)) throw new MessageError('events', 'must be an array of events', ref);
    return { ref, events: checkCount(rest.events, 'events', ref), single: false, enveloped: true };
  }
  return { ref, events: [rest], single: true, enveloped: false };
}

function checkCount(events: unknown[], field: string, ref: Ref = null): unknown[] {
  if (events.length > MAX_EVENTS_PER_MESSAGE)
    throw new MessageError(field || 'body', `must hold at most ${MAX_EVENTS_PER_MESSAGE} events`, ref);
  return events;
}
