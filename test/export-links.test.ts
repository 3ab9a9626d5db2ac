// The pages' export links over real HTTP, with the shared fixtures posted through the real
// ingest endpoints: each CSV (read back as RFC 4180) holds what its table shows, people
// are named by email and name rather than by id, the sessions CSV is the list as the table
// orders it with when each started, how long it ran and its score, cost by model has no
// empty row, and the most common errors export as CSV and JSON like every other table.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCommand } from '../src/admin/commands.js';
import { fmt } from '../src/dashboards/format.js';
import { ADMIN, ingestKey, signIn, startTestServer, type Client, type TestServer } from './helpers.js';
import { postFixtures, postHook } from './fixture-data.js';
import { parseCsv } from './csv.js';

type Ctx = { server: TestServer; admin: Client; dev: { userId: string }; hana: { userId: string } };
const s = suite<Ctx>('export links');
/** Hook events arrive now; the OTLP fixtures carry their own times, within the last 90 days. */
const RANGE = '?range=90d';
const USER_ID = /^u_[a-z2-7]{20}$/;

s.before(async (ctx) => {
  ctx.server = await startTestServer();
  const dev = await ingestKey(ctx.server, ['ingest', 'read'], 'agent@acme.test');
  ctx.dev = dev;
  await postFixtures(ctx.server, dev.key);
  // A second person, with a name, and a session with a failed Bash call of her own.
  await runCommand(ctx.server.ctx, 'user create', {
    tenant: dev.tenantId,
    email: 'hana@acme.test',
    role: 'developer',
    name: 'Hana Export',
    password: 'a long password 1',
  });
  const hana = await ingestKey(ctx.server, ['ingest'], 'hana@acme.test');
  ctx.hana = hana;
  const base = { session_id: 'hana-session-1', cwd: '/home/hana/src/web' };
  for (const body of [
    { ...base, hook_event_name: 'SessionStart', source: 'startup' },
    { ...base, hook_event_name: 'UserPromptSubmit', prompt: 'run the tests' },
    {
      ...base,
      hook_event_name: 'PreToolUse',
      tool_name: 'Bash',
      tool_use_id: 'hana-1',
      tool_input: { command: 'npm test' },
    },
    {
      ...base,
      hook_event_name: 'PostToolUseFailure',
      tool_name: 'Bash',
      tool_use_id: 'hana-1',
      tool_input: { command: 'npm test' },
      error: 'npm ERR! Test failed\nmore detail',
    },
  ])
    assert.is((await postHook(ctx.server, hana.key, body)).status, 200);
  ctx.admin = await signIn(ctx.server, ADMIN.email, ADMIN.password);
});
s.after(async (ctx) => ctx.server?.stop());

const decode = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
const text = (html: string) =>
  decode(html.replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();

async function page(client: Client, path: string): Promise<string> {
  const res = await client.get(path);
  const html = await res.text();
  assert.is(res.status, 200, `${path}: ${html.slice(0, 200)}`);
  return html;
}

/** The export links of the widget whose heading has `id`, by format. */
function linksOf(html: string, id: string): { csv: string; json: string } {
  const start = html.indexOf(`id="${id}"`);
  assert.ok(start >= 0, `a widget ${id}`);
  const header = html.slice(start, html.indexOf('</header>', start));
  const href = (format: string) =>
    decode(new RegExp(`<a href="([^"]*format=${format}[^"]*)" download>`).exec(header)?.[1] ?? '');
  const links = { csv: href('csv'), json: href('json') };
  assert.ok(links.csv && links.json, `${id} has CSV and JSON links: ${header}`);
  return links;
}

/** Every CSV export link on a page. */
const csvLinks = (html: string) =>
  [...html.matchAll(/<a href="([^"]*format=csv[^"]*)" download>/g)].map((m) => decode(m[1]!));

/** A CSV download as objects by its header (and the header). */
async function csv(client: Client, link: string): Promise<{ header: string[]; rows: Record<string, string | null>[] }> {
  const res = await client.request(link);
  const body = await res.text();
  assert.is(res.status, 200, `${link}: ${body.slice(0, 200)}`);
  assert.is(res.headers.get('content-type'), 'text/csv; charset=utf-8');
  const [header, ...records] = parseCsv(body) as [string[], ...(string | null)[][]];
  return { header, rows: records.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? null]))) };
}

