// The dashboards in the tenant's time zone, over real HTTP with an injected clock: "today"
// on New York's 23- and 25-hour days starts at its local midnight, "this month" in Kolkata
// at its local 1st, custom dates are local dates, and the hourly chart reads local hours.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { when } from '../src/dashboards/format.js';
import { ADMIN, ingestKey, setUp, startTestServer, type Client, type TestServer } from './helpers.js';

type Ctx = { server: TestServer; admin: Client; ingest: (ts: number[]) => Promise<void> };
const s = suite<Ctx>('dashboards: the tenant time zone');

const NY = 'America/New_York';
const KOLKATA = 'Asia/Kolkata';
const utc = (iso: string) => Date.parse(`${iso}Z`);

/** A fresh server whose tenant counts its days in `zone`, its clock at `now`. */
async function tenantIn(ctx: Ctx, zone: string, now: number): Promise<void> {
  ctx.server = await startTestServer();
  await ctx.server.ctx.aggregator.stop();
  ctx.admin = await setUp(ctx.server);
  const { tenantId, userId } = await ingestKey(ctx.server);
  await ctx.admin.get('/settings/timezone');
  const put = await ctx.admin.request('/api/v1/settings/timezone', {
    method: 'PUT',
    json: { timezone: zone },
    headers: { 'x-csrf-token': ctx.admin.csrf! },
  });
  assert.is(put.status, 200);
  ctx.server.ctx.now = () => new Date(now);
  let n = 0;
  ctx.ingest = async (ts) => {
    const events = ts.map((t) => ({
      id: `e${n++}`,
      kind: 'tool_call' as const,
      ts: t,
      session_id: 's1',
      name: 'Bash',
      status: 'success',
    }));
    assert.is((await ctx.server.ctx.ingest.ingest({ tenantId, userId }, 'rest', events)).accepted, ts.length);
  };
}
s.after.each(async (ctx) => ctx.server?.stop());

async function html(client: Client, path: string): Promise<string> {
  const res = await client.get(path);
  const body = await res.text();
  assert.is(res.status, 200, `${path}: ${res.status} ${body.slice(0, 300)}`);
  return body;
}
type Chart = {
  series: { name: string; data: [number, number | null][] }[];
  axis: { t: number[]; labels: string[]; titles: string[] };
};
/** The chart `id` of a page, and the tooltip title of each of its series' points with a value. */
function chartOf(page: string, id: string, series: string): { spec: Chart; points: [string, number | null][] } {
  const spec = JSON.parse(
    new RegExp(`id="${id}" data-live="${id}" data-chart="([^"]+)"`).exec(page)![1]!.replaceAll('&quot;', '"'),
  ) as Chart;
  const points = spec.series
    .find((x) => x.name === series)!
    .data.filter(([, v]) => v)
    .map(([t, v]): [string, number | null] => [spec.axis.titles[spec.axis.t.indexOf(t)]!, v]);
  return { spec, points };
}

const toolCalls = async (ctx: Ctx, search: string) => {
  const page = await html(ctx.admin, `/${search}`);
  assert.not.match(page, /Unknown time range|custom dates were not dates/, search);
  return /<div class="kpi-label">Tool calls<\/div>\s*<div class="kpi-value">([^<]*)<\/div>/.exec(page)?.[1];
};

s('"today" on New York’s 23-hour day (2026-03-08) starts at its local midnight, 05:00 UTC', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-03-08T15:00:00'));
  // 23:30 on 7 March in New York (a UTC 8 March), then 00:30 and 10:00 EDT on 8 March.
  await ctx.ingest([utc('2026-03-08T04:30:00'), utc('2026-03-08T05:30:00'), utc('2026-03-08T14:00:00')]);
  assert.is(await toolCalls(ctx, '?range=today'), '2');
  // Rolling ranges are the same in every zone.
  assert.is(await toolCalls(ctx, '?range=24h'), '3');
  const page = await html(ctx.admin, '/?range=today');
  assert.match(page, /<option value="today" selected>Today<\/option>/);
});

