// The aggregation worker's session steps (SessionSteps in aggregate/steps.ts), given to it
// where it is created (context.ts): as events are rolled up their sessions are indexed and
// what is stored of them invalidated (and so when events are removed); sessions gone quiet
// get their figures, then their scores.
import { tenantSettings } from '../aggregate/settings.js';
import type { SessionSteps } from '../aggregate/steps.js';
import { storeSessionScores } from './scores.js';
import {
  expireSessions,
  indexSessions,
  invalidate,
  sessionsOfEvents,
  sessionsRemoved,
  storeSessionFigures,
} from './store.js';

export const sessionSteps: SessionSteps = {
  async rolledUp(tx, range, counted) {
    await indexSessions(tx, range, counted);
    await invalidate(tx, { sessions: sessionsOfEvents(range) });
  },
  // The figures first: a score needs those of every earlier finished session. In batches, each its own transaction.
  async settle(file, db, now) {
    while ((await db.transaction(async (tx) => storeSessionFigures(tx, await tenantSettings(file, tx), now))) > 0);
    while ((await db.transaction((tx) => storeSessionScores(tx, now))) > 0);
  },
  expire: expireSessions,
  removed: sessionsRemoved,
};
