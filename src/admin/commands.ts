// Administration as plain operations over the app context. The CLI runs them directly
// when it holds the data directory, or asks the running server (src/admin/socket.ts),
// which runs the very same functions.
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { audit, auditFilterSchema, searchAudit } from '../audit/audit.js';
import { AlreadySetUpError, firstRunSetup } from './setup.js';
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey, scopesSchema } from '../auth/api-keys.js';
import { disableMfa } from '../auth/mfa.js';
import { generatePassword } from '../auth/passwords.js';
import { maySendEvents, roleSchema } from '../auth/permissions.js';
import { passwordSchema, strongPassword } from '../auth/password-policy.js';
import { createUser, DuplicateEmailError, emailSchema, getUser, findLoginByEmail, listUsers } from '../auth/users.js';
import { eraseDeps, erasePerson, erasureRefusal } from '../privacy/erase.js';
import { changeRole, createResetLink, deleteUser, PeopleError, setActive } from '../auth/people.js';
import { createProvider, listProviders, providerInputSchema, removeProvider, viewOf } from '../auth/sso/providers.js';
import { setTenantSso, SlugTakenError, tenantSsoSchema } from '../auth/sso/tenant-sso.js';
import { fetchIdpMetadata, parseIdpMetadata } from '../auth/sso/saml-metadata.js';
import { BackupError } from '../backup/manifest.js';
import { exportTenant, importTenant } from '../backup/tenant-move.js';
import {
  createTenant,
  deleteTenant,
  findTenant,
  listTenants,
  TenantNameError,
  tenantNameSchema,
  type Tenant,
} from '../tenants/tenants.js';

export class CommandError extends Error {}

type Command<S extends z.ZodType> = { schema: S; run(ctx: AppContext, input: z.infer<S>): Promise<unknown> };
const command = <S extends z.ZodType>(schema: S, run: Command<S>['run']): Command<S> => ({ schema, run });

const tenantRef = z.string().trim().min(1, 'is required');
// The CLI resolves paths where the operator typed them; the server may run elsewhere.
const absolutePath = z
  .string()
  .min(1, 'is required')
  .refine((p) => isAbsolute(p), 'must be an absolute path');
const byCli = { actor: 'cli' as const };

async function tenantOf(ctx: AppContext, ref: string): Promise<Tenant> {
  const tenant = await findTenant(ctx.control, ref);
  if (!tenant) throw new CommandError(`no tenant ${JSON.stringify(ref)}`);
  return tenant;
}

async function userOf(ctx: AppContext, tenant: Tenant, ref: string) {
  const user = (await getUser(ctx.control, ref)) ?? (await findLoginByEmail(ctx.control, ref));
  if (!user || user.tenantId !== tenant.id)
    throw new CommandError(`no user ${JSON.stringify(ref)} in tenant ${tenant.name}`);
  return user;
}

const userRef = { tenant: tenantRef, email: emailSchema };

async function person(ctx: AppContext, input: { tenant: string; email: string }) {
  const tenant = await tenantOf(ctx, input.tenant);
  return { tenant, user: await userOf(ctx, tenant, input.email) };
}

