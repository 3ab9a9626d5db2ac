import type { Session } from 'lucia';
import type { Scope } from '../auth/api-keys.js';
import type { User } from '../auth/users.js';

/** Who is asking: a signed-in person (all scopes) or a machine with an API key. */
export type Identity =
  | { via: 'session'; user: User; session: Session; scopes: readonly Scope[] }
  | { via: 'apikey'; user: User; keyId: string; scopes: readonly Scope[] };

export type Env = {
  Variables: {
    requestId: string;
    identity: Identity | null;
    /** The authenticated identity's tenant; the only source of a tenant file's id. */
    tenantId: string | null;
    csrfToken: string;
    /** Where the request came from (see client-ip.ts). */
    clientIp: string;
    /** A signed-in person's tenant's time zone: the zone the times on their pages read in. */
    zone?: string;
    /** The scheme and host the client asked for: a trusted proxy's X-Forwarded-Proto and -Host, else the request's own. */
    origin: { proto: 'http' | 'https'; host: string | undefined };
  };
};
