// Small pieces of SQL text every statement builder shares: a list of values as bound
// parameters, and a list of our own names inlined.
import type { Params } from './duckdb.js';

/**
 * `column IN ($prefix_0, $prefix_1, …)`, binding each value in `params`: values from a
 * client are never inlined. A longer list is asked as `list_contains([…], column)`: four
 * long IN lists in each of a question's 60-odd pieces took all of DuckDB's memory (which
 * every tenant shares), seemingly each rewritten into a join; list_contains is not.
 */
export function inList(column: string, values: readonly unknown[], params: Params, prefix: string): string {
  const names = values.map((v, i) => {
    params[`${prefix}_${i}`] = v;
    return `$${prefix}_${i}`;
  });
  return names.length < SHORT_LIST
    ? `${column} IN (${names.join(', ')})`
    : `list_contains([${names.join(', ')}], ${column})`;
}
const SHORT_LIST = 6;

/** `'a', 'b'`: our own names (kinds, statuses) only, safe to inline. */
export const quoted = (names: readonly string[]) => names.map((n) => `'${n}'`).join(', ');
