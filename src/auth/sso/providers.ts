// A tenant's identity providers: what an admin may configure (one schema for the CLI and the
// settings page), how it is stored (the client secret sealed, never read back out), and the
// redirect URI to register with each. The protocols live in oidc.ts, github.ts (and SAML's).
import { z } from 'zod';
import type { Queryable } from '../../storage/duckdb.js';
import { newId } from '../../ids.js';
import { ROLES, type Role } from '../permissions.js';
import { openSecret, sealSecret } from '../secret-box.js';

export const PRESETS = ['google', 'entra', 'okta', 'oidc', 'github', 'saml'] as const;
export type Preset = (typeof PRESETS)[number];
export type ProviderType = 'oidc' | 'github' | 'saml';

const TYPE_OF: Record<Preset, ProviderType> = {
  google: 'oidc',
  entra: 'oidc',
  okta: 'oidc',
  oidc: 'oidc',
  github: 'github',
  saml: 'saml',
};
const DEFAULT_NAME: Record<Preset, string> = {
  google: 'Google',
  entra: 'Microsoft',
  okta: 'Okta',
  oidc: 'SSO',
  github: 'GitHub',
  saml: 'SAML',
};
const GITHUB = { oauthUrl: 'https://github.com', apiUrl: 'https://api.github.com' };

/** Roles a provider may hand out: never super_admin, which stays with people made by hand. */
const grantableRole = z.enum(
  ROLES.filter((r) => r !== 'super_admin') as [Exclude<Role, 'super_admin'>, ...Exclude<Role, 'super_admin'>[]],
);

const domainList = z
  .string()
  .trim()
  .toLowerCase()
  .max(2000)
  .transform((s) => s.split(/[\s,]+/).filter(Boolean))
  .pipe(
    z.array(
      z
        .string()
        .regex(/^(?=.{1,253}$)([a-z0-9-]+\.)+[a-z0-9-]+$/, 'must be domain names like a.example, comma-separated'),
    ),
  );

/** `admins=tenant_admin, leads=manager`: a group (or attribute value) and the role it grants. */
const roleMapText = z
  .string()
  .trim()
  .max(4000)
  .transform((s, check) => {
    const map: Record<string, string> = {};
    for (const pair of s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const at = pair.lastIndexOf('=');
      const [group, role] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      if (at < 1 || !grantableRole.safeParse(role).success) {
        check.addIssue({
          code: 'custom',
          message: `"${pair}" is not group=role (roles: ${grantableRole.options.join(', ')})`,
        });
        return z.NEVER;
      }
      map[group] = role;
    }
    return map as Record<string, Exclude<Role, 'super_admin'>>;
  });

const httpsUrl = z
  .string()
  .trim()
  .max(2000)
  .refine(isAllowedUrl, 'must be an https:// URL (http:// only on this machine)');

export const providerInputSchema = z
  .object({
    type: z.enum(PRESETS),
    name: z.string().trim().min(1).max(100).optional(),
    issuer: z.string().trim().max(2000).optional(),
    client_id: z.string().trim().min(1).max(500).optional(),
    client_secret: z.string().max(4000).optional(),
    allowed_domains: domainList.default([]),
    default_role: grantableRole.default('developer'),
    role_map: roleMapText.default({}),
    groups_claim: z.string().trim().min(1).max(200).default('groups'),
    metadata: z.string().max(1_000_000).optional(),
    github_oauth_url: httpsUrl.optional(),
    github_api_url: httpsUrl.optional(),
  })
  .superRefine((v, check) => {
    const need = (field: keyof typeof v, why: string) => {
      if (v[field] === undefined || v[field] === '') check.addIssue({ code: 'custom', path: [field], message: why });
    };
    const type = TYPE_OF[v.type];
    if (type !== 'saml') {
      need('client_id', 'is required');
      need('client_secret', 'is required');
    }
    if (v.type === 'oidc' || v.type === 'okta')
      need('issuer', 'is required: the issuer URL (discovery at <issuer>/.well-known/openid-configuration)');
    if (v.type === 'entra') need('issuer', 'is required: your directory (tenant) id, or the issuer URL');
    if (type === 'oidc' && v.issuer && !isAllowedUrl(issuerOf(v.type, v.issuer))) {
      check.addIssue({
        code: 'custom',
        path: ['issuer'],
        message: 'must be an https:// URL (http:// only on this machine)',
      });
    }
    if (type === 'saml') need('metadata', "is required: the identity provider's metadata XML");
  });
