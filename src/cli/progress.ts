// A one-line progress display for a terminal: counts, rate, bytes read of the planned total
// and the time left at the rate so far, redrawn at most five times a second; nothing at all
// when stderr is not a terminal (cron, CI) or with --json.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FilePosition } from '../import/types.js';

type Counts = { files: number; sessions: number; events: number; stored: number | null; skipped: number };

/**
 * The bytes a run will read: every regular file under `roots` whose name `wanted` accepts,
 * less what `resume` says was read already (symlinks are not followed; the reader reports them).
 */
export function plannedBytes(
  roots: readonly string[],
  wanted: (name: string) => boolean,
  resume: ReadonlyMap<string, FilePosition>,
): number {
  let total = 0;
  const walk = (dir: string, depth: number) => {
    if (depth > 32) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const st = lstatSync(path);
        if (st.isDirectory()) walk(path, depth + 1);
        else if (st.isFile() && wanted(name)) {
          const done = resume.get(path);
          total += done && done.size <= st.size ? st.size - done.offset : st.size;
        }
      } catch {
        // gone or unreadable: the reader reports it
      }
    }
  };
  for (const root of roots) walk(root, 0);
  return total;
}

export function createProgress(stream: NodeJS.WriteStream, enabled: boolean, totalBytes = 0) {
  const on = enabled && stream.isTTY === true;
  const started = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update(c: Counts, readBytes = 0) {
      if (!on || Date.now() - last < 200) return;
      last = Date.now();
      const seconds = Math.max(0.001, (last - started) / 1000);
      const rate = Math.round(c.events / seconds).toLocaleString('en-US');
      const share = totalBytes > 0 ? Math.min(1, readBytes / totalBytes) : 0;
      const eta = share > 0.01 ? ` ETA ${Math.round((seconds / share) * (1 - share))} s` : '';
      const bar =
        totalBytes > 0 ? `[${'#'.repeat(Math.round(share * 20)).padEnd(20)}] ${(share * 100).toFixed(0)}% ` : '';
      const line = `${bar}${c.files} files  ${c.sessions} sessions  ${c.events.toLocaleString('en-US')} events${c.stored === null ? '' : ` (${c.stored.toLocaleString('en-US')} new)`}  ${c.skipped} skipped  ${rate}/s  ${Math.round(seconds)} s${eta}`;
      stream.write(`\r\x1b[2K${line}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}
