// API keys for machines (hooks, OpenTelemetry, scripts). A key is shown once; only its
// SHA-256 is stored (the key carries 256 random bits, so a slow hash adds nothing).
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../storage/duckdb.js';
import { newId } from '../ids.js';
import { canGrantRole, maySendEvents, type Actor, type Role } from './permissions.js';
import type { User } from './users.js';

export const SCOPES = ['ingest', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

const KEY_PREFIX = 'amk_';
const SHOWN_PREFIX_LENGTH = KEY_PREFIX.length + 8;
/** Longer presented keys are refused unhashed. */
const MAX_KEY_LENGTH = 200;

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

export const newApiKeySchema = z.strictObject({
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
const newSecret = () => `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;

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
  const key = newSecret();
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

/** A key as listed: with the scopes its owner may not use now, though the key still carries them, and why. */
export type ListedApiKey = ApiKey & { refused: { scopes: Scope[]; why: string } | null };

/** Keys of a tenant, newest first; `userId` narrows to one person's keys. */
export async function listApiKeys(db: Queryable, tenantId: string, userId?: string): Promise<ListedApiKey[]> {
  const rows = await db.all<ApiKey & { ownerRole: Role | null; ownerDisabled: boolean | null }>(
    `SELECT ${COLUMNS}, u.role AS "ownerRole", u.disabled AS "ownerDisabled" FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
      WHERE k.tenant_id = $tenantId AND ($userId IS NULL OR k.user_id = $userId) ORDER BY k.created_at DESC, k.id`,
    { tenantId, userId: userId ?? null },
  );
  return rows.map(({ ownerRole, ownerDisabled, ...row }) => {
    const key = withScopes(row);
    // A revoked key is refused for that alone (keyStatus says so); its owner's state adds nothing.
    if (key.revokedAt) return { ...key, refused: null };
    // As resolveApiKey and the ingest guard decide: nothing for a deactivated owner, no events from a viewer.
    if (ownerRole === null || ownerDisabled) {
      const why = ownerRole === null ? 'its owner was deleted' : 'its owner is deactivated';
      return { ...key, refused: { scopes: key.scopes, why } };
    }
    const refused = key.scopes.filter((s) => s === 'ingest' && !maySendEvents({ tenantId, role: ownerRole }));
    return {
      ...key,
      refused: refused.length ? { scopes: refused, why: `its owner, a ${ownerRole}, sends no events` } : null,
    };
  });
}

/** How a listed key stands, in words: revoked, active, or what its owner may no longer do with it. */
export function keyStatus(key: ListedApiKey): string {
  if (key.revokedAt) return 'revoked';
  if (!key.refused) return 'active';
  if (key.refused.scopes.length === key.scopes.length) return `refused: ${key.refused.why}`;
  return `active; ${key.refused.scopes.join(', ')} refused: ${key.refused.why}`;
}

export async function getApiKey(db: Queryable, tenantId: string, id: string): Promise<ApiKey | undefined> {
  const row = await db.get<ApiKey>(`SELECT ${COLUMNS} FROM api_keys k WHERE tenant_id = $tenantId AND id = $id`, {
    tenantId,
    id,
  });
  return row && withScopes(row);
}

/**
 * The key `id` if `actor` may revoke it: their own, or as an admin a key of someone whose
 * role they may grant (never a key of a role above their own). Undefined otherwise.
 */
export async function revocableKey(
  db: Queryable,
  actor: Actor & { id: string },
  id: string,
): Promise<ApiKey | undefined> {
  const row = await db.get<ApiKey & { ownerRole: Role | null }>(
    `SELECT ${COLUMNS}, u.role AS "ownerRole" FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
      WHERE k.tenant_id = $tenantId AND k.id = $id`,
    { tenantId: actor.tenantId, id },
  );
  if (!row) return undefined;
  const { ownerRole, ...key } = row;
  const may = key.userId === actor.id || (ownerRole !== null && canGrantRole(actor, ownerRole));
  return may ? withScopes(key) : undefined;
}

/** What changing a key needs: the control database, and the request path's cache of resolved keys. */
export type KeyStore = { control: Queryable; keys: Pick<KeyCache, 'invalidate'> };

/** Revokes a key of this tenant; false when there is no such live key. The next request with it is refused. */
export async function revokeApiKey(
  { control, keys }: KeyStore,
  tenantId: string,
  id: string,
  now: Date,
): Promise<boolean> {
  const live = await control.get(
    'SELECT 1 FROM api_keys WHERE tenant_id = $tenantId AND id = $id AND revoked_at IS NULL',
    { tenantId, id },
  );
  if (!live) return false;
  await control.run('UPDATE api_keys SET revoked_at = $now WHERE id = $id', { id, now });
  keys.invalidate();
  return true;
}

/**
 * A new secret for a live key of this tenant (same id, name, scopes and owner), shown once;
 * the old secret is refused from the next request on. Undefined when there is no such live key.
 */
export async function rotateApiKey(
  { control, keys }: KeyStore,
  tenantId: string,
  id: string,
): Promise<CreatedApiKey | undefined> {
  const key = newSecret();
  const rotated = await control.get<ApiKey>(
    `UPDATE api_keys k SET key_hash = $hash, prefix = $prefix
      WHERE tenant_id = $tenantId AND id = $id AND revoked_at IS NULL
      RETURNING ${COLUMNS}`,
    { tenantId, id, hash: hashKey(key), prefix: key.slice(0, SHOWN_PREFIX_LENGTH) },
  );
  keys.invalidate();
  return rotated && { ...withScopes(rotated), key };
}

/** The tenant, user and scopes a presented key stands for, or null (unknown, revoked, or its user disabled). */
export async function resolveApiKey(db: Queryable, presented: string): Promise<ResolvedKey | null> {
  if (!presented.startsWith(KEY_PREFIX) || presented.length > MAX_KEY_LENGTH) return null;
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
  /**
   * Forget everything. Called by every function that changes what a cached key stands for:
   * a key revoked or rotated, its owner disabled, deleted, renamed or given another role, its tenant removed.
   */
  invalidate(): void;
};

/**
 * Resolved keys, so a request with a known key costs a hash and a map lookup instead of a
 * control-database query. Every change to a key or its owner goes through a function that
 * calls `invalidate`, so it holds from the next request; the TTL only bounds what a path
 * that forgot to would leave behind. A lookup that was under way when the cache was cleared
 * is not kept (it may have read the row from before the change). Concurrent requests with
 * the same uncached key share one lookup.
 */
export function createKeyCache(
  db: Queryable,
  { ttlMs = 60_000, max = 10_000, now = Date.now }: { ttlMs?: number; max?: number; now?: () => number } = {},
): KeyCache {
  const cache = new Map<string, { resolved: ResolvedKey; until: number }>();
  const pending = new Map<string, Promise<ResolvedKey | null>>();
  let generation = 0;
  const lookup = async (hash: string, presented: string) => {
    const started = generation;
    try {
      const resolved = await resolveApiKey(db, presented);
      if (resolved && generation === started) {
        if (cache.size >= max) cache.clear();
        cache.set(hash, { resolved, until: now() + ttlMs });
      }
      return resolved;
    } finally {
      if (generation === started) pending.delete(hash);
    }
  };
  return {
    resolve(presented) {
      if (!presented.startsWith(KEY_PREFIX) || presented.length > MAX_KEY_LENGTH) return Promise.resolve(null);
      const hash = hashKey(presented);
      const hit = cache.get(hash);
      if (hit && hit.until > now()) return Promise.resolve(hit.resolved);
      let found = pending.get(hash);
      if (!found) pending.set(hash, (found = lookup(hash, presented)));
      return found;
    },
    invalidate() {
      generation++;
      cache.clear();
      pending.clear();
    },
  };
}
