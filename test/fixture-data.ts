// The shared fixtures posted through the real ingest endpoints, as Claude Code would send
// them: the three hook sessions, and the OTLP metrics and logs (JSON and protobuf).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestServer } from './helpers.js';

/** The shared fixtures the tests use, copied unchanged into the repository. */
export const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
export const hookLines = (file: string) =>
  readFileSync(join(FIXTURES, 'claude-code-hooks', file), 'utf8')
    .split('\n')
    .filter(Boolean);
export type HookExpected = {
  session_id: string;
  tool_calls: number;
  tool_failures: number;
  by_tool: Record<string, number>;
  subagents: number;
  prompts: number;
};
export const expectedHooks = JSON.parse(
  readFileSync(join(FIXTURES, 'claude-code-hooks', 'expected.json'), 'utf8'),
) as HookExpected[];

export async function postHook(server: TestServer, key: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Posts every fixture; throws on any answer but 200. */
export async function postFixtures(server: TestServer, key: string): Promise<void> {
  for (const file of ['session-1.jsonl', 'session-2.jsonl', 'session-3.jsonl']) {
    for (const line of hookLines(file)) {
      const res = await postHook(server, key, line);
      if (res.status !== 200) throw new Error(`hook ${file}: ${res.status} ${await res.text()}`);
    }
  }
  for (const [path, file, type] of [
    ['/v1/metrics', 'metrics.json', 'application/json'],
    ['/v1/logs', 'logs.json', 'application/json'],
    ['/v1/metrics', 'metrics.pb', 'application/x-protobuf'],
    ['/v1/logs', 'logs.pb', 'application/x-protobuf'],
  ] as const) {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': type, authorization: `Bearer ${key}` },
      body: new Uint8Array(readFileSync(join(FIXTURES, 'otlp', file))),
    });
    if (res.status !== 200) throw new Error(`${path} ${file}: ${res.status}`);
  }
}

/** `from`/`to` dates (the dashboards' custom range) around everything the tenant holds. */
export async function dataRange(server: TestServer, tenantId: string): Promise<string> {
  const db = await server.ctx.tenantFiles.open(tenantId);
  const r = (await db.get<{ lo: number; hi: number }>(
    'SELECT epoch_ms(min(ts)) AS lo, epoch_ms(max(ts)) AS hi FROM events',
  ))!;
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return `from=${day(Number(r.lo))}&to=${day(Number(r.hi))}`;
}
