// What the filter bar offers: the projects, tools and models seen in the range, and the
// people the viewer may pick (everyone for managers and up, only themselves for a
// developer, nobody for a viewer, who sees team figures only).
import type { MetricsView } from '../auth/scope.js';
import type { TenantFiles } from '../storage/tenant-files.js';
import { querySchema } from '../query/model.js';
import { runQueries } from '../query/run.js';
import type { FilterDimension } from './filters.js';

export type Option = Readonly<{ value: string; label: string }>;
/** Read-only: the options are shared between requests (see cachedOptions); a page that offers fewer makes a new object. */
export type FilterOptions = Readonly<Record<FilterDimension, readonly Option[]>>;

const MAX_OPTIONS = 200;

export async function filterOptions(
  tf: TenantFiles,
  tenantId: string,
  range: { from: number; to: number },
  view: MetricsView,
  people: { id: string; name: string | null; email: string }[],
  now: number,
): Promise<FilterOptions> {
  const scope = view.ownUser ? { user: [view.ownUser] } : {};
  const dimensions = ['project', 'tool', 'model'] as const;
  // One runQueries: one read of the watermark, the three statements side by side.
  const answers = await runQueries(
    tf,
    tenantId,
    dimensions.map((dimension) =>
      querySchema.parse({
        metrics: [dimension === 'tool' ? 'tool_calls' : 'events'],
        group_by: [dimension],
        filters: scope,
        from: range.from,
        to: range.to,
        limit: MAX_OPTIONS,
      }),
    ),
    { now },
  );
  const [project, tool, model] = dimensions.map((dimension, i) =>
    answers[i]!.rows.map((r) => r[dimension])
      .filter((v): v is string => typeof v === 'string' && v !== '')
      .sort((a, b) => a.localeCompare(b))
      .map((v) => ({ value: v, label: dimension === 'project' ? shortPath(v) : v })),
  );
  const user = !view.individuals
    ? []
    : people
        .filter((p) => view.ownUser === null || p.id === view.ownUser)
        .map((p) => ({ value: p.id, label: p.name || p.email }));
  return { user, project: project!, tool: tool!, model: model! };
}

/** The last two segments of a working directory: enough to tell projects apart. */
export const shortPath = (p: string) => {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts.length > 2 ? `…/${parts.slice(-2).join('/')}` : p;
};
