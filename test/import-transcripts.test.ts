// The transcript reader counts what ccusage counts: the shared claude-home fixture gives
// its expected totals, and a seeded corpus with every kind of repeated request, sub-agent
// files, 1-hour cache writes, costUSD, a long-context request and an unknown model gives,
// per session, the tokens and cost `ccusage session --json --offline` gives on the same files.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requestCost, type RequestTokens } from '../src/cost/prices.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { eventSchema } from '../src/ingest/schema.js';
import { defaultClaudeRoots, readTranscripts } from '../src/import/transcripts.js';
import type { ImportChunk, ReadOptions } from '../src/import/types.js';
import { UNKNOWN_MODEL, writeCorpus } from './transcript-corpus.js';

const FIXTURE = new URL('./fixtures/claude-home/', import.meta.url).pathname;
const CCUSAGE = new URL('../node_modules/ccusage/dist/cli.js', import.meta.url).pathname;

async function readAll(roots: string[], options?: ReadOptions): Promise<ImportChunk[]> {
  const chunks: ImportChunk[] = [];
  for await (const c of readTranscripts(roots, options)) chunks.push(c);
  return chunks;
}
const eventsOf = (chunks: ImportChunk[]) => chunks.flatMap((c) => c.events);
const requests = (events: IngestEvent[]) => events.filter((e) => e.kind === 'api_request');
const attr = (e: IngestEvent, k: string) => (e.attributes as Record<string, number>)[k] ?? 0;
const tokensOf = (e: IngestEvent): RequestTokens => ({
  input: e.input_tokens ?? 0,
  output: e.output_tokens ?? 0,
  cacheRead: e.cache_read_tokens ?? 0,
  cacheWrite5m: attr(e, 'cache_creation_5m_tokens'),
  cacheWrite1h: attr(e, 'cache_creation_1h_tokens'),
});

test('the claude-home fixture gives its expected totals', async () => {
  const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8'));
  const chunks = await readAll([join(FIXTURE, '.claude')]);
  const reqs = requests(eventsOf(chunks));
  const sum = (k: 'input_tokens' | 'output_tokens' | 'cache_creation_tokens' | 'cache_read_tokens') =>
    reqs.reduce((a, e) => a + (e[k] ?? 0), 0);
  const byModel: Record<string, number> = {};
  for (const e of reqs) byModel[e.model!] = (byModel[e.model!] ?? 0) + 1;
  assert.equal(
    {
      sessions: new Set(reqs.map((e) => e.session_id)).size,
      assistant_messages_unique: reqs.length,
      tokens: {
        input: sum('input_tokens'),
        output: sum('output_tokens'),
        cache_creation: sum('cache_creation_tokens'),
        cache_read: sum('cache_read_tokens'),
      },
      by_model: byModel,
      sidechain_messages: reqs.filter((e) => attr(e, 'is_sidechain')).length,
    },
    expected,
  );
  assert.equal(
    chunks.flatMap((c) => c.skipped),
    [],
  );
  for (const e of eventsOf(chunks)) assert.ok(eventSchema.safeParse(e).success, JSON.stringify(e));
  assert.ok(chunks.flatMap((c) => c.positions).every((p) => p.done && p.offset === p.size));
});

test('a root that is itself a projects folder reads the same', async () => {
  const a = requests(eventsOf(await readAll([join(FIXTURE, '.claude')])));
  const b = requests(eventsOf(await readAll([join(FIXTURE, '.claude', 'projects')])));
  assert.equal(b, a);
});

type CcSession = {
  period: string;
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  totalCost: number;
  modelBreakdowns: { modelName: string; cost: number }[];
};

