// A tenant's sign-in settings (its login page slug, whether it requires SSO) and which
// providers' buttons a sign-in page may show: never by a tenant's name, only by what the
// person already knows (their email's domain, their organisation's slug).
import { z } from 'zod';
import type { Queryable } from '../../storage/duckdb.js';
import { allProviders, type Provider } from './providers.js';

export type TenantSso = { slug: string | null; requireSso: boolean };

export const slugSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'must be 2-63 lower-case letters, digits or dashes');

export const tenantSsoSchema = z.object({
  slug: z.union([z.literal(''), slugSchema]).optional(),
  require_sso: z
    .enum(['on', 'off', 'true', 'false'])
    .transform((v) => v === 'on' || v === 'true')
    .optional(),
});

export class SlugTakenError extends Error {
  constructor() {
    super('slug: another organisation uses this slug');
  }
}

export async function getTenantSso(db: Queryable, tenantId: string): Promise<TenantSso> {
  const row = await db.get<TenantSso>(
    'SELECT slug, require_sso AS "requireSso" FROM sso_tenant_settings WHERE tenant_id = $tenantId',
    { tenantId },
  );
  return row ?? { slug: null, requireSso: false };
}

export async function setTenantSso(
  db: Queryable,
  tenantId: string,
  change: z.output<typeof tenantSsoSchema>,
): Promise<TenantSso> {
  const now = await getTenantSso(db, tenantId);
  const next: TenantSso = {
    slug: change.slug === undefined ? now.slug : change.slug || null,
    requireSso: change.require_sso ?? now.requireSso,
  };
  if (
    next.slug &&
    (await db.get('SELECT 1 FROM sso_tenant_settings WHERE slug = $slug AND tenant_id <> $tenantId', {
      slug: next.slug,
      tenantId,
    }))
  )
    throw new SlugTakenError();
  await db.run('DELETE FROM sso_tenant_settings WHERE tenant_id = $tenantId', { tenantId });
  await db.run(
    'INSERT INTO sso_tenant_settings (tenant_id, slug, require_sso) VALUES ($tenantId, $slug, $requireSso)',
    { tenantId, ...next },
  );
  return next;
}

export async function ssoRequired(db: Queryable, tenantId: string): Promise<boolean> {
  return (await getTenantSso(db, tenantId)).requireSso;
}

export const emailDomain = (email: string) =>
  email
    .slice(email.lastIndexOf('@') + 1)
    .trim()
    .toLowerCase();

/**
 * The providers that accept this email's domain. For a person who has an account, only
 * their own organisation's: any tenant admin may list any domain, and another
 * organisation's identity provider must not be where a person types their credentials.
 * For someone new, the domain picks, of whichever tenant.
 */
export async function providersForEmail(db: Queryable, email: string): Promise<Provider[]> {
  const domain = emailDomain(email);
  const account = await db.get<{ tenantId: string }>('SELECT tenant_id AS "tenantId" FROM users WHERE email = $email', {
    email: email.trim().toLowerCase(),
  });
  return (await allProviders(db)).filter(
    (p) => p.allowedDomains.includes(domain) && (!account || p.tenantId === account.tenantId),
  );
}

/** The tenant behind /login/<slug>, with its providers. */
export async function providersForSlug(db: Queryable, slug: string): Promise<Provider[] | undefined> {
  const row = await db.get<{ tenantId: string }>(
    'SELECT tenant_id AS "tenantId" FROM sso_tenant_settings WHERE slug = $slug',
    { slug: slug.toLowerCase() },
  );
  if (!row) return undefined;
  return (await allProviders(db)).filter((p) => p.tenantId === row.tenantId);
}

/** On an appliance with one tenant, /login shows its buttons: there is no one else to hide them from. */
export async function providersOfOnlyTenant(db: Queryable): Promise<Provider[]> {
  const tenants = await db.all<{ id: string }>('SELECT id FROM tenants LIMIT 2');
  return tenants.length === 1 ? (await allProviders(db)).filter((p) => p.tenantId === tenants[0]!.id) : [];
}

/** What a sign-in page shows of a provider: its button, never its tenant. */
export const buttonOf = (p: Provider) => ({ id: p.id, name: p.name, preset: p.preset });

/** What the plain /login page offers: the only tenant's buttons, and the email-first form when any tenant has a provider. */
export async function loginChoices(db: Queryable): Promise<{ sso: ReturnType<typeof buttonOf>[]; ssoForm: boolean }> {
  const [only, all] = await Promise.all([providersOfOnlyTenant(db), allProviders(db)]);
  return { sso: only.map(buttonOf), ssoForm: all.length > only.length };
}
