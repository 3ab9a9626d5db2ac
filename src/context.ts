// The one app context, built at start and passed down: configuration, the control
// database, the tenants' files, authentication and the clock.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { openDatabase, type Database } from './storage/duckdb.js';
import { acquireLock, controlPath, ensureDataDir, journalPath } from './storage/datadir.js';
import { loadMigrations, migrate } from './storage/migrate.js';
import { TenantUnavailableError } from './storage/errors.js';
import { createTenantFiles, type TenantFiles } from './storage/tenant-files.js';
import { createMemoryBudget, foldRowsFor, rollupChunkFor, type MemoryBudget } from './storage/memory.js';
import { createLucia, type Auth } from './auth/lucia.js';
import { createLoginThrottle, type LoginThrottle } from './auth/throttle.js';
import { createIngestor, type Ingestor } from './ingest/ingest.js';
import { DEFAULT_WRITER } from './ingest/writer.js';
import { createRateLimiter, type RateLimiter } from './ingest/rate-limit.js';
import { createKeyCache, type KeyCache } from './auth/api-keys.js';
import { createAggregator, type Aggregator } from './aggregate/worker.js';
import { sessionSteps } from './sessions/worker-steps.js';
import { createLiveHub, type LiveHub } from './dashboards/live.js';
import { createArchiveImports, uploadsDir, type ArchiveImports } from './import/archive-run.js';
import { createExportPool, exportsDir, type ExportPool } from './query/export-slices.js';
import { failInterruptedRuns } from './import/runs.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { createAlerts, type Alerts } from './alerts/engine.js';
import { createDelivery, type Delivery } from './alerts/deliver.js';
import { createDigests, type Digests } from './alerts/digest.js';
import type { TargetPolicy } from './alerts/targets.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { totalLag } from './aggregate/worker.js';
import { createBackups, type Backups } from './backup/schedule.js';

export type AppContext = {
  config: Config;
  log: Logger;
  control: Database;
  tenantFiles: TenantFiles;
  /** The process's memory budget (--memory-limit), shared by the control database and every open tenant file. */
  memory: MemoryBudget;
  auth: Auth;
  throttle: LoginThrottle;
  /** API keys as the request path resolves them (cached; every change to a key or its owner clears it). */
  keys: KeyCache;
  /** The one ingest function every entry point calls. */
  ingest: Ingestor;
  /** Keeps every tenant's rollups current (started by the server, not by the CLI). */
  aggregator: Aggregator;
  /** Evaluates every tenant's alert rules after commits and on a timer (started by the server). */
  alerts: Alerts;
  /** The weekly digests (src/alerts/digest.ts). */
  digests: Digests;
  /** Fans each tenant's commits out to its open dashboards. */
  live: LiveHub;
  /** Archives uploaded on the Import page, read in the background. */
  archives: ArchiveImports;
  /** Connections for raw and personal exports: at most MAX_EXPORTS at once per tenant, both kinds together. */
  exports: ExportPool;
  /** Per-tenant request budget for the ingest endpoints. */
  ingestLimiter: RateLimiter;
  /** Signs CSRF tokens; generated once per data directory. */
  secret: Buffer;
  /** The URL people and agents reach this appliance at. */
  publicUrl: URL;
  /** Sends invitations and reset links; null when no SMTP server is configured. */
  mailer: Mailer | null;
  /** Delivers alert notifications (started by the server, not by the CLI). */
  delivery: Delivery;
  /** The Prometheus metrics served at /metrics. */
  metrics: Metrics;
  /** Where alert deliveries may go (the SSRF guard's policy); the port is known once listening. */
  alertTargets: () => TargetPolicy;
  /** Backups on demand and, with --backup-dir, on a schedule (started by the server). */
  backups: Backups;
  /** The port the server listens on, once it does. */
  listenPort: number | null;
  now: () => Date;
  close(): Promise<void>;
};

