// An audit entry for what a request did: the caller (a signed-in person, or the owner of
// the API key, which the entry then names) and the address it came from.
import type { Context } from 'hono';
import { audit, type AuditEntry } from '../audit/audit.js';
import type { Database } from '../storage/duckdb.js';
import { clientIp } from './client-ip.js';
import type { Env, Identity } from './env.js';

export function auditRequest(
  control: Database,
  c: Context<Env>,
  identity: Identity,
  entry: Pick<AuditEntry, 'action' | 'target' | 'detail' | 'tenantId'>,
): Promise<void> {
  const detail = identity.via === 'apikey' ? { ...entry.detail, api_key: identity.keyId } : entry.detail;
  return audit(control, {
    actor: 'user',
    actorUserId: identity.user.id,
    tenantId: identity.user.tenantId,
    ip: clientIp(c),
    ...entry,
    detail,
  });
}

/** What an export's audit entry says about it: the format, the range and the filters. */
export const exported = (format: string, q: { from: number; to: number; filters?: object }) => ({
  format,
  from: new Date(q.from).toISOString(),
  to: new Date(q.to).toISOString(),
  filters: q.filters ?? {},
});
