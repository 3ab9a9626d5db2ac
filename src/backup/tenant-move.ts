// `agentmeter tenant export|import`: one tenant moved to another appliance. The export is a
// backup of one tenant (its file, copied live, and a manifest) that also carries its people
// and API keys, so agents keep reporting with their keys once pointed at the new address.
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Database } from '../storage/duckdb.js';
import { tenantPath } from '../storage/datadir.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { deleteTenant, getTenant, oneTenantAtATime, type TenantStores } from '../tenants/tenants.js';
import { copyTenant, prepareTarget, why } from './backup.js';
import { BackupError, describeFile, fsyncPath, verifyBackup, writeManifest, type Manifest } from './manifest.js';

type Stores = { control: Database; tenantFiles: TenantFiles };

// Carried as they are; two-factor secrets and identity providers' secrets are sealed with this
// appliance's own key, so they are not (people enrol again; providers are set again).
const PEOPLE = [
  'id',
  'tenant_id',
  'email',
  'name',
  'role',
  'password_hash',
  'disabled',
  'created_at',
  'last_login_at',
] as const;
const KEYS = [
  'id',
  'tenant_id',
  'user_id',
  'name',
  'prefix',
  'key_hash',
  'scopes',
  'created_at',
  'revoked_at',
] as const;
const TIMES = new Set(['created_at', 'last_login_at', 'revoked_at']);
const select = (columns: readonly string[]) =>
  columns.map((c) => (TIMES.has(c) ? `${c}::VARCHAR AS ${c}` : c)).join(', ');

export type Exported = {
  dir: string;
  tenant: string;
  name: string;
  events: number;
  people: number;
  api_keys: number;
  bytes: number;
};

/** Writes the tenant's export into `dir` (absent or empty), while the server runs. */
export async function exportTenant(stores: Stores, tenantId: string, dir: string, now: Date): Promise<Exported> {
  const tenant = await getTenant(stores.control, tenantId);
  if (!tenant) throw new BackupError(`no tenant ${tenantId}`);
  const undo = prepareTarget(dir, 'an export', dirname(stores.control.path));
  try {
    const path = `tenants/${tenantId}.duckdb`;
    mkdirSync(join(dir, 'tenants'), { mode: 0o700 });
    const facts = await copyTenant(stores.tenantFiles, tenantId, join(dir, path));
    const people = await stores.control.all(
      `SELECT ${select(PEOPLE)} FROM users WHERE tenant_id = $id ORDER BY created_at`,
      { id: tenantId },
    );
    const keys = await stores.control.all(
      `SELECT ${select(KEYS)} FROM api_keys WHERE tenant_id = $id ORDER BY created_at`,
      { id: tenantId },
    );
    const file = await describeFile(dir, path);
    const manifest: Manifest = {
      format: 'agentmeter-backup',
      version: 1,
      kind: 'tenant',
      created_at: now.toISOString(),
      files: [file],
      tenants: [{ id: tenantId, name: tenant.name, file: path, ...facts }],
      people,
      api_keys: keys,
    };
    writeManifest(dir, manifest);
    return {
      dir,
      tenant: tenantId,
      name: tenant.name,
      events: facts.events,
      people: people.length,
      api_keys: keys.length,
      bytes: file.bytes,
    };
  } catch (err) {
    undo();
    throw err instanceof BackupError ? err : new BackupError(`export to ${dir} failed: ${why(err)}`);
  }
}

export type Imported = { tenant: string; name: string; events: number; people: number; api_keys: number };

/**
 * Creates the exported tenant here, under its own id, with its file, people and keys. Refused
 * when the id, the name or any person's email is already taken. A super admin arrives as a
 * tenant admin: being one on another appliance says nothing about this one.
 */
export async function importTenant(stores: TenantStores, from: string, dataDir: string): Promise<Imported> {
  const checked = await verifyBackup(from);
  if (!checked.ok)
    throw new BackupError(`${from} is damaged; nothing was imported:\n  ${checked.problems.join('\n  ')}`);
  const { manifest } = checked;
  const tenant = manifest.tenants[0];
  if (manifest.kind !== 'tenant' || !tenant?.file)
    throw new BackupError(`${from} is a full backup, not a tenant export; use "agentmeter restore"`);
  const exported = { ...tenant, file: tenant.file };
  return oneTenantAtATime(() => importChecked(stores, from, dataDir, manifest, exported));
}

/** importTenant's part that takes the id and name, after no other creation or import (oneTenantAtATime). */
async function importChecked(
  stores: TenantStores,
  from: string,
  dataDir: string,
  manifest: Manifest,
  tenant: Manifest['tenants'][number] & { file: string },
): Promise<Imported> {
  const people = manifest.people ?? [];
  const keys = manifest.api_keys ?? [];
  if (
    await stores.control.get('SELECT 1 FROM tenants WHERE id = $id OR name = $name', {
      id: tenant.id,
      name: tenant.name,
    })
  ) {
    throw new BackupError(
      `a tenant with the id ${tenant.id} or the name ${JSON.stringify(tenant.name)} already exists here`,
    );
  }
  const taken: string[] = [];
  for (const p of people)
    if (await stores.control.get('SELECT 1 FROM users WHERE email = $email', { email: p.email }))
      taken.push(String(p.email));
  if (taken.length) throw new BackupError(`these people already have an account here: ${taken.join(', ')}`);

  const target = tenantPath(dataDir, tenant.id);
  if (existsSync(target)) throw new BackupError(`${target} already exists`);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const partial = `${target}.import`;
  copyFileSync(join(from, tenant.file), partial);
  fsyncPath(partial);
  renameSync(partial, target);
  try {
    await stores.control.transaction(async (tx) => {
      await tx.run('INSERT INTO tenants (id, name) VALUES ($id, $name)', { id: tenant.id, name: tenant.name });
      for (const p of people)
        await tx.run(insert('users', PEOPLE), {
          ...row(PEOPLE, p),
          tenant_id: tenant.id,
          role: p.role === 'super_admin' ? 'tenant_admin' : p.role,
        });
      for (const k of keys) await tx.run(insert('api_keys', KEYS), { ...row(KEYS, k), tenant_id: tenant.id });
    });
  } catch (err) {
    rmSync(target, { force: true });
    throw new BackupError(`import of ${from} failed: ${(err as Error).message}`);
  }
  // Opened (and migrated, if it came from an older build) before anyone is told it is here.
  await stores.tenantFiles.open(tenant.id).catch(async (err: unknown) => {
    await deleteTenant(stores, tenant.id);
    throw new BackupError(`the imported file does not open: ${(err as Error).message}`);
  });
  return { tenant: tenant.id, name: tenant.name, events: tenant.events, people: people.length, api_keys: keys.length };
}

const insert = (table: string, columns: readonly string[]) =>
  `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `$${c}`).join(', ')})`;
const row = (columns: readonly string[], from: Record<string, unknown>) =>
  Object.fromEntries(columns.map((c) => [c, from[c] ?? null]));
