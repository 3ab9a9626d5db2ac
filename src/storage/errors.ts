// Storage the server cannot use right now. The web layer answers these with 503 and
// `Retry-After` (never a 500): the fault is the disk's or a file's, not the request's.

/** Disk trouble (full, read-only, a failed write): the request may be retried after `retryAfterMs`. */
export class StorageUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs = 5000,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Runs `fn` against storage; any failure becomes a StorageUnavailableError saying what failed. */
export async function throughStorage<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof StorageUnavailableError
      ? err
      : new StorageUnavailableError(`${what}: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/**
 * One tenant's file is missing, unreadable, damaged, or no longer the file on disk. That
 * tenant alone is unavailable; `reason` is short and names no path (it is shown on /readyz).
 */
export class TenantUnavailableError extends StorageUnavailableError {
  constructor(
    readonly tenantId: string,
    readonly reason: string,
    detail: string,
    retryAfterMs: number,
  ) {
    super(`tenant ${tenantId} is unavailable: ${detail}`, retryAfterMs);
  }
}

/** What a tenant's people and agents are told while its file is unavailable. */
export const TENANT_UNAVAILABLE =
  "this organisation's data is unavailable right now (its data file is missing or damaged); retry later";

/** The whole seconds to put in Retry-After (at least 1). */
export const retryAfterSeconds = (err: StorageUnavailableError) => Math.max(1, Math.ceil(err.retryAfterMs / 1000));

/** DuckDB ran out of the memory budget (the statement was rolled back): the process's state, not the input's. */
export const isOutOfMemory = (err: unknown) => /Out of Memory/i.test(String((err as Error)?.message));

/**
 * A fatal error of DuckDB's (a failed fsync, a rollback that failed) or an internal one: the
 * whole instance may be invalidated, refusing every statement until it is started again.
 */
export const isFatal = (err: unknown) => /\b(FATAL|INTERNAL) Error\b/.test(String((err as Error)?.message));

/** A statement refused because an earlier one made DuckDB fail (that one's file is the cause). */
export const isAfterFatal = (err: unknown) =>
  /database has been invalidated because of a previous fatal error/.test(String((err as Error)?.message));

/** DuckDB invalidated the attached database `name` alone (a checkpoint that failed): it must be detached and attached again. */
export const isFileInvalidated = (err: unknown, name: string) => {
  const message = String((err as Error)?.message);
  return (
    message.includes(`"${name}"`) &&
    /Checkpoint failed for database|invalidated because checkpointing failed/.test(message)
  );
};
