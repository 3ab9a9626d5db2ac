// "Test" a rule: what it would send if evaluated now (nothing is stored or sent), and when
// it would have fired over the last 7 days: the rule evaluated at each hour of the week (at
// most PREVIEW_STEPS evaluations), its states moved as the engine moves them. A rule that
// asks many questions per evaluation (an anomaly against 24 earlier windows) is evaluated
// every few hours instead, so a preview asks at most PREVIEW_QUERIES questions.
import { tenantSettings } from '../aggregate/settings.js';
import { runQuery } from '../query/run.js';
import type { QueryResult } from '../query/result.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { decide } from './engine.js';
import { observe, type Ask } from './evaluate.js';
import type { Notification } from './notification.js';
import { durationMs, type Rule } from './rules.js';
import { step, type AlertState } from './state.js';
import { listSilences, ruleStates } from './store.js';

const HOUR = 3_600_000;
export const PREVIEW_STEPS = 7 * 24;
/**
 * Questions a preview may ask: every hour of the week for a rule that asks up to two per
 * evaluation. Without a bound, one rule of 30-day windows against 24 baselines asked 4,200
 * and held its tenant's reader for minutes on every view of its page.
 */
export const PREVIEW_QUERIES = 2 * PREVIEW_STEPS;

export type PreviewEvent = {
  at: string;
  state: Notification['state'];
  group: Record<string, string> | null;
  value: number | null;
};

export async function testRule(tf: TenantFiles, tenantId: string, rule: Rule, now: number, publicUrl: URL) {
  const db = await tf.open(tenantId);
  const { timeZone } = await tenantSettings(db, db);
  // Each (from, to) asked once: successive hours share most of an anomaly's baselines.
  const cache = new Map<string, Promise<QueryResult>>();
  const ask: Ask = (qs) =>
    Promise.all(
      qs.map((q) => {
        const key = `${q.from}/${q.to}`;
        if (!cache.has(key)) cache.set(key, runQuery(tf, tenantId, q, { now }));
        return cache.get(key)!;
      }),
    );
  const { sends } = decide(
    rule,
    tenantId,
    await observe(rule, now, timeZone, ask),
    await ruleStates(db, rule.id),
    await listSilences(db, now),
    now,
    publicUrl,
  );

  // The questions one evaluation asks (those of now, all distinct): the hours between evaluations that keep within the bound.
  const everyHours = Math.ceil((PREVIEW_STEPS * Math.max(1, cache.size)) / PREVIEW_QUERIES);
  const evaluations = Math.floor(PREVIEW_STEPS / everyHours);
  const timing = { pendingMs: durationMs(rule.pending), renotifyMs: null, noData: rule.no_data };
  const states = new Map<string, AlertState>();
  const events: PreviewEvent[] = [];
  const from = now - PREVIEW_STEPS * HOUR;
  for (let i = 1; i <= evaluations; i++) {
    const at = now - (evaluations - i) * everyHours * HOUR;
    const observed = await observe(rule, at, timeZone, ask);
    const seen = new Map(observed.map((o) => [o.key, o]));
    for (const key of states.keys())
      if (!seen.has(key))
        seen.set(key, {
          key,
          group: key ? (JSON.parse(key) as Record<string, string>) : null,
          value: null,
          breach: null,
        });
    for (const obs of seen.values()) {
      const { next, send } = step(states.get(obs.key), obs, timing, at);
      if (send?.state === 'firing') next.lastSent = at;
      if (send?.change)
        events.push({ at: new Date(at).toISOString(), state: send.state, group: obs.group, value: obs.value });
      states.set(obs.key, next);
    }
  }
  return {
    would_send: sends.map((s) => ({ ...s.n, silenced: s.silenced })),
    preview: {
      from: new Date(from).toISOString(),
      to: new Date(now).toISOString(),
      step: `${everyHours}h`,
      evaluations,
      questions: cache.size,
      events,
      fired_at: events.filter((e) => e.state === 'firing').map((e) => e.at),
    },
  };
}
