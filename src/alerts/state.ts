// Each alert's state (one per rule and group value) and how an observation moves it: ok,
// pending (the condition holds, not yet for the rule's pending period), firing, no_data.
// A pure step decides the next state and what to send; the engine stores both together.
import { createHash } from 'node:crypto';
import type { Notification } from './notification.js';

export type StateName = 'ok' | 'pending' | 'firing' | 'no_data';

export type AlertState = {
  key: string;
  state: StateName;
  /** When this state began (ms). */
  since: number;
  value: number | null;
  /**
   * The last firing notification handed over in this state (ms); null: none yet (or all
   * silenced). In no_data: the firing's it came from, still unresolved.
   */
  lastSent: number | null;
};

export type Send = {
  state: Notification['state'];
  renotify: boolean;
  /** The state changed (a re-notification does not change it). */
  change: boolean;
};

export type Timing = { pendingMs: number; renotifyMs: number | null; noData: 'ok' | 'no_data' | 'firing' };

/** The next state of one alert, given what the rule answered now, and what to send about it. */
export function step(
  prev: AlertState | undefined,
  obs: { key: string; value: number | null; breach: boolean | null },
  t: Timing,
  now: number,
): { next: AlertState; send: Send | null } {
  const was: AlertState = prev ?? { key: obs.key, state: 'ok', since: now, value: null, lastSent: null };
  const move = (state: StateName, send: Send | null = null) => ({
    next: {
      key: obs.key,
      state,
      since: state === was.state ? was.since : now,
      value: obs.value,
      lastSent: state === was.state ? was.lastSent : null,
    },
    send,
  });
  const breach = obs.breach ?? (t.noData === 'firing' ? true : t.noData === 'ok' ? false : null);

  if (breach === null) {
    if (was.state === 'no_data') return move('no_data');
    const to = move('no_data', { state: 'no_data', renotify: false, change: true });
    // A firing that was sent stays open through no data: resolved once the figure is back to ok.
    if (was.state === 'firing') to.next.lastSent = was.lastSent;
    return to;
  }
  if (!breach)
    return (was.state === 'firing' || was.state === 'no_data') && was.lastSent !== null
      ? move('ok', { state: 'resolved', renotify: false, change: true })
      : move('ok');
  if (was.state === 'firing') {
    // Never sent (silenced so far): send now. Else again once renotify has passed.
    if (was.lastSent === null) return move('firing', { state: 'firing', renotify: false, change: false });
    if (t.renotifyMs !== null && now - was.lastSent >= t.renotifyMs)
      return move('firing', { state: 'firing', renotify: true, change: false });
    return move('firing');
  }
  // Breaching again after no data, with the firing sent before still open: firing again at once
  // (no pending period), so that firing is the one a later ok resolves.
  if (was.state === 'no_data' && was.lastSent !== null) {
    const to = move('firing', { state: 'firing', renotify: false, change: true });
    to.next.lastSent = was.lastSent;
    return to;
  }
  const holding = was.state === 'pending' ? now - was.since >= t.pendingMs : t.pendingMs === 0;
  if (holding) return move('firing', { state: 'firing', renotify: false, change: true });
  return move('pending');
}

/** A notification's id: the rule, the group, the state change's time and the send's time, so the same send always has the same id. */
export function notificationId(ruleId: string, key: string, state: string, since: number, at: number): string {
  return `n_${createHash('sha256').update(`${ruleId}\n${key}\n${state}\n${since}\n${at}`).digest('hex').slice(0, 32)}`;
}
