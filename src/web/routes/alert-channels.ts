// Alert channels: each target's delivery status and re-enabling it (managers and up), the
// webhook signing secret and the tenant's SMTP server (tenant admins), as the API and as the
// Settings → Alerts page. The tenant is always the caller's own.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { audit } from '../../audit/audit.js';
import {
  channelsView,
  rotateWebhookSecret,
  sendTestEmail,
  setSmtpSettings,
  smtpInputSchema,
} from '../../alerts/channel-settings.js';
import { digestSettings, digestSettingsSchema, setDigestSettings } from '../../alerts/digest.js';
import { requireIdentity, requirePermission, requireSession } from '../access.js';
import { clientIp } from '../client-ip.js';
import { renderPage, signedInWith, type SessionIdentity } from '../dashboard-page.js';
import type { Env, Identity } from '../env.js';
import { firstIssue, httpError, readInput } from '../errors.js';
import type { Renderer } from '../render.js';
import { documented } from '../api-doc.js';

const enableSchema = z.object({ target: z.string().min(1).max(4096) });
const testSchema = z.object({ to: z.string().trim().email().max(254).optional() });

const OPS = {
  channels: documented({ summary: "Each delivery target's status", auth: 'read', who: 'managers and up' }),
  enable: documented({
    summary: 'Re-enable a disabled delivery target',
    auth: 'session',
    who: 'managers and up',
    body: enableSchema,
  }),
  secret: documented({ summary: 'A new webhook signing secret (shown once)', auth: 'session', who: 'tenant admins' }),
  smtp: documented({
    summary: "The tenant's SMTP server for alert emails (an empty password keeps the stored one)",
    auth: 'session',
    who: 'tenant admins',
    body: smtpInputSchema,
  }),
  testEmail: documented({
    summary: 'Send a test email (to you unless `to`)',
    auth: 'session',
    who: 'tenant admins',
    body: testSchema,
  }),
};

type Extra = { error?: { message: string; field?: string }; done?: string; secret?: string };

