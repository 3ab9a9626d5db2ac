// The importer's state file: per appliance, key and source, how far each file was read and
// acknowledged, and the run left unfinished. Written whole to a temporary file and renamed,
// so a kill leaves the old state or the new, never half of one.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FilePosition } from '../import/types.js';

export type ImportState = {
  version: 1;
  /** Per appliance: how far each file was read (`since`: with --since, what came before it was left out). */
  appliances: Record<string, { files: Record<string, FilePosition & { since?: number }>; run: string | null }>;
};

export function defaultStatePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'agentmeter', 'import-state.json');
}

/** The state's entry for an appliance, a key (hashed: the file never holds it) and a source. */
export function stateKey(url: string, key: string, source: string): string {
  return `${new URL(url).origin} ${createHash('sha256').update(key).digest('hex').slice(0, 16)} ${source}`;
}

export function loadState(path = defaultStatePath()): ImportState {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as ImportState;
    if (parsed?.version === 1 && parsed.appliances && typeof parsed.appliances === 'object') return parsed;
  } catch {
    // None yet, or unreadable: start afresh (the appliance stores nothing twice).
  }
  return { version: 1, appliances: {} };
}

export function saveState(path = defaultStatePath(), state: ImportState): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, path);
}
