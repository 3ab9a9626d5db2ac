// The import API (/api/v1/import/runs): a client that read files on a developer's machine
// (`agentmeter import`, `agentmeter sync`) starts a run, posts its chunks and finishes it,
// with an ingest key, under the same limits as the other ingest endpoints; a chunk is
// answered once its events are committed. Runs are listed to their owner (and a tenant
// admin, who sees everyone's) and rolled back by either, signed in.
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import { can } from '../../auth/permissions.js';
import {
  chunkSchema,
  finishRun,
  finishSchema,
  getRun,
  importChunk,
  listRuns,
  rollbackRun,
  RunClosedError,
  RunNotFoundError,
  startRun,
  startRunSchema,
} from '../../import/runs.js';
import type { Env } from '../env.js';
import { requireIdentity, requireSession } from '../access.js';
import { httpError, notFound, readInput } from '../errors.js';
import { clientIp } from '../client-ip.js';
import { ingestGuard, storageUnavailable, who } from '../ingest-guard.js';
import { documented } from '../api-doc.js';

const OPS = {
  start: documented({ summary: 'Start an import run', auth: 'ingest', body: startRunSchema, status: 201 }),
  chunk: documented({
    summary: "One chunk of a run's events, answered once committed (207 when any was rejected, each named)",
    auth: 'ingest',
    body: chunkSchema,
  }),
  finish: documented({ summary: 'End a run (finished, or failed with an error)', auth: 'ingest', body: finishSchema }),
  runs: documented({ summary: "Your import runs (a tenant admin: everyone's)", auth: 'read' }),
  run: documented({ summary: 'An import run', auth: 'read' }),
  rollback: documented({
    summary: 'Remove exactly the events a run stored, and their share of every figure',
    auth: 'session',
    who: "the run's owner or a tenant admin",
  }),
};

/** Run errors as HTTP answers. */
function asHttp(err: unknown): never {
  if (err instanceof RunNotFoundError) throw notFound(err.message);
  if (err instanceof RunClosedError) throw httpError(409, err.message, 'run');
  return storageUnavailable(err);
}

export function importRoutes(ctx: AppContext) {
  return new Hono<Env>()
    .post('/runs', OPS.start, ingestGuard(ctx), async (c) => {
      const input = await readInput(c, OPS.start.operation.body);
      const caller = who(c);
      const run = await startRun(
        ctx.tenantFiles,
        caller.tenantId,
        { userId: caller.userId, createdBy: caller.userId, ...input },
        ctx.now(),
      ).catch(asHttp);
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: caller.userId,
        tenantId: caller.tenantId,
        action: 'import.start',
        target: run.id,
        ip: clientIp(c),
        detail: { source: run.source, host: run.host },
      });
      return c.json({ run }, 201);
    })
    .post('/runs/:id/events', OPS.chunk, ingestGuard(ctx), async (c) => {
      const chunk = await readInput(c, OPS.chunk.operation.body);
      // Every event is answered on its own, rejected ones too (the run counted the chunk): a chunk
      // of refused records is a 207 the client records and passes, not a 400 it cannot get past.
      const result = await importChunk(ctx, who(c), c.req.param('id'), chunk, ctx.now()).catch(asHttp);
      return c.json(result, result.rejected.length ? 207 : 200);
    })
    .post('/runs/:id/finish', OPS.finish, ingestGuard(ctx), async (c) => {
      const input = await readInput(c, OPS.finish.operation.body);
      return c.json({
        run: await finishRun(ctx.tenantFiles, who(c), c.req.param('id'), input, ctx.now()).catch(asHttp),
      });
    })
    .get('/runs', OPS.runs, async (c) => {
      const identity = requireIdentity(c, 'read');
      const everyone = can(identity.user, 'user.manage');
      return c.json({
        runs: await listRuns(ctx.tenantFiles, identity.user.tenantId, everyone ? null : identity.user.id),
      });
    })
    .get('/runs/:id', OPS.run, async (c) => {
      const identity = requireIdentity(c, 'read');
      const run = await getRun(ctx.tenantFiles, identity.user.tenantId, c.req.param('id'));
      if (!run || (run.user_id !== identity.user.id && !can(identity.user, 'user.manage')))
        throw notFound('no such import run');
      return c.json({ run });
    })
    .post('/runs/:id/rollback', OPS.rollback, async (c) => {
      const identity = requireSession(c);
      const tenantId = identity.user.tenantId;
      const run = await getRun(ctx.tenantFiles, tenantId, c.req.param('id'));
      if (!run || (run.user_id !== identity.user.id && !can(identity.user, 'user.manage')))
        throw notFound('no such import run');
      const done = await rollbackRun(ctx, tenantId, run.id, ctx.now()).catch(asHttp);
      await audit(ctx.control, {
        actor: 'user',
        actorUserId: identity.user.id,
        tenantId,
        action: 'import.rollback',
        target: run.id,
        ip: clientIp(c),
        detail: { removed: done.removed },
      });
      return c.json({ run: done });
    });
}
