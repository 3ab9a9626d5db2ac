// The rule engine: one pass evaluates every rule of a tenant at `now`, moves each alert's
// state, records what it sends in the history (in the same transaction as the states),
// then hands it to delivery. A notification recorded but not handed over (the process
// stopped in between) is handed over at the next pass; delivery sends each id once.
// The scheduler runs a tenant's pass shortly after each commit of new events and every
// EVERY_MS, off the request path, one pass per tenant at a time.
import type { Logger } from '../log.js';
import { tenantSettings } from '../aggregate/settings.js';
import { runQueries } from '../query/run.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { observeAll, type AnswerCache } from './batch.js';
import { conditionWords, type Ask, type Observation } from './evaluate.js';
import type { Notification } from './notification.js';
import { durationMs, listRules, stillAsRead, type Rule } from './rules.js';
import { step, notificationId, type AlertState, type Send } from './state.js';
import {
  allStates,
  isSilenced,
  listSilences,
  markHandedOver,
  notHandedOver,
  saveStates,
  type Silence,
} from './store.js';

export type Delivery = { deliver(n: Notification): Promise<void> };

export type EngineDeps = {
  tenantFiles: TenantFiles;
  delivery: Delivery;
  publicUrl: URL;
  log: Logger;
  /** Told once after a pass that moved some alert's state. */
  changed?: () => void;
  /** The tenant's answers about past windows, kept from one pass to the next. */
  cache?: AnswerCache;
};

/** What a rule's alerts are, as the bell and the alerts page count them: (group, state) of the alerts not ok. */
const shape = (states: Iterable<AlertState>) =>
  JSON.stringify(
    [...states]
      .filter((s) => s.state !== 'ok')
      .map((s) => [s.key, s.state])
      .sort(),
  );

/** What a rule's alerts become at `now`: the states to store and the notifications to send (silenced ones marked). */
export function decide(
  rule: Rule,
  tenantId: string,
  observed: Observation[],
  before: Map<string, AlertState>,
  silences: Silence[],
  now: number,
  publicUrl: URL,
) {
  const timing = {
    pendingMs: durationMs(rule.pending),
    renotifyMs: rule.renotify ? durationMs(rule.renotify) : null,
    noData: rule.no_data,
  };
  const seen = new Map(observed.map((o) => [o.key, o]));
  const answered = new Set(seen.keys());
  // A group that had an alert and has no row now has no data.
  for (const [key] of before)
    if (!seen.has(key))
      seen.set(key, {
        key,
        group: key ? (JSON.parse(key) as Record<string, string>) : null,
        value: null,
        breach: null,
      });
  const states: AlertState[] = [];
  const sends: { n: Notification; key: string; silenced: boolean }[] = [];
  for (const obs of seen.values()) {
    const { next, send } = step(before.get(obs.key), obs, timing, now);
    const silenced = isSilenced(silences, rule.id, obs.key);
    if (send && !(silenced && !send.change)) {
      sends.push({ n: notification(rule, tenantId, obs, next, send, now, publicUrl), key: obs.key, silenced });
      if (send.state === 'firing' && !silenced) next.lastSent = now;
    }
    // An ok alert of a group the rule no longer answers for is not kept (groups come and go).
    if (next.state !== 'ok' || answered.has(obs.key)) states.push(next);
  }
  return { states, sends };
}

function notification(
  rule: Rule,
  tenantId: string,
  obs: Observation,
  next: AlertState,
  send: Send,
  now: number,
  publicUrl: URL,
): Notification {
  return {
    id: notificationId(rule.id, obs.key, send.state, next.since, now),
    tenantId,
    ruleId: rule.id,
    ruleName: rule.name,
    severity: rule.severity,
    state: send.state,
    renotify: send.renotify,
    metric: rule.metric,
    group: obs.group,
    value: obs.value,
    condition: conditionWords(rule.condition, rule.metric),
    window: rule.window,
    at: new Date(now).toISOString(),
    link: new URL(`/alerts/${rule.id}`, publicUrl).href,
    channels: rule.channels,
  };
}

/** A query asker on the tenant's readers: one snapshot per call. */
export const askTenant =
  (tenantFiles: TenantFiles, tenantId: string, now: number): Ask =>
  (qs) =>
    runQueries(tenantFiles, tenantId, qs, { now });

/**
 * One pass over a tenant's rules at `now`; returns what was handed to delivery (silenced
 * sends are only recorded). All rules are asked in one batch (`observeAll`) and their states
 * moved in one transaction, written only for the rules whose alerts changed. One rule
 * failing is logged, the others go on.
 */
