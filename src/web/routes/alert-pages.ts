// The alerts pages: current alerts, history and silences (/alerts), one rule with its
// states, history and 7-day preview (/alerts/:id, the notifications' link), and the forms
// to create, edit, delete and silence rules. Everything goes through the same domain
// functions and checks as the JSON API (routes/alerts.ts); a viewer sees firing alerts only.
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { AppContext } from '../../context.js';
import { testRule } from '../../alerts/preview.js';
import { StaleRuleError } from '../../alerts/evaluate.js';
import { bodyFromForm, EMPTY_FORM, formFromRule, type RuleForm } from '../../alerts/rule-form.js';
import {
  channelTargetProblem,
  createRule,
  deleteRule,
  getRule,
  listRules,
  NO_DATA,
  ruleSchema,
  SEVERITIES,
  updateRule,
  type Rule,
} from '../../alerts/rules.js';
import {
  addSilence,
  listAlerts,
  listSilences,
  removeSilence,
  silenceGroupProblem,
  silenceSchema,
} from '../../alerts/store.js';
import { can } from '../../auth/permissions.js';
import { METRICS } from '../../query/model.js';
import { alertReader, authored } from '../../alerts/access.js';
import { auditRequest } from '../audit-request.js';
import { renderPage, signedInWith, type SessionIdentity } from '../dashboard-page.js';
import type { Env } from '../env.js';
import { DEFAULT_TIME_ZONE, fromWall, isCalendarDate } from '../../time/zone.js';
import { firstIssue, fromDomainError } from '../errors.js';
import type { Renderer } from '../render.js';

type Problem = { field?: string; message: string };

/** A refused request (4xx from a domain check) as the problem a form shows; anything else is thrown on. */
async function problemOf(thrown: unknown): Promise<Problem> {
  const err = fromDomainError(thrown);
  if (err instanceof HTTPException && err.status < 500) {
    const body = (await err.getResponse().json()) as { error: string; field?: string };
    return { message: body.error, field: body.field };
  }
  throw err;
}

const form = async (c: Context<Env>) =>
  Object.fromEntries(
    Object.entries(await c.req.parseBody()).map(([k, v]) => [k, typeof v === 'string' ? v : '']),
  ) as RuleForm;

