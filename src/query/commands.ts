// Command executions (the seeds' GET /api/metrics/commands): a page of a tenant's command
// events, newest first, read from the events themselves (each one is listed, not counted).
import type { TenantFiles } from '../storage/tenant-files.js';

export type CommandFilters = Partial<Record<'user' | 'command' | 'status' | 'project' | 'session', string[]>>;

export type CommandExecution = {
  id: string;
  executed_at: string;
  user_id: unknown;
  session_id: unknown;
  project: unknown;
  command_name: unknown;
  status: unknown;
  execution_time_ms: unknown;
  error_message: unknown;
  attributes: unknown;
};

const COLUMNS = [
  ['user', 'user_id'],
  ['command', 'name'],
  ['status', 'status'],
  ['project', 'project'],
  ['session', 'session_id'],
] as const;

/** The commands run in `from`..`to` matching `filters`, `offset` newest skipped; `has_more` when there are others. */
export async function commandExecutions(
  tf: TenantFiles,
  tenantId: string,
  o: { from: number; to: number; filters: CommandFilters; limit: number; offset: number },
): Promise<{ data: CommandExecution[]; has_more: boolean }> {
  const params: Record<string, unknown> = { from: o.from, to: o.to, limit: o.limit + 1, offset: o.offset };
  const where = [`kind = 'command'`, 'ts >= make_timestamp($from * 1000)', 'ts < make_timestamp($to * 1000)'];
  for (const [dim, col] of COLUMNS) {
    const values = o.filters[dim];
    if (values)
      where.push(`${col} IN (${values.map((v, i) => ((params[`${dim}${i}`] = v), `$${dim}${i}`)).join(', ')})`);
  }
  const reader = await tf.connection(tenantId, 'reader');
  const rows = await reader.all<Record<string, unknown>>(
    `SELECT seq, epoch_ms(ts) AS ts_ms, user_id, session_id, project, name, status, duration_ms, error,
            attributes::VARCHAR AS attributes
       FROM events WHERE ${where.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT $limit OFFSET $offset`,
    params,
  );
  const data = rows.slice(0, o.limit).map((r) => ({
    id: String(r.seq),
    executed_at: new Date(Number(r.ts_ms)).toISOString(),
    user_id: r.user_id,
    session_id: r.session_id,
    project: r.project,
    command_name: r.name,
    status: r.status,
    execution_time_ms: r.duration_ms,
    error_message: r.error,
    attributes: r.attributes ? (JSON.parse(String(r.attributes)) as unknown) : null,
  }));
  return { data, has_more: rows.length > o.limit };
}
