// A session's page reads its timeline as the figures count it: an event Claude Code sent
// twice (its hook, and its OpenTelemetry event with the same prompt or tool use id) shows
// once, and OpenTelemetry's session start beside the hook's is left out. Real HTTP, a real
// tenant file, the worker run or not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { IngestEvent } from '../src/ingest/schema.js';
import { ingestKey, setUp, startTestServer } from './helpers.js';

const BASE = Date.UTC(2026, 11, 1, 9);

test('an event sent by hook and by OpenTelemetry is one line of the timeline, before and after the worker', async () => {
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
  } finally {
    await server.stop();
  }
});

test.run();
