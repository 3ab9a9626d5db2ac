// A person's second factor: enrolment (a TOTP secret that is switched on only once a code
// from it has been typed back), the check of a code at sign-in (each 30-second step counts
// once) or of a recovery code (each counts once), the recovery codes, and switching it off
// (by the person, a super admin or the CLI).
import { createHash } from 'node:crypto';
import { Secret } from 'otpauth';
import type { Connection, Queryable } from '../storage/duckdb.js';
import { passwordHashOf } from './users.js';
import { verifyPassword } from './passwords.js';
import { matchingStep, newTotpSecret, qrDataUri, totpUri } from './totp.js';
import { openSecret, sealSecret } from './secret-box.js';

const PURPOSE = 'agentmeter totp secrets v1';
const seal = (serverSecret: Buffer, userId: string, secret: string) =>
  sealSecret(serverSecret, PURPOSE, userId, secret);
const unseal = (serverSecret: Buffer, userId: string, stored: string) =>
  openSecret(serverSecret, PURPOSE, userId, stored);

export type MfaDeps = { control: Connection; secret: Buffer; now: () => Date };

export const RECOVERY_CODE_COUNT = 10;

type TotpRow = { secret: string; enabledAt: Date | null };

const totpRow = (db: Queryable, userId: string) =>
  db.get<TotpRow>(`SELECT secret, enabled_at AS "enabledAt" FROM mfa_totp WHERE user_id = $userId`, { userId });

export type MfaStatus = { enabled: false } | { enabled: true; since: Date; recoveryCodesLeft: number };

export async function mfaStatus(db: Queryable, userId: string): Promise<MfaStatus> {
  const row = await totpRow(db, userId);
  if (!row?.enabledAt) return { enabled: false };
  const left = await db.get<{ n: number }>(
    'SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = $userId AND used_at IS NULL',
    { userId },
  );
  return { enabled: true, since: row.enabledAt, recoveryCodesLeft: left?.n ?? 0 };
}

export async function mfaEnabled(db: Queryable, userId: string): Promise<boolean> {
  return Boolean((await totpRow(db, userId))?.enabledAt);
}

/** The ids of a tenant's people who have two-factor on. */
export async function mfaUsers(db: Queryable, tenantId: string): Promise<Set<string>> {
  const rows = await db.all<{ id: string }>(
    'SELECT m.user_id AS id FROM mfa_totp m JOIN users u ON u.id = m.user_id WHERE u.tenant_id = $tenantId AND m.enabled_at IS NOT NULL',
    { tenantId },
  );
  return new Set(rows.map((r) => r.id));
}

export type Enrolment = { secret: string; uri: string; qr: string };

/**
 * What an authenticator app needs to add this person: the secret waiting for confirmation
 * (made now if there is none, kept across reloads), as text, URI and QR code. Null when
 * two-factor is already on.
 */
export async function enrolment(deps: MfaDeps, user: { id: string; email: string }): Promise<Enrolment | null> {
  // Two tabs opening the page at once: the first secret stays, the second insert does nothing.
  await deps.control.run(
    'INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($userId, $secret, $now) ON CONFLICT DO NOTHING',
    { userId: user.id, secret: seal(deps.secret, user.id, newTotpSecret()), now: deps.now() },
  );
  const row = await totpRow(deps.control, user.id);
  if (!row || row.enabledAt) return null;
  const secret = unseal(deps.secret, user.id, row.secret);
  const uri = totpUri(secret, user.email);
  return { secret, uri, qr: await qrDataUri(uri) };
}

/**
 * Switches two-factor on if `code` is a current code of the waiting secret; returns the new
 * recovery codes (to be shown once), or null for a wrong code or nothing waiting.
 */
export async function confirmEnrolment(deps: MfaDeps, userId: string, code: string): Promise<string[] | null> {
  const row = await totpRow(deps.control, userId);
  if (!row || row.enabledAt) return null;
  const step = matchingStep(unseal(deps.secret, userId, row.secret), code.replace(/\s/g, ''), deps.now());
  if (step === null) return null;
  return deps.control.transaction(async (tx) => {
    const on = await tx.all(
      'UPDATE mfa_totp SET enabled_at = $now, last_step = $step WHERE user_id = $userId AND enabled_at IS NULL RETURNING user_id',
      { userId, step, now: deps.now() },
    );
    return on.length ? replaceRecoveryCodes(tx, userId) : null;
  });
}

