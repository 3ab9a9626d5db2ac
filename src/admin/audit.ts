// The audit log: who did what, to what, from where. Never holds secrets.
import type { Queryable } from '../storage/duckdb.js';
import { newId } from '../ids.js';

export type AuditEntry = {
  action: string;
  actor: 'user' | 'cli' | 'setup';
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

export type AuditRow = { at: Date; tenantId: string | null; actor: string; actorUserId: string | null; action: string; target: string | null; ip: string | null; detail: string | null };

export function listAudit(db: Queryable, tenantId: string | null, limit = 100): Promise<AuditRow[]> {
  return db.all<AuditRow>(
    `SELECT occurred_at AS "at", tenant_id AS "tenantId", actor, actor_user_id AS "actorUserId", action, target, ip, detail FROM audit_log
      WHERE $tenantId IS NULL OR tenant_id = $tenantId ORDER BY occurred_at DESC LIMIT $limit`,
    { tenantId, limit },
  );
}