/** The body rows of the table in the `data-live` region `live`, as cell texts (and each row's attributes). */
function tableIn(html: string, live: string): { attrs: string; cells: string[] }[] {
  const start = html.indexOf(`data-live="${live}"`);
  assert.ok(start >= 0, `a ${live} region`);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(html.slice(start, html.indexOf('</section>', start)))?.[1] ?? '';
  return [...body.matchAll(/<tr([^>]*)>([\s\S]*?)<\/tr>/g)].map((row) => ({
    attrs: row[1]!,
    cells: [...row[2]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => text(c[1]!)),
  }));
}

s(
  'people are named by email and name in every CSV the pages link to; an id only in its own column',
  async ({ server, admin, dev, hana }) => {
    const team = await page(admin, `/team${RANGE}`);
    const people = await csv(admin, linksOf(team, 'w-team').csv);
    assert.ok(
      people.header.includes('user_email') && people.header.includes('user_name') && people.header.includes('user_id'),
      people.header.join(','),
    );
    assert.not.ok(people.header.includes('user'), 'no column of bare ids');
    const byEmail = Object.fromEntries(people.rows.map((r) => [r.user_email, r]));
    assert.equal(Object.keys(byEmail).sort(), ['agent@acme.test', 'hana@acme.test']);
    assert.is(byEmail['hana@acme.test']!.user_name, 'Hana Export');
    assert.is(byEmail['hana@acme.test']!.user_id, hana.userId);
    assert.is(byEmail['agent@acme.test']!.user_id, dev.userId);

    const session = 'hana-session-1';
    let checked = 0;
    for (const path of ['/', '/tools', '/agents', '/sessions', `/sessions/${session}`, '/team', '/me']) {
      const html = await page(admin, path === `/sessions/${session}` ? path : `${path}${RANGE}`);
      for (const link of csvLinks(html)) {
        const { header, rows } = await csv(admin, link);
        for (const row of rows) {
          for (const [column, value] of Object.entries(row)) {
            if (column !== 'user_id') assert.not.match(value ?? '', USER_ID, `${path}: ${link}: ${column} holds an id`);
          }
          if (header.includes('user_email'))
            assert.match(row.user_email ?? '', /^[^@]+@acme\.test$/, `${path}: ${link}`);
        }
        checked++;
      }
    }
    assert.ok(checked >= 15, `${checked} CSV links followed`);
    // The raw events export (managers and up) names them too, beside the id it always had.
    const raw = await csv(
      admin,
      `/api/metrics/export/csv?from=${new Date(Date.now() - 90 * 86_400_000).toISOString()}`,
    );
    assert.equal(raw.header.slice(raw.header.indexOf('user_id'), raw.header.indexOf('user_id') + 3), [
      'user_id',
      'user_email',
      'user_name',
    ]);
    assert.ok(
      raw.rows.some(
        (r) => r.user_email === 'hana@acme.test' && r.user_name === 'Hana Export' && r.user_id === hana.userId,
      ),
    );
    assert.ok(raw.rows.every((r) => r.user_email === 'agent@acme.test' || r.user_email === 'hana@acme.test'));
    void server;
  },
);

s(
  'the sessions CSV is the table: newest first, with when each started, its duration, figures and score',
  async ({ admin }) => {
    const html = await page(admin, `/sessions${RANGE}`);
    const table = tableIn(html, 'sessions-list');
    const header = [...html.matchAll(/<th scope="col"[^>]*>([\s\S]*?)<\/th>/g)].map((m) => text(m[1]!));
    const col = (name: string) => header.indexOf(name);
    assert.ok(table.length >= 4, `${table.length} sessions listed`);
    const { csv: link, json } = linksOf(html, 'w-sessions');
    const exported = await csv(admin, link);
    for (const c of ['session_id', 'started_at', 'duration_s', 'user_email', 'user_name', 'score'])
      assert.ok(exported.header.includes(c), `${c} in ${exported.header.join(',')}`);
    assert.equal(
      exported.rows.map((r) => r.session_id),
      table.map((r) => /data-session="([^"]+)"/.exec(r.attrs)![1]),
      'the same sessions in the same order',
    );
    const last = exported.rows.map((r) => Date.parse(r.last_activity_at!));
    assert.equal(
      last,
      [...last].sort((a, b) => b - a),
      'newest activity first',
    );
    table.forEach((row, i) => {
      const r = exported.rows[i]!;
      assert.is(row.cells[col('Started')], fmt.when(r.started_at), `${r.session_id} started`);
      assert.is(row.cells[col('Duration')], fmt.ms(Number(r.duration_s) * 1000), `${r.session_id} duration`);
      assert.is(row.cells[col('Prompts')], fmt.count(Number(r.prompts)), `${r.session_id} prompts`);
      assert.is(row.cells[col('Tool calls')], fmt.count(Number(r.tool_calls)), `${r.session_id} tool calls`);
      assert.is(row.cells[col('Who')], r.user_name ?? r.user_email, `${r.session_id} who`);
      assert.is(row.cells[col('Score')], r.score === null ? '–' : Number(r.score).toFixed(1), `${r.session_id} score`);
    });
    assert.ok(
      exported.rows.some((r) => r.score !== null),
      'scored sessions',
    );
    const asJson = (await (await admin.request(json)).json()) as Record<string, unknown>[];
    assert.equal(
      asJson.map((r) => r.session_id),
      exported.rows.map((r) => r.session_id),
    );
    assert.type(asJson[0]!.duration_s, 'number');
    // Narrowed by a model, the export is the narrowed list too.
    const narrowed = await page(admin, `/sessions${RANGE}&model=claude-sonnet-4-5`);
    const narrowRows = tableIn(narrowed, 'sessions-list').map((r) => /data-session="([^"]+)"/.exec(r.attrs)![1]);
    assert.ok(
      narrowRows.length > 0 && narrowRows.length < table.length,
      `${narrowRows.length} of ${table.length} sessions used the model`,
    );
    assert.equal(
      (await csv(admin, linksOf(narrowed, 'w-sessions').csv)).rows.map((r) => r.session_id),
      narrowRows,
    );
  },
);

