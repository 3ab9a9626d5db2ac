// A plan (plan.ts) as one SQL statement: where its rows come from (sources.ts), their
// figures (answer.ts) and percentiles (sketches.ts), grouped alike (groups.ts).
import type { Segment } from '../../aggregate/tiers.js';
import type { Params } from '../../storage/duckdb.js';
import type { Plan } from '../plan.js';
import { figuresCtes, finalSelect, SESSION_NARROWING } from './answer.js';
import { groupingOf } from './groups.js';
import { sketchCtes } from './sketches.js';
import { filterSql } from './filters.js';
import { answerRowsCte, rawSources, requestedCte, requestedEverCte, segmentsOf } from './sources.js';

export type Compiled = { sql: string; params: Params; segments: Segment[]; groups: string[] };

export function emit(plan: Plan): Compiled {
  const params: Params = {};
  const filters = filterSql(plan.filters, plan.kinds, params);
  const sources = rawSources(plan, filters);
  const g = groupingOf(plan, params);
  // The spend rule's sessions with requests, when the filters narrow rows within a session (the
  // same filters less those), or a keyed team-cube answer keeps each row's kind (its request
  // rows' sums are zero there: whether one carries spend is asked of the key cube).
  const requested =
    plan.spend !== null &&
    (SESSION_NARROWING.some((d) => plan.filters[d]) || (plan.keyCube !== null && plan.keys.includes('kind')));
  const others = { ...plan.filters };
  for (const d of SESSION_NARROWING) delete others[d];
  const ctes = [
    ...sources.ctes,
    answerRowsCte(plan, sources, filters, params),
    ...(requested ? [requestedCte(plan, sources, filterSql(others, plan.kinds, params))] : []),
    ...(plan.spend !== null ? [requestedEverCte(plan)] : []),
    ...figuresCtes(plan, g, params, requested),
    ...sketchCtes(plan, sources, filters, g),
  ];
  return {
    sql: `WITH ${ctes.join(',\n')}\n${finalSelect(plan, g)}`,
    params,
    segments: segmentsOf(plan),
    groups: g.groups,
  };
}
