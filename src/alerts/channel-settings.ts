// A tenant's delivery settings, in its own file: the webhook signing secret (generated, shown
// once, rotatable) and its SMTP server (the password sealed under a key derived from the
// server's secret, bound to the tenant). Without SMTP settings, email goes through --smtp-url.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { createTransport } from 'nodemailer';
import { z } from 'zod';
import type { Config } from '../config.js';
import { openSecret, sealSecret } from '../auth/secret-box.js';

const PURPOSE = 'agentmeter alert channel secret';
import type { Queryable } from '../storage/duckdb.js';
import type { Delivery } from './deliver.js';
import { checkedAddress, type TargetPolicy } from './targets.js';

export const SMTP_SECURITY = ['tls', 'starttls', 'none'] as const;

export const smtpInputSchema = z.object({
  host: z
    .string()
    .trim()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9.:-]+$/, 'a host name or address'),
  port: z.coerce.number().int().min(1).max(65535),
  security: z.enum(SMTP_SECURITY),
  user: z
    .string()
    .trim()
    .max(254)
    .optional()
    .transform((v) => v || null),
  /** Empty or absent: the stored password is kept. */
  password: z
    .string()
    .max(1024)
    .optional()
    .transform((v) => v || null),
  from: z
    .string()
    .trim()
    .max(254)
    .regex(
      /^[^@\s<>]+@[^@\s<>]+$|<[^@\s<>]+@[^@\s<>]+>$/,
      'an address to send from (alerts@example.com or Name <alerts@example.com>)',
    ),
});
export type SmtpInput = z.infer<typeof smtpInputSchema>;

type StoredSmtp = Omit<SmtpInput, 'password'> & { password: string | null /* sealed */ };
/** What the settings page and the API show: never the password. */
export type SmtpView = Omit<SmtpInput, 'password'> & { password_set: boolean };
/** What nodemailer is given: the tenant's server, or the appliance's --smtp-url. */
export type SmtpTransport = { options: Record<string, unknown>; from: string; source: 'tenant' | 'appliance' };

const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 };

async function read(db: Queryable, key: string): Promise<string | null> {
  return (await db.get<{ value: string }>('SELECT value FROM alert_settings WHERE key = $key', { key }))?.value ?? null;
}