s(
  'the key figures export what the cards show, a tool or model filter narrowing the figures it applies to',
  async ({ admin }) => {
    const summaryOf = async (q: { from: number; to: number }, filter: string) => {
      const res = await admin.request(`/api/v1/dashboard/summary?from=${q.from}&to=${q.to}&${filter}`);
      assert.is(res.status, 200);
      return (await res.json()) as {
        tool_calls: number;
        cost_usd: number;
        tokens: { total: number };
        by_model: { model: string }[];
      };
    };
    const model = (await summaryOf({ from: Date.now() - 90 * 86_400_000, to: Date.now() }, '')).by_model[0]!.model;
    for (const filter of ['tool=Bash', `model=${encodeURIComponent(model)}`]) {
      const link = linksOf(await page(admin, `/${RANGE}&${filter}`), 'w-kpis').csv;
      const q = JSON.parse(new URL(link, 'http://localhost').searchParams.get('q')!) as { from: number; to: number };
      const [row] = (await csv(admin, link)).rows;
      const cards = await summaryOf(q, filter);
      assert.equal(
        [Number(row!.tool_calls), Number(row!.cost_usd).toFixed(6), Number(row!.tokens)],
        [cards.tool_calls, cards.cost_usd.toFixed(6), cards.tokens.total],
        filter,
      );
    }
  },
);

s('cost by model exports the rows its table shows, with no empty row', async ({ admin }) => {
  const html = await page(admin, `/${RANGE}`);
  const shown = tableIn(html, 'by-model').map((r) => r.cells);
  assert.ok(shown.length >= 1);
  const { rows } = await csv(admin, linksOf(html, 'w-by_model').csv);
  assert.ok(
    rows.every((r) => r.model !== null && r.model !== ''),
    `no row without a model: ${JSON.stringify(rows)}`,
  );
  assert.equal(
    rows.map((r) => [r.model, fmt.count(Number(r.tokens)), fmt.usd(Number(r.cost_usd))]),
    shown.map((c) => [c[0], c[1], c[2]]),
  );
});

s('the most common errors export as CSV and as JSON, the rows the table shows', async ({ admin }) => {
  const html = await page(admin, `/tools${RANGE}`);
  const shown = tableIn(html, 'tool-errors').map((r) => r.cells);
  assert.ok(
    shown.some((c) => c[0] === 'Bash' && c[1] === 'npm ERR! Test failed'),
    JSON.stringify(shown),
  );
  const links = linksOf(html, 'w-errors');
  const exported = await csv(admin, links.csv);
  assert.equal(exported.header, ['kind', 'name', 'error', 'count', 'sessions', 'last_seen']);
  assert.equal(
    exported.rows.map((r) => [r.name, r.error, r.count, r.sessions]),
    shown.map((c) => [c[0], c[1], c[2], c[3]]),
  );
  assert.ok(
    exported.rows.every((r) => r.kind === 'tool_call'),
    'failed tool calls, as the table',
  );
  const res = await admin.request(links.json);
  assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="agentmeter-errors-/);
  const json = (await res.json()) as Record<string, unknown>[];
  assert.equal(
    json.map((r) => [r.name, r.error, r.count]),
    exported.rows.map((r) => [r.name, r.error, Number(r.count)]),
  );
});

s.run();
