// A person's download of everything the appliance stores about them (GDPR's right of
// access): one zip of JSON and CSV. Their events are streamed into it from one read-only
// snapshot of their tenant's file (src/query/export.ts), so memory does not grow with their
// number; the rest (their account, keys' metadata, sessions, import runs and audit entries)
// is small and read whole before the first byte goes out.
import { Readable, finished } from 'node:stream';
import yazl from 'yazl';
import { getTenant } from '../tenants/tenants.js';
import { sessionsExport } from '../dashboards/sessions-export.js';
import { listApiKeys } from '../auth/api-keys.js';
import { listRuns } from '../import/runs.js';
import { TIME_WINDOW } from '../ingest/schema.js';
import { exportEvents, type ExportFormat } from '../query/export.js';
import type { ExportPool, Lease } from '../query/export-slices.js';
import { tenantPeople } from '../query/people.js';
import type { Database } from '../storage/duckdb.js';
import type { TenantFiles } from '../storage/tenant-files.js';

export const README = `Everything agentmeter stores about you, as of the time in profile.json (exported_at).

profile.json      your account: id, organisation, email, name, role, whether it is disabled,
                  when it was created and last signed in to, and your open browser sessions
                  (when each began and expires). Your password is stored only as a one-way hash
                  and is not included.
events.csv        every event your agents and imports sent (hooks, OpenTelemetry, the REST API,
                  imports), oldest first, one per row. Text cells that a spreadsheet would run
                  as a formula (starting with = + - @) begin with an apostrophe.
events.ndjson     the same events exactly as stored, one JSON object per line.
sessions.json     your sessions with their figures (prompts, tool calls, requests, tokens,
                  cost, lines) and productivity score.
api_keys.json     your API keys: id, name, prefix, scopes, created and revoked. The keys
                  themselves are stored only as a one-way hash and are not included.
audit.json        the audit log's entries where you acted or were acted upon.
import_runs.json  your imports of local history: when, from which machine, what they counted.
`;

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

type Person = { id: string; tenantId: string };

/** Everything but the events: read whole (each is small), before the zip starts. */
async function records(deps: { control: Database; tenantFiles: TenantFiles }, person: Person, now: Date) {
  const { control, tenantFiles } = deps;
  const account = (await control.get<Record<string, unknown>>(
    `SELECT id, email, name, role, disabled, created_at, last_login_at FROM users WHERE id = $id`,
    { id: person.id },
  ))!;
  const tenant = await getTenant(control, person.tenantId);
  const browser = await control.all<{ created_at: Date; expires_at: Date }>(
    `SELECT created_at, expires_at FROM auth_sessions WHERE user_id = $id ORDER BY created_at`,
    { id: person.id },
  );
  const keys = await listApiKeys(control, person.tenantId, person.id);
  const audit = await control.all<Record<string, unknown> & { detail: string | null; occurred_at: Date }>(
    `SELECT occurred_at, action, actor, actor_user_id, target, ip, detail FROM audit_log
      WHERE actor_user_id = $id OR target = $id OR target IN (SELECT id FROM api_keys WHERE user_id = $id) ORDER BY occurred_at, id`,
    { id: person.id },
  );
  const people = await tenantPeople(control, person.tenantId);
  const sessions = await sessionsExport(
    tenantFiles,
    person.tenantId,
    { from: TIME_WINDOW.earliest, to: now.getTime() + TIME_WINDOW.aheadMs, user: [person.id], now: now.getTime() },
    people,
  );
  const runs = await listRuns(tenantFiles, person.tenantId, person.id, 1_000_000);
  return {
    'profile.json': {
      exported_at: now.toISOString(),
      ...account,
      created_at: iso(account.created_at as Date),
      last_login_at: iso(account.last_login_at as Date | null),
      organisation: tenant ? { id: tenant.id, name: tenant.name } : null,
      browser_sessions: browser.map((b) => ({ created_at: iso(b.created_at), expires_at: iso(b.expires_at) })),
    },
    'sessions.json': { sessions: sessions.rows, truncated: sessions.truncated },
    'api_keys.json': keys.map((k) => ({
      id: k.id,
      name: k.name,
      prefix: k.prefix,
      scopes: k.scopes,
      created_at: iso(k.createdAt),
      revoked_at: iso(k.revokedAt),
    })),
    'audit.json': audit.map((a) => ({
      ...a,
      occurred_at: iso(a.occurred_at),
      detail: a.detail === null ? null : (JSON.parse(a.detail) as unknown),
    })),
    'import_runs.json': runs,
    people,
  };
}

/**
 * The zip of everything about `person`, as a body; null when the tenant already runs as many
 * exports as `pool` allows. `onFailure` hears why a body ended early (the client has its 200).
 */
export async function personalExport(
  deps: { control: Database; tenantFiles: TenantFiles; pool: ExportPool },
  person: Person,
  now: Date,
  onFailure: (err: unknown) => void = () => {},
): Promise<ReadableStream<Uint8Array> | null> {
  const lease = await deps.pool.lease(person.tenantId);
  if (!lease) return null;
  let zip: yazl.ZipFile;
  let held: ReturnType<typeof holdLease>;
  try {
    const { people, ...files } = await records(deps, person, now);
    zip = new yazl.ZipFile();
    const options = { mtime: now };
    zip.addBuffer(Buffer.from(README), 'README.txt', options);
    for (const [name, value] of Object.entries(files))
      zip.addBuffer(Buffer.from(`${JSON.stringify(value, null, 2)}\n`), name, options);
    held = holdLease(lease);
    const events = (format: ExportFormat) => (cb: (err: unknown, stream: NodeJS.ReadableStream) => void) => {
      const e = {
        from: TIME_WINDOW.earliest,
        to: now.getTime() + TIME_WINDOW.aheadMs + 1,
        filters: { user: [person.id] },
        format,
        escapeFormulas: true,
        people,
      };
      exportEvents(held.pool, person.tenantId, e, onFailure).then(
        (out) =>
          cb(null, held.track(Readable.fromWeb(out!.body as import('node:stream/web').ReadableStream<Uint8Array>))),
        (err: unknown) => cb(err, Readable.from([])),
      );
    };
    zip.addReadStreamLazy('events.csv', options, events('csv'));
    zip.addReadStreamLazy('events.ndjson', options, events('ndjson'));
    zip.end();
  } catch (err) {
    await lease.release();
    throw err;
  }
  const output = zip.outputStream as Readable;
  zip.on('error', (err: unknown) => {
    onFailure(err);
    output.destroy(err as Error);
  });
  // Ended, failed or abandoned by the client: the events' reads stop, then the snapshot goes.
  finished(output, () => void held.close().then(() => lease.release()));
  return Readable.toWeb(output) as ReadableStream<Uint8Array>;
}

/**
 * One lease for both events files (one snapshot, one pool slot): each read gets its
 * connection and hands it back without ending the transaction; `close` stops a read still
 * running and waits until it has.
 */
function holdLease(lease: Lease) {
  let idle: Promise<void> = Promise.resolve();
  let current: Readable | null = null;
  const pool: ExportPool = {
    async lease() {
      let release!: () => void;
      idle = new Promise((resolve) => (release = resolve));
      return { ...lease, release: async () => release() };
    },
  };
  return {
    pool,
    track(stream: Readable) {
      current = stream;
      return stream;
    },
    async close() {
      if (current && !current.destroyed) current.destroy();
      await idle;
    },
  };
}