/**
 * Takes the data directory's lock, then opens and migrates the control database and
 * every tenant's file. A failure of the lock or the control database releases what was
 * taken and stops the start; a tenant's file that fails leaves that tenant unavailable.
 */
export async function openAppContext(
  config: Config,
  log: Logger,
  options: {
    adminSocket: string | null;
    publicUrl?: URL;
    /**
     * Runs once the lock is ours, before anything else (the server listens on its admin socket
     * then); what it returns undoes that, on a failed start, before the lock goes: a contender
     * that took the lock meanwhile would have its own socket removed.
     */
    locked?: () => Promise<(() => Promise<void>) | undefined>;
  },
): Promise<AppContext> {
  const access = ensureDataDir(config.dataDir);
  if (access && 'narrowed' in access)
    log.warn('data directory was open to other users: now 0700', { path: config.dataDir, was: access.narrowed });
  else if (access)
    log.warn('data directory is open to other users and could not be narrowed', {
      path: config.dataDir,
      mode: access.open,
      error: access.why,
    });
  const releaseLock = await acquireLock(config.dataDir, options.adminSocket, log);
  let control: Database | null = null;
  let tenantFiles: TenantFiles | null = null;
  let memory: MemoryBudget | null = null;
  let unlocked: (() => Promise<void>) | undefined;
  try {
    unlocked = await options.locked?.();
    // The app's clock once the context exists (a test moves it): the wait before a file that made DuckDB fail is attached again.
    let clock = () => Date.now();
    const budget = (memory = await createMemoryBudget({
      totalMb: config.memoryLimitMb,
      dataDir: config.dataDir,
      log,
      now: () => clock(),
    }));
    control = await openDatabase(controlPath(config.dataDir), { budget });
    const applied = await migrate(control, loadMigrations('control'));
    if (applied.length) log.info('migrated control database', { versions: applied });

    // The backoff of an unavailable tenant's file follows the app's clock (a test moves it).
    // A file opened replays its ingest journal first; a read waits for what ingest acknowledged.
    // An archive import left running by an earlier process is failed the first time its
    // tenant's file opens in this one (at start, or once a file unavailable then is back): no
    // run of this process can have begun before that.
    const swept = new Set<string>();
    tenantFiles = createTenantFiles(config.dataDir, {
      log,
      now: () => ctx.now().getTime(),
      budget,
      afterOpen: async (tenantId, db) => {
        await ingest.recover(tenantId, db);
        if (swept.has(tenantId)) return;
        await failInterruptedRuns(db, ctx.now());
        swept.add(tenantId);
      },
      beforeRead: (tenantId) => ingest.settled(tenantId),
    });
    const publicUrl = options.publicUrl ?? config.publicUrl;
    const metrics = createMetrics({
      sseClients: () => ctx.live.clients(),
      openTenantFiles: () => tenantFiles!.openCount(),
      aggregationLag: async () => totalLag(await ctx.aggregator.lag()),
      backups: () => ctx.backups.state(),
    });
    const ingest = createIngestor(
      tenantFiles,
      { ...DEFAULT_WRITER, journalDir: (tenantId) => journalPath(config.dataDir, tenantId), log },
      metrics,
    );
    const secret = await serverSecret(control);
    const ctx: AppContext = {
      config,
      log,
      control,
      tenantFiles,
      memory: budget,
      auth: createLucia(control, publicUrl.protocol === 'https:'),
      throttle: createLoginThrottle(),
      keys: createKeyCache(control, { now: () => ctx.now().getTime() }),
      ingest,
      live: createLiveHub(ingest),
      aggregator: createAggregator({
        tenantFiles,
        sessions: sessionSteps,
        chunk: rollupChunkFor(budget.duckdbMb),
        foldRows: foldRowsFor(budget.duckdbMb),
        ingestIdle: (tenantId) => ingest.idle(tenantId),
        tenants: async () =>
          (await control!.all<{ id: string }>('SELECT id FROM tenants ORDER BY id')).map((t) => t.id),
        log,
        now: () => ctx.now().getTime(),
      }),
      alerts: createAlerts({
        tenantFiles,
        tenants: async () =>
          (await control!.all<{ id: string }>('SELECT id FROM tenants ORDER BY id')).map((t) => t.id),
        onCommit: (listener) => ingest.onCommit((tenantId) => listener(tenantId)),
        log,
        now: () => ctx.now().getTime(),
        publicUrl: () => ctx.publicUrl,
      }),
      archives: createArchiveImports({ tenantFiles, ingest, log, dataDir: config.dataDir, now: () => ctx.now() }),
      exports: createExportPool(tenantFiles, exportsDir(config.dataDir)),
      ingestLimiter: createRateLimiter(),
      secret,
      publicUrl,
      mailer: createMailer(config.smtp),
      delivery: createDelivery({
        tenantFiles,
        tenants: async () =>
          (await control!.all<{ id: string }>('SELECT id FROM tenants ORDER BY id')).map((t) => t.id),
        control,
        secret,
        smtp: config.smtp,
        policy: () => ctx.alertTargets(),
        now: () => ctx.now(),
        log,
        metrics,
      }),
      metrics,
      digests: createDigests({
        tenantFiles,
        control,
        tenants: () => control!.all<{ id: string; name: string }>('SELECT id, name FROM tenants ORDER BY id'),
        secret,
        smtp: config.smtp,
        policy: () => ctx.alertTargets(),
        now: () => ctx.now().getTime(),
        log,
      }),
      backups: createBackups(
        {
          control,
          tenantFiles,
          now: () => ctx.now(),
          log,
        },
        config.backup,
      ),
      alertTargets: () => ({
        allowPrivate: config.alertAllowPrivate,
        self: ctx.publicUrl,
        selfPort: ctx.listenPort ?? config.port,
      }),
      listenPort: null,
      now: () => new Date(),
      async close() {
        await ctx.backups.stop();
        await ctx.alerts.stop();
        await ctx.digests.stop();
        await ctx.delivery.stop();
        ctx.mailer?.close();
        ctx.live.close();
        await ctx.archives.stop();
        await ctx.aggregator.stop();
        await ctx.ingest
          .close()
          .catch((err: unknown) => log.error('could not flush events at shutdown', { error: String(err) }));
        await tenantFiles!.closeAll();
        await control!.close();
        budget.close();
        releaseLock();
      },
    };
    clock = () => ctx.now().getTime();
    // A tenant whose file cannot be opened is unavailable alone (logged, named on /readyz);
    // the others are served.
    // The rules' notifications go out through the delivery's outbox.
    ctx.alerts.delivery = ctx.delivery;
    // Open pages' bells follow the alerts' states.
    ctx.alerts.onChange((tenantId) => ctx.live.alertsChanged(tenantId));
    const tenants = await control.all<{ id: string }>('SELECT id FROM tenants ORDER BY id');
    // What an earlier process was unpacking, reading or exporting is gone with it.
    await rm(uploadsDir(config.dataDir), { recursive: true, force: true });
    await rm(exportsDir(config.dataDir), { recursive: true, force: true });
    for (const { id } of tenants)
      await tenantFiles.open(id).catch((err: unknown) => {
        if (!(err instanceof TenantUnavailableError)) throw err;
      });
    return ctx;
  } catch (err) {
    await tenantFiles?.closeAll().catch(() => undefined);
    await control?.close().catch(() => undefined);
    memory?.close();
    await unlocked?.().catch(() => undefined);
    releaseLock();
    throw err;
  }
}

async function serverSecret(control: Database): Promise<Buffer> {
  const row = await control.get<{ value: string }>(`SELECT value FROM settings WHERE key = 'server_secret'`);
  if (row) return Buffer.from(row.value, 'base64');
  const secret = randomBytes(32);
  await control.run(`INSERT INTO settings VALUES ('server_secret', $value)`, { value: secret.toString('base64') });
  return secret;
}
