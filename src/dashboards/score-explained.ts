// A session's productivity score in words, for its page: each factor's value for the
// session, what it was compared with, the points it gave and what it measures; the
// baseline (how many sessions it came from); and whether the score is fixed yet.
import {
  AGENTS_PER_POINT,
  comparedRates,
  FACTORS,
  hoursMeasured,
  OWN_BASELINE_SESSIONS,
  type Factor,
} from '../analytics/productivity.js';
import { QUIET_MS } from '../sessions/store.js';
import type { SessionScore } from '../sessions/scores.js';
import { count, ms, pct } from './format.js';

export type ScorePart = {
  factor: Factor;
  label: string;
  explain: string;
  measured: string;
  compared: string;
  points: number;
  maxPoints: number;
};
export type ScoreExplained = { parts: ScorePart[]; baseline: string; state: string };

const one = (n: number) => count(Math.round(n * 10) / 10);
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;
const actions = (n: number) => (n === 1 ? '1 tool call or command' : `${count(n)} tool calls and commands`);
const versus = (percent: number) => `${percent >= 0 ? '+' : '−'}${count(Math.abs(Math.round(percent)))}%`;

/** What `s`'s score is made of, factor by factor. */
export function explainScore(s: SessionScore): ScoreExplained {
  const over =
    hoursMeasured(s.hours) > s.hours
      ? `${ms(s.hours * 3.6e6)}, counted as ${ms(hoursMeasured(s.hours) * 3.6e6)}`
      : ms(s.hours * 3.6e6);
  const base = comparedRates(s.baseline);
  const lines =
    s.lines_source === 'otel'
      ? 'reported by OpenTelemetry'
      : s.lines_source === 'edits'
        ? 'counted from its edit tool calls'
        : 'none reported';
  const measured: Record<Factor, [string, string]> = {
    velocity: [
      `${one(s.commandsPerHour)} actions/h: ${actions(s.commands)} in ${over}`,
      `${one(base.commandsPerHour)} actions/h (this session ${versus(s.vsBaselineVelocity)})`,
    ],
    codeOutput: [
      `${one(s.linesPerHour)} lines/h: ${plural(s.lines, 'line')} changed (${lines}) in ${over}`,
      `${one(base.linesPerHour)} lines/h (this session ${versus(s.vsBaselineOutput)})`,
    ],
    success: [
      s.commands
        ? `${pct(s.success_rate)} of ${actions(s.commands)} succeeded`
        : 'no tool calls or commands (counted as all succeeded)',
      'full marks at 100%',
    ],
    focus: [`${ms(s.hours * 3.6e6)} from its first event to its last`, `full marks at ${FACTORS.focus.max} h`],
    agentEfficiency: [
      `${plural(s.agents_used, 'distinct sub-agent type')}`,
      `full marks at ${FACTORS.agentEfficiency.max * AGENTS_PER_POINT}`,
    ],
  };
  const parts = (Object.keys(FACTORS) as Factor[]).map((factor) => ({
    factor,
    label: FACTORS[factor].label,
    explain: FACTORS[factor].explain,
    measured: measured[factor][0],
    compared: measured[factor][1],
    points: 2 * s[factor],
    maxPoints: 2 * FACTORS[factor].max,
  }));
  const baseline = s.baseline.imported
    ? `${one(s.baseline.commandsPerHour)} actions/h and ${one(s.baseline.linesPerHour)} lines/h: the baseline imported from their older hooks' metrics (historical-baseline.json${s.baseline.sessions ? `, over ${plural(s.baseline.sessions, 'session')}` : ''}), used until ${OWN_BASELINE_SESSIONS} sessions of theirs have finished here.`
    : s.baseline.sessions
      ? `${one(s.baseline.commandsPerHour)} actions/h and ${one(s.baseline.linesPerHour)} lines/h: the pace of their ${plural(s.baseline.sessions, 'previous finished session')} (up to 30; their actions and lines over their hours, pooled).`
      : `the defaults, ${one(base.commandsPerHour)} actions/h and ${one(base.linesPerHour)} lines/h: no session of theirs had finished before this one started.`;
  const quiet = ms(QUIET_MS);
  const state = s.final
    ? `Final: fixed when the session finished, against the baseline of that moment. Sessions that arrive later, an import of older ones and the range you look at leave it as it is.`
    : `Live: the session is still running, or finished less than ${quiet} ago. Its score is fixed once it has had no events for ${quiet}.`;
  return { parts, baseline, state };
}