s('"today" on New York’s 25-hour day (2026-11-01) holds both 01:30s, from 04:00 UTC', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-11-02T04:30:00')); // 23:30 EST on 1 November
  // 23:30 EDT on 31 October; 00:30 EDT, 01:30 EDT, 01:30 EST and 23:00 EST on 1 November.
  await ctx.ingest([
    utc('2026-11-01T03:30:00'),
    utc('2026-11-01T04:30:00'),
    utc('2026-11-01T05:30:00'),
    utc('2026-11-01T06:30:00'),
    utc('2026-11-02T04:00:00'),
  ]);
  assert.is(await toolCalls(ctx, '?range=today'), '4');
  // "This week" began on Monday 26 October, 04:00 UTC.
  await ctx.ingest([utc('2026-10-26T03:59:00'), utc('2026-10-26T04:00:00')]);
  assert.is(await toolCalls(ctx, '?range=week'), '6');
});

s('custom dates are New York dates: a day from its midnight to the next, shown back as the same dates', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-03-20T12:00:00'));
  await ctx.ingest([
    utc('2026-03-07T04:59:00'), // 6 March, 23:59 EST
    utc('2026-03-07T05:00:00'), // 7 March, 00:00 EST
    utc('2026-03-09T03:59:00'), // 8 March, 23:59 EDT
    utc('2026-03-09T04:00:00'), // 9 March, 00:00 EDT
    utc('2026-03-10T03:00:00'), // 9 March, 23:00 EDT
  ]);
  assert.is(await toolCalls(ctx, '?from=2026-03-07&to=2026-03-07'), '1');
  assert.is(await toolCalls(ctx, '?from=2026-03-08&to=2026-03-08'), '1');
  assert.is(await toolCalls(ctx, '?from=2026-03-07&to=2026-03-08'), '2');
  assert.is(await toolCalls(ctx, '?from=2026-03-06&to=2026-03-09'), '5');
  const page = await html(ctx.admin, '/?from=2026-03-07&to=2026-03-08');
  assert.match(page, /<input type="date" name="from" value="2026-03-07">/);
  assert.match(page, /<input type="date" name="to" value="2026-03-08">/);
});

s('"this month" in Kolkata starts at 00:00 IST on the 1st, 18:30 UTC the day before', async (ctx) => {
  await tenantIn(ctx, KOLKATA, utc('2026-11-30T20:00:00')); // 01:30 on 1 December in Kolkata
  // 30 November 23:59 and 1 December 00:00 and 01:00 in Kolkata.
  await ctx.ingest([utc('2026-11-30T18:29:00'), utc('2026-11-30T18:30:00'), utc('2026-11-30T19:30:00')]);
  assert.is(await toolCalls(ctx, '?range=month'), '2');
  assert.is(await toolCalls(ctx, '?range=today'), '2');
  assert.is(await toolCalls(ctx, '?from=2026-11-30&to=2026-11-30'), '1');
});

