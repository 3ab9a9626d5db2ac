// The dashboards' filters, held in the URL so links are shareable and back/forward work:
// a time range (a preset or custom dates) and one value each for user, project, tool and
// model. Anything the appliance cannot use is dropped with a notice, never a 500. Dates,
// "today", "this week" and "this month" are the tenant's (its time zone, from its settings).
import {
  FIRST_TIME_MS,
  MAX_RANGE_MS,
  narrows,
  PARTIAL_FILTER_NAMES,
  type Dimension,
  type Interval,
  type PartialFilter,
} from '../query/model.js';
import { isCalendarDate, localDate, startOf, startOfLocalDate, type Calendar } from '../time/zone.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Rolling ranges (`ms` back from now, the same in every zone), and calendar ones since the local day, week or month began. */
export const PRESETS = {
  '1h': { label: 'Last hour', ms: HOUR },
  '24h': { label: 'Last 24 hours', ms: DAY },
  '7d': { label: 'Last 7 days', ms: 7 * DAY },
  '30d': { label: 'Last 30 days', ms: 30 * DAY },
  '90d': { label: 'Last 90 days', ms: 90 * DAY },
  today: { label: 'Today', since: 'day' },
  week: { label: 'This week', since: 'week' },
  month: { label: 'This month', since: 'month' },
} as const satisfies Record<string, { label: string; ms: number } | { label: string; since: Calendar }>;
export type Preset = keyof typeof PRESETS;
export const DEFAULT_PRESET: Preset = '7d';
const DEFAULT_MS = 7 * DAY;

/** The filters a page can narrow by, in the order the filter bar shows them. */
export const FILTER_DIMENSIONS = ['user', 'project', 'tool', 'model'] as const satisfies readonly Dimension[];
export type FilterDimension = (typeof FILTER_DIMENSIONS)[number];

export type Filters = {
  /** A preset, or 'custom' when `from`/`to` came as dates. */
  range: Preset | 'custom';
  from: number;
  to: number;
  /** The tenant's time zone: what its dates and "today" mean. */
  zone: string;
  values: Partial<Record<FilterDimension, string>>;
};

/** A date a page may name: of the calendar, from the year 1 (as the API takes). */
const isDate = (s: string) =>
  /^\d{4}-\d{2}-\d{2}$/.test(s) && isCalendarDate(s) && Date.parse(`${s}T00:00:00Z`) >= FIRST_TIME_MS;
/** The date after 'YYYY-MM-DD'. */
const nextDate = (s: string) => new Date(Date.parse(`${s}T00:00:00Z`) + DAY).toISOString().slice(0, 10);

/** Reads the filters from a page's URL, dates in the tenant's `zone`; `notices` say what was ignored and why. */
export function parseFilters(url: URL, now: number, zone: string): { filters: Filters; notices: string[] } {
  const notices: string[] = [];
  const p = url.searchParams;
  // Ranges end at the end of the current minute: whole minutes are answered from the
  // rollups alone, where a range cut mid-minute reads raw events at both edges.
  const end = Math.ceil(now / MINUTE) * MINUTE;
  const rawRange = p.get('range');
  const rawFrom = p.get('from');
  const rawTo = p.get('to');
  let filters: Filters | null = null;

  if (rawFrom || rawTo) {
    // A date's day is the tenant's: from its local midnight to the next (23 or 25 hours on a transition).
    const to = rawTo && isDate(rawTo) ? startOfLocalDate(zone, nextDate(rawTo)) : rawTo ? NaN : end;
    const from = rawFrom && isDate(rawFrom) ? startOfLocalDate(zone, rawFrom) : rawFrom ? NaN : to - DEFAULT_MS;
    if (!Number.isFinite(from) || !Number.isFinite(to))
      notices.push('The custom dates were not dates (YYYY-MM-DD); showing the last 7 days.');
    else if (from >= to) notices.push('The custom range ends before it starts; showing the last 7 days.');
    else if (from >= end) notices.push('The custom range starts after now; showing the last 7 days.');
    else if (to - from > MAX_RANGE_MS)
      notices.push('The custom range is longer than 3 years; showing the last 7 days.');
    else filters = { range: 'custom', from, to: Math.min(to, end), zone, values: {} };
  } else if (rawRange && !Object.hasOwn(PRESETS, rawRange)) {
    notices.push(`Unknown time range “${rawRange}”; showing the last 7 days.`);
  }
  if (!filters) {
    const preset =
      rawRange && Object.hasOwn(PRESETS, rawRange) && !rawFrom && !rawTo ? (rawRange as Preset) : DEFAULT_PRESET;
    const p: { ms: number } | { since: Calendar } = PRESETS[preset];
    const from = 'ms' in p ? end - p.ms : startOf(zone, p.since, now);
    // At the very first instant of a day the range still holds its first minute.
    filters = { range: preset, from, to: Math.max(end, from + MINUTE), zone, values: {} };
  }
  for (const d of FILTER_DIMENSIONS) {
    const v = p.get(d)?.trim();
    if (v) filters.values[d] = v.slice(0, 500);
  }
  return { filters, notices };
}

