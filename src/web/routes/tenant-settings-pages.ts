// Settings pages for a tenant's model prices, retention and time zone (tenant admins): the
// same changes as PUT /api/v1/settings/prices|retention|timezone (sessions/prices.ts,
// aggregate/settings-change.ts), as forms,
// with what a change does said beside it. Shortening retention asks to confirm first.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import {
  DEFAULT_RETENTION,
  retentionSchema,
  tenantSettings,
  timeZoneSchema,
  type Retention,
} from '../../aggregate/settings.js';
import { changeRetention, changeTimeZone, pricesView, shortened } from '../../aggregate/settings-change.js';
import { changePrices } from '../../sessions/prices.js';
import { priceOverridesSchema, priceSchema } from '../../cost/prices.js';
import { TIERS } from '../../aggregate/tiers.js';
import { offsetLabel, timeZoneNames } from '../../time/zone.js';
import type { Env } from '../env.js';
import { auditRequest } from '../audit-request.js';
import { renderPage, signedInWith, type SessionIdentity } from '../dashboard-page.js';
import { firstIssue } from '../errors.js';
import type { Renderer } from '../render.js';

type Message = { message: string; field?: string };
type Form = Record<string, string | File>;

const RATES = ['input', 'output', 'cache_write', 'cache_read'] as const;
const LONG = 'above_200k';

/** A form's number: '' is missing, anything else must read as a number. */
const num = (v: string | File | undefined) =>
  v === undefined || v === '' ? undefined : typeof v === 'string' ? Number(v) : NaN;

/** The price form (model, the four rates, optionally the four above 200k) as a model and its price; fields named as in the form. */
const priceFormSchema = z.object({ model: z.string().trim().min(1, 'is required').max(200), price: priceSchema });
function parsePriceForm(form: Form) {
  const long = RATES.some((r) => form[`${LONG}.${r}`])
    ? { [LONG]: Object.fromEntries(RATES.map((r) => [r, num(form[`${LONG}.${r}`])])) }
    : {};
  const parsed = priceFormSchema.safeParse({
    model: form.model,
    price: { ...Object.fromEntries(RATES.map((r) => [r, num(form[r])])), ...long },
  });
  if (parsed.success) return parsed;
  // The form's fields are `input`, `above_200k.input`: not `price.input`.
  for (const issue of parsed.error.issues) if (issue.path[0] === 'price') issue.path.shift();
  return parsed;
}

const ROWS = ['raw', ...TIERS] as const;
/** The retention form: a number of days per row, empty for "keep forever". */
function parseRetentionForm(form: Form) {
  return retentionSchema.safeParse(Object.fromEntries(ROWS.map((t) => [t, num(form[t]) ?? null])));
}

