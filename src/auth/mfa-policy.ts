// Who in a tenant must sign in with two factors, as its admin decides: no one, managers and
// every role above them, or everyone. A person who must and has not enrolled enrols right
// after their password, before any session exists.
import { z } from 'zod';
import type { Queryable } from '../storage/duckdb.js';
import { mfaEnabled } from './mfa.js';
import { ROLES, type Role } from './permissions.js';
import type { User } from './users.js';

export const MFA_REQUIREMENTS = ['none', 'managers', 'everyone'] as const;
export type MfaRequirement = (typeof MFA_REQUIREMENTS)[number];
export const mfaRequirementSchema = z.enum(MFA_REQUIREMENTS, { error: 'must be none, managers or everyone' });

export async function mfaRequirement(db: Queryable, tenantId: string): Promise<MfaRequirement> {
  const row = await db.get<{ requiredFor: MfaRequirement }>(
    'SELECT required_for AS "requiredFor" FROM mfa_policies WHERE tenant_id = $tenantId',
    { tenantId },
  );
  return row?.requiredFor ?? 'none';
}

export async function setMfaRequirement(db: Queryable, tenantId: string, requiredFor: MfaRequirement): Promise<void> {
  await db.run(
    'INSERT INTO mfa_policies (tenant_id, required_for) VALUES ($tenantId, $requiredFor) ON CONFLICT (tenant_id) DO UPDATE SET required_for = excluded.required_for',
    { tenantId, requiredFor },
  );
}

export function mustUseMfa(requirement: MfaRequirement, role: Role): boolean {
  if (requirement === 'everyone') return true;
  return requirement === 'managers' && ROLES.indexOf(role) <= ROLES.indexOf('manager');
}

/** What a password sign-in still needs: a code (`verify`), enrolment first (`enrol`), or nothing. */
export async function secondStepFor(
  db: Queryable,
  user: Pick<User, 'id' | 'tenantId' | 'role'>,
): Promise<'verify' | 'enrol' | null> {
  if (await mfaEnabled(db, user.id)) return 'verify';
  return mustUseMfa(await mfaRequirement(db, user.tenantId), user.role) ? 'enrol' : null;
}