export type FactorCheck = { ok: true; via: 'totp' | 'recovery' } | { ok: false; reason: 'wrong' | 'reused' };

/** A second factor at sign-in: a TOTP code not used before, or an unused recovery code (used up here). */
export async function checkSecondFactor(deps: MfaDeps, userId: string, answer: string): Promise<FactorCheck> {
  const row = await totpRow(deps.control, userId);
  if (!row?.enabledAt) return { ok: false, reason: 'wrong' };
  const code = answer.replace(/\s/g, '');
  if (/^\d{6}$/.test(code)) {
    const step = matchingStep(unseal(deps.secret, userId, row.secret), code, deps.now());
    if (step === null) return { ok: false, reason: 'wrong' };
    // Only a later step than the last accepted one: a code seen over a shoulder is spent.
    const taken = await deps.control.all(
      'UPDATE mfa_totp SET last_step = $step WHERE user_id = $userId AND (last_step IS NULL OR last_step < $step) RETURNING user_id',
      { userId, step },
    );
    return taken.length ? { ok: true, via: 'totp' } : { ok: false, reason: 'reused' };
  }
  const used = await deps.control.all(
    'UPDATE mfa_recovery_codes SET used_at = $now WHERE user_id = $userId AND code_hash = $hash AND used_at IS NULL RETURNING user_id',
    { userId, hash: hashRecoveryCode(code), now: deps.now() },
  );
  return used.length ? { ok: true, via: 'recovery' } : { ok: false, reason: 'wrong' };
}

/**
 * Whether `answer` is the person's password or a current code: asked before two-factor is
 * switched off or the recovery codes are replaced, so an unattended browser cannot do either.
 */
export async function provesIdentity(deps: MfaDeps, userId: string, answer: string): Promise<boolean> {
  if (/^\d{6}$/.test(answer.replace(/\s/g, ''))) return (await checkSecondFactor(deps, userId, answer)).ok;
  const hash = await passwordHashOf(deps.control, userId);
  return Boolean(hash && (await verifyPassword(hash, answer)));
}

export function regenerateRecoveryCodes(db: Connection, userId: string): Promise<string[]> {
  return db.transaction((tx) => replaceRecoveryCodes(tx, userId));
}

/** Switches two-factor off and forgets its secret, codes and waiting sign-ins; false if it was not on. */
export async function disableMfa(db: Connection, userId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const was = await mfaEnabled(tx, userId);
    await forgetMfa(tx, '$userId', { userId });
    return was;
  });
}

/**
 * Forgets the two-factor secret, recovery codes and waiting sign-ins of the people whose ids
 * `userIds` gives (SQL over `params`): two-factor switched off, a person or an organisation deleted.
 */
export async function forgetMfa(tx: Queryable, userIds: string, params: Record<string, unknown>): Promise<void> {
  for (const table of ['mfa_totp', 'mfa_recovery_codes', 'mfa_pending_logins'])
    await tx.run(`DELETE FROM ${table} WHERE user_id IN (${userIds})`, params);
}

// 80 random bits: far beyond guessing, online or offline, so a fast hash (SHA-256) is enough,
// and checking one takes one lookup instead of ten argon2 runs against salted hashes.
async function replaceRecoveryCodes(tx: Queryable, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () =>
    new Secret({ size: 10 }).base32.toLowerCase().match(/.{4}/g)!.join('-'),
  );
  await tx.run('DELETE FROM mfa_recovery_codes WHERE user_id = $userId', { userId });
  for (const code of codes)
    await tx.run('INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($userId, $hash)', {
      userId,
      hash: hashRecoveryCode(code),
    });
  return codes;
}

/** Case, spaces and dashes do not matter: people copy codes by hand. */
function hashRecoveryCode(code: string): string {
  return createHash('sha256')
    .update(code.toLowerCase().replace(/[^a-z2-7]/g, ''))
    .digest('hex');
}
