// The super admin's organisations page (/admin/organisations): every tenant with its people,
// file size, events and last event; create one by name, delete one by typing its name
// (its people, keys and data file go with it). Audited as the API's tenant routes are.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { listOrganisations } from '../../tenants/organisations.js';
import {
  createTenant,
  deleteTenant,
  getTenant,
  TenantNameError,
  tenantNameSchema,
  type Tenant,
} from '../../tenants/tenants.js';
import type { Env } from '../env.js';
import { auditRequest } from '../audit-request.js';
import { renderPage, signedInWith, type SessionIdentity } from '../dashboard-page.js';
import { firstIssue } from '../errors.js';
import type { Renderer } from '../render.js';

type Message = { message: string; field?: string };

export function organisationsPageRoutes(ctx: AppContext, render: Renderer) {
  const page = async (
    c: Context<Env>,
    identity: SessionIdentity,
    extra: { error?: Message; done?: string } = {},
    status: 200 | 400 = 200,
  ) => {
    const organisations = await listOrganisations({
      control: ctx.control,
      tenantFiles: ctx.tenantFiles,
      dataDir: ctx.config.dataDir,
    });
    return renderPage(render, c, 'organisations', { identity }, { organisations, ...extra }, status);
  };

  return new Hono<Env>()
    .get('/admin/organisations', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'tenant.manage');
      return identity instanceof Response ? identity : page(c, identity);
    })
    .post('/admin/organisations', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'tenant.manage');
      if (identity instanceof Response) return identity;
      const parsed = z.object({ name: tenantNameSchema }).safeParse(await c.req.parseBody());
      if (!parsed.success) return page(c, identity, { error: firstIssue(parsed.error) }, 400);
      let tenant: Tenant;
      try {
        tenant = await createTenant(ctx, parsed.data.name);
      } catch (err) {
        if (!(err instanceof TenantNameError)) throw err;
        return page(c, identity, { error: { message: err.message, field: err.field } }, 400);
      }
      await auditRequest(ctx.control, c, identity, {
        action: 'tenant.create',
        tenantId: tenant.id,
        target: tenant.id,
        detail: { name: tenant.name },
      });
      return page(c, identity, {
        done: `${tenant.name} is created; add its first administrator with the CLI (user create) or POST /api/v1/tenants/${tenant.id}/users.`,
      });
    })
    .post('/admin/organisations/:id/delete', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'tenant.manage');
      if (identity instanceof Response) return identity;
      const tenant = await getTenant(ctx.control, c.req.param('id'));
      if (!tenant) return page(c, identity, { error: { message: 'There is no such organisation.' } }, 400);
      if (tenant.id === identity.user.tenantId)
        return page(c, identity, { error: { message: 'You cannot delete the organisation you belong to.' } }, 400);
      const typed = String((await c.req.parseBody()).confirm_name ?? '');
      if (typed !== tenant.name)
        return page(
          c,
          identity,
          {
            error: {
              message: `confirm_name: type the organisation's name exactly to delete it`,
              field: 'confirm_name',
            },
          },
          400,
        );
      if (await deleteTenant(ctx, tenant.id)) {
        await auditRequest(ctx.control, c, identity, {
          action: 'tenant.delete',
          tenantId: tenant.id,
          target: tenant.id,
          detail: { name: tenant.name },
        });
      }
      return page(c, identity, { done: `${tenant.name} is deleted, with its people, keys and data.` });
    });
}
