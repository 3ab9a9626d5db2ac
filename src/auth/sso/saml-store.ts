// What SAML sign-in remembers in the control database: the AuthnRequests sent and not yet
// answered (a response must answer one, once: InResponseTo), and the assertions already
// used, kept until they expire so that none is accepted twice (replay).
import type { Connection } from '../../storage/duckdb.js';

/** How long a person may take at the IdP between the redirect and the answer. */
export const PENDING_REQUEST_TTL_MS = 10 * 60_000;

export type PendingRequest = { id: string; providerId: string; relayState: string | null };

export async function rememberRequest(
  db: Connection,
  request: PendingRequest,
  now: Date,
  ttlMs = PENDING_REQUEST_TTL_MS,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.run('DELETE FROM saml_requests WHERE expires_at <= $now', { now });
    await tx.run(
      'INSERT INTO saml_requests (id, provider_id, relay_state, expires_at) VALUES ($id, $providerId, $relayState, $expiresAt)',
      {
        ...request,
        expiresAt: new Date(now.getTime() + ttlMs),
      },
    );
  });
}

/** The pending request `id` answers, removed so it is answered once; null when unknown or expired. */
export async function takeRequest(db: Connection, id: string, now: Date): Promise<PendingRequest | null> {
  return db.transaction(async (tx) => {
    const row = await tx.get<PendingRequest>(
      'SELECT id, provider_id AS "providerId", relay_state AS "relayState" FROM saml_requests WHERE id = $id AND expires_at > $now',
      { id, now },
    );
    await tx.run('DELETE FROM saml_requests WHERE id = $id OR expires_at <= $now', { id, now });
    return row ?? null;
  });
}

/**
 * Records that `assertionId` of `providerId` was used; false when it already was (a replay).
 * Rows past their expiry are purged first: by then the assertion itself is refused as expired.
 */
export async function rememberAssertion(
  db: Connection,
  assertion: { providerId: string; assertionId: string; expiresAt: Date },
  now: Date,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.run('DELETE FROM saml_assertions WHERE expires_at <= $now', { now });
    const { providerId, assertionId } = assertion;
    const seen = await tx.get(
      'SELECT 1 FROM saml_assertions WHERE provider_id = $providerId AND assertion_id = $assertionId',
      { providerId, assertionId },
    );
    if (seen) return false;
    await tx.run(
      'INSERT INTO saml_assertions (provider_id, assertion_id, expires_at) VALUES ($providerId, $assertionId, $expiresAt)',
      assertion,
    );
    return true;
  });
}
