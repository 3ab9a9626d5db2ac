// The second step of a password sign-in: a code (or a recovery code) from a person who has
// two-factor on, or enrolment by a person who must have it. Attempts go through the sign-in
// throttle under the person (never cleared by their password), failures are audited, and
// the session starts only here.
import type { Session } from 'lucia';
import { audit } from '../audit/audit.js';
import { throughStorage } from '../storage/errors.js';
import { startSession, type SignInDeps } from './login.js';
import { checkSecondFactor, confirmEnrolment, enrolment, mfaEnabled, type Enrolment, type MfaDeps } from './mfa.js';
import { heldLogin, releaseLogin } from './pending-logins.js';
import type { LoginThrottle } from './throttle.js';
import type { User } from './users.js';

export type SecondStepDeps = SignInDeps & MfaDeps & { throttle: LoginThrottle };

export type SecondStepResult =
  /** No live pending sign-in (expired, spent, or never there): sign in again. */
  | { outcome: 'expired' }
  | { outcome: 'throttled'; retryAfterMs: number }
  | { outcome: 'wrong' }
  /** `recoveryCodes` when the person has just enrolled: shown once. */
  | { outcome: 'signed-in'; session: Session; recoveryCodes?: string[] };

/** What the second-step page shows for this browser's pending sign-in. */
export async function secondStep(
  deps: MfaDeps,
  token: string | undefined,
): Promise<{ step: 'expired' } | { step: 'verify'; user: User } | { step: 'enrol'; user: User; enrolment: Enrolment }> {
  const user = await heldLogin(deps.control, token, deps.now());
  if (!user) return { step: 'expired' };
  if (await mfaEnabled(deps.control, user.id)) return { step: 'verify', user };
  return { step: 'enrol', user, enrolment: (await enrolment(deps, user))! };
}

/** A code or recovery code from a person with two-factor on. */
export function verifyAtLogin(
  deps: SecondStepDeps,
  input: { token: string | undefined; code: string; ip: string },
): Promise<SecondStepResult> {
  return attempt(deps, input, async (user) => {
    const check = await checkSecondFactor(deps, user.id, input.code);
    if (!check.ok) return { failure: check.reason };
    if (check.via === 'recovery')
      await audit(deps.control, {
        actor: 'user',
        action: 'mfa.recovery_used',
        tenantId: user.tenantId,
        actorUserId: user.id,
        target: user.id,
        ip: input.ip,
      });
    return {};
  });
}

/** The first code from the authenticator of a person who must enrol before signing in. */
export function enrolAtLogin(
  deps: SecondStepDeps,
  input: { token: string | undefined; code: string; ip: string },
): Promise<SecondStepResult> {
  return attempt(deps, input, async (user) => {
    const recoveryCodes = await confirmEnrolment(deps, user.id, input.code);
    if (!recoveryCodes) return { failure: 'wrong' };
    await audit(deps.control, {
      actor: 'user',
      action: 'mfa.enrol',
      tenantId: user.tenantId,
      actorUserId: user.id,
      target: user.id,
      ip: input.ip,
      detail: { at: 'login' },
    });
    return { recoveryCodes };
  });
}

async function attempt(
  deps: SecondStepDeps,
  input: { token: string | undefined; ip: string },
  check: (user: User) => Promise<{ failure?: string; recoveryCodes?: string[] }>,
): Promise<SecondStepResult> {
  const user = await heldLogin(deps.control, input.token, deps.now());
  if (!user || !input.token) return { outcome: 'expired' };
  // Keyed by the person, not the email: a right password clears the email's count, not this one.
  const admission = await deps.throttle.admit(`mfa:${user.id}`, input.ip, deps.now());
  if (admission.refused) return { outcome: 'throttled', retryAfterMs: admission.retryAfterMs };
  const result = await throughStorage('check a second factor', () => check(user));
  if (result.failure) {
    const failure = {
      actor: 'user',
      action: 'login.mfa.failure',
      tenantId: user.tenantId,
      actorUserId: user.id,
      target: user.id,
      ip: input.ip,
      detail: { reason: result.failure },
    } as const;
    await throughStorage('audit a failed second factor', () => audit(deps.control, failure));
    return { outcome: 'wrong' };
  }
  admission.succeeded();
  if (!(await throughStorage('spend a pending sign-in', () => releaseLogin(deps.control, input.token!))))
    return { outcome: 'expired' };
  return {
    outcome: 'signed-in',
    session: await startSession(deps, user, input.ip),
    ...(result.recoveryCodes ? { recoveryCodes: result.recoveryCodes } : {}),
  };
}
