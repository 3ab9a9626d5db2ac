// The audit log: who did what, to what, from where. Never holds secrets. Read back by the
// audit page and GET /api/v1/audit, filtered by tenant, person, action and time, and as CSV.
import { z } from 'zod';
import type { Queryable } from '../storage/duckdb.js';
import { tsLiteral } from '../aggregate/rollup.js';
import { formatRows } from '../query/export.js';
import { newId } from '../ids.js';
import { isCalendarDate } from '../time/zone.js';

export type AuditEntry = {
  action: string;
  actor: 'user' | 'cli' | 'setup' | 'system';
  actorUserId?: string | null;
  tenantId?: string | null;
  target?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
};

export async function audit(db: Queryable, entry: AuditEntry): Promise<void> {
  await db.run(
    `INSERT INTO audit_log (id, tenant_id, actor_user_id, actor, action, target, ip, detail)
     VALUES ($id, $tenantId, $actorUserId, $actor, $action, $target, $ip, $detail)`,
    {
      id: newId('a'),
      tenantId: entry.tenantId ?? null,
      actorUserId: entry.actorUserId ?? null,
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      ip: entry.ip ?? null,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
    },
  );
}

/**
 * One entry as it is read back. `person` is the actor's email; for a sign-in that failed,
 * the email that was tried (there is no actor then).
 */
export type AuditRow = {
  at: Date;
  tenantId: string | null;
  actor: string;
  actorUserId: string | null;
  person: string | null;
  action: string;
  target: string | null;
  ip: string | null;
  detail: string | null;
};

/** The largest page of the log, and the most a CSV holds. */
export const AUDIT_PAGE_MAX = 1000;
export const AUDIT_CSV_MAX = 100_000;

/** A date (that whole UTC day, for `to` through its end) or an ISO 8601 time with a zone. */
const timeParam = z
  .string()
  .trim()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/,
    'must be a date (2026-01-31) or an ISO 8601 time with a zone',
  )
  .refine((s) => isCalendarDate(s) && !Number.isNaN(Date.parse(s)), 'is not a real date');
const optional = <T extends z.ZodType>(s: T) => z.preprocess((v) => (v === '' ? undefined : v), s.optional());

/** The filters of the audit page and API, from a query string. */
export const auditFilterSchema = z
  .object({
    person: optional(z.string().trim().max(254)),
    action: optional(
      z
        .string()
        .trim()
        .max(100)
        .regex(/^[a-z0-9_.-]+$/, 'letters, digits, dots and dashes only'),
    ),
    from: optional(timeParam),
    to: optional(timeParam),
    page: optional(z.coerce.number().int().min(1).max(1_000_000)),
    limit: optional(z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX)),
  })
  .refine((f) => !f.from || !f.to || startOf(f.from) < endOf(f.to), {
    path: ['to'],
    message: 'must not be before from',
  });
export type AuditFilter = z.infer<typeof auditFilterSchema>;

const startOf = (s: string) => Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s);
/** A date as `to` includes the day; a time is the end itself. */
const endOf = (s: string) => (s.length === 10 ? Date.parse(`${s}T00:00:00Z`) + 86_400_000 : Date.parse(s));

export type AuditSearch = AuditFilter & { tenantId: string | null };

function where(q: AuditSearch): { sql: string; params: Record<string, string | null> } {
  const parts = ['($tenantId IS NULL OR a.tenant_id = $tenantId)'];
  const params: Record<string, string | null> = { tenantId: q.tenantId };
  if (q.person) {
    parts.push(`lower(${PERSON}) = lower($person)`);
    params.person = q.person;
  }
  if (q.action) {
    // "login" finds login.success and login.failure; "login.failure" only that.
    parts.push(`(a.action = $action OR starts_with(a.action, $action || '.'))`);
    params.action = q.action;
  }
  if (q.from) parts.push(`a.occurred_at >= ${tsLiteral(startOf(q.from))}`);
  if (q.to) parts.push(`a.occurred_at < ${tsLiteral(endOf(q.to))}`);
  return { sql: parts.join(' AND '), params };
}

const PERSON = `coalesce(u.email, CASE WHEN a.action LIKE 'login.%' THEN json_extract_string(a.detail, '$.email') END)`;

const SELECT = `SELECT a.occurred_at AS "at", a.tenant_id AS "tenantId", a.actor, a.actor_user_id AS "actorUserId", ${PERSON} AS person,
                       a.action, a.target, a.ip, a.detail
                  FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id`;

/** One page of the log, newest first, and whether an older page exists. */
export async function searchAudit(
  db: Queryable,
  q: AuditSearch,
): Promise<{ entries: AuditRow[]; page: number; more: boolean }> {
  const limit = q.limit ?? 100;
  const page = q.page ?? 1;
  const w = where(q);
  const rows = await db.all<AuditRow>(
    `${SELECT} WHERE ${w.sql} ORDER BY a.occurred_at DESC, a.id DESC LIMIT ${limit + 1} OFFSET ${(page - 1) * limit}`,
    w.params,
  );
  return { entries: rows.slice(0, limit), page, more: rows.length > limit };
}

/** Every action the log holds for the tenant (all tenants: null), for the filter's choices. */
export async function auditActions(db: Queryable, tenantId: string | null): Promise<string[]> {
  const rows = await db.all<{ action: string }>(
    `SELECT DISTINCT action FROM audit_log WHERE $tenantId IS NULL OR tenant_id = $tenantId ORDER BY action`,
    { tenantId },
  );
  return rows.map((r) => r.action);
}

export const AUDIT_COLUMNS = [
  'at',
  'tenant_id',
  'person',
  'actor',
  'actor_user_id',
  'action',
  'target',
  'ip',
  'detail',
] as const;

/**
 * The matching entries (at most AUDIT_CSV_MAX, newest first) as RFC 4180 CSV with the
 * exports' defused formula cells; `truncated` when there were more.
 */
export async function auditCsv(db: Queryable, q: AuditSearch): Promise<{ body: string; truncated: boolean }> {
  const w = where(q);
  const rows = await db.all<AuditRow>(
    `${SELECT} WHERE ${w.sql} ORDER BY a.occurred_at DESC, a.id DESC LIMIT ${AUDIT_CSV_MAX + 1}`,
    w.params,
  );
  const cells = rows.slice(0, AUDIT_CSV_MAX).map((r) => ({
    at: new Date(r.at).toISOString(),
    tenant_id: r.tenantId,
    person: r.person,
    actor: r.actor,
    actor_user_id: r.actorUserId,
    action: r.action,
    target: r.target,
    ip: r.ip,
    detail: r.detail,
  }));
  return { body: formatRows(cells, AUDIT_COLUMNS, 'csv', true), truncated: rows.length > AUDIT_CSV_MAX };
}
