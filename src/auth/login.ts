// Signing in: the throttle, the password check (as slow for an unknown email as for a wrong
// password), and what every sign-in records. A failure to write any of it to the control
// database is the storage's (StorageUnavailableError), never the person's.
import type { Session } from 'lucia';
import { audit } from '../audit/audit.js';
import type { Database } from '../storage/duckdb.js';
import { throughStorage } from '../storage/errors.js';
import type { Auth } from './lucia.js';
import { secondStepFor } from './mfa-policy.js';
import { verifyAgainstDecoy, verifyPassword } from './passwords.js';
import { holdLogin } from './pending-logins.js';
import { ssoRequired } from './sso/tenant-sso.js';
import type { LoginThrottle } from './throttle.js';
import { emailSchema, findLoginByEmail, recordLogin, type User } from './users.js';

export type SignInDeps = { control: Database; auth: Auth; now: () => Date };

export type LoginResult =
  | { outcome: 'throttled'; retryAfterMs: number }
  | { outcome: 'wrong' }
  | { outcome: 'deactivated' }
  /** The right password, but the person's tenant signs in through its identity provider. */
  | { outcome: 'sso-required' }
  | { outcome: 'signed-in'; session: Session }
  /** The password was right; a code (`verify`) or enrolment (`enrol`) comes before any session. */
  | { outcome: 'second-factor'; step: 'verify' | 'enrol'; token: string };

export async function passwordLogin(
  deps: SignInDeps & { throttle: LoginThrottle },
  input: { email: string; password: string; ip: string },
): Promise<LoginResult> {
  const admission = await deps.throttle.admit(input.email, input.ip, deps.now());
  if (admission.refused) return { outcome: 'throttled', retryAfterMs: admission.retryAfterMs };
  const login = emailSchema.safeParse(input.email).success
    ? await findLoginByEmail(deps.control, input.email)
    : undefined;
  const ok = login?.passwordHash
    ? await verifyPassword(login.passwordHash, input.password)
    : await verifyAgainstDecoy(input.password);
  if (!ok || !login) {
    const failure = {
      actor: 'user',
      action: 'login.failure',
      tenantId: login?.tenantId ?? null,
      ip: input.ip,
      detail: { email: input.email.slice(0, 254) },
    } as const;
    await throughStorage('audit a failed sign-in', () => audit(deps.control, failure));
    return { outcome: 'wrong' };
  }
  // Said only to whoever knows the password, so it tells a guesser nothing.
  if (login.disabled) {
    const refused = {
      actor: 'user',
      action: 'login.refused',
      tenantId: login.tenantId,
      actorUserId: login.id,
      ip: input.ip,
      detail: { reason: 'deactivated' },
    } as const;
    await throughStorage('audit a refused sign-in', () => audit(deps.control, refused));
    return { outcome: 'deactivated' };
  }
  admission.succeeded();
  return afterPassword(deps, login, input.ip);
}

/**
 * What follows a right password, however it was proven (the sign-in form, or a password
 * just chosen through an invitation or reset link): the tenant's single sign-on rule, then
 * the second factor, then a session. A link is no way around either.
 */
export async function afterPassword(
  deps: SignInDeps,
  login: Pick<User, 'id' | 'tenantId' | 'role'>,
  ip: string,
): Promise<Extract<LoginResult, { outcome: 'sso-required' | 'second-factor' | 'signed-in' }>> {
  // Super admins keep their password: the way back in when the identity provider is down.
  if (
    login.role !== 'super_admin' &&
    (await throughStorage('read sign-in settings', () => ssoRequired(deps.control, login.tenantId)))
  ) {
    await throughStorage('audit a refused sign-in', () =>
      audit(deps.control, {
        actor: 'user',
        action: 'login.password.refused',
        tenantId: login.tenantId,
        actorUserId: login.id,
        ip,
        detail: { reason: 'sso_required' },
      }),
    );
    return { outcome: 'sso-required' };
  }
  const step = await throughStorage('look up two-factor', () => secondStepFor(deps.control, login));
  if (step)
    return {
      outcome: 'second-factor',
      step,
      token: await throughStorage('hold a sign-in', () => holdLogin(deps.control, login.id, deps.now())),
    };
  return { outcome: 'signed-in', session: await startSession(deps, login, ip) };
}

/** What every sign-in does, by password, SSO or at first-run setup: records it, audits it and opens a session. */
export function startSession(
  deps: SignInDeps,
  user: Pick<User, 'id' | 'tenantId'>,
  ip: string,
  how: { action: string; detail?: Record<string, unknown> } = { action: 'login.success' },
): Promise<Session> {
  return throughStorage('record a sign-in', async () => {
    await recordLogin(deps.control, user.id, deps.now());
    await audit(deps.control, {
      actor: 'user',
      action: how.action,
      tenantId: user.tenantId,
      actorUserId: user.id,
      ip,
      detail: how.detail,
    });
    return deps.auth.createSession(user.id, {});
  });
}
