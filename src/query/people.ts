// People as exports name them: events and rollups hold a user's id, the control database
// their email and name. An export writes a person as PERSON_COLUMNS (email, name and the
// id, which the API's `user` filter takes), whether DuckDB formats its rows (raw events,
// joined with peopleCte) or JavaScript does (the query model's rows, through namePeople).
import { listUsers } from '../auth/users.js';
import type { Queryable } from '../storage/duckdb.js';

export type Person = { email: string; name: string | null };
/** A tenant's people by user id. */
export type People = ReadonlyMap<string, Person>;

/** What one `user` column (an id) becomes in an export. */
export const PERSON_COLUMNS = ['user_email', 'user_name', 'user_id'] as const;

export async function tenantPeople(control: Queryable, tenantId: string): Promise<People> {
  return new Map((await listUsers(control, tenantId)).map((u) => [u.id, { email: u.email, name: u.name }]));
}

type Row = Record<string, string | number | null>;

/** The person a `user` value (an id, from grouping by user) names, if the control database knows them. */
const personOf = (user: string | number | null | undefined, people: People): Person | undefined =>
  user === null || user === undefined ? undefined : people.get(String(user));

/**
 * Rows and their columns with the `user` column (ids, from grouping by user) written as
 * PERSON_COLUMNS. An id the control database does not know keeps its id and no email.
 */
export function namePeople(
  rows: readonly Row[],
  columns: readonly string[],
  people: People,
): { rows: Row[]; columns: string[] } {
  const at = columns.indexOf('user');
  if (at < 0) return { rows: [...rows], columns: [...columns] };
  const named = rows.map(({ user, ...rest }) => {
    const person = personOf(user, people);
    return { ...rest, user_email: person?.email ?? null, user_name: person?.name ?? null, user_id: user ?? null };
  });
  return { rows: named, columns: [...columns.slice(0, at), ...PERSON_COLUMNS, ...columns.slice(at + 1)] };
}

/** Rows grouped by `user` (an id) with the person's `user_email` and `user_name` beside it, as the JSON answers give them. */
export function withPeople(rows: readonly Row[], people: People): Row[] {
  return rows.map((row) => {
    const person = personOf(row.user, people);
    const out: Row = {};
    for (const [k, v] of Object.entries(row)) {
      out[k] = v;
      if (k === 'user') Object.assign(out, { user_email: person?.email ?? null, user_name: person?.name ?? null });
    }
    return out;
  });
}

/**
 * SQL: a CTE `people(person_id, person_email, person_name)` from the `$people` parameter
 * (peopleParam), to LEFT JOIN events with on user_id. Its columns are named so that none
 * shadows one of the events' (they have a `name`).
 */
export const peopleCte = () =>
  `people AS (SELECT u.id AS person_id, u.email AS person_email, u.name AS person_name
     FROM (SELECT unnest(from_json($people, '[{"id":"VARCHAR","email":"VARCHAR","name":"VARCHAR"}]')) AS u))`;

export const peopleParam = (people: People) =>
  JSON.stringify([...people].map(([id, p]) => ({ id, email: p.email, name: p.name })));
