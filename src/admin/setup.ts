// First run: the first organisation and its administrator, from the web page or the
// CLI. The administrator is a super_admin, who can add further organisations.
import type { AppContext } from '../context.js';
import { audit } from '../audit/audit.js';
import { hashPassword } from '../auth/passwords.js';
import { countUsers, insertUser, type User } from '../auth/users.js';
import { newId } from '../ids.js';
import type { Tenant } from '../tenants/tenants.js';

export class AlreadySetUpError extends Error {
  constructor() {
    super('setup has already been done');
  }
}

export async function needsSetup(ctx: AppContext): Promise<boolean> {
  return (await countUsers(ctx.control)) === 0;
}

export async function firstRunSetup(
  ctx: AppContext,
  input: { organisation: string; email: string; name?: string; password: string },
  from: { ip?: string | null } = {},
): Promise<{ tenant: Tenant; user: User }> {
  if (!(await needsSetup(ctx))) throw new AlreadySetUpError();
  const passwordHash = await hashPassword(input.password);
  const tenantId = newId('t');
  await ctx.tenantFiles.create(tenantId);
  try {
    // Checked again inside the transaction: two setup forms sent at once make one admin.
    const user = await ctx.control.transaction(async (tx) => {
      if ((await countUsers(tx)) > 0) throw new AlreadySetUpError();
      await tx.run('INSERT INTO tenants (id, name) VALUES ($id, $name)', { id: tenantId, name: input.organisation });
      const created = await insertUser(
        tx,
        tenantId,
        { email: input.email, name: input.name, role: 'super_admin' },
        passwordHash,
      );
      await audit(tx, {
        actor: 'setup',
        action: 'setup',
        tenantId,
        actorUserId: created.id,
        target: created.id,
        ip: from.ip,
        detail: { email: created.email, organisation: input.organisation },
      });
      return created;
    });
    const tenant = (await ctx.control.get<Tenant>(
      'SELECT id, name, created_at AS "createdAt" FROM tenants WHERE id = $id',
      { id: tenantId },
    ))!;
    return { tenant, user };
  } catch (err) {
    await ctx.tenantFiles.remove(tenantId);
    throw err;
  }
}
