// What the alerts keep in the tenant's file besides the rules: each alert's state, the
// history of notifications, and silences; and the lists the API and the MCP tool read.
import { z } from 'zod';
import { newId } from '../ids.js';
import type { Queryable } from '../storage/duckdb.js';
import type { Notification } from './notification.js';
import { canSeeRule, type Rule, type RuleReader } from './rules.js';
import type { AlertState, StateName } from './state.js';

export const ts = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const ms = (t: unknown) => Date.parse(`${String(t).replace(' ', 'T')}Z`);

type StateRow = {
  rule_id: string;
  group_key: string;
  state: StateName;
  since: string;
  value: number | null;
  last_sent: string | null;
};
const STATE_SELECT = `SELECT rule_id, group_key, state, since::VARCHAR AS since, value, last_sent::VARCHAR AS last_sent FROM alert_states`;
const toState = (r: StateRow): AlertState => ({
  key: r.group_key,
  state: r.state,
  since: ms(r.since),
  value: r.value === null ? null : Number(r.value),
  lastSent: r.last_sent === null ? null : ms(r.last_sent),
});

export async function ruleStates(db: Queryable, ruleId: string): Promise<Map<string, AlertState>> {
  const rows = await db.all<StateRow>(`${STATE_SELECT} WHERE rule_id = $ruleId`, { ruleId });
  return new Map(rows.map((r) => [r.group_key, toState(r)]));
}

/** Every rule's states, by rule id. */
export async function allStates(db: Queryable): Promise<Map<string, Map<string, AlertState>>> {
  const out = new Map<string, Map<string, AlertState>>();
  for (const r of await db.all<StateRow>(STATE_SELECT)) {
    let mine = out.get(r.rule_id);
    if (!mine) out.set(r.rule_id, (mine = new Map()));
    mine.set(r.group_key, toState(r));
  }
  return out;
}

/** A rule's states replaced, and its new history rows, in the caller's transaction. */
export async function saveStates(
  tx: Queryable,
  ruleId: string,
  states: AlertState[],
  history: { n: Notification; key: string; silenced: boolean }[],
): Promise<void> {
  await tx.run(`DELETE FROM alert_states WHERE rule_id = $ruleId`, { ruleId });
  for (const s of states) {
    await tx.run(
      `INSERT INTO alert_states VALUES ($ruleId, $key, $state, $since::TIMESTAMP, $value, $lastSent::TIMESTAMP)`,
      {
        ruleId,
        key: s.key,
        state: s.state,
        since: ts(s.since),
        value: s.value,
        lastSent: s.lastSent === null ? null : ts(s.lastSent),
      },
    );
  }
  for (const { n, key, silenced } of history) {
    await tx.run(
      `INSERT INTO alert_history VALUES ($id, $ruleId, $key, $state, $at::TIMESTAMP, $value, $silenced, $silenced, $n)`,
      {
        id: n.id,
        ruleId,
        key,
        state: n.state,
        at: ts(Date.parse(n.at)),
        value: n.value,
        silenced,
        n: JSON.stringify(n),
      },
    );
  }
}

/** Notifications recorded but not yet handed to delivery (the process stopped in between). */
export async function notHandedOver(db: Queryable): Promise<Notification[]> {
  const rows = await db.all<{ n: string }>(
    `SELECT notification::VARCHAR AS n FROM alert_history WHERE NOT handed_over ORDER BY sent_at, id`,
  );
  return rows.map((r) => JSON.parse(r.n) as Notification);
}

export const markHandedOver = (db: Queryable, id: string) =>
  db.run(`UPDATE alert_history SET handed_over = true WHERE id = $id`, { id });

export const silenceSchema = z.strictObject({
  rule_id: z.string().min(1).max(100),
  /** The group value to mute (e.g. {"user": "u_…"}); absent: every group of the rule. */
  group: z.record(z.string().max(100), z.string().max(512)).nullable().default(null),
  until: z.iso.datetime({ offset: true }),
  reason: z.string().trim().min(1).max(500),
});
export type SilenceInput = z.output<typeof silenceSchema>;
export type Silence = {
  id: string;
  rule_id: string;
  group: Record<string, string> | null;
  until: string;
  reason: string;
  created_by: string;
  created_at: string;
};

/** The key a group value has in a rule's states, in the rule's own order of dimensions. */
export const groupKey = (rule: Pick<Rule, 'group_by'>, group: Record<string, string> | null) =>
  group && rule.group_by.length
    ? JSON.stringify(Object.fromEntries(rule.group_by.map((d) => [d, group[d] ?? ''])))
    : null;

/**
 * Why `group` cannot silence one group of `rule`, naming the field: a dimension the rule is not
 * grouped by, one it is grouped by left out (the group's key would match nothing), or any group
 * on an ungrouped rule. Null: it can (no group silences the whole rule).
 */
export function silenceGroupProblem(
  rule: Pick<Rule, 'group_by'>,
  group: Record<string, string> | null,
): { field: string; message: string } | null {
  const keys = Object.keys(group ?? {});
  if (!group || (!keys.length && !rule.group_by.length)) return null;
  if (!rule.group_by.length)
    return { field: 'group', message: 'group: this rule has no groups; leave group out to silence the whole rule' };
  const grouped = `the rule is grouped by ${rule.group_by.join(', ')}`;
  const stray = keys.find((k) => !(rule.group_by as string[]).includes(k));
  if (stray) return { field: `group.${stray}`, message: `group.${stray}: not a dimension of this rule (${grouped})` };
  const missing = rule.group_by.find((d) => !Object.hasOwn(group, d));
  if (missing) return { field: `group.${missing}`, message: `group.${missing}: is required (${grouped})` };
  return null;
}

