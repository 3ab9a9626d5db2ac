// Single-use links sent to people (an invitation, a password reset): a random token in the
// URL, only its SHA-256 stored (like API keys: 256 random bits need no slow hash), valid
// once and until it expires. The link's row says what it is for.
import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../storage/duckdb.js';
import { newId } from '../ids.js';
import { canAccessTenant, canGrantRole, type Role } from './permissions.js';

export type LinkKind = 'invite' | 'reset';

export const LINK_TTL_MS: Record<LinkKind, number> = { invite: 7 * 24 * 3600_000, reset: 3600_000 };

export type Link = {
  id: string;
  kind: LinkKind;
  tenantId: string;
  email: string;
  role: Role | null;
  userId: string | null;
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date;
};

/** Why a presented link does not work, in words for the person holding it. */
export class LinkError extends Error {
  constructor(readonly reason: 'unknown' | 'used' | 'expired') {
    super(
      reason === 'unknown'
        ? 'This link is not valid (it may have been replaced by a newer one or withdrawn).'
        : reason === 'used'
          ? 'This link has already been used; each link works once.'
          : 'This link has expired; ask an admin for a new one.',
    );
  }
}

export const COLUMNS = `id, kind, tenant_id AS "tenantId", email, role, user_id AS "userId", created_by AS "createdBy", created_at AS "createdAt", expires_at AS "expiresAt"`;

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Where a link's token leads on this appliance: `/invite/<token>` or `/reset/<token>`. */
export const linkUrl = (publicUrl: URL, kind: LinkKind, token: string) => new URL(`/${kind}/${token}`, publicUrl).href;

/** A new link; returns its row and the token, which exists only in what is sent or shown. */
export async function createLink(
  db: Queryable,
  input: { kind: LinkKind; tenantId: string; email: string; role?: Role; userId?: string; createdBy: string | null },
  now: Date,
): Promise<{ link: Link; token: string }> {
  const token = randomBytes(32).toString('base64url');
  const id = newId('l');
  await db.run(
    `INSERT INTO account_links (id, kind, token_hash, tenant_id, email, role, user_id, created_by, created_at, expires_at)
     VALUES ($id, $kind, $hash, $tenantId, $email, $role, $userId, $createdBy, $now, $expiresAt)`,
    {
      id,
      kind: input.kind,
      hash: hashToken(token),
      tenantId: input.tenantId,
      email: input.email,
      role: input.role ?? null,
      userId: input.userId ?? null,
      createdBy: input.createdBy,
      now,
      expiresAt: new Date(now.getTime() + LINK_TTL_MS[input.kind]),
    },
  );
  return { link: (await db.get<Link>(`SELECT ${COLUMNS} FROM account_links WHERE id = $id`, { id }))!, token };
}

/** The live link of `kind` behind `token`; throws LinkError saying why it does not work. */
export async function openLink(db: Queryable, kind: LinkKind, token: string, now: Date): Promise<Link> {
  if (token.length > 100) throw new LinkError('unknown');
  const row = await db.get<Link & { usedAt: Date | null; revokedAt: Date | null }>(
    `SELECT ${COLUMNS}, used_at AS "usedAt", revoked_at AS "revokedAt" FROM account_links WHERE token_hash = $hash AND kind = $kind`,
    { hash: hashToken(token), kind },
  );
  if (!row || row.revokedAt) throw new LinkError('unknown');
  if (row.usedAt) throw new LinkError('used');
  if (row.expiresAt.getTime() <= now.getTime()) throw new LinkError('expired');
  const { usedAt: _used, revokedAt: _revoked, ...link } = row;
  if (!(await grantStands(db, link))) throw new LinkError('unknown');
  return link;
}

/**
 * Whether the admin who made a link may still do what it does: grant an invitation's role,
 * manage the person whose password it resets. A link lives longer than its maker's power:
 * made by an admin since disabled, deleted or demoted, it stops working with it. A link made
 * at the command line (no maker) always may.
 */
async function grantStands(db: Queryable, link: Link): Promise<boolean> {
  if (link.createdBy === null) return true;
  const maker = await db.get<{ role: Role; tenantId: string; disabled: boolean; targetRole: Role | null }>(
    `SELECT role, tenant_id AS "tenantId", disabled, (SELECT role FROM users WHERE id = $target) AS "targetRole"
       FROM users WHERE id = $maker`,
    { maker: link.createdBy, target: link.userId },
  );
  const role = link.kind === 'invite' ? link.role : maker?.targetRole;
  return !!maker && !maker.disabled && !!role && canAccessTenant(maker, link.tenantId) && canGrantRole(maker, role);
}

/** Uses the link up; call inside the transaction that does what it was for, after openLink. */
export async function useLink(tx: Queryable, id: string, now: Date): Promise<void> {
  await tx.run('UPDATE account_links SET used_at = $now WHERE id = $id', { id, now });
}

/** Withdraws live links matching `where` (a fixed SQL condition over named parameters). */
export async function revokeLinks(
  db: Queryable,
  where: string,
  params: Record<string, unknown>,
  now: Date,
): Promise<void> {
  await db.run(
    `UPDATE account_links SET revoked_at = $now WHERE used_at IS NULL AND revoked_at IS NULL AND (${where})`,
    { ...params, now },
  );
}