s('the hourly chart reads New York hours: an event at 05:30 UTC is in the 00:00 bar of 8 March', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-03-08T15:00:00'));
  await ctx.ingest([utc('2026-03-08T05:30:00'), utc('2026-03-08T14:10:00'), utc('2026-03-08T14:20:00')]);
  const page = await html(ctx.admin, '/?range=7d');
  const { spec, points } = chartOf(page, 'chart-activity', 'Tool calls');
  // Points at real instants, titled in New York time: 00:00 (EST) and 10:00 (EDT) on 8 March.
  assert.equal(
    spec.series[0]!.data.map(([t]) => t),
    spec.axis.t,
  );
  assert.equal(points, [
    ['08 Mar 00:00 EST', 1],
    ['08 Mar 10:00 EDT', 2],
  ]);
  // Seven days of hours, labelled at New York's midnights.
  const midnights = spec.axis.t.filter((_, i) => spec.axis.labels[i]);
  assert.equal(
    midnights.map((t) => new Date(t).toISOString().slice(5, 16)),
    ['03-02T05:00', '03-03T05:00', '03-04T05:00', '03-05T05:00', '03-06T05:00', '03-07T05:00', '03-08T05:00'],
  );
  assert.equal(spec.axis.labels.filter(Boolean), [
    '02 Mar',
    '03 Mar',
    '04 Mar',
    '05 Mar',
    '06 Mar',
    '07 Mar',
    '08 Mar',
  ]);
  // 8 March so far (00:00 to 10:00, 02:00 skipped): 10 hourly slots.
  assert.equal(
    spec.axis.titles.filter((_, i) => spec.axis.t[i]! >= utc('2026-03-08T05:00:00')),
    ['00:00 EST', '01:00 EST', ...[3, 4, 5, 6, 7, 8, 9, 10].map((h) => `${String(h).padStart(2, '0')}:00 EDT`)].map(
      (t) => `08 Mar ${t}`,
    ),
  );
});

s('the chart of New York’s 25-hour day has both 01:00 hours, one after the other', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-11-01T08:00:00')); // 03:00 EST
  // 01:30 EDT once, 01:30 EST twice.
  await ctx.ingest([utc('2026-11-01T05:30:00'), utc('2026-11-01T06:30:00'), utc('2026-11-01T06:32:00')]);
  const { spec, points } = chartOf(await html(ctx.admin, '/?range=today'), 'chart-activity', 'Tool calls');
  // Four hours of five minutes from midnight EDT (04:00 UTC), labelled each half hour.
  assert.equal(
    spec.axis.t.map((t) => t - utc('2026-11-01T04:00:00')),
    Array.from({ length: 48 }, (_, i) => i * 5 * 60_000),
  );
  assert.equal(spec.axis.labels.filter(Boolean), [
    '01 Nov',
    '00:30',
    '01:00',
    '01:30',
    '01:00',
    '01:30',
    '02:00',
    '02:30',
  ]);
  assert.equal(points, [
    ['01 Nov 01:30 EDT', 1],
    ['01 Nov 01:30 EST', 2],
  ]);
});

s('a person’s insights name New York dates', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-03-20T12:00:00'));
  const admin = (await ctx.server.ctx.control.get<{ id: string; tenant_id: string }>(
    "SELECT id, tenant_id FROM users WHERE email <> 'agent@acme.test' ORDER BY created_at LIMIT 1",
  ))!;
  const event = {
    id: 'mine',
    kind: 'tool_call' as const,
    ts: utc('2026-03-08T14:00:00'),
    session_id: 's9',
    name: 'Bash',
  };
  await ctx.server.ctx.ingest.ingest({ tenantId: admin.tenant_id, userId: admin.id }, 'rest', [event]);
  // 7 and 8 March in New York (47 hours): the period before is 5 March 01:00 to 6 March 23:59 there.
  const page = await html(ctx.admin, '/me?from=2026-03-07&to=2026-03-08');
  assert.match(page, /Nothing from you in the previous period \(5 Mar to 6 Mar\)/);
});

