// Secrets out of imported records before they go anywhere: the older hooks wrote the
// user's API token into every record as `auth_token`, and other scripts may carry keys,
// passwords or cookies. Every key that names a secret is dropped, at any depth, and its
// value is blanked wherever else it appears in the record (a command line holding it).

/** Key names (snake_cased) that hold a secret: `auth_token`, `apiKey`, `password`, `Authorization`… but not `input_tokens`. */
const SECRET_KEY =
  /(^|_)(token|access_token|refresh_token|id_token|secret|client_secret|password|passwd|pwd|api_key|apikey|authorization|auth|credentials?|cookie|private_key|bearer|session_key)$|secret|password/;

/** `authToken` → `auth_token`, `API-Key` → `api_key`. */
const snake = (k: string) =>
  k
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-\s.]+/g, '_')
    .toLowerCase();

export const isSecretKey = (key: string) => SECRET_KEY.test(snake(key));

/** Secret values shorter than this are not searched for elsewhere (too likely to match by chance). */
const MIN_SECRET = 8;
export const REDACTED = '[redacted]';

/** `value` without its secret keys, and with their values blanked in every other string. */
export function withoutSecrets<T>(value: T): T {
  const found: string[] = [];
  const dropped = drop(value, found, 0);
  const secrets = found.filter((s) => s.length >= MIN_SECRET);
  return (secrets.length ? blank(dropped, secrets, 0) : dropped) as T;
}

/** Nesting deeper than this is cut (a record from a file is not trusted to be shallow). */
const MAX_DEPTH = 32;

function drop(v: unknown, found: string[], depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth >= MAX_DEPTH) return null;
  if (Array.isArray(v)) return v.map((x) => drop(x, found, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (isSecretKey(k)) collect(x, found, depth);
    else out[k] = drop(x, found, depth + 1);
  }
  return out;
}

function collect(v: unknown, found: string[], depth: number) {
  if (typeof v === 'string') found.push(v);
  else if (v && typeof v === 'object' && depth < MAX_DEPTH)
    for (const x of Object.values(v)) collect(x, found, depth + 1);
}

function blank(v: unknown, secrets: string[], depth: number): unknown {
  if (typeof v === 'string') return secrets.reduce((s, secret) => s.split(secret).join(REDACTED), v);
  if (v === null || typeof v !== 'object' || depth >= MAX_DEPTH) return v;
  if (Array.isArray(v)) return v.map((x) => blank(x, secrets, depth + 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, blank(x, secrets, depth + 1)]));
}
