// What the alert suites share: agent interactions (with a cost) sent through the REST
// batch endpoint at explicit times, and a delivery that records what it is handed.
import * as assert from 'uvu/assert';
import type { Delivery } from '../src/alerts/engine.js';
import type { Notification } from '../src/alerts/notification.js';

let counter = 0;

/** One agent interaction per entry (`n` of them), stored and acknowledged. */
export async function sendAgents(
  url: string,
  key: string,
  items: { at: number; cost?: number; n?: number; ms?: number }[],
): Promise<void> {
  const agentInteractions = items.flatMap((it) =>
    Array.from({ length: it.n ?? 1 }, () => ({
      id: `alert-test-${++counter}`,
      agent_name: 'reviewer',
      interaction_type: 'review',
      execution_time_ms: it.ms ?? 100,
      status: 'success',
      cost_usd: it.cost ?? 0,
      session_id: 'session-a',
      timestamp: new Date(it.at).toISOString(),
    })),
  );
  const res = await fetch(`${url}/api/metrics/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ agent_interactions: agentInteractions }),
  });
  assert.is(res.status, 201, await res.clone().text());
}

export function recorder(): Delivery & { sent: Notification[]; take(): Notification[] } {
  const sent: Notification[] = [];
  return {
    sent,
    async deliver(n) {
      sent.push(n);
    },
    take: () => sent.splice(0),
  };
}

export const MIN = 60_000;
export const HOUR = 60 * MIN;
