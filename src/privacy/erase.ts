// Erasing a person (GDPR's right to erasure): everything their tenant's file holds of them
// goes, their events with their share of every figure (src/aggregate/remove.ts), and the
// control database keeps an anonymised account (so audit entries that name its id still
// resolve to "an erased person") with no email, name, password, keys or sessions. Their
// keys go first, so nothing new of theirs is accepted while the file is cleaned.
import { audit, type AuditEntry } from '../audit/audit.js';
import type { Aggregator } from '../aggregate/worker.js';
import { removeEvents, removeUserRollups } from '../aggregate/remove.js';
import { tenantSettings } from '../aggregate/settings.js';
import { resetLayout } from '../dashboards/layout.js';
import { lastAdmin, PeopleError } from '../auth/people.js';
import { canGrantRole, type Actor } from '../auth/permissions.js';
import { getUser, type User } from '../auth/users.js';
import type { Ingestor } from '../ingest/ingest.js';
import type { AppContext } from '../context.js';
import type { Database, Queryable } from '../storage/duckdb.js';
import type { TenantFiles } from '../storage/tenant-files.js';

/** What an erasure removed: counts only (the audit log keeps these, never the data). */
export type Erased = {
  events: number;
  sessions: number;
  import_runs: number;
  api_keys: number;
  browser_sessions: number;
  audit_entries_scrubbed: number;
};

/** The email an erased account keeps: unique, unusable, and saying what happened. */
export const erasedEmail = (userId: string) => `erased-${userId}@invalid`;
export const isErased = (email: string) => /^erased-.+@invalid$/.test(email);

/** A person's tenant-file rows outside `events` and the rollups, by table. */
const USER_TABLES = [
  'session_index',
  'session_figures',
  'session_scores',
  'import_runs',
  'import_chunks',
  'imported_baselines',
  'retired_events',
  'digest_people',
] as const;

/**
 * Why `actor` may not erase `target` (null: they may); `done`: it already happened; `conflict`:
 * not while things stand as they do. Tenant
 * access is checked before. The people page's rules hold: nobody erases the last active admin.
 */
export async function erasureRefusal(
  db: Queryable,
  actor: Actor & { id: string },
  target: User,
): Promise<{ message: string; done?: true; conflict?: true } | null> {
  if (target.id === actor.id) return { message: 'you cannot erase yourself; ask another admin' };
  if (!canGrantRole(actor, target.role))
    return { message: `your role (${actor.role}) cannot erase a ${target.role.replace('_', ' ')}` };
  if (isErased(target.email)) return { message: 'this person has already been erased', done: true };
  const last = await lastAdmin(db, target);
  return last ? { message: last, conflict: true } : null;
}

type EraseDeps = {
  control: Database;
  tenantFiles: TenantFiles;
  aggregator: Aggregator;
  ingest: Ingestor;
  invalidateKeys(): void;
};

/** What an erasure needs of the app. */
export const eraseDeps = (
  ctx: Pick<AppContext, 'control' | 'tenantFiles' | 'aggregator' | 'ingest' | 'keys'>,
): EraseDeps => ({
  control: ctx.control,
  tenantFiles: ctx.tenantFiles,
  aggregator: ctx.aggregator,
  ingest: ctx.ingest,
  invalidateKeys: () => ctx.keys.invalidate(),
});

/**
 * Erases `person` and records it in the audit log (`privacy.erase`, with the counts only),
 * `by` whom. Safe to run again after a failure: each step removes what is left.
 */
export async function erasePerson(
  deps: EraseDeps,
  person: { id: string; tenantId: string; email: string },
  by: Pick<AuditEntry, 'actor' | 'actorUserId' | 'ip'>,
): Promise<Erased> {
  const access = await deps.control.transaction(async (tx) => {
    // The last-admin rule again, in the transaction that disables them (erasureRefusal's check
    // ran before it): the control file's transactions run one at a time.
    const target = await getUser(tx, person.id);
    const last = target && (await lastAdmin(tx, target));
    if (last) throw new PeopleError('conflict', last);
    const keys = await count(tx, 'api_keys', person.id);
    const browser = await count(tx, 'auth_sessions', person.id);
    await tx.run(`DELETE FROM api_keys WHERE user_id = $user`, { user: person.id });
    await tx.run(`DELETE FROM auth_sessions WHERE user_id = $user`, { user: person.id });
    // Their second factor (an encrypted secret, hashed recovery codes) goes with the account.
    for (const table of ['mfa_totp', 'mfa_recovery_codes', 'mfa_pending_logins'])
      await tx.run(`DELETE FROM ${table} WHERE user_id = $user`, { user: person.id });
    // Their reset links and the invitation they came by name their address (links they made
    // stop working with their account: openLink checks the maker). Another organisation's
    // invitation to the same address is that organisation's.
    await tx.run(`DELETE FROM account_links WHERE user_id = $user OR (email = $email AND tenant_id = $tenant)`, {
      user: person.id,
      email: person.email,
      tenant: person.tenantId,
    });
    await tx.run(`UPDATE users SET disabled = true WHERE id = $user`, { user: person.id });
    return { keys, browser };
  });
  deps.invalidateKeys();

  const db = await deps.tenantFiles.open(person.tenantId);
  await deps.ingest.flushAll(); // nothing of theirs still on its way in
  const file = await deps.aggregator.whileIdle(async () => {
    const settings = await tenantSettings(db, db);
    return db.transaction(async (tx) => {
      const sessions = await count(tx, 'session_index', person.id);
      const runs = await count(tx, 'import_runs', person.id);
      const events = await removeEvents(
        tx,
        'user_id = $user',
        { user: person.id },
        settings.applied.raw,
        deps.aggregator.sessions,
      );
      await removeUserRollups(tx, person.id);
      for (const table of USER_TABLES) await tx.run(`DELETE FROM ${table} WHERE user_id = $user`, { user: person.id });
      await resetLayout(tx, person.id);
      return { events, sessions, runs };
    });
  });

  return deps.control.transaction(async (tx) => {
    const erased: Erased = {
      events: file.events,
      sessions: file.sessions,
      import_runs: file.runs,
      api_keys: access.keys,
      browser_sessions: access.browser,
      audit_entries_scrubbed: await scrubAudit(tx, person.email),
    };
    await tx.run(
      `UPDATE users SET email = $email, name = NULL, password_hash = NULL, disabled = true, last_login_at = NULL WHERE id = $user`,
      {
        user: person.id,
        email: erasedEmail(person.id),
      },
    );
    await audit(tx, { ...by, action: 'privacy.erase', tenantId: person.tenantId, target: person.id, detail: erased });
    return erased;
  });
}

async function count(tx: Queryable, table: string, userId: string): Promise<number> {
  return Number(
    (await tx.get<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE user_id = $user`, { user: userId }))!.n,
  );
}

/**
 * The person's email, in any case, in any audit entry's detail becomes `[erased]`, whatever
 * the tenant (a failed sign-in with their email may have been logged before it was known).
 */
async function scrubAudit(tx: Queryable, email: string): Promise<number> {
  const pattern = email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const where = `detail IS NOT NULL AND contains(lower(detail), lower($email))`;
  const { n } = (await tx.get<{ n: number }>(`SELECT count(*) AS n FROM audit_log WHERE ${where}`, { email }))!;
  await tx.run(`UPDATE audit_log SET detail = regexp_replace(detail, $pattern, '[erased]', 'gi') WHERE ${where}`, {
    email,
    pattern,
  });
  return Number(n);
}
