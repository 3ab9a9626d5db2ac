// The weekly digest: every Monday 08:00 in the tenant's time zone, the past week (local
// Monday 00:00 to Monday 00:00) and its key figures against the week before, top spend, top failures and firing alerts, for the tenant (by email or Slack, as
// its admins chose) and for each person who asked for their own figures (by email). One row
// per recipient and week is written before sending, so a restart never sends a week twice.
import { createTransport } from 'nodemailer';
import { z } from 'zod';
import { can } from '../auth/permissions.js';
import { listUsers, type User } from '../auth/users.js';
import type { Config } from '../config.js';
import { querySchema, type QueryInput } from '../query/model.js';
import { runQueries } from '../query/run.js';
import type { QueryResult } from '../query/result.js';
import type { Params, Queryable } from '../storage/duckdb.js';
import { inList } from '../storage/sql.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { tenantSettings } from '../aggregate/settings.js';
import { fromWall, localDate, periodOf, wallOf } from '../time/zone.js';
import { smtpTransport } from './channel-settings.js';
import { postJson, slackText } from './senders.js';
import type { TargetPolicy } from './targets.js';

/** Monday 08:00 local time: when the week before is reported. */
const SEND_AT = 8 * 3_600_000;

export const FIGURES = [
  'sessions',
  'active_users',
  'prompts',
  'tool_calls',
  'tool_failure_rate',
  'tokens',
  'cost_usd',
] as const;

export type Week = { from: number; to: number; zone: string; label: string };

/** The last complete week before `now` in `zone`: local Monday 00:00 to Monday 00:00 (167 to 169 hours), labelled by its end. */
export function lastWeek(now: number, zone: string): Week {
  const to = periodOf(zone, 'week', now).start;
  return { from: periodOf(zone, 'week', to - 1).start, to, zone, label: localDate(zone, to) };
}

/** The week a digest sent at `now` reports, or null before this week's Monday 08:00 in `zone`. */
export function dueWeek(now: number, zone: string): Week | null {
  const week = lastWeek(now, zone);
  return now < fromWall(zone, wallOf(zone, week.to) + SEND_AT) ? null : week;
}

export const digestSettingsSchema = z.discriminatedUnion('channel', [
  z.object({
    enabled: z.boolean(),
    channel: z.literal('email'),
    target: z
      .string()
      .trim()
      .max(2000)
      .refine(
        (s) => s.split(',').every((a) => z.email().safeParse(a.trim()).success),
        'must be email addresses separated by commas',
      ),
  }),
  z.object({ enabled: z.boolean(), channel: z.literal('slack'), target: z.url({ protocol: /^https?$/ }).max(2000) }),
]);
export type DigestSettings = z.infer<typeof digestSettingsSchema>;

export async function digestSettings(db: Queryable): Promise<DigestSettings | null> {
  return (await db.get<DigestSettings>('SELECT enabled, channel, target FROM digest_settings WHERE id = 1')) ?? null;
}
export async function setDigestSettings(db: Queryable, s: DigestSettings): Promise<void> {
  await db.run('INSERT OR REPLACE INTO digest_settings VALUES (1, $enabled, $channel, $target)', s);
}
/** A person's own digest, on or off (sent to `email`). */
export async function setPersonalDigest(db: Queryable, userId: string, email: string | null): Promise<void> {
  await db.run('DELETE FROM digest_people WHERE user_id = $userId', { userId });
  if (email) await db.run('INSERT INTO digest_people VALUES ($userId, $email)', { userId, email });
}
export async function personalDigest(db: Queryable, userId: string): Promise<boolean> {
  return !!(await db.get('SELECT 1 AS x FROM digest_people WHERE user_id = $userId', { userId }));
}

type Row = Record<string, unknown>;
export type Digest = {
  /** Instants (ISO) and the zone whose Mondays they are. */
  week: { from: string; to: string; zone: string };
  figures: { metric: string; value: number; previous: number }[];
  topSpend: { by: string; rows: { name: string; cost_usd: number }[] }[];
  topFailures: { tool: string; tool_failures: number }[];
  apiErrors: { model: string; api_errors: number }[];
  firing: { rule: string; group: string; since: string }[];
};

const num = (v: unknown) => Number(v ?? 0) || 0;

