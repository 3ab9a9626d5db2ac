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

/**
 * The options of the range: the busiest MAX_OPTIONS values of each dimension, and the value
 * `range.values` picks when the data has it beyond those (a filter is never called unknown
 * for being quiet: dropUnknown).
 */
export async function filterOptions(
  tf: TenantFiles,
  tenantId: string,
  range: { from: number; to: number; values?: Partial<Record<FilterDimension, string>> },
  view: MetricsView,
  people: { id: string; name: string | null; email: string }[],
  now: number,
): Promise<FilterOptions> {
  const scope = view.ownUser ? { user: [view.ownUser] } : {};
  const dimensions = ['project', 'tool', 'model'] as const;
  const question = (dimension: (typeof dimensions)[number], only?: string) =>
    querySchema.parse({
      metrics: [dimension === 'tool' ? 'tool_calls' : 'events'],
      group_by: [dimension],
      filters: only === undefined ? scope : { ...scope, [dimension]: [only] },
      from: range.from,
      to: range.to,
      limit: only === undefined ? MAX_OPTIONS : 1,
    });
  // One runQueries: one read of the watermark, the three statements side by side.
  const answers = await runQueries(
    tf,
    tenantId,
    dimensions.map((d) => question(d)),
    { now },
  );
  const found = dimensions.map((dimension, i) =>
    answers[i]!.rows.map((r) => r[dimension]).filter((v): v is string => typeof v === 'string' && v !== ''),
  );
  // A picked value past the busiest: asked for on its own.
  const beyond = dimensions.flatMap((d, i) => {
    const picked = range.values?.[d];
    return picked !== undefined && answers[i]!.truncated && !found[i]!.includes(picked) ? [{ i, d, picked }] : [];
  });
  if (beyond.length) {
    const more = await runQueries(
      tf,
      tenantId,
      beyond.map(({ d, picked }) => question(d, picked)),
      { now },
    );
    for (const [k, { i, d, picked }] of beyond.entries())
      if (more[k]!.rows.some((r) => r[d] === picked)) found[i]!.push(picked);
  }
  const [project, tool, model] = dimensions.map((dimension, i) =>
    found[i]!.sort((a, b) => a.localeCompare(b)).map((v) => ({
      value: v,
      label: dimension === 'project' ? shortPath(v) : v,
    })),
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
