// The overview's widget layout: which widgets show and in what order. Each person may keep
// their own; a tenant admin sets the tenant's default; otherwise the built-in one applies.
// Stored in the tenant's file (tenant_settings), so it travels with the tenant's data.
import { z } from 'zod';
import type { Database, Queryable } from '../storage/duckdb.js';
import { keptRows } from '../storage/kept-reads.js';

export const WIDGETS = {
  kpis: 'Key figures',
  activity: 'Activity over time',
  cost: 'Cost over time',
  top_tools: 'Top tools',
  by_model: 'Cost by model',
  recent_sessions: 'Recent sessions',
} as const;
export type WidgetId = keyof typeof WIDGETS;
export const WIDGET_IDS = Object.keys(WIDGETS) as WidgetId[];

export const layoutSchema = z.strictObject({
  order: z
    .array(z.enum(WIDGET_IDS as [WidgetId, ...WidgetId[]]))
    .max(WIDGET_IDS.length)
    .refine((o) => new Set(o).size === o.length, 'must not repeat a widget'),
  hidden: z
    .array(z.enum(WIDGET_IDS as [WidgetId, ...WidgetId[]]))
    .max(WIDGET_IDS.length)
    .default([]),
});
export type Layout = z.infer<typeof layoutSchema>;
export const BUILT_IN: Layout = { order: WIDGET_IDS, hidden: [] };

const userKey = (userId: string) => `layout:user:${userId}`;
const DEFAULT_KEY = 'layout:default';

/** The layout `userId` sees, and where it came from. */
/** `file` is the tenant's (what is read is kept while it is unchanged), `via` the connection to read through. */
export async function layoutFor(
  file: Database,
  userId: string,
  via: Queryable = file,
): Promise<Layout & { source: 'user' | 'tenant' | 'built-in' }> {
  const rows = await keptRows<{ key: string; value: string }>(
    file,
    via,
    `SELECT key, value::VARCHAR AS value FROM tenant_settings WHERE key IN ($user, $tenant)`,
    { user: userKey(userId), tenant: DEFAULT_KEY },
  );
  for (const [key, source] of [
    [userKey(userId), 'user'],
    [DEFAULT_KEY, 'tenant'],
  ] as const) {
    const row = rows.find((r) => r.key === key);
    const parsed = row ? layoutSchema.safeParse(JSON.parse(row.value)) : null;
    if (parsed?.success) return { ...complete(parsed.data), source };
  }
  return { ...BUILT_IN, source: 'built-in' };
}

/** Saves a person's layout, or with `userId` null the tenant's default. */
export async function saveLayout(db: Queryable, userId: string | null, layout: Layout): Promise<void> {
  await db.run(`INSERT OR REPLACE INTO tenant_settings VALUES ($key, $value)`, {
    key: userId ? userKey(userId) : DEFAULT_KEY,
    value: JSON.stringify(complete(layout)),
  });
}

/** Forgets a person's own layout, so the tenant's default applies again. */
export async function resetLayout(db: Queryable, userId: string): Promise<void> {
  await db.run(`DELETE FROM tenant_settings WHERE key = $key`, { key: userKey(userId) });
}

/** Widgets added after a layout was saved go at its end, shown. */
function complete(layout: Layout): Layout {
  return {
    order: [...layout.order, ...WIDGET_IDS.filter((w) => !layout.order.includes(w))],
    hidden: layout.hidden.filter((w, i, all) => all.indexOf(w) === i),
  };
}