test('a generated corpus: per session, the tokens and cost ccusage gives', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'am-cc-'));
  try {
    const corpus = writeCorpus(dir, 21);
    const stdout = execFileSync(process.execPath, [CCUSAGE, 'session', '--json', '--offline'], {
      env: { PATH: process.env.PATH, HOME: dir, CLAUDE_CONFIG_DIR: corpus.root, TZ: 'UTC', NO_COLOR: '1' },
      encoding: 'utf8',
    });
    const theirs = new Map((JSON.parse(stdout).session as CcSession[]).map((s) => [s.period, s]));
    assert.equal([...theirs.keys()].sort(), [...corpus.sessions].sort());

    const events = eventsOf(await readAll([corpus.root]));
    const ours = new Map<
      string,
      { input: number; output: number; cacheWrite: number; cacheRead: number; cost: number }
    >();
    const unknown = new Set<string>();
    for (const e of requests(events)) {
      const s = ours.get(e.session_id!) ?? { input: 0, output: 0, cacheWrite: 0, cacheRead: 0, cost: 0 };
      ours.set(e.session_id!, s);
      s.input += e.input_tokens!;
      s.output += e.output_tokens!;
      s.cacheWrite += e.cache_creation_tokens!;
      s.cacheRead += e.cache_read_tokens!;
      const cost = e.cost_usd ?? requestCost(e.model!, tokensOf(e));
      if (cost === null) unknown.add(e.model!);
      else s.cost += cost;
    }
    for (const [session, t] of theirs) {
      const o = ours.get(session)!;
      assert.equal(
        { input: o.input, output: o.output, cacheWrite: o.cacheWrite, cacheRead: o.cacheRead },
        {
          input: t.inputTokens,
          output: t.outputTokens,
          cacheWrite: t.cacheCreationTokens,
          cacheRead: t.cacheReadTokens,
        },
        session,
      );
      assert.ok(Math.abs(o.cost - t.totalCost) < 1e-9, `${session}: ours ${o.cost}, ccusage ${t.totalCost}`);
    }
    // ccusage counts the unknown model's tokens at $0; ours names it instead of pricing it.
    const theirUnknown = [...theirs.values()]
      .flatMap((s) => s.modelBreakdowns)
      .filter((m) => m.modelName === UNKNOWN_MODEL);
    assert.ok(theirUnknown.length > 0 && theirUnknown.every((m) => m.cost === 0));
    assert.equal([...unknown], [UNKNOWN_MODEL]);

    // The corpus has each case the comparison is meant to cover.
    const reqs = requests(events);
    assert.ok(
      reqs.some((e) => attr(e, 'cache_creation_1h_tokens') > 0),
      '1-hour cache writes',
    );
    assert.ok(
      reqs.some((e) => e.cost_usd !== undefined),
      'costUSD',
    );
    assert.ok(
      reqs.some(
        (e) => e.input_tokens! > 200_000 && e.model!.startsWith('claude-sonnet-4-5') && e.cost_usd === undefined,
      ),
      'long context',
    );
    assert.ok(
      reqs.some((e) => e.request_id?.startsWith('msg:')),
      'no requestId',
    );
    assert.ok(
      reqs.some((e) => attr(e, 'is_sidechain') && e.agent_id),
      'sidechain with its agent',
    );

    const tools = events.filter((e) => e.kind === 'tool_call');
    assert.is(tools.length, corpus.toolCalls);
    assert.is(tools.filter((e) => e.status === 'failure').length, corpus.toolFailures);
    assert.ok(tools.filter((e) => e.status === 'failure').every((e) => e.error === 'Error: exit code 1'));
    assert.ok(
      tools.some((e) => e.name === 'Edit' && e.status === 'success' && e.lines_added === 2 && e.lines_removed === 1),
    );
    assert.is(events.filter((e) => e.kind === 'prompt').length, corpus.prompts);
    const agents = events.filter((e) => e.kind === 'subagent_start');
    assert.is(
      agents.length,
      corpus.sessions.length,
      'one sub-agent per session, whether in the session file or its own',
    );
    assert.ok(agents.every((e) => e.agent_type === 'Explore' && e.id === `cc:agent:${e.agent_id}`));
    for (const e of events) assert.ok(eventSchema.safeParse(e).success, JSON.stringify(e));
    assert.ok(events.every((e) => e.project?.startsWith('/home/dev/src/app')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same files give the same events, ids included, in chunks of any size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'am-cc-'));
  try {
    const { root } = writeCorpus(dir, 7, 3);
    const whole = eventsOf(await readAll([root]));
    const chunks = await readAll([root], { chunkEvents: 5 });
    assert.ok(chunks.every((c) => c.events.length <= 5));
    assert.equal(eventsOf(chunks), whole);
    assert.is(new Set(whole.map((e) => e.id)).size, whole.length);
    // Stopping after any acknowledged chunk and resuming from its positions misses nothing.
    for (let k = 0; k < chunks.length; k++) {
      const resume = new Map(
        chunks
          .slice(0, k + 1)
          .flatMap((c) => c.positions)
          .map((p) => [p.file, p]),
      );
      const rest = eventsOf(await readAll([root], { resume }));
      const got = new Set([...eventsOf(chunks.slice(0, k + 1)), ...rest].map((e) => e.id));
      assert.is(got.size, whole.length, `resumed after chunk ${k}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('since leaves out what came before it', async () => {
  const all = eventsOf(await readAll([join(FIXTURE, '.claude')]));
  const cut = Date.parse('2026-10-13T11:00:00.000Z');
  const later = eventsOf(await readAll([join(FIXTURE, '.claude')], { since: cut }));
  assert.ok(later.length > 0 && later.length < all.length);
  assert.equal(
    later,
    all.filter((e) => e.ts! >= cut),
  );
});

test('requestCost: 1-hour writes at twice the input price, the long-context tier, unknown models', () => {
  const none = { input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 };
  assert.is(requestCost('claude-haiku-4-5', { ...none, cacheWrite1h: 1e6 }), 2);
  assert.is(requestCost('claude-haiku-4-5', { ...none, cacheWrite5m: 1e6 }), 1.25);
  // Sonnet 4.5 past 200k tokens of a type: those past it at the tier's price, as ccusage counts.
  assert.is(requestCost('claude-sonnet-4-5-20250929', { ...none, input: 300_000 }), 0.6 + 0.6);
  assert.is(requestCost('claude-opus-4-5', { ...none, input: 300_000 }), 1.5);
  assert.is(requestCost('claude-opus-4-6', { ...none, output: 1e6 }), 25);
  assert.is(requestCost('claude-nova-9', { ...none, input: 10 }), null);
  assert.is(
    requestCost(
      'claude-nova-9',
      { ...none, input: 1e6 },
      { 'claude-nova-9': { input: 4, output: 8, cache_write: 5, cache_read: 0.4 } },
    ),
    4,
  );
});

test('default roots: CLAUDE_CONFIG_DIR (comma-separated) else the config dirs that exist', () => {
  assert.equal(defaultClaudeRoots({ CLAUDE_CONFIG_DIR: ' /a/.claude , ~/b,,/a/.claude' }, '/home/me'), [
    '/a/.claude',
    '/home/me/b',
  ]);
  const home = join(FIXTURE);
  assert.equal(defaultClaudeRoots({}, home), [join(home, '.claude')]);
  assert.equal(defaultClaudeRoots({ XDG_CONFIG_HOME: FIXTURE.replace(/\/$/, '') }, '/nowhere'), []);
});

test.run();
