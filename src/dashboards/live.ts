// Live updates: one subscription per tenant to the ingest commits, fanned out to every open
// page of that tenant over Server-Sent Events. A message says only "newer data exists, up
// to N" (the tenant's seq; for a developer, a count of their own updates); the page then
// re-renders its live parts through the ordinary, role-checked routes, so nothing a person
// may not see travels on this channel. A developer's pages hear only about commits that
// carried their own events. On `alertsChanged` each
// stream sends its own person's count of firing alerts (the bell), counted for them.
import type { Ingestor } from '../ingest/ingest.js';

export type LiveClient = {
  /** Only this user's commits concern the client (a developer); null: all of the tenant's. */
  ownUser: string | null;
  send(seq: number): void;
  /** Some alert of the tenant changed state: the stream sends its person's bell count again. */
  alerts(): void;
  /** Ends the client's stream (the server is shutting down). */
  end(): void;
};

/**
 * Streams one person may hold open at once. Each holds a socket and a file descriptor for as
 * long as the page is open; without a bound, one signed-in script could take every descriptor
 * the process has and stop ingest for everyone. A browser opens one per tab.
 */
export const STREAMS_PER_PERSON = 32;

export type LiveHub = {
  /** A stream for `person` while they hold fewer than STREAMS_PER_PERSON: its release (call once). Null: not now. */
  admit(person: string): (() => void) | null;
  /** Adds a page; returns its unsubscribe. */
  subscribe(tenantId: string, client: LiveClient): () => void;
  /**
   * What a page's stream counts by: for everyone else, the newest seq this process has
   * committed for the tenant (0 before any); for a developer (`ownUser`), how many updates
   * of their own events there were, so the number says nothing of their colleagues' events.
   */
  version(tenantId: string, ownUser: string | null): number;
  /** Tells every open page of the tenant that its alerts changed (nothing about which travels). */
  alertsChanged(tenantId: string): void;
  clients(): number;
  /** Stops listening and ends every open stream. */
  close(): void;
};

type Tenant = {
  clients: Set<LiveClient>;
  seq: number;
  users: Set<string>;
  /** Per person, the updates that carried their events (a developer's stream counts by it). */
  own: Map<string, number>;
  timer: NodeJS.Timeout | null;
  lastSent: number;
};

/** Commits closer together than `minGapMs` go out as one message (bursts of ingest). */
export function createLiveHub(ingest: Ingestor, { minGapMs = 100 } = {}): LiveHub {
  const tenants = new Map<string, Tenant>();
  const tenant = (id: string) => {
    let t = tenants.get(id);
    if (!t)
      tenants.set(id, (t = { clients: new Set(), seq: 0, users: new Set(), own: new Map(), timer: null, lastSent: 0 }));
    return t;
  };

  const flush = (t: Tenant) => {
    t.timer = null;
    t.lastSent = Date.now();
    for (const user of t.users) t.own.set(user, (t.own.get(user) ?? 0) + 1);
    for (const client of t.clients) {
      if (client.ownUser === null) client.send(t.seq);
      else if (t.users.has(client.ownUser)) client.send(t.own.get(client.ownUser)!);
    }
    t.users.clear();
  };

  const unsubscribeIngest = ingest.onCommit((tenantId, commit) => {
    const t = tenant(tenantId);
    t.seq = Math.max(t.seq, commit.lastSeq);
    if (t.clients.size === 0) return;
    for (const u of commit.userIds()) t.users.add(u);
    if (t.timer) return;
    // Never inside the commit: the requests that waited for it are answered first.
    t.timer = setTimeout(() => flush(t), Math.max(0, t.lastSent + minGapMs - Date.now()));
  });

  const streams = new Map<string, number>();
  return {
    admit(person) {
      const open = streams.get(person) ?? 0;
      if (open >= STREAMS_PER_PERSON) return null;
      streams.set(person, open + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = streams.get(person)! - 1;
        if (left) streams.set(person, left);
        else streams.delete(person);
      };
    },
    subscribe(tenantId, client) {
      const t = tenant(tenantId);
      t.clients.add(client);
      return () => t.clients.delete(client);
    },
    version: (tenantId, ownUser) => {
      const t = tenants.get(tenantId);
      return (ownUser === null ? t?.seq : t?.own.get(ownUser)) ?? 0;
    },
    alertsChanged(tenantId) {
      for (const client of tenants.get(tenantId)?.clients ?? []) client.alerts();
    },
    clients: () => [...tenants.values()].reduce((n, t) => n + t.clients.size, 0),
    close() {
      unsubscribeIngest();
      for (const t of tenants.values()) {
        if (t.timer) clearTimeout(t.timer);
        for (const client of t.clients) client.end();
      }
    },
  };
}