/** The figures of the week against the week before, for everyone or (`user`) one person; through the query layer. */
export async function buildDigest(
  tenantFiles: TenantFiles,
  tenantId: string,
  week: Week,
  user: string | null,
  now: number,
  /** People's names by user id, for the top spend by person (else their ids). */
  names: ReadonlyMap<string, string> = new Map(),
): Promise<Digest> {
  const filters = user ? { user: [user] } : {};
  const q = (input: Omit<QueryInput, 'from' | 'to'>, range: { from: number; to: number } = week) =>
    querySchema.parse({ ...input, filters, from: range.from, to: range.to });
  const spendBy = user ? (['model', 'project'] as const) : (['user', 'model', 'project'] as const);
  // The week before is asked as its own local week: around a clock change it is an hour longer or shorter.
  const [figures, previous, failures, errors, ...spend] = (await runQueries(
    tenantFiles,
    tenantId,
    [
      q({ metrics: [...FIGURES] }),
      q({ metrics: [...FIGURES] }, lastWeek(week.from, week.zone)),
      q({ metrics: ['tool_failures'], group_by: ['tool'], order_by: 'tool_failures', limit: 5 }),
      q({ metrics: ['api_errors'], group_by: ['model'], order_by: 'api_errors', limit: 5 }),
      ...spendBy.map((by) => q({ metrics: ['cost_usd'], group_by: [by], order_by: 'cost_usd', limit: 5 })),
    ],
    { now },
  )) as [QueryResult, QueryResult, QueryResult, QueryResult, ...QueryResult[]];
  const now1 = figures.rows[0] ?? {};
  const before = previous.rows[0] ?? {};
  const db = await tenantFiles.open(tenantId);
  const firing = user
    ? []
    : await db.all<{ rule: string; group: string; since: string }>(
        `SELECT r.body->>'name' AS rule, s.group_key AS "group", s.since::VARCHAR AS since FROM alert_states s JOIN alert_rules r ON r.id = s.rule_id WHERE s.state = 'firing' ORDER BY s.since`,
      );
  return {
    week: { from: new Date(week.from).toISOString(), to: new Date(week.to).toISOString(), zone: week.zone },
    figures: FIGURES.map((metric) => ({ metric, value: num(now1[metric]), previous: num(before[metric]) })),
    topSpend: spendBy.map((by, i) => ({
      by,
      rows: spend[i]!.rows.filter((r: Row) => num(r.cost_usd) > 0).map((r: Row) => ({
        name: by === 'user' && r.user ? (names.get(String(r.user)) ?? String(r.user)) : String(r[by] ?? '(none)'),
        cost_usd: num(r.cost_usd),
      })),
    })),
    topFailures: failures.rows
      .filter((r: Row) => num(r.tool_failures) > 0)
      .map((r: Row) => ({ tool: String(r.tool), tool_failures: num(r.tool_failures) })),
    apiErrors: errors.rows
      .filter((r: Row) => num(r.api_errors) > 0)
      .map((r: Row) => ({ model: String(r.model ?? '(none)'), api_errors: num(r.api_errors) })),
    firing,
  };
}

const show = (metric: string, v: number) =>
  metric === 'cost_usd'
    ? `$${v.toFixed(2)}`
    : metric.endsWith('_rate')
      ? `${(v * 100).toFixed(1)}%`
      : Math.round(v).toLocaleString('en-US');
const change = (v: number, p: number) =>
  p === 0 ? (v === 0 ? 'no change' : 'new') : `${v >= p ? '+' : ''}${(((v - p) / p) * 100).toFixed(0)}%`;

