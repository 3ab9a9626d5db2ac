// Where Claude Code keeps its transcripts, found the way ccusage finds them (its totals are
// the reference an import is checked against): every `*.jsonl` under `projects/` of each
// Claude config dir, sub-agent files included, in path order. Symbolic links inside are
// not followed (ccusage passes over them too), so a link loop cannot trap the walk.
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Skip } from './types.js';

/**
 * The Claude config dirs to read when none are given: each of `CLAUDE_CONFIG_DIR`
 * (comma-separated) when it is set, else `$XDG_CONFIG_HOME/claude` (`~/.config/claude`)
 * and `~/.claude`, those that exist. A configured dir without transcripts is kept (the
 * reader reports it), as ccusage complains about it.
 */
export function defaultClaudeRoots(env: Record<string, string | undefined>, home: string): string[] {
  const expand = (p: string) => (p === '~' ? home : p.startsWith('~/') ? join(home, p.slice(2)) : p);
  const configured = (env.CLAUDE_CONFIG_DIR ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (configured.length > 0) return [...new Set(configured.map(expand))];
  return [join(env.XDG_CONFIG_HOME || join(home, '.config'), 'claude'), join(home, '.claude')].filter((dir) =>
    existsSync(dir),
  );
}

/** A root's `projects` folder: the root itself when it is one, else `<root>/projects`. */
async function projectsDir(root: string): Promise<string | Skip> {
  const isDir = async (p: string) => {
    try {
      return (await stat(p)).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw err;
      return false;
    }
  };
  try {
    if (basename(root) === 'projects' && (await isDir(root))) return root;
    if (await isDir(join(root, 'projects'))) return join(root, 'projects');
    return { file: root, reason: 'no Claude Code transcripts here (no projects folder)' };
  } catch (err) {
    return { file: root, reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
}

/** Every transcript file under `roots`, sorted by path, with what could not be read. */
export async function transcriptFiles(roots: readonly string[]): Promise<{ files: string[]; skipped: Skip[] }> {
  const files = new Set<string>();
  const skipped: Skip[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      skipped.push({ file: dir, reason: `cannot read folder: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isSymbolicLink()) skipped.push({ file: path, reason: 'symbolic link, not followed' });
      else if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && entry.name.endsWith('.jsonl')) files.add(path);
    }
  };
  const seen = new Set<string>();
  for (const root of roots) {
    const dir = await projectsDir(root);
    if (typeof dir !== 'string') skipped.push(dir);
    else if (!seen.has(dir)) {
      seen.add(dir);
      await walk(dir);
    }
  }
  return { files: [...files].sort(), skipped };
}

/** Whether `file` is a sub-agent's transcript (`<session>/subagents/*.jsonl`). */
export const isSubagentFile = (file: string) => basename(join(file, '..')) === 'subagents';
