// The productivity score the team's older Claude Code hooks wrote into session summaries
// (~/.agent-os/metrics), kept formula-for-formula so imported history and new sessions sit
// on one scale. Source of truth: the brief's "The productivity score they computed", checked
// against the public hook it came from (FortiumPartners/claude-config, hooks/session-end.js):
//   score = clamp(0, 10, 2 × (velocity + codeOutput + success + focus + agentEfficiency))
// Where the legacy code differs from a plain reading of the brief, the legacy code wins and
// the spot says so.
export type SessionFacts = {
  sessionId: string;
  start: number; // epoch ms
  hours: number;
  commands: number;
  lines: number;
  successRate: number; // 0..1
  distinctAgents: number;
};

/** `imported`: the person's baseline from the older hooks (src/sessions/imported-baseline.ts), `sessions` the sessions it was made of. */
export type Baseline = { commandsPerHour: number; linesPerHour: number; sessions: number; imported?: true };

export type Trend = 'excellent' | 'good' | 'average' | 'needs_improvement';

export type ProductivityScore = {
  score: number; // 0..10, one decimal
  trend: Trend;
  velocity: number;
  codeOutput: number;
  success: number;
  focus: number;
  agentEfficiency: number;
  commandsPerHour: number;
  linesPerHour: number;
  vsBaselineVelocity: number; // percent above (+) or below (−) the baseline, as legacy `vs_baseline_velocity`
  vsBaselineOutput: number; // same, for lines per hour
};

export const DEFAULT_BASELINE: Readonly<Baseline> = Object.freeze({
  commandsPerHour: 15,
  linesPerHour: 120,
  sessions: 0,
});
export const BASELINE_WINDOW = 30;
/**
 * Finished sessions a person needs before their own baseline replaces the one imported from
 * the older hooks: a third of the window. Fewer make a pooled rate that one unusual session
 * moves by a fifth or more, while the imported one stood for up to 30; waiting for a full
 * window would keep a months-old pace for weeks. Their imported sessions count (they are
 * sessions here too).
 */
export const OWN_BASELINE_SESSIONS = 10;
const MIN_HOURS = 0.1;
/** Distinct agents that make one point of agent efficiency. */
export const AGENTS_PER_POINT = 3;

export type Factor = 'velocity' | 'codeOutput' | 'success' | 'focus' | 'agentEfficiency';

/** The five factors: each one's name, its cap, and what it measures in a line (the session page and the API say it). */
export const FACTORS: Readonly<Record<Factor, { label: string; max: number; explain: string }>> = {
  velocity: {
    label: 'Velocity',
    max: 2,
    explain: 'Tool calls and commands per hour, over the baseline’s pace: 1 at the baseline, full marks at twice it.',
  },
  codeOutput: {
    label: 'Code output',
    max: 2,
    explain:
      'Lines changed per hour, over the baseline’s: 1 at the baseline, full marks at twice it. Lines from OpenTelemetry when the session reported any, else counted from its Edit, Write, MultiEdit and NotebookEdit calls.',
  },
  success: {
    label: 'Success',
    max: 1,
    explain: 'The share of tool calls and commands that succeeded; not compared with a baseline.',
  },
  focus: {
    label: 'Focus',
    max: 2,
    explain: 'Hours from the session’s first event to its last, up to 2; not compared with a baseline.',
  },
  agentEfficiency: {
    label: 'Agent use',
    max: 2,
    explain: `Distinct sub-agent types used, over ${AGENTS_PER_POINT}: full marks at ${2 * AGENTS_PER_POINT}; not compared with a baseline.`,
  },
};

/** Counts and durations outside their domain (negative, NaN) count as zero. */
const nonNegative = (n: number) => (Number.isFinite(n) && n > 0 ? n : 0);

/** Short sessions are measured as 0.1 h so a two-minute burst does not read as 600 commands/h. */
const rateHours = (hours: number) => Math.max(nonNegative(hours), MIN_HOURS);

/** Legacy `Math.max(baseline || default, 1)`: a zero or missing baseline falls back to the default. */
const usable = (value: number, fallback: number) => Math.max(nonNegative(value) || fallback, 1);

const byStart = (sessions: SessionFacts[]) => [...sessions].sort((a, b) => a.start - b.start);

