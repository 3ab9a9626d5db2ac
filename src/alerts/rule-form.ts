// A rule as the HTML form carries it (flat text fields) and back: the form's fields become
// the same body the API takes, so the pages validate through ruleSchema exactly as the API.
import type { Rule } from './rules.js';

export type RuleForm = Record<string, string>;

const num = (s: string | undefined) => (s === undefined || s.trim() === '' ? undefined : Number(s));
const list = (s: string | undefined, separator: RegExp = /,/) =>
  (s ?? '')
    .split(separator)
    .map((x) => x.trim())
    .filter(Boolean);
/** URLs, one or more, apart by spaces or lines (a URL holds neither; it may hold a comma). */
const urls = (s: string | undefined) => list(s, /\s+/);

/** The API body a form's fields stand for; a filters field that is not JSON is named as the problem. */
export function bodyFromForm(f: RuleForm): { body: unknown } | { problem: { field: string; message: string } } {
  let filters: unknown = {};
  if (f.filters?.trim()) {
    try {
      filters = JSON.parse(f.filters);
    } catch {
      return { problem: { field: 'filters', message: 'filters: must be JSON, e.g. {"project": ["api"]}' } };
    }
  }
  const type = f.condition_type || 'threshold';
  const condition =
    type === 'anomaly'
      ? { type, z: num(f.z), baseline_windows: num(f.baseline_windows) }
      : type === 'forecast'
        ? { type, op: f.op, value: num(f.value), by: f.by }
        : { type, op: f.op, value: num(f.value) };
  const channels = [
    ...(f.dashboard ? [{ type: 'dashboard' }] : []),
    ...urls(f.webhook).map((url) => ({ type: 'webhook', url })),
    ...urls(f.slack).map((url) => ({ type: 'slack', url })),
    ...(list(f.email).length ? [{ type: 'email', to: list(f.email) }] : []),
  ];
  return {
    body: {
      name: f.name ?? '',
      metric: f.metric ?? '',
      filters,
      group_by: list(f.group_by),
      window: f.window ?? '',
      condition,
      pending: f.pending?.trim() || '0m',
      renotify: f.renotify?.trim() || null,
      severity: f.severity || 'warning',
      no_data: f.no_data || 'ok',
      channels,
      ...(f.scope ? { scope: f.scope } : {}),
    },
  };
}

/** A stored rule's fields as the edit form shows them. */
export function formFromRule(rule: Rule): RuleForm {
  const c = rule.condition;
  const { user: _own, ...filters } = rule.filters as Record<string, unknown>;
  return {
    name: rule.name,
    metric: rule.metric,
    // A rule about one's own data keeps its narrowing to them server-side; the form shows the rest.
    filters: JSON.stringify(rule.own_user ? filters : rule.filters),
    group_by: rule.group_by.join(', '),
    window: rule.window,
    condition_type: c.type,
    op: 'op' in c ? c.op : 'above',
    value: 'value' in c ? String(c.value) : '',
    z: c.type === 'anomaly' ? String(c.z) : '',
    baseline_windows: c.type === 'anomaly' ? String(c.baseline_windows) : '',
    by: c.type === 'forecast' ? c.by : 'month',
    pending: rule.pending,
    renotify: rule.renotify ?? '',
    severity: rule.severity,
    no_data: rule.no_data,
    dashboard: rule.channels.some((ch) => ch.type === 'dashboard') ? 'on' : '',
    webhook: rule.channels.flatMap((ch) => (ch.type === 'webhook' ? [ch.url] : [])).join(' '),
    slack: rule.channels.flatMap((ch) => (ch.type === 'slack' ? [ch.url] : [])).join(' '),
    email: rule.channels.flatMap((ch) => (ch.type === 'email' ? ch.to : [])).join(', '),
    scope: rule.scope,
  };
}

/** A new rule's form: a threshold on the dashboard channel. */
export const EMPTY_FORM: RuleForm = {
  name: '',
  metric: 'cost_usd',
  filters: '{}',
  group_by: '',
  window: '1h',
  condition_type: 'threshold',
  op: 'above',
  value: '',
  z: '3',
  baseline_windows: '12',
  by: 'month',
  pending: '0m',
  renotify: '',
  severity: 'warning',
  no_data: 'ok',
  dashboard: 'on',
  webhook: '',
  slack: '',
  email: '',
  scope: '',
};