export const COMMANDS = {
  'tenant create': command(z.object({ name: tenantNameSchema }), async (ctx, { name }) => {
    const tenant = await createTenant(ctx, name);
    await audit(ctx.control, {
      ...byCli,
      action: 'tenant.create',
      tenantId: tenant.id,
      target: tenant.id,
      detail: { name },
    });
    return tenant;
  }),

  'tenant list': command(z.object({}), (ctx) => listTenants(ctx.control)),

  'tenant delete': command(z.object({ tenant: tenantRef }), async (ctx, input) => {
    const tenant = await tenantOf(ctx, input.tenant);
    await deleteTenant(ctx, tenant.id);
    await audit(ctx.control, {
      ...byCli,
      action: 'tenant.delete',
      tenantId: tenant.id,
      target: tenant.id,
      detail: { name: tenant.name },
    });
    return { deleted: tenant.id, name: tenant.name };
  }),

  'user create': command(
    z
      .object({
        tenant: tenantRef,
        email: emailSchema,
        role: roleSchema,
        name: z.string().trim().max(200).optional(),
        password: passwordSchema.optional(),
      })
      .superRefine(strongPassword),
    async (ctx, input) => {
      const tenant = await tenantOf(ctx, input.tenant);
      const generated = input.password === undefined;
      const password = input.password ?? generatePassword();
      const user = await createUser(ctx.control, tenant.id, {
        email: input.email,
        role: input.role,
        name: input.name,
        password,
      });
      await audit(ctx.control, {
        ...byCli,
        action: 'user.create',
        tenantId: tenant.id,
        target: user.id,
        detail: { email: user.email, role: user.role },
      });
      return generated ? { ...user, password } : user;
    },
  ),

  'user disable': command(z.object(userRef), async (ctx, input) => {
    const { tenant, user } = await person(ctx, input);
    return setActive(ctx, byCli, tenant.id, user.id, false);
  }),

  'user enable': command(z.object(userRef), async (ctx, input) => {
    const { tenant, user } = await person(ctx, input);
    return setActive(ctx, byCli, tenant.id, user.id, true);
  }),

  /** The account goes; its events stay in the tenant's file. */
  'user delete': command(z.object(userRef), async (ctx, input) => {
    const { tenant, user } = await person(ctx, input);
    await deleteUser(ctx, byCli, tenant.id, user.id);
    return { deleted: user.id, email: user.email };
  }),

  'user role': command(z.object({ ...userRef, role: roleSchema }), async (ctx, input) => {
    const { tenant, user } = await person(ctx, input);
    return changeRole(ctx, byCli, tenant.id, user.id, input.role);
  }),

  /** A link (at the public URL) that lets the person set a new password, once, within an hour. */
  'user reset-link': command(z.object(userRef), async (ctx, input) => {
    const { tenant, user } = await person(ctx, input);
    return createResetLink(ctx, byCli, tenant.id, user.id);
  }),

  'user list': command(z.object({ tenant: tenantRef }), async (ctx, input) =>
    listUsers(ctx.control, (await tenantOf(ctx, input.tenant)).id),
  ),

  /** A lost authenticator: the person signs in with their password alone and may enrol again. */
  'user mfa-reset': command(z.object({ tenant: tenantRef, email: emailSchema }), async (ctx, input) => {
    const tenant = await tenantOf(ctx, input.tenant);
    const user = await userOf(ctx, tenant, input.email);
    const wasOn = await disableMfa(ctx.control, user.id);
    if (wasOn)
      await audit(ctx.control, {
        ...byCli,
        action: 'mfa.reset',
        tenantId: tenant.id,
        target: user.id,
        detail: { email: user.email },
      });
    return { user: user.email, mfa: wasOn ? 'reset' : 'was not on' };
  }),

  'user erase': command(
    z.object({ tenant: tenantRef, email: z.string().trim().min(1, 'is required') }),
    async (ctx, input) => {
      const tenant = await tenantOf(ctx, input.tenant);
      const user = await userOf(ctx, tenant, input.email);
      const refusal = await erasureRefusal(ctx.control, { id: '', role: 'super_admin', tenantId: tenant.id }, user); // the operator
      if (refusal) throw new CommandError(`--email: ${refusal.message}`);
      return { user_id: user.id, ...(await erasePerson(eraseDeps(ctx), user, byCli)) };
    },
  ),

  'apikey create': command(
    z.object({
      tenant: tenantRef,
      user: z.string().trim().min(1, 'is required'),
      scopes: scopesSchema,
      name: z.string().trim().min(1).max(100).default('cli'),
    }),
    async (ctx, input) => {
      const tenant = await tenantOf(ctx, input.tenant);
      const user = await userOf(ctx, tenant, input.user);
      // As the ingest endpoints refuse it (web/ingest-guard.ts): a viewer reports no sessions.
      if (input.scopes.includes('ingest') && !maySendEvents(user))
        throw new CommandError(`--scopes: a ${user.role} may not hold a key with the ingest scope`);
      const key = await createApiKey(ctx.control, user, { name: input.name, scopes: input.scopes });
      await audit(ctx.control, {
        ...byCli,
        action: 'apikey.create',
        tenantId: tenant.id,
        target: key.id,
        detail: { user: user.email, scopes: key.scopes },
      });
      return key;
    },
  ),

  /**
   * The audit log, newest first, as the API and the page filter it: an operator's view
   * (every organisation, or one). `--since`/`--until` rather than from/to: the CLI reads
   * those as paths.
   */
  'audit list': command(
    z.object({
      tenant: tenantRef.optional(),
      person: z.string().optional(),
      action: z.string().optional(),
      since: z.string().optional(),
      until: z.string().optional(),
      limit: z.string().optional(),
      page: z.string().optional(),
    }),
    async (ctx, input) => {
      const filter = auditFilterSchema.safeParse({
        person: input.person,
        action: input.action,
        from: input.since,
        to: input.until,
        limit: input.limit ?? '100',
        page: input.page,
      });
      if (!filter.success) {
        const issue = filter.error.issues[0]!;
        const flag = { from: 'since', to: 'until' }[String(issue.path[0])] ?? String(issue.path[0]);
        throw new CommandError(`--${flag}: ${issue.message.replace(/\bfrom\b/, '--since')}`);
      }
      const tenantId = input.tenant ? (await tenantOf(ctx, input.tenant)).id : null;
      const { entries } = await searchAudit(ctx.control, { ...filter.data, tenantId });
      return entries.map((e) => ({
        at: e.at,
        tenant: e.tenantId,
        actor: e.actor,
        person: e.person,
        action: e.action,
        target: e.target,
        ip: e.ip,
        detail: e.detail === null ? null : (JSON.parse(e.detail) as unknown),
      }));
    },
  ),

  'apikey list': command(z.object({ tenant: tenantRef }), async (ctx, input) =>
    listApiKeys(ctx.control, (await tenantOf(ctx, input.tenant)).id),
  ),

  'apikey revoke': command(
    z.object({ tenant: tenantRef, id: z.string().trim().min(1, 'is required') }),
    async (ctx, input) => {
      const tenant = await tenantOf(ctx, input.tenant);
      if (!(await revokeApiKey(ctx, tenant.id, input.id, ctx.now())))
        throw new CommandError(`no live API key ${JSON.stringify(input.id)} in tenant ${tenant.name}`);
      await audit(ctx.control, { ...byCli, action: 'apikey.revoke', tenantId: tenant.id, target: input.id });
      return { revoked: input.id };
    },
  ),

  'apikey rotate': command(
    z.object({ tenant: tenantRef, id: z.string().trim().min(1, 'is required') }),
    async (ctx, input) => {
      const tenant = await tenantOf(ctx, input.tenant);
      const key = await rotateApiKey(ctx, tenant.id, input.id);
      if (!key) throw new CommandError(`no live API key ${JSON.stringify(input.id)} in tenant ${tenant.name}`);
      await audit(ctx.control, { ...byCli, action: 'apikey.rotate', tenantId: tenant.id, target: key.id });
      return key;
    },
  ),

  'sso set': command(
    z.looseObject({ tenant: tenantRef, metadata_url: z.string().url().optional() }),
    async (ctx, { tenant: ref, metadata_url, ...raw }) => {
      const tenant = await tenantOf(ctx, ref);
      const metadata = metadata_url ? await fetchMetadata(metadata_url) : raw.metadata;
      const parsed = providerInputSchema.safeParse({ ...raw, ...(metadata === undefined ? {} : { metadata }) });
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new CommandError(`--${flagOf(String(issue.path[0] ?? 'arguments'))}: ${issue.message}`);
      }
      // What the settings page checks: an entity id, a redirect SingleSignOnService, a signing certificate.
      if (parsed.data.type === 'saml')
        try {
          parseIdpMetadata(parsed.data.metadata!);
        } catch (err) {
          throw new CommandError(`--metadata: ${(err as Error).message}`);
        }
      const provider = await createProvider(ctx.control, ctx.secret, tenant.id, parsed.data);
      await audit(ctx.control, {
        ...byCli,
        action: 'sso.provider.set',
        tenantId: tenant.id,
        target: provider.id,
        detail: { type: provider.preset, name: provider.name },
      });
      return viewOf(provider, provider.sealed !== null, ctx.publicUrl);
    },
  ),

  'sso list': command(z.object({ tenant: tenantRef }), async (ctx, input) =>
    (await listProviders(ctx.control, (await tenantOf(ctx, input.tenant)).id)).map((p) =>
      viewOf(p, p.sealed !== null, ctx.publicUrl),
    ),
  ),

  'sso remove': command(
    z.object({ tenant: tenantRef, id: z.string().trim().min(1, 'is required') }),
    async (ctx, input) => {
      const tenant = await tenantOf(ctx, input.tenant);
      if (!(await removeProvider(ctx.control, tenant.id, input.id)))
        throw new CommandError(`no identity provider ${JSON.stringify(input.id)} in tenant ${tenant.name}`);
      await audit(ctx.control, { ...byCli, action: 'sso.provider.remove', tenantId: tenant.id, target: input.id });
      return { removed: input.id };
    },
  ),

  /** The tenant's sign-in page slug and whether it requires SSO. */
  'sso tenant': command(tenantSsoSchema.extend({ tenant: tenantRef }), async (ctx, { tenant: ref, ...change }) => {
    const tenant = await tenantOf(ctx, ref);
    const settings = await setTenantSso(ctx.control, tenant.id, change).catch((err: unknown) => {
      throw err instanceof SlugTakenError ? new CommandError(`--${err.message}`) : err;
    });
    await audit(ctx.control, { ...byCli, action: 'sso.settings', tenantId: tenant.id, detail: settings });
    return { tenant: tenant.id, ...settings };
  }),

  /** The control database and every tenant, copied while the server runs (src/backup/). */
  backup: command(z.object({ to: absolutePath }), (ctx, { to }) => ctx.backups.backupNow(to)),

  /** One tenant's file, people and keys, to move it to another appliance. */
  'tenant export': command(z.object({ tenant: tenantRef, to: absolutePath }), async (ctx, input) => {
    const tenant = await tenantOf(ctx, input.tenant);
    const done = await exportTenant(ctx, tenant.id, input.to, ctx.now());
    await audit(ctx.control, {
      ...byCli,
      action: 'tenant.export',
      tenantId: tenant.id,
      target: tenant.id,
      detail: { to: input.to },
    });
    return done;
  }),

  'tenant import': command(z.object({ from: absolutePath }), async (ctx, { from }) => {
    const done = await importTenant(ctx, from, ctx.config.dataDir);
    await audit(ctx.control, {
      ...byCli,
      action: 'tenant.import',
      tenantId: done.tenant,
      target: done.tenant,
      detail: { from, name: done.name },
    });
    return done;
  }),

  /** First run from the command line, as the setup page does it. */
  setup: command(
    z
      .object({ name: tenantNameSchema, email: emailSchema, password: passwordSchema.optional() })
      .superRefine(strongPassword),
    async (ctx, input) => {
      const password = input.password ?? generatePassword();
      const done = await firstRunSetup(ctx, { organisation: input.name, email: input.email, password }).catch(
        (err: unknown) => {
          throw err instanceof AlreadySetUpError
            ? new CommandError('setup has already been done; use "tenant create" and "user create"')
            : err;
        },
      );
      return { ...done, ...(input.password === undefined ? { password } : {}) };
    },
  ),
} satisfies Record<string, Command<z.ZodType>>;

