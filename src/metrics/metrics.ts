// The appliance's own Prometheus metrics (prom-client), one registry per app context so
// servers started side by side (tests) never share a figure. Counters and histograms are
// recorded where things happen (ingest, commits, requests, alert deliveries); gauges of
// state (clients, open files, the rollups' lag) are read when scraped. No label ever
// holds a tenant, a person, a key or a raw path: every label value comes from a fixed set.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { INGEST_OUTCOMES, type IngestCounters } from '../ingest/ingest.js';
import { SOURCES } from '../ingest/schema.js';

export const DELIVERY_CHANNELS = ['webhook', 'slack', 'email'] as const;
export type DeliveryChannel = (typeof DELIVERY_CHANNELS)[number];
export const DELIVERY_OUTCOMES = ['sent', 'failed'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** The state the scrape reads; each is asked once per scrape. */
export type MetricSources = {
  sseClients: () => number;
  openTenantFiles: () => number;
  /** Events committed but not rolled up yet, summed over tenants, and the oldest one's age. */
  aggregationLag: () => Promise<{ events: number; seconds: number }>;
  /** The newest backups recorded (ms; null: none), tenants the newest left out, and backups failed since start. */
  backups: () => Promise<{
    lastAt: number | null;
    lastNotCopied: number | null;
    lastCompleteAt: number | null;
    failures: number;
  }>;
};

/** Besides ingest's counters (`n` events of a source ended as an outcome; one group commit's time): */
export type Metrics = IngestCounters & {
  /** One HTTP request, by its route pattern (never its path). */
  request(method: string, route: string, status: number, seconds: number): void;
  /** One attempt to deliver an alert notification. */
  delivered(channel: DeliveryChannel, outcome: DeliveryOutcome): void;
  /** WebSocket ingest streams open now (the gateway counts them up and down). */
  websocketClients: { inc(): void; dec(): void };
  /** The text exposition format, with the gauges of state read now. */
  scrape(): Promise<string>;
  contentType: string;
};

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const ingestEvents = new Counter({
    name: 'agentmeter_ingest_events_total',
    help: 'Events offered to ingest, by entry point and outcome.',
    labelNames: ['source', 'outcome'],
    registers,
  });
  // Every series exists from the start, so a rate over the first events is right.
  for (const source of SOURCES) for (const outcome of INGEST_OUTCOMES) ingestEvents.inc({ source, outcome }, 0);
  const commitSeconds = new Histogram({
    name: 'agentmeter_commit_seconds',
    help: 'Duration of one group commit that acknowledged events: a sync of the ingest journal, or a DuckDB commit a caller waited for.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const applyLag = new Histogram({
    name: 'agentmeter_ingest_apply_lag_seconds',
    help: 'Time from acknowledging a journaled ingest request to its events being stored in DuckDB (visible to dashboards and SSE).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 5],
    registers,
  });
  // Peaks since the previous scrape: what a scrape every few seconds would miss between two samples.
  let peakJournalBytes = 0;
  let peakLag = 0;
  const journalPeak = new Gauge({
    name: 'agentmeter_ingest_journal_peak_bytes',
    help: 'The most ingest journal bytes one tenant held unapplied since the previous scrape (ingest is refused at 32 MiB).',
    registers,
  });
  const lagPeak = new Gauge({
    name: 'agentmeter_ingest_apply_lag_peak_seconds',
    help: 'The longest time from acknowledgement to storage of a journaled request since the previous scrape.',
    registers,
  });
  const lagEvents = new Gauge({
    name: 'agentmeter_aggregation_lag_events',
    help: 'Events committed but not yet rolled up, over every tenant.',
    registers,
  });
  const lagSeconds = new Gauge({
    name: 'agentmeter_aggregation_lag_seconds',
    help: 'Age of the oldest event not yet rolled up, over every tenant.',
    registers,
  });
  const requests = new Counter({
    name: 'agentmeter_http_requests_total',
    help: 'HTTP requests, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  const requestSeconds = new Histogram({
    name: 'agentmeter_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (until the response starts), by method and route pattern.',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const sseClients = new Gauge({
    name: 'agentmeter_sse_clients',
    help: 'Open live dashboard streams (Server-Sent Events).',
    registers,
  });
  const websocketClients = new Gauge({
    name: 'agentmeter_websocket_clients',
    help: 'Open WebSocket ingest streams.',
    registers,
  });
  const openFiles = new Gauge({
    name: 'agentmeter_tenant_files_open',
    help: 'Tenant DuckDB files open now.',
    registers,
  });
  const deliveries = new Counter({
    name: 'agentmeter_alert_deliveries_total',
    help: 'Attempts to deliver alert notifications, by channel type and outcome.',
    labelNames: ['channel', 'outcome'],
    registers,
  });
  for (const channel of DELIVERY_CHANNELS)
    for (const outcome of DELIVERY_OUTCOMES) deliveries.inc({ channel, outcome }, 0);
  // Backups: alert on `time() - agentmeter_backup_last_complete_timestamp_seconds`; 0 until one
  // is recorded (never: infinitely old), and a restart keeps the record (README, *Backups*).
  const backupLast = new Gauge({
    name: 'agentmeter_backup_last_timestamp_seconds',
    help: 'When the newest backup was taken (complete or not); 0: none recorded.',
    registers,
  });
  const backupComplete = new Gauge({
    name: 'agentmeter_backup_last_complete_timestamp_seconds',
    help: 'When the newest backup holding every tenant was taken; 0: none recorded.',
    registers,
  });
  const backupNotCopied = new Gauge({
    name: 'agentmeter_backup_last_tenants_not_copied',
    help: 'Tenants whose file the newest backup could not copy (0: complete).',
    registers,
  });
  const backupFailures = new Counter({
    name: 'agentmeter_backup_failures_total',
    help: 'Backups (scheduled or asked for) that failed and wrote nothing.',
    registers,
  });
  let backupFailuresSeen = 0;

  return {
    ingested: (source, outcome, n) => n > 0 && ingestEvents.inc({ source, outcome }, n),
    committed: (seconds) => commitSeconds.observe(seconds),
    applied(lags, journalBytes) {
      for (const lag of lags) {
        applyLag.observe(lag);
        peakLag = Math.max(peakLag, lag);
      }
      peakJournalBytes = Math.max(peakJournalBytes, journalBytes);
    },
    // While applies fail (a full disk), what waits is the peak: the scrape that matters most.
    unapplied({ journalBytes, waitedSeconds }) {
      peakJournalBytes = Math.max(peakJournalBytes, journalBytes);
      peakLag = Math.max(peakLag, waitedSeconds);
    },
    request(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      requestSeconds.observe({ method, route }, seconds);
    },
    delivered: (channel, outcome) => deliveries.inc({ channel, outcome }),
    websocketClients,
    async scrape() {
      sseClients.set(sources.sseClients());
      openFiles.set(sources.openTenantFiles());
      journalPeak.set(peakJournalBytes);
      lagPeak.set(peakLag);
      peakJournalBytes = 0;
      peakLag = 0;
      try {
        const lag = await sources.aggregationLag();
        lagEvents.set(lag.events);
        lagSeconds.set(lag.seconds);
      } catch {
        // Unknown (the control database cannot be read): NaN, which no alert takes for "no lag"
        // (prom-client exports an unlabelled gauge it was told to reset as 0).
        lagEvents.set(Number.NaN);
        lagSeconds.set(Number.NaN);
      }
      try {
        const b = await sources.backups();
        backupLast.set((b.lastAt ?? 0) / 1000);
        backupComplete.set((b.lastCompleteAt ?? 0) / 1000);
        backupNotCopied.set(b.lastNotCopied ?? 0);
        backupFailures.inc(b.failures - backupFailuresSeen);
        backupFailuresSeen = b.failures;
      } catch {
        for (const g of [backupLast, backupComplete, backupNotCopied]) g.set(Number.NaN);
      }
      return registry.metrics();
    },
    contentType: registry.contentType,
  };
}
