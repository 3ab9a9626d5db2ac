// The alerts API (/api/v1/alerts): rules (list, create, read, replace, delete, test),
// current alerts and history, silences. A session or an API key with `read`. Managers and
// up make rules about the team and see every rule; a developer makes rules about their own
// data (narrowed with scopeFilters, as the query API narrows a query: alerts/access.ts); a viewer sees
// firing alerts only.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { testRule } from '../../alerts/preview.js';
import {
  channelTargetProblem,
  createRule,
  deleteRule,
  getRule,
  listRules,
  ruleSchema,
  updateRule,
} from '../../alerts/rules.js';
import {
  addSilence,
  listAlerts,
  listSilences,
  removeSilence,
  silenceGroupProblem,
  silenceSchema,
} from '../../alerts/store.js';
import type { Env } from '../env.js';
import { alertReader, authored, firingFor } from '../../alerts/access.js';
import { requireIdentity, requirePermission } from '../access.js';
import { auditRequest } from '../audit-request.js';
import { httpError, notFound, parseWith, readJson } from '../errors.js';
import { documented, queryOf } from '../api-doc.js';

const STATES = ['pending', 'firing', 'no_data', 'resolved'] as const;
const LIMIT_ERROR = 'must be an integer from 1 to 1000';

const OPS = {
  rules: documented({ summary: 'The alert rules you may see', auth: 'read', who: 'developers and up' }),
  createRule: documented({
    summary: 'Create an alert rule',
    auth: 'read',
    who: 'developers (about their own data) and up',
    body: ruleSchema,
    status: 201,
  }),
  rule: documented({ summary: 'An alert rule', auth: 'read', who: 'developers and up' }),
  replaceRule: documented({
    summary: 'Replace an alert rule (a whole body)',
    auth: 'read',
    who: 'developers and up',
    body: ruleSchema,
  }),
  deleteRule: documented({
    summary: 'Delete an alert rule, its states, silences and history',
    auth: 'read',
    who: 'developers and up',
    status: 204,
  }),
  testRule: documented({
    summary: 'What an evaluation now would send, and the last 7 days evaluated hourly',
    auth: 'read',
    who: 'developers and up',
  }),
  alerts: documented({
    summary: 'Current alerts, their history and the silences in force',
    auth: 'read',
    who: 'viewers see firing alerts only',
    query: {
      state: z.enum(STATES, { error: `must be one of ${STATES.join(', ')}` }).optional(),
      rule: z.string().optional(),
      limit: z.coerce
        .number<string>()
        .int({ error: LIMIT_ERROR })
        .min(1, { error: LIMIT_ERROR })
        .max(1000, { error: LIMIT_ERROR })
        .optional(),
    },
  }),
  count: documented({ summary: 'How many alerts you may see are firing (the bell)', auth: 'read' }),
  silence: documented({
    summary: 'Silence a rule, or one group of it, until a time',
    auth: 'read',
    who: 'developers and up',
    body: silenceSchema,
    status: 201,
  }),
  unsilence: documented({ summary: 'End a silence', auth: 'read', who: 'developers and up', status: 204 }),
};

/** A rule author: developers and up. */
function author(c: Context<Env>) {
  const identity = requireIdentity(c, 'read');
  requirePermission(identity, 'alerts.own');
  return { identity, tenantId: identity.user.tenantId, who: alertReader(identity) };
}

