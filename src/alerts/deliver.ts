// Delivery of alert notifications: `deliver` writes one outbox row per (notification,
// channel) into the tenant's file and returns; a background loop sends what is due, each
// target at most one at a time with a deadline, retries with backoff, and disables a target
// that keeps failing. A restart sends what was not sent, never what was.
import { audit } from '../audit/audit.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Database, Queryable } from '../storage/duckdb.js';
import { StorageUnavailableError } from '../storage/errors.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { smtpTransport, webhookSecret } from './channel-settings.js';
import type { Channel, Notification } from './notification.js';
import {
  postJson,
  sendEmail,
  signature,
  SIGNATURE_HEADER,
  slackBody,
  TIMESTAMP_HEADER,
  webhookBody,
} from './senders.js';
import type { TargetPolicy } from './targets.js';
import type { DeliveryChannel, Metrics } from '../metrics/metrics.js';

export type DeliveryDeps = {
  tenantFiles: TenantFiles;
  /** Every tenant: at start, their outboxes may hold what an earlier process did not send. */
  tenants: () => Promise<string[]>;
  /** Where a disabled target is recorded for admins (the audit log); absent in some tests. */
  control?: Queryable;
  /** The server's secret: seals the tenants' webhook secrets and SMTP passwords. */
  secret: Buffer;
  /** The appliance's --smtp-url, for tenants without SMTP settings of their own. */
  smtp: Config['smtp'];
  /** The SSRF guard's policy (the appliance's own URL and port, --alert-allow-private). */
  policy: () => TargetPolicy;
  now: () => Date;
  log: Logger;
  /** Counts each attempt by channel type and outcome. */
  metrics?: Pick<Metrics, 'delivered'>;
  timeoutMs?: number;
  /** The first retry's wait; each next one is four times longer (30 s, 2 min, 8 min, 32 min). */
  retryMs?: number;
  maxAttempts?: number;
  /** Failed attempts in a row after which a target is disabled until re-enabled. */
  disableAfter?: number;
  pollMs?: number;
  perTenant?: number;
  total?: number;
};

export type TargetStatus = {
  target: string;
  type: 'webhook' | 'slack' | 'email';
  url: string | null;
  last_success_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
  failures_in_row: number;
  disabled_at: Date | null;
  pending: number;
};

export type Delivery = {
  /** Durable once it resolves: the outbox holds a row per channel (a repeated id adds nothing). */
  deliver(n: Notification): Promise<void>;
  start(): void;
  /** One pass now, then waits for every send in flight (tests; shutdown). */
  flush(): Promise<void>;
  /** Stops sending; what is in flight is abandoned and stays unsent for the next start. */
  stop(): Promise<void>;
  status(tenantId: string): Promise<TargetStatus[]>;
  /** Re-enables a disabled target; false when there is no such disabled target. */
  enable(tenantId: string, target: string): Promise<boolean>;
};

type Row = { notification_id: string; channel: string; target: string; notification: string; attempts: number };

/** The outbox's channel key and the target that fails for it (email: the tenant's SMTP server). */
export function channelKey(channel: Exclude<Channel, { type: 'dashboard' }>): { channel: string; target: string } {
  if (channel.type === 'email') return { channel: `email ${[...channel.to].sort().join(',')}`, target: 'email' };
  return { channel: `${channel.type} ${channel.url}`, target: `${channel.type} ${channel.url}` };
}