export async function addSilence(
  db: Queryable,
  rule: Rule,
  s: SilenceInput,
  createdBy: string,
  now: number,
): Promise<Silence> {
  const id = newId('s');
  await db.run(
    `INSERT INTO alert_silences VALUES ($id, $ruleId, $key, $until::TIMESTAMP, $reason, $by, $now::TIMESTAMP)`,
    {
      id,
      ruleId: rule.id,
      key: groupKey(rule, s.group),
      until: ts(Date.parse(s.until)),
      reason: s.reason,
      by: createdBy,
      now: ts(now),
    },
  );
  return (await listSilences(db, now, [rule.id])).find((x) => x.id === id)!;
}

export async function removeSilence(db: Queryable, id: string, ruleIds: string[]): Promise<boolean> {
  const found = await db.get<{ rule_id: string }>(`SELECT rule_id FROM alert_silences WHERE id = $id`, { id });
  if (!found || !ruleIds.includes(found.rule_id)) return false;
  await db.run(`DELETE FROM alert_silences WHERE id = $id`, { id });
  return true;
}

/** Silences still in force at `now`, of the given rules (all when absent). */
export async function listSilences(db: Queryable, now: number, ruleIds?: string[]): Promise<Silence[]> {
  const rows = await db.all<{
    id: string;
    rule_id: string;
    group_key: string | null;
    until: string;
    reason: string;
    created_by: string;
    created_at: string;
  }>(
    `SELECT id, rule_id, group_key, until::VARCHAR AS until, reason, created_by, created_at::VARCHAR AS created_at FROM alert_silences WHERE until > $now::TIMESTAMP ORDER BY until, id`,
    { now: ts(now) },
  );
  return rows
    .filter((r) => !ruleIds || ruleIds.includes(r.rule_id))
    .map((r) => ({
      id: r.id,
      rule_id: r.rule_id,
      group: r.group_key ? (JSON.parse(r.group_key) as Record<string, string>) : null,
      until: new Date(ms(r.until)).toISOString(),
      reason: r.reason,
      created_by: r.created_by,
      created_at: new Date(ms(r.created_at)).toISOString(),
    }));
}

export const isSilenced = (silences: Silence[], ruleId: string, key: string) =>
  silences.some((s) => s.rule_id === ruleId && (s.group === null || JSON.stringify(s.group) === key));

/** Who reads alerts: a rule reader, and whether they see firing alerts only (a viewer). */
export type AlertReader = RuleReader & { firingOnly: boolean };

export type AlertView = {
  rule_id: string;
  rule_name: string;
  severity: string;
  metric: string;
  group: Record<string, string> | null;
  state: StateName;
  since: string;
  value: number | null;
};
export type HistoryView = Notification & { silenced: boolean };

const PERSONAL = ['user', 'session'];

/**
 * Current alerts (not ok) and history, of the rules `who` may see; a viewer's firing alerts
 * only, and of a rule per person or session neither the group nor its value (one person's figure).
 */
export async function listAlerts(
  db: Queryable,
  rules: Rule[],
  who: AlertReader,
  o: { state?: string; rule?: string; limit: number },
): Promise<{ alerts: AlertView[]; history: HistoryView[] }> {
  const visible = new Map(
    rules.filter((r) => canSeeRule(r, who) && (!o.rule || r.id === o.rule)).map((r) => [r.id, r]),
  );
  const hide = (r: Rule) => !who.individuals && r.group_by.some((d) => PERSONAL.includes(d));
  const states = (
    await db.all<StateRow>(`${STATE_SELECT} WHERE state <> 'ok' ORDER BY since DESC, rule_id, group_key`)
  ).filter((s) => visible.has(s.rule_id));
  const alerts = states
    .filter((s) => (who.firingOnly ? s.state === 'firing' : !o.state || s.state === o.state))
    .map((s) => {
      const r = visible.get(s.rule_id)!;
      return {
        rule_id: r.id,
        rule_name: r.name,
        severity: r.severity,
        metric: r.metric,
        group: hide(r) || !s.group_key ? null : (JSON.parse(s.group_key) as Record<string, string>),
        state: s.state,
        since: new Date(ms(s.since)).toISOString(),
        value: hide(r) || s.value === null ? null : Number(s.value),
      };
    });
  if (who.firingOnly) return { alerts, history: [] };
  const rows = await db.all<{ rule_id: string; n: string; silenced: boolean }>(
    `SELECT rule_id, notification::VARCHAR AS n, silenced FROM alert_history ${o.state ? 'WHERE state = $state' : ''} ORDER BY sent_at DESC, id LIMIT 100000`,
    o.state ? { state: o.state } : {},
  );
  const history = rows
    .filter((r) => visible.has(r.rule_id))
    .slice(0, o.limit)
    .map((r) => ({ ...(JSON.parse(r.n) as Notification), silenced: r.silenced }));
  return { alerts, history };
}

/** How many alerts of the rules `who` may see are firing: the bell's number. */
export async function countFiring(db: Queryable, rules: Rule[], who: RuleReader): Promise<number> {
  const visible = new Set(rules.filter((r) => canSeeRule(r, who)).map((r) => r.id));
  const rows = await db.all<{ rule_id: string }>(`SELECT rule_id FROM alert_states WHERE state = 'firing'`);
  return rows.filter((r) => visible.has(r.rule_id)).length;
}
