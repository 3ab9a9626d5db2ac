// Directories in a shared place (the temp directory) that only this account may use: what
// the DuckDB library's cache and the admin socket of a deep data directory fall back to.
// Another account that made the directory first could plant a library for us to load or
// listen where the CLI sends its commands (passwords among them), so it is trusted only if
// we own it and nobody else can write to it.
import { accessSync, constants, lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Creates `dir` (0700) if needed; returns why it cannot be written to, or null. */
export function unusableDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/** Why `dir` is not this account's alone (a link, another owner, writable by others), or null. */
function foreignOwned(dir: string, uid: number): string | null {
  const st = lstatSync(dir);
  if (!st.isDirectory()) return 'not a directory';
  if (process.getuid && st.uid !== uid) return `owned by uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o022) !== 0) return 'writable by other users';
  return null;
}

/** `<temp dir>/<name>-<uid>`, made if missing; throws, naming it and why, unless it is this account's alone. */
export function privateTempDir(name: string): string {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `${name}-${uid}`);
  const problem = unusableDir(dir) ?? foreignOwned(dir, uid);
  if (problem) throw new Error(`${dir} cannot be used: ${problem}`);
  return dir;
}