s(
  'daily points in Santiago, whose 6 September 2026 skips its midnight: one per day, on the SQL buckets',
  async (ctx) => {
    await tenantIn(ctx, 'America/Santiago', utc('2026-09-20T12:00:00'));
    // 5 September 12:00 (-04), 6 September 12:00 (-03, the day began at 01:00), 8 September 12:00 (-03).
    await ctx.ingest([utc('2026-09-05T16:00:00'), utc('2026-09-06T15:00:00'), utc('2026-09-08T15:00:00')]);
    const from = new Date(utc('2026-09-04T04:00:00')).toISOString(); // 4 September, 00:00 -04
    const to = new Date(utc('2026-09-10T03:00:00')).toISOString(); // 10 September, 00:00 -03
    const res = await ctx.admin.get(`/api/v1/metrics/timeseries?metric=tool_calls&interval=1d&from=${from}&to=${to}`);
    const body = (await res.json()) as { points: { t: string; tool_calls: number }[] };
    assert.is(res.status, 200, JSON.stringify(body));
    assert.equal(
      body.points.map((p) => [p.t, p.tool_calls]),
      [
        ['2026-09-04T04:00:00.000Z', 0],
        ['2026-09-05T04:00:00.000Z', 1],
        ['2026-09-06T04:00:00.000Z', 1],
        ['2026-09-07T03:00:00.000Z', 0],
        ['2026-09-08T03:00:00.000Z', 1],
        ['2026-09-09T03:00:00.000Z', 0],
      ],
    );
  },
);

s('a trend’s forecast goes on in New York days past the 25-hour one, and in calendar months', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-10-30T16:00:00'));
  // One more call each day, 10 to 29 October, at noon in New York.
  const days = Array.from({ length: 20 }, (_, i) => i + 10);
  await ctx.ingest(days.flatMap((d, i) => Array.from({ length: i + 1 }, () => utc(`2026-10-${d}T16:00:00`))));
  const trend = async (query: string) => {
    const res = await ctx.admin.request(`/api/v1/analytics/trends?metric=tool_calls&${query}`);
    assert.is(res.status, 200, await res.clone().text());
    return ((await res.json()) as { trend: { forecast: { t: string }[] } }).trend.forecast.map((p) => p.t);
  };
  const from = new Date(utc('2026-10-10T04:00:00')).toISOString();
  const to = new Date(utc('2026-10-30T04:00:00')).toISOString();
  // Local midnights: EDT (04:00 UTC) until 1 November, EST (05:00 UTC) after it.
  assert.equal(await trend(`interval=1d&from=${from}&to=${to}&horizon=4`), [
    '2026-10-30T04:00:00.000Z',
    '2026-10-31T04:00:00.000Z',
    '2026-11-01T04:00:00.000Z',
    '2026-11-02T05:00:00.000Z',
  ]);
  assert.equal(await trend(`interval=1mo&from=2026-01-01T05:00:00Z&to=${to}&horizon=3`), [
    '2026-11-01T04:00:00.000Z',
    '2026-12-01T05:00:00.000Z',
    '2027-01-01T05:00:00.000Z',
  ]);
});

s('the team page’s trend line and forecast are one line in New York time', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-06-30T16:00:00'));
  // d calls on 1 to 29 June, at noon in New York: a rising line, no clock change.
  await ctx.ingest(
    Array.from({ length: 29 }, (_, i) => i + 1).flatMap((d) =>
      Array.from({ length: d }, () => utc(`2026-06-${String(d).padStart(2, '0')}T16:00:00`)),
    ),
  );
  const page = await html(ctx.admin, '/team?range=30d&metric=tool_calls');
  const spec = JSON.parse(/data-chart="([^"]+)"/.exec(page)![1]!.replace(/&quot;/g, '"')) as {
    series: { name: string; data: [number, number][] }[];
  };
  const [, fitted, forecast] = spec.series;
  assert.equal([fitted!.name, forecast!.name], ['Trend', 'Forecast']);
  const [[x1, v1], [x2, v2]] = fitted!.data.slice(-2) as [[number, number], [number, number]];
  const slope = (v2 - v1) / (x2 - x1);
  assert.ok(slope > 0, 'rising');
  for (const [x, v] of forecast!.data.slice(1))
    assert.ok(Math.abs(v - (v2 + slope * (x - x2))) < 1e-6, `the forecast at ${x} continues the fitted line`);
});

