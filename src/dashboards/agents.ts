// The agents and commands page: sub-agents (Claude Code's SubagentStart/SubagentStop hooks),
// commands (slash and other commands reported through the REST API), agent interactions
// reported through the REST API, and all three over time. Each table and the chart is a
// question in the query language, for its export links.
import type { TenantFiles } from '../storage/tenant-files.js';
import { scopeFilters, type MetricsView } from '../auth/scope.js';
import { filtersFor, querySchema, type QueryInput } from '../query/model.js';
import { runQueries } from '../query/run.js';
import { chartInterval, partialFilterNotices, queryFilters, type Filters } from './filters.js';
import { seriesOf, timeChart, type ChartSpec } from './charts.js';

export type SubagentRow = {
  agent: string | null;
  runs: number;
  finished: number;
  p50_ms: number | null;
  p95_ms: number | null;
};
export type CommandRow = {
  command: string | null;
  runs: number;
  failures: number;
  failure_rate: number;
  p50_ms: number | null;
  p95_ms: number | null;
};
export type InteractionRow = {
  agent: string | null;
  calls: number;
  failures: number;
  failure_rate: number;
  p50_ms: number | null;
  p95_ms: number | null;
};

export type AgentsPage = {
  subagents: SubagentRow[];
  commands: CommandRow[];
  interactions: InteractionRow[];
  activity: ChartSpec;
  queries: { subagents: QueryInput; commands: QueryInput; interactions: QueryInput; activity: QueryInput };
  notices: string[];
};

const MAX_ROWS = 100;
const SUBAGENT_KINDS = ['subagent_start', 'subagent_stop'];

const num = (v: string | number | null | undefined) => (v === null || v === undefined ? null : Number(v));
const str = (v: string | number | null | undefined) => (v === null || v === undefined ? null : String(v));

export async function loadAgents(
  tf: TenantFiles,
  tenantId: string,
  f: Filters,
  view: MetricsView,
  now: number,
): Promise<AgentsPage> {
  // Sub-agents, commands and agent interactions are neither tool calls nor (counted as a
  // whole) requests of a model: the tool and model filters narrow none of this page.
  const shown = ['subagents', 'commands', 'agent_calls'];
  const filters = filtersFor(shown, scopeFilters(view, queryFilters(f)));
  const range = { from: f.from, to: f.to };

  // Sub-agents: a run is a SubagentStart; the durations are those of SubagentStop events
  // that carry one (the agent family also holds REST agent interactions, kept out by kind).
  const subagentsQ: QueryInput = {
    metrics: ['subagents', 'agent_p50_ms', 'agent_p95_ms'],
    group_by: ['agent'],
    filters: { ...filters, kind: SUBAGENT_KINDS },
    ...range,
    order_by: 'subagents',
    limit: MAX_ROWS,
  };
  const finishedQ: QueryInput = {
    metrics: ['events'],
    group_by: ['agent'],
    filters: { ...filters, kind: ['subagent_stop'] },
    ...range,
    limit: MAX_ROWS,
  };
  const commandsQ: QueryInput = {
    metrics: ['commands', 'command_failures', 'command_failure_rate', 'command_p50_ms', 'command_p95_ms'],
    group_by: ['command'],
    filters,
    ...range,
    order_by: 'commands',
    limit: MAX_ROWS,
  };
  const interactionsQ: QueryInput = {
    metrics: ['agent_calls', 'agent_failures', 'agent_p50_ms', 'agent_p95_ms'],
    group_by: ['agent'],
    filters: { ...filters, kind: ['agent_interaction'] },
    ...range,
    order_by: 'agent_calls',
    limit: MAX_ROWS,
  };
  // agent_calls counts sub-agent starts and REST interactions; the interactions are the difference.
  const activityQ = {
    metrics: ['subagents', 'agent_calls', 'commands'],
    filters,
    ...range,
    interval: chartInterval(f),
    limit: 10_000,
  };
  // One runQueries: one read of the watermark, the same events for every table and the chart.
  const [finishedRows, subagentRows, commandRows, interactionRows, activityRows] = (
    await runQueries(
      tf,
      tenantId,
      [finishedQ, subagentsQ, commandsQ, interactionsQ, activityQ].map((q) => querySchema.parse(q)),
      { now },
    )
  ).map((a) => a.rows);
  const finished = new Map(finishedRows!.map((r) => [str(r.agent), Number(r.events)]));
  const subagents = subagentRows!
    .map((r) => ({
      agent: str(r.agent),
      runs: Number(r.subagents),
      finished: finished.get(str(r.agent)) ?? 0,
      p50_ms: num(r.agent_p50_ms),
      p95_ms: num(r.agent_p95_ms),
    }))
    // A stop whose start fell before the range still names an agent: keep only agents that ran here.
    .filter((r) => r.runs > 0);

  const commands = commandRows!.map((r) => ({
    command: str(r.command),
    runs: Number(r.commands),
    failures: Number(r.command_failures),
    failure_rate: Number(r.command_failure_rate),
    p50_ms: num(r.command_p50_ms),
    p95_ms: num(r.command_p95_ms),
  }));

  const interactions = interactionRows!.map((r) => {
    const calls = Number(r.agent_calls);
    const failures = Number(r.agent_failures);
    return {
      agent: str(r.agent),
      calls,
      failures,
      failure_rate: calls ? failures / calls : 0,
      p50_ms: num(r.agent_p50_ms),
      p95_ms: num(r.agent_p95_ms),
    };
  });

  const [subSeries, callSeries, commandSeries] = seriesOf(activityRows!, activityQ, {}, f.zone);
  const interactionSeries = callSeries!.data.map(([t, calls], i): [number, number | null] => [
    t,
    (calls ?? 0) - (subSeries!.data[i]![1] ?? 0),
  ]);
  const activity = timeChart(
    {
      type: 'bar',
      unit: 'count',
      stacked: true,
      series: [
        { name: 'Sub-agent runs', data: subSeries!.data },
        { name: 'Agent interactions (REST)', data: interactionSeries },
        { name: 'Commands', data: commandSeries!.data },
      ],
    },
    activityQ.interval,
    f.zone,
  );

  return {
    subagents,
    commands,
    interactions,
    activity,
    queries: { subagents: subagentsQ, commands: commandsQ, interactions: interactionsQ, activity: activityQ },
    notices: partialFilterNotices(f, shown),
  };
}
