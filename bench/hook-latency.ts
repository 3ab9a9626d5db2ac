// The hook rows of bench:ingest (issue 25): a hook's latency next to GET /healthz (the HTTP
// floor), GET /api/v1/me and an API path that is not there (a cached key's authentication,
// then a 404), one client one request after another; then hooks and /healthz each paced at
// 1,000/s from 50 clients. Ratios beside the targets. Beside them, a hook's two floors in the
// same rounds: a POST of a hook's body answered 404 once the key is accepted (the transport of
// a request with a body), and one durable write of a hook-sized record to a journal of the
// bench's own on the same disk (what the acknowledgement waits for). Then /healthz, that POST
// and a hook again over one raw socket, without fetch's own cost. The paced hooks' floor is
// that POST paced the same.
import { connect, type Socket } from 'node:net';
import { percentile } from '../src/aggregate/sketch.js';
import { openJournal } from '../src/storage/journal.js';
import { tempDir } from '../test/helpers.js';

const SINGLE_REQUESTS = Number(process.env.BENCH_SINGLE_REQUESTS ?? 3000);
const CLIENTS = Number(process.env.BENCH_HOOK_CLIENTS ?? 50);
// Paced: each client sends one request every EVERY_MS (50 clients × 20/s = 1,000/s in all, some
// twenty times what fifty busy agents send: a tool call is a PreToolUse and a PostToolUse every
// few seconds). Latency is counted from when a request was due, so a slow answer that delays the
// next one is not hidden (no coordinated omission).
const EVERY_MS = Number(process.env.BENCH_HOOK_EVERY_MS ?? 50);
const PACED_SECONDS = Number(process.env.BENCH_HOOK_PACED_SECONDS ?? 10);
/**
 * A hook's journal record is some 850 bytes (`encodeRows` of its event, the header aside); a
 * write took the same from 300 B to 4 KB.
 */
const JOURNAL_RECORD_BYTES = 850;

export type Latencies = { scenario: string; requests: number; seconds: number; p50: number; p99: number };

export const hookBody = (prefix: string, i: number) =>
  JSON.stringify({
    hook_event_name: 'PostToolUse',
    session_id: `${prefix}-s${i % 200}`,
    cwd: '/home/dev/src/app',
    tool_name: ['Bash', 'Read', 'Edit', 'Grep'][i % 4],
    tool_use_id: `toolu_${prefix}_${i}`,
    tool_input: { command: 'ls' },
    tool_response: { stdout: 'ok' },
    duration_ms: 5 + (i % 50),
  });

/** A 404 is what an unknown path answers once the key is accepted (a refused key is a 401). */
async function notFound(url: string, init: RequestInit) {
  const res = await fetch(url, init);
  if (res.status !== 404) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

async function send(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  if (res.status >= 300) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

const postHook = (url: string, key: string, body: string) =>
  send(`${url}/api/v1/hooks/claude-code`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body,
  });

/**
 * One keep-alive connection that writes each request's bytes in one piece and reads the answer
 * up to its Content-Length: a round trip without fetch's own cost (some 0.1–0.2 ms a request,
 * more for a body). One request at a time.
 */
async function rawClient(url: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s)).once('error', reject);
  });
  socket.setNoDelay(true);
  let buffered = Buffer.alloc(0);
  let waiting: { resolve(status: number): void; reject(err: Error): void } | null = null;
  const fail = (err: Error) => {
    const w = waiting;
    waiting = null;
    socket.destroy();
    w?.reject(err);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('the server closed the connection')));
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0 || !waiting) return;
    const head = buffered.subarray(0, end).toString('latin1');
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
    if (length === undefined) return fail(new Error(`no Content-Length in ${head}`));
    if (buffered.length < end + 4 + Number(length)) return;
    buffered = buffered.subarray(end + 4 + Number(length));
    const w = waiting;
    waiting = null;
    w.resolve(Number(head.slice(9, 12)));
  });
  return {
    /** Resolves once answered; throws unless the status is `expect`. */
    async request(method: string, path: string, headers: Record<string, string>, body = '', expect = 200) {
      if (waiting) throw new Error('the raw client sends one request at a time');
      const lines = [`${method} ${path} HTTP/1.1`, `host: ${hostname}:${port}`];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      if (body) lines.push(`content-length: ${Buffer.byteLength(body)}`);
      const status = await new Promise<number>((resolve, reject) => {
        waiting = { resolve, reject };
        socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
      });
      if (status !== expect) throw new Error(`${method} ${path} answered ${status}, not ${expect}`);
    },
    close() {
      socket.removeAllListeners('close');
      socket.destroy();
    },
  };
}

