// The process's one memory budget (--memory-limit), shared by every open DuckDB file: each
// open instance gets an equal share of DuckDB's part of it, one thread, and a spill
// directory under <data dir>/tmp; the shares are re-set whenever a file opens or closes.
// Why per-file limits rather than one instance with the files attached: README, *Memory*.
import { mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from '../log.js';

/** What the process keeps outside DuckDB (Node's heap, HTTP, rendering), taken off the budget first. */
export const NODE_SHARE = 0.5;
/** No file is given less: below this DuckDB spills even small sorts. */
export const MIN_FILE_MB = 8;

export type MemoryMember = {
  /** DuckDB settings for the instance being opened (its share now, one thread, its spill directory). */
  settings: Record<string, string>;
  /** Called when the instance closes: the others' shares grow. */
  leave(): void;
};

export type MemoryBudget = {
  readonly totalMb: number;
  /** DuckDB's part of the budget, divided among the open files. */
  readonly duckdbMb: number;
  /** Registers an instance about to open on `path`; `setLimit` re-sets its share later. */
  join(path: string, setLimit: (mb: number) => Promise<void>): MemoryMember;
  /** DuckDB instances open now. */
  openCount(): number;
  /** Each open file's share now, in MB. */
  shareMb(): number;
  /** Resolves once every share has been re-set after the last open or close. */
  settled(): Promise<void>;
};

export type MemoryBudgetOptions = { totalMb: number; dataDir: string; log?: Logger };

export function createMemoryBudget({ totalMb, dataDir, log }: MemoryBudgetOptions): MemoryBudget {
  const duckdbMb = Math.max(MIN_FILE_MB, Math.floor(totalMb * (1 - NODE_SHARE)));
  const tmp = join(dataDir, 'tmp');
  // What an earlier process spilled is of no use to this one.
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const members = new Map<object, { setLimit: (mb: number) => Promise<void>; mb: number; path: string }>();
  const share = (n: number) => Math.max(MIN_FILE_MB, Math.floor(duckdbMb / Math.max(1, n)));
  let pending: NodeJS.Immediate | null = null;
  let applying: Promise<unknown> = Promise.resolve();
  let done: (() => void) | null = null;
  let waiting: Promise<void> | null = null;

  // Coalesced: opening twenty files at start re-sets each share once, not twenty times.
  const rebalance = () => {
    pending ??= setImmediate(() => {
      pending = null;
      const mb = share(members.size);
      const sets: Promise<unknown>[] = [];
      for (const m of members.values()) {
        if (m.mb === mb) continue;
        m.mb = mb;
        sets.push(m.setLimit(mb).catch((err: unknown) => log?.warn('could not re-set a file\'s memory share', { file: basename(m.path), mb, error: String(err) })));
      }
      applying = Promise.all([applying, ...sets]);
      const wake = done;
      done = waiting = null;
      void applying.then(() => wake?.());
    });
  };

  return {
    totalMb,
    duckdbMb,
    join(path, setLimit) {
      const key = {};
      const mb = share(members.size + 1);
      members.set(key, { setLimit, mb, path });
      rebalance();
      return {
        // A directory per file: DuckDB names its spill files alike in every instance and removes the directory on close.
        settings: { memory_limit: `${mb}MiB`, threads: '1', temp_directory: join(tmp, basename(path)) },
        leave() {
          if (members.delete(key)) rebalance();
        },
      };
    },
    openCount: () => members.size,
    shareMb: () => share(members.size),
    settled: () => (pending ? (waiting ??= new Promise<void>((resolve) => (done = resolve))) : applying.then(() => undefined)),
  };
}

/** `512MB`, `1GB`, `1.5GiB` or a bare number of MB, as MB. */
export function parseMemoryMb(raw: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(mb|mib|m|gb|gib|g)?\s*$/i.exec(raw);
  if (!m) return null;
  const gb = /^g/i.test(m[2] ?? '');
  return Math.floor(Number(m[1]) * (gb ? 1024 : 1));
}