export function createDelivery(deps: DeliveryDeps): Delivery {
  const timeoutMs = deps.timeoutMs ?? 5_000;
  const retryMs = deps.retryMs ?? 30_000;
  const maxAttempts = deps.maxAttempts ?? 5;
  const disableAfter = deps.disableAfter ?? 5;
  const pollMs = deps.pollMs ?? 1_000;
  const perTenant = deps.perTenant ?? 8;
  const total = deps.total ?? 32;

  /** Tenants whose outbox may hold pending rows; all of them until the first pass looked. */
  const active = new Set<string>();
  let loaded: Promise<void> | null = null;
  const busy = new Set<string>(); // `${tenant} ${target}`: one send per target at a time
  const perTenantBusy = new Map<string, number>();
  const sends = new Set<Promise<void>>();
  let abort = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = true;

  const load = () =>
    (loaded ??= deps.tenants().then((ids) => {
      for (const id of ids) active.add(id);
    }));

  const recordSuccess = (db: Database, row: Row) =>
    db.transaction(async (tx) => {
      const now = deps.now();
      await tx.run(
        `UPDATE alert_outbox SET status = 'sent', sent_at = $now, attempts = attempts + 1, last_error = NULL WHERE notification_id = $id AND channel = $channel`,
        { now, id: row.notification_id, channel: row.channel },
      );
      await tx.run(
        `INSERT INTO alert_targets (target, last_success_at, failures_in_row) VALUES ($target, $now, 0)
         ON CONFLICT (target) DO UPDATE SET last_success_at = excluded.last_success_at, failures_in_row = 0`,
        { target: row.target, now },
      );
    });

  const recordFailure = async (db: Database, tenantId: string, row: Row, error: string) => {
    const now = deps.now();
    const attempts = row.attempts + 1;
    const giveUp = attempts >= maxAttempts;
    const disabled = await db.transaction(async (tx) => {
      await tx.run(
        `UPDATE alert_outbox SET attempts = $attempts, last_error = $error, status = $status, next_at = $next WHERE notification_id = $id AND channel = $channel`,
        {
          attempts,
          error,
          status: giveUp ? 'failed' : 'pending',
          next: new Date(now.getTime() + retryMs * 4 ** (attempts - 1)),
          id: row.notification_id,
          channel: row.channel,
        },
      );
      await tx.run(
        `INSERT INTO alert_targets (target, last_error, last_error_at, failures_in_row) VALUES ($target, $error, $now, 1)
         ON CONFLICT (target) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at, failures_in_row = alert_targets.failures_in_row + 1`,
        { target: row.target, error, now },
      );
      const t = await tx.get<{ failures_in_row: number; disabled_at: Date | null }>(
        'SELECT failures_in_row, disabled_at FROM alert_targets WHERE target = $target',
        { target: row.target },
      );
      if (!t || t.disabled_at || t.failures_in_row < disableAfter) return false;
      await tx.run('UPDATE alert_targets SET disabled_at = $now WHERE target = $target', { now, target: row.target });
      await tx.run(
        `UPDATE alert_outbox SET status = 'failed', last_error = 'target disabled' WHERE status = 'pending' AND target = $target`,
        { target: row.target },
      );
      return true;
    });
    deps.log.warn('alert delivery failed', { tenant_id: tenantId, target: row.target, attempt: attempts, error });
    if (!disabled) return;
    // The notice: the channel status shows it disabled (and why); the audit log says when.
    deps.log.warn('alert target disabled', { tenant_id: tenantId, target: row.target, failures: disableAfter });
    const rule = (JSON.parse(row.notification) as Notification).ruleId;
    if (deps.control)
      await audit(deps.control, {
        actor: 'system',
        tenantId,
        action: 'alerts.target.disabled',
        target: row.target,
        detail: { failures_in_row: disableAfter, last_error: error, rule },
      });
  };

  const send = async (db: Database, tenantId: string, row: Row): Promise<void> => {
    const n = JSON.parse(row.notification) as Notification;
    const [type, ...rest] = row.channel.split(' ');
    const target = rest.join(' ');
    const http = { policy: deps.policy(), timeoutMs, signal: abort.signal };
    if (type === 'webhook') {
      const body = JSON.stringify(webhookBody(n));
      const timestamp = Math.floor(deps.now().getTime() / 1000);
      const secret = await webhookSecret(db, deps.secret, tenantId, deps.now());
      const headers = {
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: signature(secret, timestamp, body),
        'x-agentmeter-notification': n.id,
      };
      return postJson({ ...http, url: target, body, headers });
    }
    if (type === 'slack') return postJson({ ...http, url: target, body: JSON.stringify(slackBody(n)), headers: {} });
    const transport = await smtpTransport(db, deps.secret, tenantId, deps.smtp, deps.policy());
    if (!transport)
      throw new Error('no SMTP server: set one on Settings → Alerts, or start the appliance with --smtp-url');
    return sendEmail(transport, target.split(','), n);
  };

  const launch = (db: Database, tenantId: string, row: Row) => {
    const key = `${tenantId} ${row.target}`;
    busy.add(key);
    perTenantBusy.set(tenantId, (perTenantBusy.get(tenantId) ?? 0) + 1);
    const signal = abort.signal;
    const channel = row.channel.split(' ')[0] as DeliveryChannel;
    const job = send(db, tenantId, row)
      .then(
        () => {
          deps.metrics?.delivered(channel, 'sent');
          return recordSuccess(db, row);
        },
        (err: unknown) => {
          if (signal.aborted) return; // stopped: neither sent nor failed, tried again at the next start
          deps.metrics?.delivered(channel, 'failed');
          return recordFailure(db, tenantId, row, err instanceof Error ? err.message : String(err));
        },
      )
      .catch((err: unknown) =>
        deps.log.error('could not record an alert delivery', {
          tenant_id: tenantId,
          target: row.target,
          error: String(err),
        }),
      )
      .finally(() => {
        busy.delete(key);
        perTenantBusy.set(tenantId, perTenantBusy.get(tenantId)! - 1);
        sends.delete(job);
        if (!stopped) wake();
      });
    sends.add(job);
  };

  const passTenant = async (tenantId: string) => {
    let db;
    try {
      db = await deps.tenantFiles.open(tenantId);
    } catch (err) {
      if (err instanceof StorageUnavailableError) return; // tried again on a later pass
      throw err;
    }
    await db.run(
      `UPDATE alert_outbox SET status = 'failed', last_error = 'target disabled'
       WHERE status = 'pending' AND target IN (SELECT target FROM alert_targets WHERE disabled_at IS NOT NULL)`,
    );
    // The oldest due row of each target (one is sent at a time to each): a target with a long
    // queue behind a request it holds does not fill the list and hold up the others.
    const due = await db.all<Row>(
      `SELECT notification_id, channel, target, notification, attempts FROM alert_outbox
       WHERE status = 'pending' AND next_at <= $now
       QUALIFY row_number() OVER (PARTITION BY target ORDER BY next_at, created_at) = 1
       ORDER BY next_at, created_at LIMIT 200`,
      { now: deps.now() },
    );
    for (const row of due) {
      if (sends.size >= total || (perTenantBusy.get(tenantId) ?? 0) >= perTenant) break;
      if (!busy.has(`${tenantId} ${row.target}`)) launch(db, tenantId, row);
    }
    const left = await db.get<{ n: number }>(
      `SELECT count(*)::INTEGER AS n FROM alert_outbox WHERE status = 'pending'`,
    );
    if (!left?.n) active.delete(tenantId);
  };

  const pass = async () => {
    await load();
    for (const tenantId of [...active]) {
      if (sends.size >= total) break;
      await deps.tenantFiles
        .visit(tenantId, () => passTenant(tenantId))
        .catch((err: unknown) =>
          deps.log.error('alert delivery pass failed', { tenant_id: tenantId, error: String(err) }),
        );
    }
  };

  /** Runs a pass now, or right after the one running. */
  const wake = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = pass().finally(() => {
      running = null;
      if (again) {
        again = false;
        void wake();
      }
    });
    return running;
  };

  const schedule = () => {
    timer = setTimeout(() => {
      void wake().finally(() => {
        if (!stopped) schedule();
      });
    }, pollMs);
    timer.unref();
  };

  return {
    async deliver(n) {
      const keys = n.channels.flatMap((c) => (c.type === 'dashboard' ? [] : [channelKey(c)]));
      if (!keys.length) return;
      const db = await deps.tenantFiles.open(n.tenantId);
      const now = deps.now();
      await db.transaction(async (tx) => {
        for (const k of keys) {
          await tx.run(
            `INSERT INTO alert_outbox (notification_id, channel, target, notification, status, next_at, created_at)
             VALUES ($id, $channel, $target, $notification, 'pending', $now, $now) ON CONFLICT DO NOTHING`,
            { id: n.id, ...k, notification: JSON.stringify(n), now },
          );
        }
      });
      active.add(n.tenantId);
      if (!stopped) void wake();
    },
    start() {
      if (!stopped) return;
      stopped = false;
      abort = new AbortController();
      void wake();
      schedule();
    },
    async flush() {
      await wake();
      while (sends.size) await Promise.all([...sends]);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      abort.abort();
      await running;
      await Promise.all([...sends]);
    },
    async status(tenantId) {
      const db = await deps.tenantFiles.open(tenantId);
      const rows = await db.all<Omit<TargetStatus, 'type' | 'url'>>(
        `WITH pending AS (SELECT target, count(*)::INTEGER AS pending FROM alert_outbox WHERE status = 'pending' GROUP BY target)
         SELECT coalesce(t.target, p.target) AS target, t.last_success_at, t.last_error, t.last_error_at,
                coalesce(t.failures_in_row, 0) AS failures_in_row, t.disabled_at, coalesce(p.pending, 0) AS pending
         FROM alert_targets t FULL JOIN pending p ON p.target = t.target ORDER BY 1`,
      );
      return rows.map((r) => {
        const [type, ...url] = r.target.split(' ');
        return { ...r, type: type as TargetStatus['type'], url: url.length ? url.join(' ') : null };
      });
    },
    async enable(tenantId, target) {
      const db = await deps.tenantFiles.open(tenantId);
      return db.transaction(async (tx) => {
        const row = await tx.get('SELECT 1 FROM alert_targets WHERE target = $target AND disabled_at IS NOT NULL', {
          target,
        });
        if (!row) return false;
        await tx.run('UPDATE alert_targets SET disabled_at = NULL, failures_in_row = 0 WHERE target = $target', {
          target,
        });
        return true;
      });
    },
  };
}
