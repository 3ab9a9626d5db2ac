// Errors that become HTTP answers, and input parsing that names the offending field.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { PeopleError } from '../auth/people.js';
import { NotAllowedError } from '../auth/scope.js';
import { MAX_JSON_DEPTH, nestedDeeperThan, wellFormed } from '../ingest/sanitize.js';
import { RecordTooLargeError } from '../ingest/writer.js';
import { TenantNameError } from '../tenants/tenants.js';
import { StaleRuleError } from '../alerts/evaluate.js';
import {
  retryAfterSeconds,
  type StorageUnavailableError,
  TENANT_UNAVAILABLE,
  TenantUnavailableError,
} from '../storage/errors.js';

export const errorBodySchema = z.object({
  error: z.string().meta({ description: 'what is wrong, starting with the field when one is at fault' }),
  field: z.string().optional().meta({ description: 'the field, parameter or JSON path at fault (`events.3.ts`)' }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export function httpError(
  status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503,
  message: string,
  field?: string,
  headers?: Record<string, string>,
): HTTPException {
  const body: ErrorBody = field ? { error: message, field } : { error: message };
  return new HTTPException(status, {
    res: new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    }),
  });
}

export const notFound = (what = 'not found') => httpError(404, what);

const PEOPLE_STATUS = { not_found: 404, forbidden: 403, conflict: 409 } as const;

/** A domain's refusal (a person's action, data out of scope) as its HTTP answer; anything else unchanged. */
export function fromDomainError(err: unknown): unknown {
  if (err instanceof PeopleError) return httpError(PEOPLE_STATUS[err.kind], err.message, err.field);
  if (err instanceof NotAllowedError) return httpError(403, err.message, err.field);
  if (err instanceof RecordTooLargeError) return httpError(413, err.message, err.field);
  if (err instanceof TenantNameError) return httpError(409, err.message, err.field);
  if (err instanceof StaleRuleError) return httpError(409, err.message, err.field);
  return err;
}

/** Storage trouble is the server's to fix: 503 and when to retry, never a 500. */
export function unavailable(err: StorageUnavailableError): HTTPException {
  const message = err instanceof TenantUnavailableError ? TENANT_UNAVAILABLE : 'storage unavailable; retry later';
  return httpError(503, message, undefined, { 'retry-after': String(retryAfterSeconds(err)) });
}

export function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0]!;
  // A field the request may not have is named itself, not the object holding it.
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
  const field = path.map(String).join('.') || 'body';
  const message = issue.code === 'unrecognized_keys' ? 'is not a field this request takes' : issue.message;
  return { field, message: `${field}: ${message}` };
}

/** The request's JSON or form body, validated; a 400 naming the field otherwise. */
export async function readInput<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const type = c.req.header('content-type') ?? '';
  let raw: unknown;
  if (type.includes('application/json')) raw = await readJson(c);
  else if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
    // The CSRF token (checked before) is no field of the input: a strict schema would refuse it.
    const { _csrf, ...fields } = await c.req.parseBody();
    raw = fields;
  } else {
    throw httpError(415, 'body must be application/json or a form', 'content-type');
  }
  // zod leaves an own `__proto__` out of what it reads, silently: a PUT of prices keyed by model
  // {"__proto__": …} replaced every override with none. No input of ours has such a field.
  if (raw !== null && typeof raw === 'object' && Object.hasOwn(raw, '__proto__'))
    throw httpError(400, '__proto__: is not a field this request takes', '__proto__');
  return parseWith(schema, raw);
}

/** The request body as JSON; a 400 naming `body` when it is not. */
export async function readJson(c: Context): Promise<unknown> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw httpError(400, 'body: malformed JSON', 'body');
  }
  if (nestedDeeperThan(body)) throw httpError(400, `body: nested more than ${MAX_JSON_DEPTH} levels deep`, 'body');
  return wellFormed(body);
}

export function parseWith<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw httpError(400, message, field);
  }
  return parsed.data;
}
