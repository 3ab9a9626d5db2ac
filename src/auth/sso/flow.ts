// A sign-in under way between the redirect to the identity provider and its return: kept
// server-side, keyed by a hash of a random cookie bound to this browser, used once, valid
// ten minutes. The state in the URL must match the one stored for this browser.
import { createHash, randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Queryable } from '../../storage/duckdb.js';

export const FLOW_COOKIE = 'am_sso';
export const FLOW_TTL_MS = 10 * 60_000;

export type Flow = { providerId: string; state: string; nonce: string; verifier: string; next: string };

/** A refusal or failure of a sign-in through a provider; `reason` goes to the audit log. */
export class SsoError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly status: 400 | 403 | 404 | 502 = 400,
  ) {
    super(message);
  }
}

const idOf = (cookie: string) => createHash('sha256').update(cookie).digest('base64url');

export async function beginFlow(
  db: Queryable,
  now: Date,
  providerId: string,
  next: string,
): Promise<{ cookie: string; flow: Flow }> {
  const cookie = randomBytes(32).toString('base64url');
  const flow: Flow = {
    providerId,
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
    verifier: oidc.randomPKCECodeVerifier(),
    next,
  };
  await db.run('DELETE FROM sso_login_flows WHERE expires_at <= $now', { now });
  await db.run(
    'INSERT INTO sso_login_flows (id, provider_id, state, nonce, verifier, next, expires_at) VALUES ($id, $providerId, $state, $nonce, $verifier, $next, $expiresAt)',
    { id: idOf(cookie), ...flow, expiresAt: new Date(now.getTime() + FLOW_TTL_MS) },
  );
  return { cookie, flow };
}

/** The flow this browser started, once; a missing, expired or mismatched one is refused. */
export async function takeFlow(
  db: Queryable,
  now: Date,
  cookie: string | undefined,
  state: string | undefined,
): Promise<Flow> {
  const lost = new SsoError(
    'no_flow',
    'This sign-in was not started in this browser, or it took too long. Start again from the sign-in page.',
  );
  if (!cookie) throw lost;
  const id = idOf(cookie);
  const row = await db.get<Flow & { expiresAt: Date }>(
    'SELECT provider_id AS "providerId", state, nonce, verifier, next, expires_at AS "expiresAt" FROM sso_login_flows WHERE id = $id',
    { id },
  );
  if (!row) throw lost;
  await db.run('DELETE FROM sso_login_flows WHERE id = $id', { id });
  if (row.expiresAt.getTime() <= now.getTime()) throw lost;
  if (!state || state !== row.state)
    throw new SsoError(
      'state_mismatch',
      'The answer from the identity provider does not belong to the sign-in started in this browser. Start again from the sign-in page.',
      403,
    );
  const { expiresAt: _, ...flow } = row;
  return flow;
}
