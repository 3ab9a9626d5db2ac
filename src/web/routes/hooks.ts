// POST /api/v1/hooks/claude-code: Claude Code's `http` hooks. The agent waits for this
// answer, so it is short: 200 with `{}` once the event is committed.
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import { createToolStarts, HookBodyError, hookField, hookToEvent } from '../../ingest/hooks.js';
import type { Env } from '../env.js';
import { httpError, readJson } from '../errors.js';
import { ingestGuard, storageUnavailable, who } from '../ingest-guard.js';
import { documented } from '../api-doc.js';

const HOOK = documented({
  summary: 'A Claude Code hook, as its http hook sends it; 200 with {} once stored',
  auth: 'ingest',
  rawBody: {
    media: ['application/json'],
    description: "Any Claude Code hook body (hook_event_name, session_id, and the event's own fields); at most 4 MiB",
  },
});

export function hookRoutes(ctx: AppContext) {
  const starts = createToolStarts();
  return new Hono<Env>().post('/claude-code', HOOK, ingestGuard(ctx, 4 * 1024 * 1024), async (c) => {
    const body = await readJson(c);
    const caller = who(c);
    const now = ctx.now();
    let event;
    try {
      event = hookToEvent(body, (id) => starts.duration(caller.tenantId, id, now.getTime()));
    } catch (err) {
      if (err instanceof HookBodyError) throw httpError(400, err.message, err.field);
      throw err;
    }
    const result = await ctx.ingest.accept(caller, 'hook', [event], now).catch(storageUnavailable);
    if (result.rejected.length) {
      const r = result.rejected[0]!;
      const field = hookField(event, r.field);
      throw httpError(400, `${field}: ${r.message}`, field);
    }
    if (event.kind === 'tool_start' && event.tool_use_id)
      starts.remember(caller.tenantId, event.tool_use_id, now.getTime());
    if (event.kind === 'tool_call' && event.tool_use_id) starts.forget(caller.tenantId, event.tool_use_id);
    return c.json({});
  });
}