export async function evaluateTenant(deps: EngineDeps, tenantId: string, now: number): Promise<Notification[]> {
  const db = await deps.tenantFiles.open(tenantId);
  await handOver(deps, db, await notHandedOver(db));
  const rules = await listRules(db);
  if (!rules.length) return [];
  const silences = await listSilences(db, now);
  const { timeZone } = await tenantSettings(db, db);
  const observed = await observeAll(rules, now, timeZone, askTenant(deps.tenantFiles, tenantId, now), deps.cache);
  const failed = (rule: Rule, err: unknown) =>
    deps.log.error('could not evaluate an alert rule', {
      tenant_id: tenantId,
      rule_id: rule.id,
      error: (err as Error).message,
    });
  const { sends, changed } = await db.transaction(async (tx) => {
    const before = await allStates(tx);
    // A rule edited or deleted while its answer was asked: its question changed, so this
    // answer neither moves its state nor sends (the edit cleared the state; the next pass asks anew).
    const current = await stillAsRead(tx, rules);
    const sends: { n: Notification; silenced: boolean }[] = [];
    let changed = false;
    for (const rule of rules) {
      if (!current.has(rule.id)) continue;
      const answer = observed.get(rule.id)!;
      if (answer instanceof Error) {
        failed(rule, answer);
        continue;
      }
      const prior = before.get(rule.id) ?? new Map<string, AlertState>();
      const decided = decide(rule, tenantId, answer, prior, silences, now, deps.publicUrl);
      if (shape(prior.values()) !== shape(decided.states)) changed = true;
      if (decided.sends.length || !sameStates(prior, decided.states))
        await saveStates(tx, rule.id, decided.states, decided.sends);
      sends.push(...decided.sends);
    }
    return { sends, changed };
  });
  const out = sends.filter((s) => !s.silenced).map((s) => s.n);
  await handOver(deps, db, out);
  if (changed) deps.changed?.();
  return out;
}

/** Whether storing `next` would change what is kept: an ok alert's value is shown nowhere, so it alone is not a change. */
function sameStates(before: Map<string, AlertState>, next: AlertState[]): boolean {
  return (
    before.size === next.length &&
    next.every((s) => {
      const b = before.get(s.key);
      return (
        !!b &&
        b.state === s.state &&
        b.since === s.since &&
        b.lastSent === s.lastSent &&
        (s.state === 'ok' || b.value === s.value)
      );
    })
  );
}

async function handOver(deps: EngineDeps, db: Parameters<typeof markHandedOver>[0], ns: Notification[]) {
  for (const n of ns) {
    await deps.delivery.deliver(n);
    await markHandedOver(db, n.id);
  }
}

export type Alerts = {
  start(): void;
  stop(): Promise<void>;
  /** One pass over every tenant (or one) at the app's clock; what each handed to delivery. */
  runOnce(tenantId?: string): Promise<Notification[]>;
  /** Where notifications go (the dashboard's history only, until a delivery is set). */
  delivery: Delivery;
  /** Calls `listener` after a tenant's pass that moved some alert's state (the bell); returns its unsubscribe. */
  onChange(listener: (tenantId: string) => void): () => void;
};

/** After a commit, wait this long for more before a pass (a burst of hooks makes one pass). */
const DEBOUNCE_MS = 1000;
/** Every tenant is evaluated at least this often (pending, re-notify and no-data need no event). */
const EVERY_MS = 15_000;

export function createAlerts(deps: {
  tenantFiles: TenantFiles;
  tenants: () => Promise<string[]>;
  onCommit: (listener: (tenantId: string) => void) => () => void;
  log: Logger;
  now: () => number;
  publicUrl: () => URL;
  debounceMs?: number;
  everyMs?: number;
}): Alerts {
  const chains = new Map<string, Promise<Notification[]>>();
  const caches = new Map<string, AnswerCache>();
  const cacheOf = (tenantId: string) => caches.get(tenantId) ?? caches.set(tenantId, new Map()).get(tenantId)!;
  const waiting = new Map<string, NodeJS.Timeout>();
  let interval: NodeJS.Timeout | null = null;
  let unsubscribe: (() => void) | null = null;
  const listeners = new Set<(tenantId: string) => void>();

  // One pass per tenant at a time: a pass asked for while one runs follows it.
  const pass = (tenantId: string): Promise<Notification[]> => {
    const run = (chains.get(tenantId) ?? Promise.resolve([]))
      .catch(() => [])
      .then(() =>
        deps.tenantFiles.visit(tenantId, () =>
          evaluateTenant(
            {
              tenantFiles: deps.tenantFiles,
              delivery: alerts.delivery,
              publicUrl: deps.publicUrl(),
              log: deps.log,
              changed: () => {
                for (const l of listeners) l(tenantId);
              },
              cache: cacheOf(tenantId),
            },
            tenantId,
            deps.now(),
          ),
        ),
      );
    chains.set(tenantId, run);
    return run;
  };
  const background = (tenantId: string) =>
    pass(tenantId).catch((err: unknown) =>
      deps.log.error('alert evaluation failed for a tenant', { tenant_id: tenantId, error: (err as Error).message }),
    );
  const everyone = async () => {
    for (const t of await deps.tenants()) await background(t);
  };

  const alerts: Alerts = {
    delivery: { deliver: async () => undefined },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start() {
      unsubscribe = deps.onCommit((tenantId) => {
        if (waiting.has(tenantId)) return;
        waiting.set(
          tenantId,
          setTimeout(() => {
            waiting.delete(tenantId);
            void background(tenantId);
          }, deps.debounceMs ?? DEBOUNCE_MS).unref(),
        );
      });
      interval = setInterval(() => void everyone().catch(() => undefined), deps.everyMs ?? EVERY_MS).unref();
    },
    async stop() {
      unsubscribe?.();
      unsubscribe = null;
      if (interval) clearInterval(interval);
      interval = null;
      for (const t of waiting.values()) clearTimeout(t);
      waiting.clear();
      await Promise.allSettled([...chains.values()]);
    },
    async runOnce(tenantId) {
      const out: Notification[] = [];
      for (const t of tenantId ? [tenantId] : await deps.tenants()) out.push(...(await pass(t)));
      return out;
    },
  };
  return alerts;
}
