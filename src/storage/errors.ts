// Storage trouble (disk full, read-only, a file gone) is the operator's to fix, not the
// caller's: it travels as StorageUnavailableError, which the web layer answers with 503.
export class StorageUnavailableError extends Error {}

/** Runs `fn` against storage; any failure becomes a StorageUnavailableError saying what failed. */
export async function throughStorage<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof StorageUnavailableError ? err : new StorageUnavailableError(`${what}: ${(err as Error).message}`, { cause: err });
  }
}