/** The digest as plain text (email body and Slack text). */
export function digestText(d: Digest, who: string): string {
  const lines = [
    `agentmeter weekly digest for ${who}: ${localDate(d.week.zone, Date.parse(d.week.from))} to ${localDate(d.week.zone, Date.parse(d.week.to))} (${d.week.zone})`,
    '',
  ];
  for (const f of d.figures)
    lines.push(
      `${f.metric}: ${show(f.metric, f.value)} (week before ${show(f.metric, f.previous)}, ${change(f.value, f.previous)})`,
    );
  for (const s of d.topSpend)
    if (s.rows.length)
      lines.push('', `Top spend by ${s.by}:`, ...s.rows.map((r) => `  ${r.name}: ${show('cost_usd', r.cost_usd)}`));
  if (d.topFailures.length)
    lines.push('', 'Top failing tools:', ...d.topFailures.map((f) => `  ${f.tool}: ${f.tool_failures} failures`));
  if (d.apiErrors.length)
    lines.push('', 'Model API errors:', ...d.apiErrors.map((e) => `  ${e.model}: ${e.api_errors} errors`));
  if (d.firing.length)
    lines.push(
      '',
      'Firing alerts:',
      ...d.firing.map((a) => `  ${a.rule}${a.group ? ` ${a.group}` : ''} since ${a.since}`),
    );
  return lines.join('\n');
}

/** Slack's shape: the title as a header, the digest as preformatted text (escaped: names come from agents), in sections under Slack's 3,000-character limit once escaped. */
export function digestSlackBody(title: string, text: string) {
  const sections: string[] = [];
  for (const part of text.split('\n\n').map(slackText)) {
    const last = sections.length - 1;
    if (last >= 0 && sections[last]!.length + part.length < 2800) sections[last] += `\n\n${part}`;
    else sections.push(part.slice(0, 2800));
  }
  return {
    text: slackText(title),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } },
      ...sections.map((p) => ({ type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${p}\`\`\`` } })),
    ],
  };
}

export type DigestDeps = {
  tenantFiles: TenantFiles;
  /** The control database: who a person's digest goes to now. */
  control: Queryable;
  secret: Buffer;
  smtp: Config['smtp'];
  policy: () => TargetPolicy;
  log: { error(msg: string, f?: Record<string, unknown>): void };
};

async function send(
  deps: DigestDeps,
  db: Queryable,
  tenantId: string,
  channel: 'email' | 'slack',
  target: string,
  subject: string,
  text: string,
): Promise<void> {
  if (channel === 'slack') {
    await postJson({
      url: target,
      body: JSON.stringify(digestSlackBody(subject, text)),
      headers: {},
      policy: deps.policy(),
      timeoutMs: 10_000,
      signal: AbortSignal.timeout(15_000),
    });
    return;
  }
  const transport = await smtpTransport(db, deps.secret, tenantId, deps.smtp, deps.policy());
  if (!transport)
    throw new Error('no SMTP server: save one on /settings/alerts, or start the appliance with --smtp-url');
  const mailer = createTransport(transport.options);
  try {
    await mailer.sendMail({ from: transport.from, to: target.split(',').map((a) => a.trim()), subject, text });
  } finally {
    mailer.close();
  }
}

/** The tenant's digest of the last complete week, now, whatever was sent before (the admins' "send now"). */
export async function sendTenantDigestNow(
  deps: DigestDeps,
  tenantId: string,
  tenantName: string,
  now: number,
): Promise<{ sent: true } | { sent: false; error: string }> {
  const db = await deps.tenantFiles.open(tenantId);
  const settings = await digestSettings(db);
  if (!settings) return { sent: false, error: 'choose where the digest goes and save first' };
  const d = await buildDigest(
    deps.tenantFiles,
    tenantId,
    lastWeek(now, (await tenantSettings(db, db)).timeZone),
    null,
    now,
    namesOf(await listUsers(deps.control, tenantId)),
  );
  try {
    await send(
      deps,
      db,
      tenantId,
      settings.channel,
      settings.target,
      `[agentmeter] Weekly digest: ${tenantName}`,
      digestText(d, tenantName),
    );
    return { sent: true };
  } catch (err) {
    return { sent: false, error: (err as Error).message };
  }
}

/** Each person of the tenant by user id: their name and address, or the address alone. */
const namesOf = (people: User[]) => new Map(people.map((u) => [u.id, u.name ? `${u.name} <${u.email}>` : u.email]));

/**
 * The people whose own digest is on and who may have it now: an account of `people` (the
 * tenant's) that is enabled (an erased one is not) and whose role sees its own figures, at
 * its address today. The choice of an account deleted since goes with it.
 */
