// The seeds' REST ingestion API under /api/metrics, on top of the unified event model
// (translation in src/ingest/rest.ts). Answers follow the seeds' response standard
// `{ success, data, meta: { timestamp } }`, and come only after the events are committed.
//
// Batch rule (POST /batch): each array holds at most 1000 items (more → 400 naming the
// array, nothing stored). Items are validated one by one: the valid ones are stored, the
// invalid ones are reported. All valid → 201 `{success: true, data: {accepted, rejected: []}}`;
// some invalid → 207 `{success: false, data: {accepted, rejected: [{array, index, field,
// message}]}}`; none valid (or an empty batch) → 400 `{error, field, rejected}` where field is
// the first bad item's full path, e.g. `command_executions.3.status`.
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import type { AppContext } from '../../context.js';
import type { IngestEvent } from '../../ingest/schema.js';
import {
  agentSchema,
  agentToEvent,
  BATCH_ARRAYS,
  BATCH_ITEMS,
  batchSchema,
  commandSchema,
  commandToEvent,
  productivitySchema,
  productivityToEvent,
  sessionIdParam,
  sessionStartSchema,
  sessionStartToEvent,
  sessionUpdateSchema,
  sessionUpdateToEvent,
  wireField,
  type BatchArray,
  type BatchRejection,
} from '../../ingest/rest.js';
import type { Env } from '../env.js';
import { httpError, parseWith, readJson } from '../errors.js';
import { ingestGuard, storageUnavailable, who } from '../ingest-guard.js';
import { documented, type Documented, type Operation } from '../api-doc.js';

const stored = { auth: 'ingest', status: 201, answer: '{success, data, meta} once stored' } as const;
const OPS = {
  commands: documented({ summary: 'A command execution', body: commandSchema, ...stored }),
  agents: documented({ summary: 'An agent interaction', body: agentSchema, ...stored }),
  productivity: documented({ summary: 'A productivity metric', body: productivitySchema, ...stored }),
  sessionStart: documented({
    summary: 'A session started (its id made when not given)',
    body: sessionStartSchema,
    ...stored,
  }),
  sessionUpdate: documented({ summary: 'A session updated or ended', body: sessionUpdateSchema, ...stored }),
  batch: documented({
    summary: 'Up to 1000 items per array; 207 with the rejected items when some were invalid',
    body: batchSchema,
    ...stored,
  }),
};

const SINGLE_LIMIT = 1024 * 1024;

export function restMetricsRoutes(ctx: AppContext) {
  const single = ingestGuard(ctx, SINGLE_LIMIT);
  const batch = ingestGuard(ctx);

  /** Stores one event; 201 with `data` once it is committed, 400 naming the field if the ingest step refuses it. */
  async function storeOne(c: Context<Env>, item: unknown, event: IngestEvent, data: Record<string, unknown> = {}) {
    const now = ctx.now();
    const result = await ctx.ingest.accept(who(c), 'rest', [event], now).catch(storageUnavailable);
    if (result.rejected.length) {
      const r = result.rejected[0]!;
      const field = wireField(event, r.field, item);
      throw httpError(400, `${field}: ${r.message}`, field);
    }
    return c.json({ success: true, data: { ...data, accepted: 1 }, meta: { timestamp: now.toISOString() } }, 201);
  }

  const one =
    <S extends z.ZodType>(op: Documented<Operation & { body: S }>, translate: (item: z.infer<S>) => IngestEvent) =>
    async (c: Context<Env>) => {
      const item = parseWith(op.operation.body, await readJson(c));
      const event = translate(item);
      return storeOne(c, item, event, event.id !== undefined ? { id: event.id } : {});
    };

  return new Hono<Env>()
    .post(
      '/commands',
      OPS.commands,
      single,
      one(OPS.commands, (x) => commandToEvent(x)),
    )
    .post(
      '/agents',
      OPS.agents,
      single,
      one(OPS.agents, (x) => agentToEvent(x)),
    )
    .post(
      '/productivity',
      OPS.productivity,
      single,
      one(OPS.productivity, (x) => productivityToEvent(x)),
    )
    .post('/sessions/start', OPS.sessionStart, single, async (c) => {
      const item = parseWith(OPS.sessionStart.operation.body, await readJson(c));
      const sessionId = item.session_id ?? randomUUID();
      return storeOne(c, item, sessionStartToEvent(item, sessionId), {
        session_id: sessionId,
        ...(item.id !== undefined ? { id: item.id } : {}),
      });
    })
    .put('/sessions/:sessionId', OPS.sessionUpdate, single, async (c) => {
      const parsedId = sessionIdParam.safeParse(c.req.param('sessionId'));
      if (!parsedId.success) throw httpError(400, `sessionId: ${parsedId.error.issues[0]!.message}`, 'sessionId');
      const item = parseWith(OPS.sessionUpdate.operation.body, await readJson(c));
      const event = sessionUpdateToEvent(item, parsedId.data);
      return storeOne(c, item, event, {
        session_id: parsedId.data,
        ended: event.kind === 'session_end',
        ...(item.id !== undefined ? { id: item.id } : {}),
      });
    })
    .post('/batch', OPS.batch, batch, async (c) => {
      const body = parseWith(OPS.batch.operation.body, await readJson(c));
      const events: IngestEvent[] = [];
      const origins: { array: BatchArray; index: number }[] = [];
      const rejected: BatchRejection[] = [];
      for (const array of BATCH_ARRAYS) {
        (body[array] ?? []).forEach((raw, index) => {
          const r = BATCH_ITEMS[array](raw, body.timestamp);
          if (r.ok) {
            events.push(r.event);
            origins.push({ array, index });
          } else rejected.push({ array, index, field: r.field, message: r.message });
        });
      }
      if (events.length + rejected.length === 0)
        throw httpError(400, `body: the batch holds no items (${BATCH_ARRAYS.join(', ')})`, 'body');

      const now = ctx.now();
      const result = events.length
        ? await ctx.ingest.accept(who(c), 'rest', events, now).catch(storageUnavailable)
        : { accepted: 0, rejected: [] };
      for (const r of result.rejected) {
        const origin = origins[r.index]!;
        rejected.push({
          ...origin,
          field: wireField(events[r.index], r.field, body[origin.array]?.[origin.index]),
          message: r.message,
        });
      }
      const order = (a: BatchArray) => BATCH_ARRAYS.indexOf(a);
      rejected.sort((a, b) => order(a.array) - order(b.array) || a.index - b.index);

      if (result.accepted === 0) {
        const first = rejected[0]!;
        const field = `${first.array}.${first.index}.${first.field}`;
        return c.json(
          { success: false, error: `${field}: ${first.message}`, field, data: { accepted: 0, rejected } },
          400,
        );
      }
      const meta = { timestamp: now.toISOString() };
      if (rejected.length) return c.json({ success: false, data: { accepted: result.accepted, rejected }, meta }, 207);
      return c.json({ success: true, data: { accepted: result.accepted, rejected }, meta }, 201);
    });
}