export type ProviderInput = z.input<typeof providerInputSchema>;

export type Provider = {
  id: string;
  tenantId: string;
  type: ProviderType;
  preset: Preset;
  name: string;
  allowedDomains: string[];
  defaultRole: Exclude<Role, 'super_admin'>;
  roleMap: Record<string, Exclude<Role, 'super_admin'>>;
  config: {
    issuer?: string;
    clientId?: string;
    groupsClaim?: string;
    githubOauthUrl?: string;
    githubApiUrl?: string;
    /** SAML: the identity provider's metadata XML. */
    metadata?: string;
  };
  createdAt: Date;
};

/** What anyone but the protocol code sees: never the secret, only whether there is one. */
export type ProviderView = Omit<Provider, 'config'> &
  Provider['config'] & { hasSecret: boolean; redirect_uri: string; metadata_url?: string };

function isAllowedUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
  } catch {
    return false;
  }
}

export const isLoopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

function issuerOf(preset: Preset, issuer: string | undefined): string {
  if (preset === 'google') return issuer || 'https://accounts.google.com';
  // Entra takes the directory id alone: its v2.0 issuer is built from it.
  if (preset === 'entra' && issuer && !/^https?:\/\//.test(issuer))
    return `https://login.microsoftonline.com/${encodeURIComponent(issuer)}/v2.0`;
  return (issuer ?? '').replace(/\/+$/, '');
}

/** The one callback every OIDC provider of every tenant returns to (the state says which). */
export function redirectUri(publicUrl: URL, provider: Pick<Provider, 'type'>): string {
  const path = { oidc: '/auth/oidc/callback', github: '/auth/github/callback', saml: '/auth/saml/acs' }[provider.type];
  return new URL(path, publicUrl).href;
}

export function viewOf(
  provider: Provider & { sealed?: string | null },
  hasSecret: boolean,
  publicUrl: URL,
): ProviderView {
  const { config, sealed: _, ...rest } = provider;
  const { metadata, ...shown } = config;
  const view: ProviderView = { ...rest, ...shown, hasSecret, redirect_uri: redirectUri(publicUrl, provider) };
  if (provider.type === 'saml') {
    view.metadata_url = new URL(`/auth/saml/metadata/${provider.id}`, publicUrl).href;
    if (metadata) view.metadata = `${metadata.length} characters`;
  }
  return view;
}

type Row = {
  id: string;
  tenantId: string;
  type: ProviderType;
  preset: Preset;
  name: string;
  config: string;
  secret: string | null;
  allowedDomains: string;
  defaultRole: string;
  roleMap: string;
  createdAt: Date;
};
const COLUMNS = `id, tenant_id AS "tenantId", type, preset, name, config, secret, allowed_domains AS "allowedDomains", default_role AS "defaultRole", role_map AS "roleMap", created_at AS "createdAt"`;

const fromRow = (r: Row): Provider & { sealed: string | null } => ({
  id: r.id,
  tenantId: r.tenantId,
  type: r.type,
  preset: r.preset,
  name: r.name,
  allowedDomains: r.allowedDomains ? r.allowedDomains.split(',') : [],
  defaultRole: r.defaultRole as Provider['defaultRole'],
  roleMap: JSON.parse(r.roleMap) as Provider['roleMap'],
  config: JSON.parse(r.config) as Provider['config'],
  createdAt: r.createdAt,
  sealed: r.secret,
});

/** Adds a provider to the tenant; returns it and whether it holds a secret. */
export async function createProvider(
  db: Queryable,
  serverSecret: Buffer,
  tenantId: string,
  raw: z.output<typeof providerInputSchema>,
): Promise<Provider & { sealed: string | null }> {
  const id = newId('p');
  const type = TYPE_OF[raw.type];
  const config: Provider['config'] =
    type === 'oidc'
      ? { issuer: issuerOf(raw.type, raw.issuer), clientId: raw.client_id, groupsClaim: raw.groups_claim }
      : type === 'github'
        ? {
            clientId: raw.client_id,
            githubOauthUrl: raw.github_oauth_url ?? GITHUB.oauthUrl,
            githubApiUrl: raw.github_api_url ?? GITHUB.apiUrl,
          }
        : { metadata: raw.metadata, groupsClaim: raw.groups_claim };
  const secret = raw.client_secret
    ? sealSecret(serverSecret, 'agentmeter sso client secret', id, raw.client_secret)
    : null;
  await db.run(
    `INSERT INTO sso_providers (id, tenant_id, type, preset, name, config, secret, allowed_domains, default_role, role_map)
     VALUES ($id, $tenantId, $type, $preset, $name, $config, $secret, $domains, $role, $roleMap)`,
    {
      id,
      tenantId,
      type,
      preset: raw.type,
      name: raw.name ?? DEFAULT_NAME[raw.type],
      config: JSON.stringify(config),
      secret,
      domains: raw.allowed_domains.join(','),
      role: raw.default_role,
      roleMap: JSON.stringify(raw.role_map),
    },
  );
  return (await getProvider(db, id))!;
}

export async function getProvider(
  db: Queryable,
  id: string,
): Promise<(Provider & { sealed: string | null }) | undefined> {
  const row = await db.get<Row>(`SELECT ${COLUMNS} FROM sso_providers WHERE id = $id`, { id });
  return row && fromRow(row);
}

export async function listProviders(
  db: Queryable,
  tenantId: string,
): Promise<(Provider & { sealed: string | null })[]> {
  return (
    await db.all<Row>(`SELECT ${COLUMNS} FROM sso_providers WHERE tenant_id = $tenantId ORDER BY created_at, name`, {
      tenantId,
    })
  ).map(fromRow);
}

/** Every tenant's providers: what the sign-in page chooses from. */
export async function allProviders(db: Queryable): Promise<Provider[]> {
  return (await db.all<Row>(`SELECT ${COLUMNS} FROM sso_providers ORDER BY created_at, name`)).map(fromRow);
}

/** Removes the provider and the identities it linked (the people stay). */
export async function removeProvider(db: Queryable, tenantId: string, id: string): Promise<boolean> {
  const found = await db.get('SELECT 1 FROM sso_providers WHERE id = $id AND tenant_id = $tenantId', { id, tenantId });
  if (!found) return false;
  await db.run('DELETE FROM sso_identities WHERE provider_id = $id', { id });
  await db.run('DELETE FROM sso_providers WHERE id = $id', { id });
  return true;
}

/** The client secret, for the protocol code only. */
export function clientSecretOf(serverSecret: Buffer, provider: { id: string; sealed: string | null }): string {
  if (!provider.sealed) throw new Error('this provider has no client secret');
  return openSecret(serverSecret, 'agentmeter sso client secret', provider.id, provider.sealed);
}

/** The role a person gets on first sign-in: the highest their groups map to, else the default. */
export function roleFor(
  provider: Pick<Provider, 'defaultRole' | 'roleMap'>,
  groups: readonly string[],
): Exclude<Role, 'super_admin'> {
  const mapped = groups
    .map((g) => provider.roleMap[g])
    .filter((r): r is Exclude<Role, 'super_admin'> => r !== undefined);
  if (!mapped.length) return provider.defaultRole;
  return mapped.sort((a, b) => ROLES.indexOf(a) - ROLES.indexOf(b))[0]!;
}