async function digestRecipients(db: Queryable, people: User[]): Promise<{ user_id: string; email: string }[]> {
  const accounts = new Map(people.map((u) => [u.id, u]));
  const chosen = await db.all<{ user_id: string }>('SELECT user_id FROM digest_people ORDER BY user_id');
  const gone = chosen.filter((p) => !accounts.has(p.user_id)).map((p) => p.user_id);
  if (gone.length) {
    const params: Params = {};
    await db.run(`DELETE FROM digest_people WHERE ${inList('user_id', gone, params, 'gone')}`, params);
  }
  return chosen.flatMap((p) => {
    const user = accounts.get(p.user_id);
    return user && !user.disabled && can(user, 'metrics.view_own') ? [{ user_id: user.id, email: user.email }] : [];
  });
}

/** Sends every digest of `tenantId` due at `now` and not yet sent for its week; returns the recipients sent to. */
export async function sendDueDigests(
  deps: DigestDeps,
  tenantId: string,
  tenantName: string,
  now: number,
): Promise<string[]> {
  const db = await deps.tenantFiles.open(tenantId);
  const week = dueWeek(now, (await tenantSettings(db, db)).timeZone);
  if (!week) return [];
  const settings = await digestSettings(db);
  const accounts = await listUsers(deps.control, tenantId);
  const people = await digestRecipients(db, accounts);
  const names = namesOf(accounts);
  const recipients = [
    ...(settings?.enabled
      ? [{ recipient: 'tenant', user: null, channel: settings.channel, target: settings.target, who: tenantName }]
      : []),
    ...people.map((p) => ({
      recipient: p.user_id,
      user: p.user_id,
      channel: 'email' as const,
      target: p.email,
      who: p.email,
    })),
  ];
  const sent: string[] = [];
  for (const r of recipients) {
    // Claimed before sending: a restart after this line never sends the week again.
    const claimed = await db.all(
      'INSERT INTO digest_sent VALUES ($recipient, $week, $at::TIMESTAMP) ON CONFLICT DO NOTHING RETURNING recipient',
      { recipient: r.recipient, week: week.label, at: new Date(now).toISOString() },
    );
    if (!claimed.length) continue;
    try {
      const d = await buildDigest(deps.tenantFiles, tenantId, week, r.user, now, names);
      await send(deps, db, tenantId, r.channel, r.target, `[agentmeter] Weekly digest: ${r.who}`, digestText(d, r.who));
      sent.push(r.recipient);
    } catch (err) {
      // Not sent: the claim goes, so the next tick tries again.
      await db.run('DELETE FROM digest_sent WHERE recipient = $recipient AND week = $week', {
        recipient: r.recipient,
        week: week.label,
      });
      deps.log.error('could not send a weekly digest', {
        tenant_id: tenantId,
        recipient: r.recipient,
        error: (err as Error).message,
      });
    }
  }
  return sent;
}

export type Digests = {
  start(): void;
  stop(): Promise<void>;
  runOnce(): Promise<string[]>;
  sendNow(tenantId: string): ReturnType<typeof sendTenantDigestNow>;
};

/** Checks every minute (and at `runOnce`) for digests due at the app's clock, one tick at a time. */
export function createDigests(
  deps: DigestDeps & { tenants: () => Promise<{ id: string; name: string }[]>; now: () => number; everyMs?: number },
): Digests {
  let interval: NodeJS.Timeout | null = null;
  let running: Promise<string[]> = Promise.resolve([]);
  const tick = () => {
    running = running
      .catch(() => [])
      .then(async () => {
        const sent: string[] = [];
        for (const t of await deps.tenants()) {
          try {
            sent.push(...(await deps.tenantFiles.visit(t.id, () => sendDueDigests(deps, t.id, t.name, deps.now()))));
          } catch (err) {
            deps.log.error('weekly digests failed for a tenant', { tenant_id: t.id, error: (err as Error).message });
          }
        }
        return sent;
      });
    return running;
  };
  return {
    start() {
      interval = setInterval(() => void tick().catch(() => undefined), deps.everyMs ?? 60_000).unref();
    },
    async stop() {
      if (interval) clearInterval(interval);
      interval = null;
      await running.catch(() => undefined);
    },
    runOnce: tick,
    async sendNow(tenantId) {
      const name = (await deps.tenants()).find((t) => t.id === tenantId)?.name ?? tenantId;
      return sendTenantDigestNow(deps, tenantId, name, deps.now());
    },
  };
}
