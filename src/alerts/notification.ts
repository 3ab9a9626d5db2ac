// What the rule engine hands to delivery: one message about one alert's state change.
export type Channel =
  | { type: 'dashboard' }
  | { type: 'webhook'; url: string }
  | { type: 'slack'; url: string }
  | { type: 'email'; to: string[] };

export type Notification = {
  /** Unique per (alert, state change): delivery sends each id once per channel, even across a restart. */
  id: string;
  tenantId: string;
  ruleId: string;
  ruleName: string;
  severity: 'info' | 'warning' | 'critical';
  /** 'firing' (new or re-notified), 'resolved' (recovery), 'no_data'. */
  state: 'firing' | 'resolved' | 'no_data';
  renotify: boolean;
  metric: string;
  /** The group value when the rule is grouped (e.g. { user: 'u_…' } or { model: 'claude-…' }), else null. */
  group: Record<string, string> | null;
  value: number | null;
  /** Human words for the condition, e.g. "above 500", "z-score above 3", "projected above 500 by month end". */
  condition: string;
  window: string; // e.g. "1h", "30d"
  at: string; // ISO time of the evaluation that changed the state
  link: string; // absolute URL of the alert on this appliance (`<public URL>/alerts/<rule id>`)
  channels: Channel[];
};
