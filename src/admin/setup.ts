// First run: the first organisation and its administrator, from the web page or the
// CLI. The administrator is a super_admin, who can add further organisations.
import type { AppContext } from '../context.js';
import { audit } from '../audit/audit.js';
import { hashPassword } from '../auth/passwords.js';
import { insertUser, type User } from '../auth/users.js';
import type { Queryable } from '../storage/duckdb.js';
import { newId } from '../ids.js';
import type { Tenant } from '../tenants/tenants.js';

export class AlreadySetUpError extends Error {
  constructor() {
    super('setup has already been done');
  }
}

/**
 * Only an appliance that holds nothing: no person and no organisation. One whose people are
 * all gone (deleted at the command line) still holds organisations' data, which the first
 * stranger at /setup would otherwise manage as super admin; its operator adds a person with
 * `agentmeter user create`.
 */
export async function needsSetup(ctx: Pick<AppContext, 'control'>): Promise<boolean> {
  return isEmpty(ctx.control);
}

async function isEmpty(db: Queryable): Promise<boolean> {
  const held = await db.get<{ n: number }>('SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM tenants) AS n');
  return Number(held!.n) === 0;
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
      if (!(await isEmpty(tx))) throw new AlreadySetUpError();
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
