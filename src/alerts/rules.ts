// Alert rules: the body a person sends (validated with the query language's own schema for
// the metric, filters and grouping), and the rules stored in the tenant's file. A rule's
// answer is a query of its metric over [now - window, now), grouped by its group_by.
import { z } from 'zod';
import { newId } from '../ids.js';
import { filtersObject, METRICS, querySchema, type Query } from '../query/model.js';
import type { Queryable } from '../storage/duckdb.js';
import type { Channel } from './notification.js';
import { checkTarget, type TargetPolicy } from './targets.js';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
const MIN = UNIT_MS.m;
const DAY = UNIT_MS.d;

/** "15m", "1h", "7d", "2w" in milliseconds. */
export function durationMs(s: string): number {
  return Number(s.slice(0, -1)) * UNIT_MS[s.slice(-1) as keyof typeof UNIT_MS];
}

const duration = (min: number, max: number, words: string) =>
  z
    .string()
    .regex(/^\d{1,6}[mhdw]$/, 'must be a duration like 15m, 1h, 7d or 2w')
    .refine((s) => durationMs(s) >= min && durationMs(s) <= max, `must be from ${words}`);

export const WINDOW_WORDS = '5m to 30d';

/**
 * What a channel URL may be, whoever runs the appliance: http(s), no credentials, never a
 * link-local (cloud metadata) address (`checkTarget`), no white space. Loopback, private networks and the
 * appliance itself depend on its settings: `channelTargetProblem` checks those per request,
 * and delivery checks again after DNS.
 */
function targetProblem(raw: string): string | null {
  // The form lists URLs apart by white space: one holding any would come back from it as two.
  if (/\s/.test(raw)) return 'must not hold spaces or line breaks (write a space as %20)';
  const check = checkTarget(raw, { allowPrivate: true });
  return check.ok ? null : check.message;
}

/** The first channel of `body` the appliance's target policy refuses, named by its field. */
export function channelTargetProblem(
  body: { channels: readonly { type: string; url?: string }[] },
  policy: TargetPolicy,
): { field: string; message: string } | null {
  for (const [i, channel] of body.channels.entries()) {
    if (!channel.url) continue;
    const check = checkTarget(channel.url, policy);
    if (!check.ok) return { field: `channels.${i}.url`, message: `channels.${i}.url: ${check.message}` };
  }
  return null;
}
const targetUrl = z
  .string()
  .max(2000)
  .superRefine((u, ctx) => {
    const why = targetProblem(u);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  });

const channelSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('dashboard') }),
  z.strictObject({ type: z.literal('webhook'), url: targetUrl }),
  z.strictObject({ type: z.literal('slack'), url: targetUrl }),
  z.strictObject({ type: z.literal('email'), to: z.array(z.email().max(320)).min(1).max(20) }),
]);

const op = z.enum(['above', 'below']);
const conditionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('threshold'), op, value: z.number().finite() }),
  z.strictObject({
    type: z.literal('anomaly'),
    // Positive: the window's value this many spreads above its baseline; negative: below.
    z: z
      .number()
      .finite()
      .refine((v) => v !== 0 && Math.abs(v) <= 100, 'must be a non-zero number from -100 to 100'),
    baseline_windows: z.number().int().min(2).max(24).default(12),
  }),
  z.strictObject({ type: z.literal('forecast'), op, value: z.number().finite(), by: z.enum(['day', 'week', 'month']) }),
]);
export type Condition = z.output<typeof conditionSchema>;

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const NO_DATA = ['ok', 'no_data', 'firing'] as const;

/** Metrics whose figure over a period adds up over time, as a forecast needs (not a rate, a distinct count or a duration). */
export function additive(metric: string): boolean {
  const def = METRICS[metric];
  return !!def && 'sql' in def && !def.distinct && !def.sql.includes('DISTINCT') && !metric.endsWith('_rate');
}

/** The body of POST/PUT /api/v1/alerts/rules. */
export const ruleSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    metric: z.string().max(100),
    filters: filtersObject.default({}),
    group_by: z.array(z.string()).max(2).default([]),
    window: duration(5 * MIN, 30 * DAY, WINDOW_WORDS),
    condition: conditionSchema,
    pending: duration(0, 30 * DAY, '0m to 30d').default('0m'),
    renotify: duration(MIN, 30 * DAY, '1m to 30d')
      .nullable()
      .default(null),
    severity: z.enum(SEVERITIES).default('warning'),
    no_data: z.enum(NO_DATA).default('ok'),
    channels: z
      .array(channelSchema)
      .max(10)
      .default([{ type: 'dashboard' }]),
    /** team: about everyone's data (managers and up); own: about the author's own data. Default: what the author may make. */
    scope: z.enum(['team', 'own']).optional(),
  })
  .superRefine((r, ctx) => {
    // The metric, filters and grouping exactly as the query language takes them.
    const q = querySchema.safeParse({ metrics: [r.metric], filters: r.filters, group_by: r.group_by, from: 0, to: 1 });
    if (!q.success) {
      for (const issue of q.error.issues)
        ctx.addIssue({
          code: 'custom',
          path: issue.path[0] === 'metrics' ? ['metric'] : issue.path,
          message: issue.message,
        });
      return;
    }
    if (r.condition.type === 'forecast' && !additive(r.metric)) {
      ctx.addIssue({
        code: 'custom',
        path: ['metric'],
        message: `a forecast needs a metric that adds up over time (a count, tokens or cost), not ${r.metric}`,
      });
    }
  })
  .transform((r) => ({
    ...r,
    filters: r.filters as Query['filters'],
    group_by: r.group_by as Query['group_by'],
    channels: r.channels as Channel[],
  }));