/**
 * The baseline from the last `window` sessions by start: total commands (lines) over total
 * hours, each session's hours floored at 0.1. This is the pooled, time-weighted rate, not
 * the mean of per-session rates: the legacy hook computed `average_commands_per_hour` as
 * Σ commands_executed / Σ duration_hours over the last 30 summaries. (The fixture's
 * historical-baseline.json, 17.2 cmd/h and 133.5 lines/h, matches neither reading: the four
 * sessions beside it give 16.55 / 16.43 pooled and 16.35 / 18.16 as a mean of rates.)
 */
export function baselineFrom(previous: SessionFacts[], window = BASELINE_WINDOW): Baseline {
  const recent = window > 0 ? byStart(previous).slice(-Math.floor(window)) : [];
  if (recent.length === 0) return { ...DEFAULT_BASELINE };
  let commands = 0;
  let lines = 0;
  let hours = 0;
  for (const s of recent) {
    commands += nonNegative(s.commands);
    lines += nonNegative(s.lines);
    hours += rateHours(s.hours);
  }
  return { commandsPerHour: commands / hours, linesPerHour: lines / hours, sessions: recent.length };
}

/**
 * Labels come from the unrounded score, as the legacy hook did, so 7.96 is shown as 8.0
 * but labelled 'good'.
 */
export function trendOf(score: number): Trend {
  if (score >= 8) return 'excellent';
  if (score >= 6) return 'good';
  if (score >= 4) return 'average';
  return 'needs_improvement';
}

/** The rates a session is compared with: the baseline's, a zero or missing one replaced by the default's. */
export const comparedRates = (baseline: Baseline) => ({
  commandsPerHour: usable(baseline.commandsPerHour, DEFAULT_BASELINE.commandsPerHour),
  linesPerHour: usable(baseline.linesPerHour, DEFAULT_BASELINE.linesPerHour),
});

/** The hours a session's rates are taken over: its own, at least MIN_HOURS. */
export const hoursMeasured = (hours: number) => rateHours(hours);

/** One session's score against a baseline. */
export function productivityScore(s: SessionFacts, baseline: Baseline): ProductivityScore {
  const commandsPerHour = nonNegative(s.commands) / rateHours(s.hours);
  const linesPerHour = nonNegative(s.lines) / rateHours(s.hours);
  const { commandsPerHour: baseCommands, linesPerHour: baseLines } = comparedRates(baseline);
  const factors: Record<Factor, number> = {
    velocity: Math.min(FACTORS.velocity.max, commandsPerHour / baseCommands),
    codeOutput: Math.min(FACTORS.codeOutput.max, linesPerHour / baseLines),
    // Legacy `(success_rate || 100) / 100` turned a 0 % session into 100 %; not carried over.
    success: Math.min(FACTORS.success.max, nonNegative(s.successRate)),
    focus: Math.min(FACTORS.focus.max, nonNegative(s.hours)),
    agentEfficiency: Math.min(FACTORS.agentEfficiency.max, nonNegative(s.distinctAgents) / AGENTS_PER_POINT),
  };
  const sum = factors.velocity + factors.codeOutput + factors.success + factors.focus + factors.agentEfficiency;
  const raw = Math.min(10, Math.max(0, 2 * sum));
  return {
    score: Math.round(raw * 10) / 10,
    trend: trendOf(raw),
    ...factors,
    commandsPerHour,
    linesPerHour,
    vsBaselineVelocity: (commandsPerHour / baseCommands - 1) * 100,
    vsBaselineOutput: (linesPerHour / baseLines - 1) * 100,
  };
}

/**
 * Scores every session against the baseline of the `window` sessions that started before
 * it (sessions with equal starts keep their input order). Results are in input order.
 */
export function scoreSessions(sessions: SessionFacts[], window = BASELINE_WINDOW): ProductivityScore[] {
  const order = sessions.map((s, i) => ({ s, i })).sort((a, b) => a.s.start - b.s.start);
  const scores = new Array<ProductivityScore>(sessions.length);
  order.forEach(({ s, i }, k) => {
    const before = order.slice(Math.max(0, k - Math.floor(window)), k).map((o) => o.s);
    scores[i] = productivityScore(s, baselineFrom(before, window));
  });
  return scores;
}
