// What happens when an identity provider vouches for someone, whatever the protocol (OIDC,
// GitHub, SAML): find the person by the provider's subject, else by verified email (linked,
// never duplicated), else create them in the provider's tenant with the default or mapped
// role; refuse with a reason a person can read; audit either way; start the session.
import type { Session } from 'lucia';
import { audit } from '../../audit/audit.js';
import type { Queryable } from '../../storage/duckdb.js';
import { throughStorage } from '../../storage/errors.js';
import { startSession, type SignInDeps } from '../login.js';
import { emailSchema, findLoginByEmail, getUser, insertUser, type User } from '../users.js';
import { roleFor, type Provider } from './providers.js';
import { emailDomain } from './tenant-sso.js';

/** What a provider said about the person, after the protocol checked its signature. */
export type VerifiedIdentity = {
  /** The provider's stable id for the person (OIDC `sub`, GitHub's numeric id, SAML NameID). */
  subject: string;
  email: string;
  emailVerified: boolean;
  name?: string | null;
  /** Group names (OIDC groups claim, SAML attribute values) for the provider's role map. */
  groups?: readonly string[];
};

export type SsoSignIn = { user: User; session: Session; created: boolean } | { refused: string };

/** Refusals say what to do, and never name another tenant. */
const REFUSED = {
  unverified: 'Your identity provider did not confirm this email address, so it cannot be used to sign in here.',
  domain: (domain: string) =>
    `Email addresses at ${domain} may not sign in with this provider. Ask your administrator which account to use.`,
  elsewhere:
    'This email address belongs to an account that this provider cannot sign in to. Sign in with your password or ask your administrator.',
  disabled: 'This account is disabled. Ask your administrator.',
  super_admin: 'This account signs in with its password (and second factor), not through an identity provider.',
  email: 'Your identity provider sent no usable email address.',
};

export async function signInWithIdentity(
  deps: SignInDeps,
  provider: Pick<Provider, 'id' | 'tenantId' | 'name' | 'allowedDomains' | 'defaultRole' | 'roleMap'>,
  identity: VerifiedIdentity,
  ip: string,
): Promise<SsoSignIn> {
  const db = deps.control;
  const refuse = async (reason: keyof typeof REFUSED, message: string, detail: Record<string, unknown> = {}) => {
    await throughStorage('audit a refused sign-in', () =>
      audit(db, {
        actor: 'user',
        action: 'login.sso.refused',
        tenantId: provider.tenantId,
        target: provider.id,
        ip,
        detail: { reason, subject: identity.subject.slice(0, 200), email: identity.email.slice(0, 254), ...detail },
      }),
    );
    return { refused: message };
  };

  const email = emailSchema.safeParse(identity.email);
  if (!email.success) return refuse('email', REFUSED.email);
  if (!identity.emailVerified) return refuse('unverified', REFUSED.unverified);
  const domain = emailDomain(email.data);
  if (provider.allowedDomains.length && !provider.allowedDomains.includes(domain))
    return refuse('domain', REFUSED.domain(domain));

  const found = await throughStorage('find the person', () => personFor(db, provider.id, identity.subject, email.data));
  let user = found.user;
  let created = false;
  if (user && user.tenantId !== provider.tenantId) return refuse('elsewhere', REFUSED.elsewhere);
  if (user?.disabled) return refuse('disabled', REFUSED.disabled, { user: user.id });
  // A provider is a tenant's setting, which its admins control: it never vouches for the
  // appliance's super admins (whose account reaches every tenant), linked or found by email.
  if (user?.role === 'super_admin') return refuse('super_admin', REFUSED.super_admin, { user: user.id });
  if (!user) {
    const role = roleFor(provider, identity.groups ?? []);
    user = await throughStorage('create the person', () =>
      insertUser(
        db,
        provider.tenantId,
        { email: email.data, name: identity.name?.trim().slice(0, 200) || undefined, role },
        null,
      ),
    );
    created = true;
    await audit(db, {
      actor: 'user',
      action: 'user.create',
      tenantId: provider.tenantId,
      actorUserId: user.id,
      target: user.id,
      ip,
      detail: { email: user.email, role, via: provider.id },
    });
  }
  if (!found.linked) {
    await throughStorage('link the identity', () =>
      db.run('INSERT INTO sso_identities (provider_id, subject, user_id) VALUES ($providerId, $subject, $userId)', {
        providerId: provider.id,
        subject: identity.subject,
        userId: user.id,
      }),
    );
    if (!created)
      await audit(db, {
        actor: 'user',
        action: 'sso.identity.link',
        tenantId: provider.tenantId,
        actorUserId: user.id,
        target: user.id,
        ip,
        detail: { provider: provider.id },
      });
  }
  const session = await startSession(deps, user, ip, {
    action: 'login.sso',
    detail: { provider: provider.id, created },
  });
  return { user, session, created };
}

/** The person this subject was linked to, else the one with this (verified) email. */
async function personFor(
  db: Queryable,
  providerId: string,
  subject: string,
  email: string,
): Promise<{ user?: User; linked: boolean }> {
  const link = await db.get<{ userId: string }>(
    'SELECT user_id AS "userId" FROM sso_identities WHERE provider_id = $providerId AND subject = $subject',
    { providerId, subject },
  );
  const linkedUser = link && (await getUser(db, link.userId));
  if (linkedUser) return { user: linkedUser, linked: true };
  if (link)
    await db.run('DELETE FROM sso_identities WHERE provider_id = $providerId AND subject = $subject', {
      providerId,
      subject,
    });
  const byEmail = await findLoginByEmail(db, email);
  if (!byEmail) return { linked: false };
  const { passwordHash: _, ...user } = byEmail;
  return { user, linked: false };
}