s('a session page shows its times in New York time', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-03-08T15:00:00'));
  await ctx.ingest([utc('2026-03-08T05:30:00'), utc('2026-03-08T14:10:09')]);
  const page = await html(ctx.admin, '/sessions/s1');
  assert.match(page, /<span>2026-03-08 00:30 EST to 2026-03-08 10:10 EDT<\/span>/);
  assert.match(page, /<time datetime="[^"]+" title="2026-03-08 10:10 EDT">10:10:09<\/time>/);
  assert.match(page, /<time datetime="[^"]+" title="2026-03-08 00:30 EST">00:30:00<\/time>/);
});

s('every page’s times read in the zone: API keys, import runs', async (ctx) => {
  await tenantIn(ctx, NY, Date.now());
  const { runCommand } = await import('../src/admin/commands.js');
  const { startRun } = await import('../src/import/runs.js');
  const admin = (await ctx.server.ctx.control.get<{ id: string; t: string }>(
    'SELECT id, tenant_id AS t FROM users WHERE email = $e',
    { e: ADMIN.email },
  ))!;
  await runCommand(ctx.server.ctx, 'apikey create', { tenant: admin.t, user: ADMIN.email, scopes: 'read' });
  const run = await startRun(
    ctx.server.ctx.tenantFiles,
    admin.t,
    { userId: admin.id, createdBy: admin.id, source: 'claude' },
    new Date(utc('2026-07-04T16:00:00')),
  );
  // New York time, EDT or EST as the date has it; never UTC.
  const local = /\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T/;
  const keys = await html(ctx.admin, '/settings/api-keys');
  assert.match(keys, local);
  assert.not.match(keys, /\d\d:\d\d UTC/);
  assert.match(await html(ctx.admin, `/import/runs/${run.id}`), /2026-07-04 12:00 EDT/);
});

s('times in tables read in the zone', () => {
  assert.is(when(utc('2026-11-22T14:05:00')), '2026-11-22 14:05 UTC');
  assert.is(when(utc('2026-11-22T14:05:00'), NY), '2026-11-22 09:05 EST');
  assert.is(when(utc('2026-07-22T14:05:00'), NY), '2026-07-22 10:05 EDT');
  assert.is(when(utc('2026-11-22T14:05:00'), KOLKATA), '2026-11-22 19:35 GMT+5:30');
});

s('daily points of the API and the overview chart are New York days, the 23-hour one included', async (ctx) => {
  await tenantIn(ctx, NY, utc('2026-03-10T15:00:00'));
  // 23:30 on 7 March, 00:30 on 8 March (EST), 23:30 on 8 March and 00:30 on 9 March (EDT).
  await ctx.ingest([
    utc('2026-03-08T04:30:00'),
    utc('2026-03-08T05:30:00'),
    utc('2026-03-09T03:30:00'),
    utc('2026-03-09T04:30:00'),
  ]);
  const from = '2026-03-06T05:00:00.000Z';
  const to = '2026-03-10T04:00:00.000Z';
  const res = await ctx.admin.get(`/api/v1/metrics/timeseries?metric=tool_calls&interval=1d&from=${from}&to=${to}`);
  assert.is(res.status, 200);
  const { points } = (await res.json()) as { points: { t: string; tool_calls: number }[] };
  assert.equal(
    points.map((p) => [p.t, p.tool_calls]),
    [
      ['2026-03-06T05:00:00.000Z', 0],
      ['2026-03-07T05:00:00.000Z', 1],
      ['2026-03-08T05:00:00.000Z', 2],
      ['2026-03-09T04:00:00.000Z', 1],
    ],
  );
  // The overview's 30-day chart is daily: its bars are at New York's midnights, titled with their dates.
  const bars = chartOf(await html(ctx.admin, '/?range=30d'), 'chart-activity', 'Tool calls').points;
  assert.equal(bars, [
    ['07 Mar 2026', 1],
    ['08 Mar 2026', 2],
    ['09 Mar 2026', 1],
  ]);
});

s.run();
