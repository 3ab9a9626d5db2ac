// A session's page reads its timeline as the figures count it: an event Claude Code sent
// twice (its hook, and its OpenTelemetry event with the same prompt or tool use id) shows
// once, and OpenTelemetry's session start beside the hook's is left out. Real HTTP, a real
// tenant file, the worker run or not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { IngestEvent } from '../src/ingest/schema.js';
import { ingestKey, setUp, startTestServer } from './helpers.js';

const BASE = Date.UTC(2026, 11, 1, 9);

test('an event sent by hook and by OpenTelemetry is one line of the timeline, as the figures count it', async () => {
  const server = await startTestServer();
  try {
    await server.ctx.aggregator.stop();
    server.ctx.now = () => new Date(BASE + 3_600_000);
    const admin = await setUp(server);
    const { tenantId, userId } = await ingestKey(server);
    const who = { tenantId, userId };
    const at = (s: number) => BASE + s * 1000;
    const hooks: IngestEvent[] = [
      { id: 'h1', kind: 'session_start', ts: at(0), session_id: 's1' },
      { id: 'h2', kind: 'prompt', ts: at(1), session_id: 's1', prompt_id: 'p1', name: 'Fix the test' },
      { id: 'h3', kind: 'tool_call', ts: at(2), session_id: 's1', tool_use_id: 'u1', name: 'Bash', status: 'success' },
    ];
    const otel: IngestEvent[] = [
      { id: 'o1', kind: 'session_start', ts: at(5), session_id: 's1' },
      { id: 'o2', kind: 'prompt', ts: at(1), session_id: 's1', prompt_id: 'p1', name: '<REDACTED>' },
      { id: 'o3', kind: 'tool_call', ts: at(2), session_id: 's1', tool_use_id: 'u1', name: 'Bash', status: 'success' },
    ];
    assert.is((await server.ctx.ingest.ingest(who, 'hook', hooks)).accepted, 3);
    assert.is((await server.ctx.ingest.ingest(who, 'otlp', otel)).accepted, 3);
    const timeline = async () => {
      const res = await admin.get('/sessions/s1');
      const html = await res.text();
      assert.is(res.status, 200, html.slice(0, 300));
      const kinds = [...html.matchAll(/data-kind="([^"]+)" data-seq="\d+"/g)].map((m) => m[1]);
      const prompts = /<div class="kpi-label">Prompts<\/div>\s*<div class="kpi-value">([^<]*)<\/div>/.exec(html)?.[1];
      return { kinds, prompts, redacted: html.includes('&lt;REDACTED&gt;') };
    };
    const once = { kinds: ['session_start', 'prompt', 'tool_call'], prompts: '1', redacted: false };
    assert.equal(await timeline(), once, 'unrolled');
    await server.ctx.aggregator.runOnce(tenantId);
    assert.equal(await timeline(), once, 'rolled up');
    // The same tool use id two days on is no copy to the worker (it looks a day either side):
    // the figures count it, and so does the timeline, before and after the worker.
    const later = BASE + 2 * 86_400_000;
    server.ctx.now = () => new Date(later + 60_000);
    const again: IngestEvent = {
      id: 'h4',
      kind: 'tool_call',
      ts: later,
      session_id: 's1',
      tool_use_id: 'u1',
      name: 'Bash',
      status: 'success',
    };
    assert.is((await server.ctx.ingest.ingest(who, 'hook', [again])).accepted, 1);
    const twice = { ...once, kinds: [...once.kinds, 'tool_call'] };
    assert.equal(await timeline(), twice, 'a later call, unrolled');
    await server.ctx.aggregator.runOnce(tenantId);
    assert.equal(await timeline(), twice, 'a later call, rolled up');
    const calls = /<div class="kpi-label">Tool calls<\/div>\s*<div class="kpi-value">([^<]*)<\/div>/.exec(
      await (await admin.get('/sessions/s1')).text(),
    )?.[1];
    assert.is(calls, '2', 'as the figures count');
  } finally {
    await server.stop();
  }
});

test.run();
