// An event sent again after raw retention deleted it (an import run again with --rescan, an
// archive uploaded twice, a client retrying after months) is still a repeat: the same id is
// dropped by the writer, the same request, tool call, prompt or sub-agent under another id
// does not count, and the figures the tiers keep for years stay as they were. An event that
// old never seen before still counts. Real tenant file, the real worker and writer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newId } from '../src/ids.js';
import type { IngestEvent } from '../src/ingest/schema.js';
import { querySchema } from '../src/query/model.js';
import { runQuery } from '../src/query/run.js';
import { createTenantFiles } from '../src/storage/tenant-files.js';
import { tempDir, tenantWorker } from './helpers.js';

const DAY = 86_400_000;
const BASE = Date.UTC(2026, 2, 2, 9);
/** 100 days on: past the default raw retention (90 days), inside every tier's. */
const NOW = BASE + 100 * DAY;
const MODEL = 'claude-sonnet-4-5';

const original: IngestEvent[] = [
  {
    id: 'e1',
    kind: 'api_request',
    request_id: 'req_1',
    model: MODEL,
    input_tokens: 100,
    cost_usd: 2,
    session_id: 's1',
    ts: BASE,
  },
  {
    id: 'e2',
    kind: 'tool_call',
    tool_use_id: 'toolu_1',
    name: 'Bash',
    status: 'failure',
    session_id: 's1',
    ts: BASE + 1000,
  },
  { id: 'e3', kind: 'prompt', prompt_id: 'p1', session_id: 's1', ts: BASE + 2000 },
  { id: 'e4', kind: 'subagent_start', agent_id: 'a1', session_id: 's1', ts: BASE + 3000 },
  { id: 'e5', kind: 'commit', value: 1, session_id: 's1', ts: BASE + 4000 },
];

/** The same facts as another channel reports them: other ids, the same keys. */
const sameFactsOtherIds = original
  .filter((e) => e.kind !== 'commit')
  .map((e) => ({ ...e, id: `other-${e.id}`, ts: e.ts! + 500 }));

const METRICS = [
  'events',
  'api_requests',
  'cost_usd',
  'tokens',
  'tool_calls',
  'tool_failures',
  'prompts',
  'subagents',
  'commits',
];
const BEFORE = {
  events: 5,
  api_requests: 1,
  cost_usd: 2,
  tokens: 100,
  tool_calls: 1,
  tool_failures: 1,
  prompts: 1,
  subagents: 1,
  commits: 1,
};

test('events sent again after raw retention deleted them count once', async () => {
  const dir = tempDir('am-retired');
  const files = createTenantFiles(dir.path);
  const tenantId = newId('t');
  await files.create(tenantId);
  const { aggregator, errors, ingestor } = tenantWorker(files, tenantId, { now: () => NOW });
  const who = { tenantId, userId: 'u_ana' };
  const figures = async () => {
    const q = querySchema.parse({ metrics: METRICS, from: BASE - DAY, to: BASE + DAY });
    return (await runQuery(files, tenantId, q, { now: NOW })).rows[0];
  };
  const sql = async <T>(text: string) => (await files.connection(tenantId, 'reader')).all<T>(text);
  try {
    assert.equal((await ingestor.ingest(who, 'rest', original)).stored, 5);
    await aggregator.runOnce(tenantId, { retention: true });
    assert.equal(errors, []);
    assert.equal(await sql('SELECT count(*)::INT AS n FROM events'), [{ n: 0 }], 'raw retention deleted them');
    assert.equal(
      await sql('SELECT count(*)::INT AS n, count(dedup)::INT AS keyed FROM retired_events'),
      [{ n: 5, keyed: 4 }],
      'their ids and repeat keys are kept',
    );
    assert.equal(await figures(), BEFORE, 'the tiers count them');

    // The same events again: the writer knows their ids.
    assert.equal((await ingestor.ingest(who, 'rest', original)).stored, 0, 'the same ids are duplicates');

    // The same facts under other ids: stored, and not counted, above the watermark and rolled up.
    assert.equal((await ingestor.ingest(who, 'rest', sameFactsOtherIds)).stored, 4);
    assert.equal(await figures(), BEFORE, 'above the watermark: repeats of the retired events');
    await aggregator.runOnce(tenantId, { compact: true });
    assert.equal(errors, []);
    assert.equal(await figures(), BEFORE, 'rolled up: repeats of the retired events');
    assert.equal(await sql('SELECT count(*)::INT AS n FROM uncounted_events'), [{ n: 4 }], 'recorded as repeats');

    // An event as old, never seen before, counts.
    const fresh = {
      id: 'e9',
      kind: 'api_request',
      request_id: 'req_9',
      model: MODEL,
      input_tokens: 7,
      cost_usd: 1,
      ts: BASE + 9000,
    } as const;
    assert.equal((await ingestor.ingest(who, 'rest', [fresh])).stored, 1);
    const after = { ...BEFORE, events: 6, api_requests: 2, cost_usd: 3, tokens: 107 };
    assert.equal(await figures(), after, 'a new old event, above the watermark');
    await aggregator.runOnce(tenantId, { retention: true });
    assert.equal(errors, []);
    assert.equal(await figures(), after, 'a new old event, rolled up and retired');
    assert.equal(await sql('SELECT count(*)::INT AS n FROM events'), [{ n: 0 }], 'retention deleted the repeats too');
    assert.equal((await ingestor.ingest(who, 'rest', [...original, ...sameFactsOtherIds, fresh])).stored, 0);
  } finally {
    await files.closeAll();
    dir.remove();
  }
});

test.run();