/** `concurrency` clients sending `n` requests in all, each as soon as its previous one is answered. */
export async function timed(n: number, concurrency: number, one: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await one(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, sorted: latencies.sort((a, b) => a - b) };
}

/** Each of `clients` sends one request every `everyMs` for `seconds`; latency from when each was due. */
async function paced(clients: number, everyMs: number, seconds: number, one: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  const started = performance.now();
  const perClient = Math.floor((seconds * 1000) / everyMs);
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const offset = (c * everyMs) / clients; // spread the clients over the interval
      for (let k = 0; k < perClient; k++) {
        const due = started + offset + k * everyMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await one(c * perClient + k);
        latencies.push(performance.now() - due);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, sorted: latencies.sort((a, b) => a - b) };
}

const summary = (scenario: string, seconds: number, sorted: number[]): Latencies => ({
  scenario,
  requests: sorted.length,
  seconds,
  p50: percentile(sorted, 0.5),
  p99: percentile(sorted, 0.99),
});

/**
 * The hook path against the floor. The single-client figures interleave their scenarios in
 * rounds, so a neighbour's load on a shared machine falls on all of them alike.
 * `key` needs the `ingest` and `read` scopes; `aroundPaced` wraps the paced hooks (to measure them).
 */
export async function hookLatency(
  url: string,
  key: string,
  aroundPaced: <T>(run: () => Promise<T>) => Promise<T> = (run) => run(),
  pacedOnly = false,
): Promise<Latencies[]> {
  const auth = { headers: { authorization: `Bearer ${key}` } };
  // Warm up: the tenant's file opens on its first event, the code paths compile.
  await timed(2000, 10, (i) => postHook(url, key, hookBody('warm', i)));
  for (let i = 0; i < 200; i++) await send(`${url}/api/v1/me`, auth);

  const names = ['healthz', 'me', 'auth', 'hook', 'post', 'journal', 'rawHealthz', 'rawPost', 'rawHook'] as const;
  const single = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<(typeof names)[number], number[]>;
  const took = Object.fromEntries(names.map((n) => [n, 0])) as Record<(typeof names)[number], number>;
  const journalDir = tempDir('am-bench-journal');
  const { journal } = openJournal(journalDir.path, 0);
  const raw = await rawClient(url);
  const json = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const rounds = pacedOnly ? 0 : 10;
  const perRound = Math.ceil(SINGLE_REQUESTS / rounds);
  try {
    for (let r = 0; r < rounds; r++) {
      const round = {
        healthz: () => timed(perRound, 1, () => send(`${url}/healthz`)),
        me: () => timed(perRound, 1, () => send(`${url}/api/v1/me`, auth)),
        auth: () => timed(perRound, 1, () => notFound(`${url}/api/v1/not-here`, auth)),
        hook: () => timed(perRound, 1, (i) => postHook(url, key, hookBody(`one${r}`, i))),
        post: () =>
          timed(perRound, 1, (i) =>
            notFound(`${url}/api/v1/not-here`, { method: 'POST', headers: json, body: hookBody(`post${r}`, i) }),
          ),
        journal: () =>
          timed(perRound, 1, async (i) => {
            journal.applied(await journal.append(Buffer.from(hookBody(`j${r}`, i).padEnd(JOURNAL_RECORD_BYTES))));
          }),
        rawHealthz: () => timed(perRound, 1, () => raw.request('GET', '/healthz', {})),
        rawPost: () =>
          timed(perRound, 1, (i) => raw.request('POST', '/api/v1/not-here', json, hookBody(`rpost${r}`, i), 404)),
        rawHook: () =>
          timed(perRound, 1, (i) => raw.request('POST', '/api/v1/hooks/claude-code', json, hookBody(`raw${r}`, i))),
      };
      for (const name of names) {
        const { sorted, seconds } = await round[name]();
        single[name].push(...sorted);
        took[name] += seconds;
      }
    }
  } finally {
    raw.close();
    await journal.close();
    journalDir.remove();
  }
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);

  const perSecond = ((CLIENTS * 1000) / EVERY_MS).toFixed(0);
  const pacedHealthz = await paced(CLIENTS, EVERY_MS, PACED_SECONDS, () => send(`${url}/healthz`));
  // The paced hooks' floor: their POST, answered once the key is accepted.
  const pacedPost = await paced(CLIENTS, EVERY_MS, PACED_SECONDS, (i) =>
    notFound(`${url}/api/v1/not-here`, { method: 'POST', headers: json, body: hookBody('ppost', i) }),
  );
  const pacedHooks = await aroundPaced(() =>
    paced(CLIENTS, EVERY_MS, PACED_SECONDS, (i) => postHook(url, key, hookBody('paced', i))),
  );
  return [
    summary('GET /healthz, 1 client', took.healthz, sorted(single.healthz)),
    summary('GET /api/v1/me (API key), 1 client', took.me, sorted(single.me)),
    summary('GET /api/v1/not-here (API key → 404), 1 client', took.auth, sorted(single.auth)),
    summary('hook POST, 1 client', took.hook, sorted(single.hook)),
    summary(`GET /healthz, ${CLIENTS} clients paced, ${perSecond}/s in all`, pacedHealthz.seconds, pacedHealthz.sorted),
    summary(`hook POST, ${CLIENTS} clients paced, ${perSecond}/s in all`, pacedHooks.seconds, pacedHooks.sorted),
    summary('POST /api/v1/not-here (hook body → 404), 1 client', took.post, sorted(single.post)),
    summary(`journal write + sync in the bench, ${JOURNAL_RECORD_BYTES} B`, took.journal, sorted(single.journal)),
    summary('GET /healthz, 1 raw socket', took.rawHealthz, sorted(single.rawHealthz)),
    summary('POST /api/v1/not-here (hook body → 404), 1 raw socket', took.rawPost, sorted(single.rawPost)),
    summary('hook POST, 1 raw socket', took.rawHook, sorted(single.rawHook)),
    summary(`POST → 404 (hook body), ${CLIENTS} clients paced`, pacedPost.seconds, pacedPost.sorted),
  ];
}