export type RuleBody = z.output<typeof ruleSchema>;

export type Rule = Omit<RuleBody, 'scope'> & {
  id: string;
  scope: 'team' | 'own';
  created_by: string;
  /** Set: every query of the rule is narrowed to this user (a rule about one's own data). */
  own_user: string | null;
  created_at: string;
  updated_at: string;
};

/**
 * Who asks about rules: `team` (managers and up, and viewers) the tenant's rules, others
 * the rules about their own data; without `individuals` (a viewer) none about one person.
 */
export type RuleReader = { userId: string; team: boolean; individuals: boolean };

/** Whether a rule's figure is one person's or one session's: its own user, or filtered to users or sessions. */
const aboutIndividuals = (rule: Pick<Rule, 'own_user' | 'filters'>) =>
  rule.own_user !== null || rule.filters.user !== undefined || rule.filters.session !== undefined;

/**
 * Whether `who` may read `rule`: what they may ask the query API. A rule's author alone
 * does not decide it: a manager made a developer keeps only the rules about themselves.
 */
export const canSeeRule = (rule: Pick<Rule, 'own_user' | 'filters'>, who: RuleReader) =>
  who.team ? who.individuals || !aboutIndividuals(rule) : rule.own_user === who.userId;

type Row = {
  id: string;
  created_by: string;
  own_user: string | null;
  body: string;
  created_at: string;
  updated_at: string;
};
const iso = (t: unknown) => new Date(`${String(t).replace(' ', 'T')}Z`).toISOString();
const fromRow = (r: Row): Rule => ({
  ...(JSON.parse(r.body) as RuleBody),
  id: r.id,
  scope: r.own_user ? 'own' : 'team',
  created_by: r.created_by,
  own_user: r.own_user,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});
const ts = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const SELECT = `SELECT id, created_by, own_user, body::VARCHAR AS body, created_at::VARCHAR AS created_at, updated_at::VARCHAR AS updated_at FROM alert_rules`;

export async function listRules(db: Queryable, who?: RuleReader): Promise<Rule[]> {
  const rows = await db.all<Row>(`${SELECT} ORDER BY created_at, id`);
  return rows.map(fromRow).filter((r) => !who || canSeeRule(r, who));
}

/** The ids of `rules` still stored as they are (not edited or deleted since they were read). */
export async function stillAsRead(db: Queryable, rules: Rule[]): Promise<Set<string>> {
  const now = new Map((await listRules(db)).map((r) => [r.id, JSON.stringify(r)]));
  return new Set(rules.filter((r) => now.get(r.id) === JSON.stringify(r)).map((r) => r.id));
}

export async function getRule(db: Queryable, id: string, who?: RuleReader): Promise<Rule | null> {
  const row = await db.get<Row>(`${SELECT} WHERE id = $id`, { id });
  const rule = row ? fromRow(row) : null;
  return rule && (!who || canSeeRule(rule, who)) ? rule : null;
}

/** What the author's role made of the body: the filters (a developer's narrowed to them) and whose data it is about. */
export type Authored = { body: RuleBody; createdBy: string; ownUser: string | null };

const bodyOf = ({ body, ownUser }: Authored) =>
  JSON.stringify({ ...body, scope: undefined, ...(ownUser && { filters: { ...body.filters, user: [ownUser] } }) });

export async function createRule(db: Queryable, a: Authored, now: number): Promise<Rule> {
  const id = newId('r');
  await db.run(`INSERT INTO alert_rules VALUES ($id, $by, $own, $body, $now::TIMESTAMP, $now::TIMESTAMP)`, {
    id,
    by: a.createdBy,
    own: a.ownUser,
    body: bodyOf(a),
    now: ts(now),
  });
  return (await getRule(db, id))!;
}

/** Replaces a rule's body; its alerts start again from ok (the question changed). */
export async function updateRule(
  db: Queryable & { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> },
  id: string,
  a: Omit<Authored, 'createdBy'>,
  now: number,
): Promise<Rule> {
  await db.transaction(async (tx) => {
    await tx.run(`UPDATE alert_rules SET own_user = $own, body = $body, updated_at = $now::TIMESTAMP WHERE id = $id`, {
      id,
      own: a.ownUser,
      body: bodyOf({ ...a, createdBy: '' }),
      now: ts(now),
    });
    await tx.run(`DELETE FROM alert_states WHERE rule_id = $id`, { id });
  });
  return (await getRule(db, id))!;
}

/** A rule goes with its states, silences and history. */
export async function deleteRule(
  db: Queryable & { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> },
  id: string,
): Promise<void> {
  await db.transaction(async (tx) => {
    for (const table of ['alert_states', 'alert_silences', 'alert_history'])
      await tx.run(`DELETE FROM ${table} WHERE rule_id = $id`, { id });
    await tx.run(`DELETE FROM alert_rules WHERE id = $id`, { id });
  });
}
