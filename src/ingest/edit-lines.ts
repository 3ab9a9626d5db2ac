// Lines changed by one of Claude Code's file-editing tool calls, counted from what its hook
// carries. OpenTelemetry reports lines of code (claude_code.lines_of_code.count); a session
// sending hooks only has just these, so a hook's Edit, Write, MultiEdit or NotebookEdit
// result is stored with the lines it added and removed (the tool_call's lines columns).

/** The tools whose calls change files line by line. */
export const EDIT_TOOLS = ['Edit', 'Write', 'MultiEdit', 'NotebookEdit'] as const;

export type LineCount = { added: number; removed: number };

/**
 * Line pairs (old × new) one call may diff: past them a change is counted as every line
 * replaced. The diff runs on the hook's request path, and this bounds a call (a MultiEdit's
 * edits together: a thousand edits just under it took 1.85 s) to about a millisecond.
 */
const MAX_DIFF_CELLS = 200_000;

/** What a call may still diff (MAX_DIFF_CELLS, shared by its edits). */
type DiffBudget = { cells: number };

const record = (v: unknown): Record<string, unknown> | null =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
const text = (v: unknown) => (typeof v === 'string' ? v : '');

/** The lines of `s`: a final newline ends the last line rather than starting another. */
function linesOf(s: string): string[] {
  if (s === '') return [];
  const lines = s.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/**
 * Lines added and removed going from `before` to `after`, as a line diff counts them: the
 * lines both share in order (their longest common subsequence) are unchanged.
 */
export function lineDiff(before: string, after: string, budget: DiffBudget = { cells: MAX_DIFF_CELLS }): LineCount {
  let a = linesOf(before);
  let b = linesOf(after);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  a = a.slice(head, a.length - tail);
  b = b.slice(head, b.length - tail);
  if (a.length * b.length > budget.cells) return { added: b.length, removed: a.length };
  budget.cells -= a.length * b.length;
  // One row of the LCS table at a time.
  let row = new Array<number>(b.length + 1).fill(0);
  for (const line of a) {
    const next = new Array<number>(b.length + 1).fill(0);
    for (let j = 0; j < b.length; j++) next[j + 1] = line === b[j] ? row[j]! + 1 : Math.max(row[j + 1]!, next[j]!);
    row = next;
  }
  const same = row[b.length]!;
  return { added: b.length - same, removed: a.length - same };
}

/** The '+' and '-' lines of a structuredPatch (Claude Code's own diff of the file), or null when there is none. */
function patchLines(patch: unknown): LineCount | null {
  if (!Array.isArray(patch) || patch.length === 0) return null;
  const out = { added: 0, removed: 0 };
  for (const hunk of patch) {
    const lines = record(hunk)?.lines;
    if (!Array.isArray(lines)) return null;
    for (const line of lines) {
      if (typeof line !== 'string') continue;
      if (line.startsWith('+')) out.added++;
      else if (line.startsWith('-')) out.removed++;
    }
  }
  return out;
}

/**
 * The lines a successful call of an edit tool changed, or null for any other tool. The
 * result's structuredPatch (the file's diff, as Claude Code counts it for OpenTelemetry)
 * when the hook carries one; else the input: Edit's old_string → new_string, each of
 * MultiEdit's edits, Write's content as added lines, NotebookEdit's new_source as added
 * lines. An Edit with replace_all counts one replacement (the input does not say how many).
 */
export function editLines(toolName: string | undefined, input: unknown, response: unknown): LineCount | null {
  if (!toolName || !(EDIT_TOOLS as readonly string[]).includes(toolName)) return null;
  const fromPatch = patchLines(record(response)?.structuredPatch);
  if (fromPatch) return fromPatch;
  const i = record(input) ?? {};
  switch (toolName) {
    case 'Edit':
      return lineDiff(text(i.old_string), text(i.new_string));
    case 'MultiEdit': {
      const out = { added: 0, removed: 0 };
      const budget = { cells: MAX_DIFF_CELLS };
      for (const edit of Array.isArray(i.edits) ? i.edits : []) {
        const e = record(edit);
        if (!e) continue;
        const d = lineDiff(text(e.old_string), text(e.new_string), budget);
        out.added += d.added;
        out.removed += d.removed;
      }
      return out;
    }
    case 'Write':
      return { added: linesOf(text(i.content)).length, removed: 0 };
    default: // NotebookEdit: the cell's new source (a deleted cell's old one is not in the input)
      return { added: i.edit_mode === 'delete' ? 0 : linesOf(text(i.new_source)).length, removed: 0 };
  }
}
