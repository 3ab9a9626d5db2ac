// Tenants (organisations / teams). Each owns one DuckDB file for its metrics; the rows
// here say who belongs to it.
import { z } from 'zod';
import type { Database } from '../storage/duckdb.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import type { KeyCache } from '../auth/api-keys.js';
import { forgetMfa } from '../auth/mfa.js';
import { newId } from '../ids.js';
import type { Ingestor } from '../ingest/ingest.js';

export type Tenant = { id: string; name: string; createdAt: Date };
export type TenantSummary = Tenant & { users: number; apiKeys: number };

export const tenantNameSchema = z.string().trim().min(1, 'is required').max(100);

type Stores = { control: Database; tenantFiles: TenantFiles };
/** Removing a tenant also forgets its keys on the request path, and its ingest writer where one runs. */
export type TenantStores = Stores & { keys: Pick<KeyCache, 'invalidate'>; ingest?: Pick<Ingestor, 'forget'> };

/** A name given twice, or one that names several organisations: the commands take names as well as ids. */
export class TenantNameError extends Error {
  constructor(
    readonly field: 'name' | 'tenant',
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Creations and imports one after another: a name or id is checked and taken with nothing in between. */
let creating: Promise<unknown> = Promise.resolve();

export function oneTenantAtATime<T>(make: () => Promise<T>): Promise<T> {
  const made = creating.catch(() => undefined).then(make);
  creating = made;
  return made;
}

export function createTenant(stores: Stores, name: string): Promise<Tenant> {
  return oneTenantAtATime(() => create(stores, name));
}

async function create({ control, tenantFiles }: Stores, name: string): Promise<Tenant> {
  if (await control.get('SELECT 1 FROM tenants WHERE name = $name', { name }))
    throw new TenantNameError('name', `an organisation named ${JSON.stringify(name)} exists already`);
  const id = newId('t');
  // The file first: a tenant row never points at a file that could not be made.
  await tenantFiles.create(id);
  try {
    await control.run('INSERT INTO tenants (id, name) VALUES ($id, $name)', { id, name });
  } catch (err) {
    await tenantFiles.remove(id);
    throw err;
  }
  return (await getTenant(control, id))!;
}

export function getTenant(control: Database, id: string): Promise<Tenant | undefined> {
  return control.get<Tenant>('SELECT id, name, created_at AS "createdAt" FROM tenants WHERE id = $id', { id });
}

export function listTenants(control: Database): Promise<TenantSummary[]> {
  return control.all<TenantSummary>(
    `SELECT t.id, t.name, t.created_at AS "createdAt",
            (SELECT count(*) FROM users u WHERE u.tenant_id = t.id) AS users,
            (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL) AS "apiKeys"
       FROM tenants t ORDER BY t.created_at, t.name`,
  );
}

/** Finds a tenant by id, or by name when exactly one tenant has it. */
export async function findTenant(control: Database, idOrName: string): Promise<Tenant | undefined> {
  const byId = await getTenant(control, idOrName);
  if (byId) return byId;
  const byName = await control.all<Tenant>(
    'SELECT id, name, created_at AS "createdAt" FROM tenants WHERE name = $name',
    { name: idOrName },
  );
  if (byName.length > 1)
    throw new TenantNameError(
      'tenant',
      `${byName.length} tenants are named ${JSON.stringify(idOrName)}; use the tenant id`,
    );
  return byName[0];
}

/** Deletes the tenant, its people, sessions and keys, then its file. */
export async function deleteTenant({ control, tenantFiles, keys, ingest }: TenantStores, id: string): Promise<boolean> {
  const existed = await control.transaction(async (tx) => {
    if (!(await tx.get('SELECT 1 FROM tenants WHERE id = $id', { id }))) return false;
    const people = 'SELECT id FROM users WHERE tenant_id = $id';
    await tx.run(`DELETE FROM auth_sessions WHERE user_id IN (${people})`, { id });
    await forgetMfa(tx, people, { id });
    await tx.run('DELETE FROM mfa_policies WHERE tenant_id = $id', { id });
    // Its invites and reset links: accepted after this, one would make an account in no organisation.
    await tx.run('DELETE FROM account_links WHERE tenant_id = $id', { id });
    await tx.run('DELETE FROM api_keys WHERE tenant_id = $id', { id });
    await tx.run('DELETE FROM users WHERE tenant_id = $id', { id });
    await tx.run(
      'DELETE FROM sso_identities WHERE provider_id IN (SELECT id FROM sso_providers WHERE tenant_id = $id)',
      { id },
    );
    await tx.run('DELETE FROM sso_providers WHERE tenant_id = $id', { id });
    await tx.run('DELETE FROM sso_tenant_settings WHERE tenant_id = $id', { id });
    await tx.run('DELETE FROM tenants WHERE id = $id', { id });
    return true;
  });
  keys.invalidate();
  if (!existed) return false;
  // Its journal's files are closed before they are deleted. A write already past its key check
  // meets the removal: refused, or stored and deleted with the tenant.
  await ingest?.forget(id);
  await tenantFiles.remove(id);
  return true;
}