/** The filters as the query model's filter object. */
export function queryFilters(f: Filters): Partial<Record<Dimension, string[]>> {
  return Object.fromEntries(Object.entries(f.values).map(([d, v]) => [d, [v]]));
}

/** The URL query string that reproduces `f`, with `changes` applied (null removes a value). */
export function filterSearch(
  f: Filters,
  changes: Partial<Record<FilterDimension | 'range', string | null>> = {},
): string {
  const p = new URLSearchParams();
  const range = changes.range === undefined ? f.range : changes.range;
  if (range === 'custom') {
    p.set('from', dateOf(f.from, f.zone));
    p.set('to', dateOf(f.to - 1, f.zone));
  } else if (range && range !== DEFAULT_PRESET) p.set('range', range);
  for (const d of FILTER_DIMENSIONS) {
    const v = changes[d] === undefined ? f.values[d] : changes[d];
    if (v) p.set(d, v);
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** The tenant's date holding `ms`: 'YYYY-MM-DD'. */
export const dateOf = (ms: number, zone: string) => localDate(zone, ms);

/** The bucket width a chart over `f`'s range reads: about 24 to 200 points. */
export function chartInterval(f: Pick<Filters, 'from' | 'to'>): Interval {
  const span = f.to - f.from;
  if (span <= 2 * HOUR) return '1m';
  if (span <= 12 * HOUR) return '5m';
  if (span <= 2 * DAY) return '15m';
  if (span <= 8 * DAY) return '1h';
  return '1d';
}

/**
 * Drops filter values the data has never seen in this range (a mistyped link, a renamed
 * tool), with a notice, so the page shows figures instead of an unexplained zero.
 */
export function dropUnknown(
  f: Filters,
  options: Partial<Record<FilterDimension, readonly { value: string }[]>>,
  notices: string[],
): void {
  for (const d of FILTER_DIMENSIONS) {
    const v = f.values[d];
    const known = options[d];
    if (v === undefined || !known) continue;
    if (!known.some((o) => o.value === v)) {
      notices.push(`No ${d} “${v}” in this range; that filter is ignored.`);
      delete f.values[d];
    }
  }
}

/** The filter bar's filters that narrow only some figures (tool and model). */
const PAGE_PARTIAL_FILTERS = PARTIAL_FILTER_NAMES.filter((d): d is PartialFilter & FilterDimension =>
  (FILTER_DIMENSIONS as readonly string[]).includes(d),
);

/** The tool and model filters as a session list takes them (listSessions): the sessions that used that tool or model. */
export const usedFilters = (f: Filters): Partial<Record<PartialFilter, string[]>> =>
  Object.fromEntries(PAGE_PARTIAL_FILTERS.filter((d) => f.values[d]).map((d) => [d, [f.values[d]!]]));

/** How pages name what the filters of PARTIAL_FILTERS narrow. */
export const PARTIAL_FILTER_WORDS: Record<PartialFilter, { name: string; narrows: string; all: string }> = {
  tool: { name: 'tool', narrows: 'tool calls and their failures and durations', all: 'all tools' },
  command: { name: 'command', narrows: 'commands and their failures and durations', all: 'all commands' },
  agent: { name: 'agent', narrows: 'agents and sub-agents', all: 'all agents' },
  model: { name: 'model', narrows: 'API requests and errors, tokens and cost', all: 'all models' },
};

/** What the filter bar says of a filter that narrows only some figures. */
export const filterHint = (d: PartialFilter) =>
  `Narrows ${PARTIAL_FILTER_WORDS[d].narrows}; other figures count ${PARTIAL_FILTER_WORDS[d].all}.`;

/** For a figure the page's tool or model filter does not narrow: "all models" (or "all tools", or both); else null. */
export function allOf(f: Filters, metric: string): string | null {
  const wider = PAGE_PARTIAL_FILTERS.filter((d) => f.values[d] && !narrows(d, metric));
  return wider.length ? wider.map((d) => PARTIAL_FILTER_WORDS[d].all).join(', ') : null;
}

/**
 * The notices a page with figures of `shown` metrics gives for its tool and model filters:
 * which figures one narrows (the others are marked by allOf), or that it narrows none here.
 */
export function partialFilterNotices(f: Filters, shown: readonly string[]): string[] {
  return PAGE_PARTIAL_FILTERS.filter((d) => f.values[d]).map((d) => {
    const w = PARTIAL_FILTER_WORDS[d];
    if (!shown.some((m) => narrows(d, m)))
      return `The ${w.name} filter narrows ${w.narrows}, and this page shows none of them; it is ignored here.`;
    return `The ${w.name} filter narrows ${w.narrows}; figures marked “${w.all}” count every ${w.name}.`;
  });
}
