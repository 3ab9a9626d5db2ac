// A Claude Code transcript corpus made from a seed, for checking the importer against
// ccusage: every way one API request is written more than once (streamed copies that grow,
// repeated copies, a copy without requestId, a sidechain replay under a new requestId),
// sub-agents in the session file and in `<session>/subagents/`, 1-hour cache writes, a
// reported costUSD, a long-context request and a model no price table knows.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rng } from './rng.js';

export const UNKNOWN_MODEL = 'claude-nova-9-20270101';
const MODELS = [
  'claude-sonnet-4-5-20250929',
  'claude-haiku-4-5-20251001',
  'claude-opus-4-1-20250805',
  'claude-sonnet-4-20250514',
  'claude-opus-4-5-20251101',
];

type Rec = Record<string, unknown>;
export type Corpus = { root: string; sessions: string[]; toolCalls: number; toolFailures: number; prompts: number };

/** Writes the corpus under `<dir>/.claude/projects` and returns the config dir (`<dir>/.claude`). */
export function writeCorpus(dir: string, seed: number, sessionCount = 6): Corpus {
  const r = rng(seed);
  const root = join(dir, '.claude');
  const out: Corpus = { root, sessions: [], toolCalls: 0, toolFailures: 0, prompts: 0 };
  let clock = Date.UTC(2026, 5, 1, 9);
  let n = 0;
  const id = (p: string) => `${p}_${seed}_${++n}`;
  for (let s = 0; s < sessionCount; s++) {
    const sessionId = `5e551011-0000-4000-8000-${String(seed).padStart(4, '0')}${String(s).padStart(8, '0')}`;
    const cwd = `/home/dev/src/app${s % 2}`;
    const projectDir = join(root, 'projects', cwd.replace(/[^a-zA-Z0-9]/g, '-'));
    mkdirSync(projectDir, { recursive: true });
    out.sessions.push(sessionId);
    const lines: Rec[] = [];
    const agentFiles = new Map<string, Rec[]>();
    const base = (extra: Rec): Rec => ({
      parentUuid: null,
      isSidechain: false,
      userType: 'external',
      cwd,
      sessionId,
      version: '2.0.77',
      uuid: id('uuid'),
      timestamp: new Date((clock += r.int(500, 5000))).toISOString(),
      ...extra,
    });
    let longNext = false; // the next request's input is past the 200k long-context threshold
    const usage = (_model: string) => {
      const long = longNext;
      longNext = false;
      const write = r.int(0, 4000);
      const hour = r.next() < 0.4 ? r.int(0, write) : 0;
      return {
        input_tokens: long ? 250_000 + r.int(0, 9000) : r.int(1, 400),
        output_tokens: Math.max(1, r.int(1, 2000)),
        cache_creation_input_tokens: write,
        cache_read_input_tokens: long ? 310_000 : r.int(0, 60_000),
        cache_creation: { ephemeral_5m_input_tokens: write - hour, ephemeral_1h_input_tokens: hour },
        service_tier: 'standard',
      };
    };
    /** One API request as Claude Code writes it: a copy per content block, usage growing; maybe repeated. */
    const request = (
      into: Rec[],
      model: string,
      opts: { sidechain?: boolean; agentId?: string; noRequestId?: boolean; cost?: boolean; tool?: string },
    ) => {
      const msgId = id('msg');
      const reqId = opts.noRequestId ? undefined : id('req');
      const final = usage(model);
      const toolId = opts.tool ? id('toolu') : undefined;
      const blocks: Rec[] = [{ type: 'text', text: 'working on it' }];
      if (opts.tool && toolId)
        blocks.push({ type: 'tool_use', id: toolId, name: opts.tool, input: toolInput(opts.tool) });
      const copies = blocks.map((block, i) => {
        const u =
          i === blocks.length - 1
            ? final
            : { ...final, output_tokens: Math.max(1, Math.floor(final.output_tokens / 3)) };
        return base({
          type: 'assistant',
          isSidechain: opts.sidechain ?? false,
          agentId: opts.agentId,
          requestId: reqId,
          costUSD: opts.cost ? Math.round(r.next() * 1e6) / 1e7 : undefined,
          message: { id: msgId, type: 'message', role: 'assistant', model, content: [block], usage: u },
        });
      });
      into.push(...copies);
      if (r.next() < 0.3) into.push({ ...copies.at(-1)!, uuid: id('uuid') }); // written twice
      if (opts.tool && toolId) {
        const failed = r.next() < 0.25;
        out.toolCalls++;
        if (failed) out.toolFailures++;
        into.push(
          base({
            type: 'user',
            isSidechain: opts.sidechain ?? false,
            agentId: opts.agentId,
            message: {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  tool_use_id: toolId,
                  content: failed ? 'Error: exit code 1' : 'ok',
                  is_error: failed,
                },
              ],
            },
            toolUseResult: { durationMs: r.int(5, 900) },
          }),
        );
      }
      return copies.at(-1)!;
    };
    const turns = r.int(3, 6);
    for (let t = 0; t < turns; t++) {
      out.prompts++;
      lines.push(
        base({ type: 'user', message: { role: 'user', content: `change number ${t}` }, promptId: id('prompt') }),
      );
      longNext = s === 1 && t === 0;
      const model = longNext ? 'claude-sonnet-4-5-20250929' : s === 2 && t === 1 ? UNKNOWN_MODEL : r.pick(MODELS);
      const last = request(lines, model, {
        noRequestId: r.next() < 0.2,
        cost: r.next() < 0.2,
        tool: r.pick(['Bash', 'Edit', 'Read', undefined]),
      });
      if (t === 0 && s % 3 === 0) {
        // A /btw-style sidechain replay of the parent's message under a new requestId, with larger usage.
        const m = last.message as Rec;
        lines.push({
          ...last,
          uuid: id('uuid'),
          isSidechain: true,
          requestId: id('req'),
          message: { ...m, usage: { ...(m.usage as Rec), cache_read_input_tokens: 99_999 } },
        });
      }
      if (t === 1) {
        // A sub-agent: old style in the session file, new style in `<session>/subagents/`.
        const agentId = id('agent').replace(/_/g, '');
        out.toolCalls++;
        const taskId = id('toolu');
        lines.push(
          base({
            type: 'assistant',
            requestId: id('req'),
            message: {
              id: id('msg'),
              model: 'claude-sonnet-4-5-20250929',
              content: [
                {
                  type: 'tool_use',
                  id: taskId,
                  name: 'Task',
                  input: { subagent_type: 'Explore', prompt: 'look around' },
                },
              ],
              usage: usage('claude-sonnet-4-5-20250929'),
            },
          }),
        );
        const sub = s % 2 === 0 ? lines : (agentFiles.set(agentId, []), agentFiles.get(agentId)!);
        sub.push(base({ type: 'user', isSidechain: true, agentId, message: { role: 'user', content: 'look around' } }));
        for (let k = 0; k < 2; k++)
          request(sub, 'claude-haiku-4-5-20251001', {
            sidechain: true,
            agentId,
            tool: 'Grep',
            cost: k === 1 && r.next() < 0.5,
          });
        lines.push(
          base({
            type: 'user',
            message: {
              role: 'user',
              content: [{ type: 'tool_result', tool_use_id: taskId, content: [{ type: 'text', text: 'found it' }] }],
            },
            toolUseResult: { agentId, totalDurationMs: 4000 },
          }),
        );
      }
    }
    lines.push({ type: 'summary', summary: 'a session', leafUuid: 'x' });
    writeFileSync(join(projectDir, `${sessionId}.jsonl`), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    for (const [agentId, recs] of agentFiles) {
      mkdirSync(join(projectDir, sessionId, 'subagents'), { recursive: true });
      writeFileSync(
        join(projectDir, sessionId, 'subagents', `agent-${agentId}.jsonl`),
        `${recs.map((l) => JSON.stringify(l)).join('\n')}\n`,
      );
    }
  }
  return out;
}

function toolInput(tool: string): Rec {
  if (tool === 'Edit') return { file_path: '/tmp/a.ts', old_string: 'a\nb', new_string: 'a\nc\nd' };
  if (tool === 'Bash') return { command: 'npm test' };
  return { file_path: '/tmp/a.ts' };
}