export function alertRoutes(ctx: AppContext) {
  const now = () => ctx.now().getTime();
  const db = (tenantId: string) => ctx.tenantFiles.open(tenantId);
  const ruleOf = async (c: Context<Env>, tenantId: string, who: ReturnType<typeof alertReader>) => {
    const rule = await getRule(await db(tenantId), c.req.param('id') ?? '', who);
    if (!rule) throw notFound('no such rule');
    return rule;
  };
  /** A rule body as sent, with its channel URLs checked against this appliance's target policy. */
  const ruleBody = async (c: Context<Env>) => {
    const input = parseWith(OPS.createRule.operation.body, await readJson(c));
    const problem = channelTargetProblem(input, ctx.alertTargets());
    if (problem) throw httpError(400, problem.message, problem.field);
    return input;
  };
  return (
    new Hono<Env>()
      .get('/alerts/rules', OPS.rules, async (c) => {
        const { tenantId, who } = author(c);
        return c.json({ rules: await listRules(await db(tenantId), who) });
      })
      .post('/alerts/rules', OPS.createRule, async (c) => {
        const { identity, tenantId } = author(c);
        const body = authored(identity, await ruleBody(c));
        const rule = await createRule(await db(tenantId), { ...body, createdBy: identity.user.id }, now());
        await auditRequest(ctx.control, c, identity, {
          action: 'alerts.rule.create',
          target: rule.id,
          detail: { name: rule.name, metric: rule.metric, scope: rule.scope },
        });
        return c.json(rule, 201);
      })
      .get('/alerts/rules/:id', OPS.rule, async (c) => {
        const { tenantId, who } = author(c);
        return c.json(await ruleOf(c, tenantId, who));
      })
      .put('/alerts/rules/:id', OPS.replaceRule, async (c) => {
        const { identity, tenantId, who } = author(c);
        const rule = await ruleOf(c, tenantId, who);
        // A rule about someone's own data stays theirs unless a manager says `"scope": "team"`.
        const input = await ruleBody(c);
        const body = authored(
          identity,
          { ...input, scope: input.scope ?? rule.scope },
          rule.own_user ?? identity.user.id,
        );
        const updated = await updateRule(await db(tenantId), rule.id, body, now());
        ctx.live.alertsChanged(tenantId); // its alerts are gone: the bells count again
        await auditRequest(ctx.control, c, identity, {
          action: 'alerts.rule.update',
          target: rule.id,
          detail: { name: updated.name, metric: updated.metric, scope: updated.scope },
        });
        return c.json(updated);
      })
      .delete('/alerts/rules/:id', OPS.deleteRule, async (c) => {
        const { identity, tenantId, who } = author(c);
        const rule = await ruleOf(c, tenantId, who);
        await deleteRule(await db(tenantId), rule.id);
        ctx.live.alertsChanged(tenantId); // its alerts are gone: the bells count again
        await auditRequest(ctx.control, c, identity, {
          action: 'alerts.rule.delete',
          target: rule.id,
          detail: { name: rule.name },
        });
        return c.body(null, 204);
      })
      .post('/alerts/rules/:id/test', OPS.testRule, async (c) => {
        const { tenantId, who } = author(c);
        const rule = await ruleOf(c, tenantId, who);
        return c.json(await testRule(ctx.tenantFiles, tenantId, rule, now(), ctx.publicUrl));
      })

      .get('/alerts', OPS.alerts, async (c) => {
        const identity = requireIdentity(c, 'read');
        const who = alertReader(identity);
        const { state, rule, limit = 100 } = queryOf(c, OPS.alerts);
        const file = await db(identity.user.tenantId);
        const rules = await listRules(file, who);
        const { alerts, history } = await listAlerts(file, rules, who, { state, rule, limit });
        const silences = who.firingOnly
          ? []
          : await listSilences(
              file,
              now(),
              rules.map((r) => r.id),
            );
        return c.json({ alerts, history, silences });
      })

      // The bell's number: firing alerts the caller may see.
      .get('/alerts/count', OPS.count, async (c) => {
        const identity = requireIdentity(c, 'read');
        alertReader(identity); // a role that sees no alerts is refused here
        return c.json({ firing: await firingFor(ctx.tenantFiles, identity) });
      })

      .post('/alerts/silences', OPS.silence, async (c) => {
        const { identity, tenantId, who } = author(c);
        const input = parseWith(OPS.silence.operation.body, await readJson(c));
        const rule = await getRule(await db(tenantId), input.rule_id, who);
        if (!rule) throw httpError(404, 'rule_id: no such rule', 'rule_id');
        if (Date.parse(input.until) <= now()) throw httpError(400, 'until: must be in the future', 'until');
        const stray = silenceGroupProblem(rule, input.group);
        if (stray) throw httpError(400, stray.message, stray.field);
        const silence = await addSilence(await db(tenantId), rule, input, identity.user.id, now());
        await auditRequest(ctx.control, c, identity, {
          action: 'alerts.silence',
          target: rule.id,
          detail: { silence: silence.id, group: silence.group, until: silence.until, reason: silence.reason },
        });
        return c.json(silence, 201);
      })
      .delete('/alerts/silences/:id', OPS.unsilence, async (c) => {
        const { identity, tenantId, who } = author(c);
        const file = await db(tenantId);
        const ruleIds = (await listRules(file, who)).map((r) => r.id);
        if (!(await removeSilence(file, c.req.param('id'), ruleIds))) throw notFound('no such silence');
        await auditRequest(ctx.control, c, identity, {
          action: 'alerts.silence',
          target: c.req.param('id'),
          detail: { removed: true },
        });
        return c.body(null, 204);
      })
  );
}
