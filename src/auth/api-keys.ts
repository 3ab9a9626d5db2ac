// API keys for machines (hooks, OpenTelemetry, scripts). A key is shown once; only its
// SHA-256 is stored (the key carries 256 random bits, so a slow hash adds nothing).
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../storage/duckdb.js';
import { newId } from '../ids.js';
import type { User } from './users.js';

export const SCOPES = ['ingest', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

const KEY_PREFIX = 'amk_';
const SHOWN_PREFIX_LENGTH = KEY_PREFIX.length + 8;

export const scopesSchema = z
  .union([
    z.string().transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    ),
    z.array(z.string()),
  ])
  .pipe(
    z
      .array(z.enum(SCOPES, { error: `scopes must be among: ${SCOPES.join(', ')}` }))
      .min(1, 'at least one scope is required'),
  )
  .transform((s) => [...new Set(s)].sort() as Scope[]);

export const newApiKeySchema = z.object({
  name: z.string().trim().min(1, 'is required').max(100),
  scopes: scopesSchema,
});

export type ApiKey = {
  id: string;
  tenantId: string;
  userId: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdAt: Date;
  revokedAt: Date | null;
};
export type CreatedApiKey = ApiKey & { key: string };
export type ResolvedKey = { keyId: string; user: User; scopes: Scope[] };

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

const COLUMNS = `k.id, k.tenant_id AS "tenantId", k.user_id AS "userId", k.name, k.prefix, k.scopes, k.created_at AS "createdAt", k.revoked_at AS "revokedAt"`;
const withScopes = <T extends { scopes: unknown }>(row: T) => ({
  ...row,
  scopes: String(row.scopes).split(',') as Scope[],
});

export async function createApiKey(
  db: Queryable,
  owner: Pick<User, 'id' | 'tenantId'>,
  input: z.infer<typeof newApiKeySchema>,
): Promise<CreatedApiKey> {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const id = newId('k');
  await db.run(
    `INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, scopes) VALUES ($id, $tenantId, $userId, $name, $prefix, $hash, $scopes)`,
    {
      id,
      tenantId: owner.tenantId,
      userId: owner.id,
      name: input.name,
      prefix: key.slice(0, SHOWN_PREFIX_LENGTH),
      hash: hashKey(key),
      scopes: input.scopes.join(','),
    },
  );
  const row = (await db.get<ApiKey>(`SELECT ${COLUMNS} FROM api_keys k WHERE id = $id`, { id }))!;
  return { ...withScopes(row), key };
}

/** Keys of a tenant, newest first; `userId` narrows to one person's keys. */
export async function listApiKeys(db: Queryable, tenantId: string, userId?: string): Promise<ApiKey[]> {
  const rows = await db.all<ApiKey>(
    `SELECT ${COLUMNS} FROM api_keys k WHERE tenant_id = $tenantId AND ($userId IS NULL OR user_id = $userId) ORDER BY created_at DESC, id`,
    { tenantId, userId: userId ?? null },
  );
  return rows.map(withScopes);
}

export async function getApiKey(db: Queryable, tenantId: string, id: string): Promise<ApiKey | undefined> {
  const row = await db.get<ApiKey>(`SELECT ${COLUMNS} FROM api_keys k WHERE tenant_id = $tenantId AND id = $id`, {
    tenantId,
    id,
  });
  return row && withScopes(row);
}

/** Revokes a key of this tenant; false when there is no such live key. */
export async function revokeApiKey(db: Queryable, tenantId: string, id: string, now: Date): Promise<boolean> {
  const live = await db.get('SELECT 1 FROM api_keys WHERE tenant_id = $tenantId AND id = $id AND revoked_at IS NULL', {
    tenantId,
    id,
  });
  if (!live) return false;
  await db.run('UPDATE api_keys SET revoked_at = $now WHERE id = $id', { id, now });
  return true;
}

/** The tenant, user and scopes a presented key stands for, or null (unknown, revoked, or its user disabled). */
export async function resolveApiKey(db: Queryable, presented: string): Promise<ResolvedKey | null> {
  if (!presented.startsWith(KEY_PREFIX) || presented.length > 200) return null;
  const row = await db.get<{ keyId: string; scopes: string } & User>(
    `SELECT k.id AS "keyId", k.scopes, u.id, u.tenant_id AS "tenantId", u.email, u.name, u.role, u.disabled, u.created_at AS "createdAt"
       FROM api_keys k JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id
      WHERE k.key_hash = $hash AND k.revoked_at IS NULL AND NOT u.disabled`,
    { hash: hashKey(presented) },
  );
  if (!row) return null;
  const { keyId, scopes, ...user } = row;
  return { keyId, user, scopes: scopes.split(',') as Scope[] };
}

export type KeyCache = {
  resolve(presented: string): Promise<ResolvedKey | null>;
  /** Forget everything; called by every path that revokes a key or removes its owner. */
  invalidate(): void;
};

/**
 * Resolved keys for a couple of seconds, so the hook path does not queue on the control
 * database for every event. Revocations clear it at once; the TTL bounds what a missed
 * path could leave behind.
 */
export function createKeyCache(db: Queryable, ttlMs = 2000, max = 10_000): KeyCache {
  const cache = new Map<string, { resolved: ResolvedKey; until: number }>();
  return {
    async resolve(presented) {
      const hash = hashKey(presented);
      const hit = cache.get(hash);
      if (hit && hit.until > Date.now()) return hit.resolved;
      const resolved = await resolveApiKey(db, presented);
      if (resolved) {
        if (cache.size >= max) cache.clear();
        cache.set(hash, { resolved, until: Date.now() + ttlMs });
      } else cache.delete(hash);
      return resolved;
    },
    invalidate: () => cache.clear(),
  };
}