/**
 * A SAML identity provider's metadata, fetched once when the provider is set (http too: the
 * operator's own command), cut off past 1 MB or 10 s. The messages never hold the URL, which
 * may carry a password or a token, and reach the server's log when the command is refused.
 */
async function fetchMetadata(url: string): Promise<string> {
  try {
    return await fetchIdpMetadata(url);
  } catch (err) {
    throw new CommandError(`--metadata: ${(err as Error).message}`);
  }
}

export type CommandName = keyof typeof COMMANDS;

/** What to type instead, where a flag is easily taken for another. */
const HINTS: Record<string, string> = {
  'audit list from': ' (--since: the CLI reads --from as a path)',
  'audit list to': ' (--until: the CLI reads --to as a path)',
};

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** Validates `args` and runs the command. Throws CommandError with a message naming the bad field. */
/** The command's arguments as it takes them, or a CommandError naming the flag. */
/** The flag an argument came from: the CLI reads --require-sso as require_sso, and a secret from --<name>-stdin. */
const flagOf = (field: string) => {
  const flag = field.replace(/_/g, '-');
  return flag === 'password' || flag === 'client-secret' ? `${flag}-stdin` : flag;
};

export function parseCommand(name: CommandName, args: Record<string, unknown>): unknown {
  const schema = (COMMANDS[name] as Command<z.ZodType>).schema;
  // A flag the command does not take is refused, not dropped: `audit list --from` would
  // otherwise answer the whole log as if filtered.
  // (A loose object, `sso set`, hands the rest on to a schema of its own.)
  if (schema instanceof z.ZodObject && !(schema.def.catchall instanceof z.ZodUnknown))
    for (const key of Object.keys(args))
      if (!(key in schema.shape))
        throw new CommandError(`--${flagOf(key)}: ${name} does not take it${HINTS[`${name} ${key}`] ?? ''}`);
  const parsed = schema.safeParse(args);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new CommandError(`--${flagOf(issue.path.join('.')) || 'arguments'}: ${issue.message}`);
}

export async function runCommand(ctx: AppContext, name: CommandName, args: Record<string, unknown>): Promise<unknown> {
  const cmd = COMMANDS[name] as Command<z.ZodType>;
  const input = parseCommand(name, args);
  try {
    return await cmd.run(ctx, input);
  } catch (err) {
    if (err instanceof DuplicateEmailError) throw new CommandError(`--email: ${err.message}`);
    if (err instanceof PeopleError || err instanceof BackupError) throw new CommandError(err.message);
    if (err instanceof TenantNameError) throw new CommandError(`--${err.message}`);
    throw err;
  }
}