async function write(db: Queryable, key: string, value: string, now: Date): Promise<void> {
  await db.run(
    `INSERT INTO alert_settings (key, value, updated_at) VALUES ($key, $value, $now)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    { key, value, now },
  );
}

const binding = (tenantId: string, key: string) => `alerts ${tenantId} ${key}`;

/** The tenant's webhook signing secret, created (unseen until rotated) if there is none yet. */
export async function webhookSecret(db: Queryable, serverSecret: Buffer, tenantId: string, now: Date): Promise<string> {
  const stored = await read(db, 'webhook_secret');
  if (stored) return openSecret(serverSecret, PURPOSE, binding(tenantId, 'webhook_secret'), stored);
  return rotateWebhookSecret(db, serverSecret, tenantId, now);
}

/** A new signing secret, returned this once; receivers must be given it. */
export async function rotateWebhookSecret(
  db: Queryable,
  serverSecret: Buffer,
  tenantId: string,
  now: Date,
): Promise<string> {
  const secret = `whsec_${randomBytes(24).toString('base64url')}`;
  await write(
    db,
    'webhook_secret',
    sealSecret(serverSecret, PURPOSE, binding(tenantId, 'webhook_secret'), secret),
    now,
  );
  return secret;
}

export async function webhookSecretSince(db: Queryable): Promise<Date | null> {
  return (
    (await db.get<{ updated_at: Date }>(`SELECT updated_at FROM alert_settings WHERE key = 'webhook_secret'`))
      ?.updated_at ?? null
  );
}

export async function smtpSettings(db: Queryable): Promise<SmtpView | null> {
  const stored = await read(db, 'smtp');
  if (!stored) return null;
  const { password, ...rest } = JSON.parse(stored) as StoredSmtp;
  return { ...rest, password_set: password !== null };
}

/** Stores the tenant's SMTP server; a host the target policy forbids is refused (message for the `host` field). */
export async function setSmtpSettings(
  db: Queryable,
  serverSecret: Buffer,
  tenantId: string,
  input: SmtpInput,
  policy: TargetPolicy,
  now: Date,
): Promise<string | null> {
  // Checked again at each send, on the address the name then resolves to (smtpTransport).
  const checked = await checkedAddress(input.host, input.port, policy).catch(() => null); // unresolved: sent later
  if (checked && 'refused' in checked) return checked.refused;
  const before = await read(db, 'smtp');
  const password = input.password
    ? sealSecret(serverSecret, PURPOSE, binding(tenantId, 'smtp'), input.password)
    : before
      ? (JSON.parse(before) as StoredSmtp).password
      : null;
  const stored: StoredSmtp = { ...input, password };
  await write(db, 'smtp', JSON.stringify(stored), now);
  return null;
}

/**
 * How email goes out for this tenant; null when neither the tenant nor the appliance has a
 * server. The tenant's server is connected to at the address checked against `policy` (an
 * error says why not); TLS still verifies the name it was given.
 */
export async function smtpTransport(
  db: Queryable,
  serverSecret: Buffer,
  tenantId: string,
  fallback: Config['smtp'],
  policy: TargetPolicy,
): Promise<SmtpTransport | null> {
  const stored = await read(db, 'smtp');
  if (!stored)
    return fallback ? { options: { url: fallback.url, ...TIMEOUTS }, from: fallback.from, source: 'appliance' } : null;
  const s = JSON.parse(stored) as StoredSmtp;
  const checked = await checkedAddress(s.host, s.port, policy);
  if ('refused' in checked) throw new Error(`the SMTP host is refused: ${checked.refused}`);
  const pass = s.password ? openSecret(serverSecret, PURPOSE, binding(tenantId, 'smtp'), s.password) : undefined;
  const options = {
    host: checked.address,
    port: s.port,
    ...(isIP(checked.name) ? {} : { tls: { servername: checked.name } }),
    secure: s.security === 'tls',
    requireTLS: s.security === 'starttls',
    ignoreTLS: s.security === 'none',
    auth: s.user ? { user: s.user, pass } : undefined,
    ...TIMEOUTS,
  };
  return { options, from: s.from, source: 'tenant' };
}

/** What the channels page and `GET /api/v1/alerts/channels` show. */
export async function channelsView(
  db: Queryable,
  delivery: Pick<Delivery, 'status'>,
  tenantId: string,
  fallback: Config['smtp'],
) {
  const [targets, smtp, secretSince] = await Promise.all([
    delivery.status(tenantId),
    smtpSettings(db),
    webhookSecretSince(db),
  ]);
  return {
    targets,
    webhook_secret: { set: secretSince !== null, since: secretSince },
    smtp,
    /** Which server email goes through: the tenant's own, the appliance's --smtp-url, or none. */
    smtp_source: smtp ? 'tenant' : fallback ? 'appliance' : 'none',
  };
}

/** Sends a test email through the tenant's server (or --smtp-url); the server's refusal is the answer's error. */
export async function sendTestEmail(
  db: Queryable,
  serverSecret: Buffer,
  tenantId: string,
  fallback: Config['smtp'],
  policy: TargetPolicy,
  to: string,
): Promise<{ sent: true } | { sent: false; error: string }> {
  const transport = await smtpTransport(db, serverSecret, tenantId, fallback, policy).catch((err: Error) => err);
  if (transport instanceof Error) return { sent: false, error: transport.message };
  if (!transport)
    return { sent: false, error: 'no SMTP server: save one first, or start the appliance with --smtp-url' };
  const mailer = createTransport(transport.options);
  try {
    await mailer.sendMail({
      from: transport.from,
      to,
      subject: '[agentmeter] Test email',
      text: 'Alert emails from agentmeter will arrive like this one.',
    });
    return { sent: true };
  } catch (err) {
    return { sent: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    mailer.close();
  }
}