export function alertPageRoutes(ctx: AppContext, render: Renderer) {
  const now = () => ctx.now().getTime();
  const db = (identity: SessionIdentity) => ctx.tenantFiles.open(identity.user.tenantId);
  const reader = (c: Context<Env>) => signedInWith(ctx, c, render, 'alerts.view');
  const author = (c: Context<Env>) => signedInWith(ctx, c, render, 'alerts.own');
  const missing = (c: Context<Env>) =>
    render(c, 'error', { status: 404, message: 'There is no such alert rule (or it is not yours).' }, 404);
  const ruleOf = async (c: Context<Env>, identity: SessionIdentity) =>
    getRule(await db(identity), c.req.param('id') ?? '', alertReader(identity));
  /** The rule's preview; a rule stored before a later version refused its filter has none, and the page says why. */
  const previewOf = (identity: SessionIdentity, rule: Rule) =>
    testRule(ctx.tenantFiles, identity.user.tenantId, rule, now(), ctx.publicUrl).catch((err: unknown) => {
      if (err instanceof StaleRuleError) return { stale: err.message };
      throw err;
    });

  const formPage = (
    c: Context<Env>,
    identity: SessionIdentity,
    values: RuleForm,
    rule: Rule | null,
    error: Problem | null = null,
  ) =>
    renderPage(
      render,
      c,
      'alert-form',
      { identity },
      {
        values,
        rule,
        error,
        metrics: Object.keys(METRICS).sort(),
        severities: SEVERITIES,
        noData: NO_DATA,
        team: can(identity.user, 'alerts.manage'),
      },
      error ? 400 : 200,
    );

  /** The form's rule as the API would take it, or the problem naming its field. */
  const parseRule = (identity: SessionIdentity, values: RuleForm, owner?: string, keepScope?: Rule['scope']) => {
    const raw = bodyFromForm(values);
    if ('problem' in raw) return { problem: raw.problem };
    const parsed = ruleSchema.safeParse(raw.body);
    if (!parsed.success) return { problem: firstIssue(parsed.error) };
    const target = channelTargetProblem(parsed.data, ctx.alertTargets());
    if (target) return { problem: target };
    try {
      return { authored: authored(identity, { ...parsed.data, scope: parsed.data.scope ?? keepScope }, owner) };
    } catch (err) {
      return { error: err };
    }
  };

  return new Hono<Env>()
    .get('/alerts', async (c) => {
      const identity = await reader(c);
      if (identity instanceof Response) return identity;
      const who = alertReader(identity);
      const file = await db(identity);
      const rules = await listRules(file, who);
      const { alerts, history } = await listAlerts(file, rules, who, { limit: 100 });
      const silences = who.firingOnly
        ? []
        : await listSilences(
            file,
            now(),
            rules.map((r) => r.id),
          );
      const names = new Map(rules.map((r) => [r.id, r.name]));
      return renderPage(
        render,
        c,
        'alerts',
        { identity },
        {
          alerts,
          history,
          silences,
          rules,
          names,
          firingOnly: who.firingOnly,
          canAuthor: can(identity.user, 'alerts.own'),
        },
      );
    })
    .get('/alerts/new', async (c) => {
      const identity = await author(c);
      return identity instanceof Response ? identity : formPage(c, identity, EMPTY_FORM, null);
    })
    .post('/alerts/new', async (c) => {
      const identity = await author(c);
      if (identity instanceof Response) return identity;
      const values = await form(c);
      const parsed = parseRule(identity, values);
      if (!parsed.authored)
        return formPage(c, identity, values, null, parsed.problem ?? (await problemOf(parsed.error)));
      const rule = await createRule(await db(identity), { ...parsed.authored, createdBy: identity.user.id }, now());
      await auditRequest(ctx.control, c, identity, {
        action: 'alerts.rule.create',
        target: rule.id,
        detail: { name: rule.name, metric: rule.metric, scope: rule.scope },
      });
      return c.redirect(`/alerts/${rule.id}`, 303);
    })
    .post('/alerts/silences/:sid/delete', async (c) => {
      const identity = await author(c);
      if (identity instanceof Response) return identity;
      const file = await db(identity);
      const ruleIds = (await listRules(file, alertReader(identity))).map((r) => r.id);
      if (!(await removeSilence(file, c.req.param('sid'), ruleIds)))
        return render(c, 'error', { status: 404, message: 'There is no such silence.' }, 404);
      await auditRequest(ctx.control, c, identity, {
        action: 'alerts.silence',
        target: c.req.param('sid'),
        detail: { removed: true },
      });
      return c.redirect('/alerts', 303);
    })
    .get('/alerts/:id', async (c) => {
      const identity = await reader(c);
      if (identity instanceof Response) return identity;
      const who = alertReader(identity);
      const file = await db(identity);
      const rules = await listRules(file, who);
      const rule = rules.find((r) => r.id === c.req.param('id'));
      // A viewer sees a rule's page only while it fires (they followed a notification).
      const { alerts, history } = rule
        ? await listAlerts(file, rules, who, { rule: rule.id, limit: 100 })
        : { alerts: [], history: [] };
      if (!rule || (who.firingOnly && !alerts.length)) return missing(c);
      const silences = who.firingOnly ? [] : await listSilences(file, now(), [rule.id]);
      const preview = who.firingOnly ? null : await previewOf(identity, rule);
      return renderPage(
        render,
        c,
        'alert-rule',
        { identity },
        { rule, alerts, history, silences, preview, canAuthor: !who.firingOnly, silenceError: null },
      );
    })
    .get('/alerts/:id/edit', async (c) => {
      const identity = await author(c);
      if (identity instanceof Response) return identity;
      const rule = await ruleOf(c, identity);
      return rule ? formPage(c, identity, formFromRule(rule), rule) : missing(c);
    })
    .post('/alerts/:id/edit', async (c) => {
      const identity = await author(c);
      if (identity instanceof Response) return identity;
      const rule = await ruleOf(c, identity);
      if (!rule) return missing(c);
      const values = await form(c);
      const parsed = parseRule(identity, values, rule.own_user ?? identity.user.id, rule.scope);
      if (!parsed.authored)
        return formPage(c, identity, values, rule, parsed.problem ?? (await problemOf(parsed.error)));
      const updated = await updateRule(await db(identity), rule.id, parsed.authored, now());
      ctx.live.alertsChanged(identity.user.tenantId); // its alerts are gone: the bells count again
      await auditRequest(ctx.control, c, identity, {
        action: 'alerts.rule.update',
        target: rule.id,
        detail: { name: updated.name, metric: updated.metric, scope: updated.scope },
      });
      return c.redirect(`/alerts/${rule.id}`, 303);
    })
    .get('/alerts/:id/delete', async (c) => {
      const identity = await author(c);
      if (identity instanceof Response) return identity;
      const rule = await ruleOf(c, identity);
      return rule ? renderPage(render, c, 'alert-delete', { identity }, { rule }) : missing(c);
    })
    .post('/alerts/:id/delete', async (c) => {
      const identity = await author(c);
      if (identity instanceof Response) return identity;
      const rule = await ruleOf(c, identity);
      if (!rule) return missing(c);
      await deleteRule(await db(identity), rule.id);
      ctx.live.alertsChanged(identity.user.tenantId); // its alerts are gone: the bells count again
      await auditRequest(ctx.control, c, identity, {
        action: 'alerts.rule.delete',
        target: rule.id,
        detail: { name: rule.name },
      });
      return c.redirect('/alerts', 303);
    })
    .post('/alerts/:id/silence', async (c) => {
      const identity = await author(c);
      if (identity instanceof Response) return identity;
      const rule = await ruleOf(c, identity);
      if (!rule) return missing(c);
      const f = await form(c);
      // The form's until is a local datetime without a zone: read in the team's zone, as the page's times are.
      // (Date.parse rolls 31 February over to 3 March: a date the calendar has not stays text, which the schema refuses.)
      const wall =
        /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(f.until ?? '') && isCalendarDate(f.until!)
          ? Date.parse(`${f.until}${f.until!.length === 16 ? ':00' : ''}Z`)
          : Number.NaN;
      const until = Number.isNaN(wall)
        ? (f.until ?? '')
        : new Date(fromWall(c.var.zone ?? DEFAULT_TIME_ZONE, wall)).toISOString();
      // No group silences every group of the rule; one that does not parse stays text, which the schema refuses.
      let group: unknown = null;
      try {
        group = f.group ? JSON.parse(f.group) : null;
      } catch {
        group = f.group;
      }
      const parsed = silenceSchema.safeParse({ rule_id: rule.id, group, until, reason: f.reason ?? '' });
      const problem = !parsed.success
        ? firstIssue(parsed.error)
        : Date.parse(until) <= now()
          ? { field: 'until', message: 'until: must be in the future' }
          : silenceGroupProblem(rule, parsed.data.group);
      if (problem || !parsed.success) {
        const who = alertReader(identity);
        const file = await db(identity);
        const { alerts, history } = await listAlerts(file, [rule], who, { rule: rule.id, limit: 100 });
        const preview = await previewOf(identity, rule);
        return renderPage(
          render,
          c,
          'alert-rule',
          { identity },
          {
            rule,
            alerts,
            history,
            silences: await listSilences(file, now(), [rule.id]),
            preview,
            canAuthor: true,
            silenceError: problem,
          },
          400,
        );
      }
      const silence = await addSilence(await db(identity), rule, parsed.data, identity.user.id, now());
      await auditRequest(ctx.control, c, identity, {
        action: 'alerts.silence',
        target: rule.id,
        detail: { silence: silence.id, group: silence.group, until: silence.until, reason: silence.reason },
      });
      return c.redirect(`/alerts/${rule.id}`, 303);
    });
}
