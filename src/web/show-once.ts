// What a page shows once after a form's POST redirects to it (Post/Redirect/Get): a key
// just created, say. It waits in memory for the browser session that made it, never in a
// URL or a cookie, until that session's next view of the page takes it, or `ttlMs` passes.
// A restart forgets it; the person then makes another key.

export type ShowOnce<T> = {
  put(sessionId: string, value: T): void;
  /** The value put for this session, once; null after that (or when there is none). */
  take(sessionId: string): T | null;
};

export function createShowOnce<T>(now: () => number, ttlMs = 10 * 60_000): ShowOnce<T> {
  const waiting = new Map<string, { value: T; until: number }>();
  return {
    put(sessionId, value) {
      const at = now();
      for (const [id, w] of waiting) if (w.until <= at) waiting.delete(id);
      waiting.set(sessionId, { value, until: at + ttlMs });
    },
    take(sessionId) {
      const w = waiting.get(sessionId);
      waiting.delete(sessionId);
      return w && w.until > now() ? w.value : null;
    },
  };
}
