// A one-line progress display for a terminal: counts, rate and elapsed time, redrawn at
// most a few times a second; nothing at all when stderr is not a terminal (cron, CI, --json).
type Counts = { files: number; sessions: number; events: number; stored: number | null; skipped: number };

export function createProgress(stream: NodeJS.WriteStream, enabled: boolean) {
  const on = enabled && stream.isTTY === true;
  const started = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update(c: Counts) {
      if (!on || Date.now() - last < 200) return;
      last = Date.now();
      const seconds = Math.max(0.001, (last - started) / 1000);
      const rate = Math.round(c.events / seconds).toLocaleString('en-US');
      const line = `${c.files} files  ${c.sessions} sessions  ${c.events.toLocaleString('en-US')} events${c.stored === null ? '' : ` (${c.stored.toLocaleString('en-US')} new)`}  ${c.skipped} skipped  ${rate}/s  ${Math.round(seconds)} s`;
      stream.write(`\r\x1b[2K${line}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}
