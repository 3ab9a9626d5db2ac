// The importer's HTTP client against real servers on 127.0.0.1 that misbehave: an appliance
// that answers 503 and 429 for a while is waited for (its Retry-After honoured) and the
// chunk goes through; one that stops answering mid-run ends the command with its progress
// saved; a first contact that fails says which flag to check. The pauses are injected, so
// nothing here waits for real.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApplianceClient, ImportClientError } from '../src/cli/import-client.js';
import { freePort } from './helpers.js';

async function listen(
  handler: (status: { calls: number }) => { status: number; headers?: Record<string, string>; body: unknown },
): Promise<{ url: string; server: Server; seen: { calls: number } }> {
  const seen = { calls: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.calls++;
      const answer = handler(seen);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, seen };
}

const chunk = { events: [], skipped: [], positions: [] };
const OK = { accepted: 0, stored: 0, duplicates: 0, rejected: [], unknown_models: [] };

test('503 and 429 are waited out, Retry-After first, and the chunk goes through', async () => {
  const { url, server, seen } = await listen(({ calls }) =>
    calls === 1
      ? { status: 503, headers: { 'retry-after': '7' }, body: { error: 'storage unavailable' } }
      : calls === 2
        ? { status: 429, body: { error: 'rate limit exceeded' } }
        : { status: 200, body: OK },
  );
  const pauses: number[] = [];
  const client = new ApplianceClient(url, 'amk_test', async (ms) => void pauses.push(ms));
  try {
    assert.equal(await client.sendChunk('imp_1', chunk), OK);
    assert.is(seen.calls, 3);
    assert.equal(pauses, [7000, 1000], "Retry-After in seconds, then the schedule's second step");
  } finally {
    server.close();
  }
});

test('an appliance gone mid-run: retried on the schedule, then a clear stop that says progress is saved', async () => {
  const port = await freePort(); // nothing listens there
  const pauses: number[] = [];
  const client = new ApplianceClient(`http://127.0.0.1:${port}`, 'amk_test', async (ms) => void pauses.push(ms));
  const err = await client.sendChunk('imp_1', chunk).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ImportClientError);
  assert.match(
    (err as Error).message,
    /could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); progress is saved: run the same command again to resume/,
  );
  assert.equal(pauses, [500, 1000, 2000, 4000, 8000, 15000, 30000]);
});

test('a first contact fails at once: no retries, and the flag to check', async () => {
  const port = await freePort();
  const pauses: number[] = [];
  const client = new ApplianceClient(`http://127.0.0.1:${port}`, 'amk_test', async (ms) => void pauses.push(ms));
  const err = await client.startRun('claude', 'host').then(
    () => null,
    (e: unknown) => e as Error,
  );
  assert.match(String(err?.message), /check --url/);
  assert.equal(pauses, []);
  const notAppliance = await listen(() => ({ status: 404, body: 'nope' }));
  try {
    const html = new ApplianceClient(notAppliance.url, 'amk_test', async () => undefined);
    const e2 = await html.startRun('claude', 'host').then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.match(String(e2?.message), /404/);
  } finally {
    notAppliance.server.close();
  }
  assert.throws(() => new ApplianceClient('not a url', 'k'), /--url: "not a url" is not a URL/);
});

test.run();
