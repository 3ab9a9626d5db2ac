// A question's filters as SQL: its dimensions' values (bound as parameters) and the kinds
// its kind-specific dimensions (tool, command, agent) narrow rows to. Shared by the query
// compiler and the raw export.
import { tsLiteral } from '../../aggregate/rollup.js';
import type { Kind } from '../../ingest/schema.js';
import type { Params } from '../../storage/duckdb.js';
import { inList } from '../../storage/sql.js';
import { DIMENSIONS, inKinds, type Dimension } from '../model.js';

/** SQL: `column` in [from, to). */
export const inRange = (from: number, to: number, column: string) =>
  `${column} >= ${tsLiteral(from)} AND ${column} < ${tsLiteral(to)}`;

/** The kinds every one of `dimensions` applies to; null when none narrows kinds. */
export function kindsOf(dimensions: readonly Dimension[]): Kind[] | null {
  let kinds: Kind[] | null = null;
  for (const d of dimensions) {
    const mine = DIMENSIONS[d].kinds as readonly Kind[] | null;
    if (mine) kinds = kinds ? kinds.filter((k) => mine.includes(k)) : [...mine];
  }
  return kinds;
}

/** `filters` (values bound in `params`) and `kinds` as one condition. */
export function filterSql(
  filters: Partial<Record<Dimension, readonly string[]>>,
  kinds: readonly Kind[] | null,
  params: Params,
): string {
  const parts = (Object.entries(filters) as [Dimension, string[]][]).map(([d, values]) =>
    inList(DIMENSIONS[d].column, values, params, d),
  );
  if (kinds) parts.push(kinds.length ? inKinds(kinds) : 'false');
  return parts.length ? parts.join(' AND ') : 'true';
}