export function tenantSettingsPageRoutes(ctx: AppContext, render: Renderer) {
  const tenantFile = (identity: SessionIdentity) => ctx.tenantFiles.open(identity.user.tenantId);

  const pricesPage = async (
    c: Context<Env>,
    identity: SessionIdentity,
    extra: { error?: Message; done?: string } = {},
    status: 200 | 400 = 200,
  ) => {
    const file = await tenantFile(identity);
    return renderPage(
      render,
      c,
      'prices',
      { identity },
      { ...(await pricesView(file, file)), rates: RATES, ...extra },
      status,
    );
  };

  const retentionPage = async (
    c: Context<Env>,
    identity: SessionIdentity,
    extra: { error?: Message; confirm?: { next: Retention; shortened: string[] } } = {},
    status: 200 | 400 = 200,
  ) => {
    const file = await tenantFile(identity);
    const { retention } = await tenantSettings(file, file);
    return renderPage(
      render,
      c,
      'retention',
      { identity },
      { retention, defaults: DEFAULT_RETENTION, rows: ROWS, saved: c.req.query('saved'), ...extra },
      status,
    );
  };

  const timeZonePage = async (c: Context<Env>, identity: SessionIdentity, error?: Message, status: 200 | 400 = 200) => {
    const file = await tenantFile(identity);
    const { timeZone } = await tenantSettings(file, file);
    const offset = offsetLabel(timeZone, ctx.now().getTime());
    const data = { zone: timeZone, offset, zones: timeZoneNames(), saved: c.req.query('saved'), error };
    return renderPage(render, c, 'timezone', { identity }, data, status);
  };

  return new Hono<Env>()
    .get('/settings/timezone', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      return identity instanceof Response ? identity : timeZonePage(c, identity);
    })
    .post('/settings/timezone', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      if (identity instanceof Response) return identity;
      const parsed = z.object({ timezone: timeZoneSchema }).safeParse(await c.req.parseBody());
      if (!parsed.success) return timeZonePage(c, identity, firstIssue(parsed.error), 400);
      const timezone = await changeTimeZone(await tenantFile(identity), parsed.data.timezone);
      await auditRequest(ctx.control, c, identity, { action: 'settings.timezone', detail: { timezone } });
      return c.redirect('/settings/timezone?saved=1', 303);
    })
    .get('/settings/prices', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      return identity instanceof Response ? identity : pricesPage(c, identity);
    })
    .post('/settings/prices', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      if (identity instanceof Response) return identity;
      const parsed = parsePriceForm(await c.req.parseBody());
      if (!parsed.success) return pricesPage(c, identity, { error: firstIssue(parsed.error) }, 400);
      const { model, price } = parsed.data;
      const file = await tenantFile(identity);
      const { prices } = await tenantSettings(file, file);
      const next = priceOverridesSchema.safeParse({ ...prices, [model]: price });
      if (!next.success)
        return pricesPage(
          c,
          identity,
          { error: { field: 'model', message: `model: ${next.error.issues[0]!.message}` } },
          400,
        );
      await changePrices({ aggregator: ctx.aggregator, file }, next.data);
      await auditRequest(ctx.control, c, identity, { action: 'settings.prices', detail: { set: model, price } });
      return pricesPage(c, identity, { done: `${model} is now priced as set; every figure follows.` });
    })
    .post('/settings/prices/remove', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      if (identity instanceof Response) return identity;
      const model = String((await c.req.parseBody()).model ?? '');
      const file = await tenantFile(identity);
      const { prices } = await tenantSettings(file, file);
      if (!Object.hasOwn(prices, model))
        return pricesPage(
          c,
          identity,
          { error: { message: 'model: there is no override for this model', field: 'model' } },
          400,
        );
      const { [model]: _removed, ...rest } = prices;
      await changePrices({ aggregator: ctx.aggregator, file }, rest);
      await auditRequest(ctx.control, c, identity, { action: 'settings.prices', detail: { removed: model } });
      return pricesPage(c, identity, { done: `The override for ${model} is removed; it is priced as shipped again.` });
    })

    .get('/settings/retention', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      return identity instanceof Response ? identity : retentionPage(c, identity);
    })
    .post('/settings/retention', async (c) => {
      const identity = await signedInWith(ctx, c, render, 'user.manage');
      if (identity instanceof Response) return identity;
      const form = await c.req.parseBody();
      const parsed = parseRetentionForm(form);
      if (!parsed.success) return retentionPage(c, identity, { error: firstIssue(parsed.error) }, 400);
      const file = await tenantFile(identity);
      const cut = shortened((await tenantSettings(file, file)).retention, parsed.data);
      // Shortening deletes data for good: asked once more, with what goes.
      if (cut.length && form.confirm !== 'yes')
        return retentionPage(c, identity, { confirm: { next: parsed.data, shortened: cut } });
      const next = await changeRetention(file, parsed.data);
      await auditRequest(ctx.control, c, identity, { action: 'settings.retention', detail: next });
      return c.redirect('/settings/retention?saved=1', 303);
    });
}