/** Issue 25's hook targets, each figure beside its target and the ratio (paced only, without the single client's). */
export function printHookTargets([
  healthz,
  me,
  auth,
  hook,
  pacedHealthz,
  pacedHook,
  post,
  write,
  rawHealthz,
  rawPost,
  rawHook,
  pacedPost,
]: Latencies[]) {
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const line = (what: string, figure: number, limit: number, detail: string) =>
    console.log(
      `  ${what}: ${ms(figure)} ≤ ${ms(limit)}? ${figure <= limit ? 'yes' : 'NO'} (${(figure / limit).toFixed(2)}× the limit; ${detail})`,
    );
  const pacedLines = () => {
    line(
      `hook p99 paced ≤ 2× paced /healthz p99`,
      pacedHook!.p99,
      2 * pacedHealthz!.p99,
      `hook/healthz ${(pacedHook!.p99 / pacedHealthz!.p99).toFixed(2)}×`,
    );
    console.log(
      `  the paced hooks' floor, p99: their POST answered 404 ${ms(pacedPost!.p99)} ` +
        `(${(pacedPost!.p99 / pacedHealthz!.p99).toFixed(2)}× paced /healthz); the hooks ${ms(pacedHook!.p99)}`,
    );
  };
  console.log('\nhook targets (issue 25):');
  if (!healthz!.requests) return pacedLines();
  line(
    'hook p50, 1 client ≤ 2× /healthz p50',
    hook!.p50,
    2 * healthz!.p50,
    `hook/healthz ${(hook!.p50 / healthz!.p50).toFixed(2)}×`,
  );
  line('hook p99, 1 client ≤ 5 ms', hook!.p99, 5, `/healthz p99 ${ms(healthz!.p99)}`);
  pacedLines();
  const versus = (what: string, x: Latencies) =>
    console.log(
      `  ${what} vs /healthz, 1 client: p50 ${ms(x.p50)} vs ${ms(healthz!.p50)} (${(x.p50 / healthz!.p50).toFixed(2)}×), p99 ${ms(x.p99)} vs ${ms(healthz!.p99)} (${(x.p99 / healthz!.p99).toFixed(2)}×)`,
    );
  versus('cached key, then a 404 (GET /api/v1/not-here)', auth!);
  versus('cached key, then two reads (GET /api/v1/me)', me!);
  versus('a hook body POSTed, cached key, then a 404', post!);
  // A hook is at least a POST of its body and one durable write: the rest is the hook's own work.
  const floor = post!.p50 + write!.p50;
  console.log(
    `  a hook's floor, p50: its POST answered 404 ${ms(post!.p50)} + one journal write ${ms(write!.p50)} = ${ms(floor)} ` +
      `(${(floor / healthz!.p50).toFixed(2)}× /healthz); the hook ${ms(hook!.p50)}, ${ms(hook!.p50 - floor)} above it`,
  );
  console.log(
    `  the same without fetch (one raw keep-alive socket), p50: /healthz ${ms(rawHealthz!.p50)}, the hook's POST → 404 ` +
      `${ms(rawPost!.p50)}, the hook ${ms(rawHook!.p50)} (${(rawHook!.p50 / rawHealthz!.p50).toFixed(2)}× /healthz)`,
  );
}