export function alertChannelRoutes(ctx: AppContext, render: Renderer) {
  const view = async (tenantId: string) =>
    channelsView(await ctx.tenantFiles.open(tenantId), ctx.delivery, tenantId, ctx.config.smtp);
  const by = (c: Context<Env>, identity: Identity) => ({
    actor: 'user' as const,
    actorUserId: identity.user.id,
    tenantId: identity.user.tenantId,
    ip: clientIp(c),
  });
  const page = async (c: Context<Env>, identity: SessionIdentity, extra: Extra = {}, status: 200 | 400 | 404 = 200) =>
    renderPage(
      render,
      c,
      'alert-settings',
      { identity },
      {
        channels: await view(identity.user.tenantId),
        digest: await digestSettings(await ctx.tenantFiles.open(identity.user.tenantId)),
        ...extra,
      },
      status,
    );
  const admin = (c: Context<Env>) => signedInWith(ctx, c, render, 'user.manage');

  const saveSmtp = async (identity: Identity, raw: unknown) => {
    const parsed = smtpInputSchema.safeParse(raw);
    if (!parsed.success) return firstIssue(parsed.error);
    const tenantId = identity.user.tenantId;
    const refused = await setSmtpSettings(
      await ctx.tenantFiles.open(tenantId),
      ctx.secret,
      tenantId,
      parsed.data,
      ctx.alertTargets(),
      ctx.now(),
    );
    return refused ? { field: 'host', message: `host: ${refused}` } : null;
  };
  const testEmail = async (identity: Identity, to: string | undefined) =>
    sendTestEmail(
      await ctx.tenantFiles.open(identity.user.tenantId),
      ctx.secret,
      identity.user.tenantId,
      ctx.config.smtp,
      ctx.alertTargets(),
      to ?? identity.user.email,
    );
  const rotate = (identity: Identity) =>
    ctx.tenantFiles
      .open(identity.user.tenantId)
      .then((db) => rotateWebhookSecret(db, ctx.secret, identity.user.tenantId, ctx.now()));

  return new Hono<Env>()
    .get('/api/v1/alerts/channels', OPS.channels, async (c) => {
      const identity = requireIdentity(c, 'read');
      requirePermission(identity, 'metrics.view_team');
      return c.json(await view(identity.user.tenantId));
    })
    .post('/api/v1/alerts/channels/enable', OPS.enable, async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'metrics.view_team');
      const { target } = await readInput(c, OPS.enable.operation.body);
      if (!(await ctx.delivery.enable(identity.user.tenantId, target)))
        throw httpError(404, 'target: no such disabled target', 'target');
      await audit(ctx.control, { ...by(c, identity), action: 'alerts.target.enabled', target });
      return c.json({ enabled: target });
    })
    .post('/api/v1/alerts/webhook-secret', OPS.secret, async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const secret = await rotate(identity);
      await audit(ctx.control, { ...by(c, identity), action: 'alerts.webhook_secret.rotated' });
      return c.json({ secret });
    })
    .put('/api/v1/alerts/smtp', OPS.smtp, async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const problem = await saveSmtp(identity, await readInput(c, z.unknown()));
      if (problem) throw httpError(400, problem.message, problem.field);
      await audit(ctx.control, { ...by(c, identity), action: 'alerts.smtp.set' });
      return c.json((await view(identity.user.tenantId)).smtp);
    })
    .post('/api/v1/alerts/smtp/test', OPS.testEmail, async (c) => {
      const identity = requireSession(c);
      requirePermission(identity, 'user.manage');
      const { to } = await readInput(c, OPS.testEmail.operation.body);
      return c.json(await testEmail(identity, to));
    })
    .get('/settings/alerts', async (c) => {
      const identity = await admin(c);
      return identity instanceof Response ? identity : page(c, identity);
    })
    .post('/settings/alerts/smtp', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const problem = await saveSmtp(identity, await c.req.parseBody());
      if (problem) return page(c, identity, { error: problem }, 400);
      await audit(ctx.control, { ...by(c, identity), action: 'alerts.smtp.set' });
      return page(c, identity, { done: 'SMTP server saved.' });
    })
    .post('/settings/alerts/digest', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const body = await c.req.parseBody();
      const parsed = digestSettingsSchema.safeParse({
        enabled: body.enabled === 'true',
        channel: body.channel,
        target: body.target,
      });
      if (!parsed.success) return page(c, identity, { error: firstIssue(parsed.error) }, 400);
      await setDigestSettings(await ctx.tenantFiles.open(identity.user.tenantId), parsed.data);
      await audit(ctx.control, { ...by(c, identity), action: 'alerts.digest.set' });
      return page(c, identity, { done: 'Weekly digest saved.' });
    })
    .post('/settings/alerts/digest/send', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const result = await ctx.digests.sendNow(identity.user.tenantId);
      if (!result.sent) return page(c, identity, { error: { message: `The digest was not sent: ${result.error}` } });
      return page(c, identity, { done: "Last week's digest was sent." });
    })
    .post('/settings/alerts/smtp/test', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const result = await testEmail(identity, undefined);
      if (!result.sent)
        return page(c, identity, { error: { message: `The test email was not sent: ${result.error}` } });
      return page(c, identity, { done: `A test email went to ${identity.user.email}.` });
    })
    .post('/settings/alerts/webhook-secret', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const secret = await rotate(identity);
      await audit(ctx.control, { ...by(c, identity), action: 'alerts.webhook_secret.rotated' });
      return page(c, identity, {
        done: 'New webhook signing secret: give it to your receivers now; it is not shown again.',
        secret,
      });
    })
    .post('/settings/alerts/enable', async (c) => {
      const identity = await admin(c);
      if (identity instanceof Response) return identity;
      const target = String((await c.req.parseBody()).target ?? '');
      if (!(await ctx.delivery.enable(identity.user.tenantId, target))) {
        return page(c, identity, { error: { message: 'There is no such disabled target.', field: 'target' } }, 404);
      }
      await audit(ctx.control, { ...by(c, identity), action: 'alerts.target.enabled', target });
      return page(c, identity, { done: 'Target enabled again.' });
    });
}
