// What a developer pastes into Claude Code to report to this appliance: an `http` hook per
// event the product reads (the key comes from the environment through `allowedEnvVars`,
// never pasted into the file), and the OpenTelemetry variables for metrics and events; and
// the command that lets Claude Code ask the appliance's MCP endpoint about that usage.

/** The environment variable the hooks read the API key from. */
export const KEY_VARIABLE = 'AGENTMETER_API_KEY';

/** Hook events the appliance turns into metrics; the tool events take a matcher. */
export const HOOK_EVENTS = [
  'SessionStart',
  'UserPromptSubmit',
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
  'SubagentStart',
  'SubagentStop',
  'Stop',
  'StopFailure',
  'Notification',
  'PreCompact',
  'SessionEnd',
] as const;
const TOOL_EVENTS = new Set<string>(['PreToolUse', 'PostToolUse', 'PostToolUseFailure']);

/** Seconds Claude Code waits for the hook before going on (the appliance answers in milliseconds). */
const HOOK_TIMEOUT_S = 5;

type HttpHook = {
  type: 'http';
  url: string;
  headers: Record<string, string>;
  allowedEnvVars: string[];
  timeout: number;
};
export type HookSettings = { hooks: Record<string, { matcher?: string; hooks: HttpHook[] }[]> };

/** The `hooks` block of a Claude Code settings.json pointing at `publicUrl`. */
export function claudeCodeSettings(publicUrl: string): HookSettings {
  const hook: HttpHook = {
    type: 'http',
    url: `${publicUrl.replace(/\/$/, '')}/api/v1/hooks/claude-code`,
    headers: { Authorization: `Bearer $${KEY_VARIABLE}` },
    allowedEnvVars: [KEY_VARIABLE],
    timeout: HOOK_TIMEOUT_S,
  };
  return {
    hooks: Object.fromEntries(
      HOOK_EVENTS.map((event) => [event, [{ ...(TOOL_EVENTS.has(event) ? { matcher: '*' } : {}), hooks: [hook] }]]),
    ),
  };
}

/** Shell lines that set the key and turn on Claude Code's OpenTelemetry export to `publicUrl`. */
export function telemetryEnv(publicUrl: string, key: string | null): string {
  return [
    `export ${KEY_VARIABLE}=${key ?? '<your API key>'}`,
    'export CLAUDE_CODE_ENABLE_TELEMETRY=1',
    'export OTEL_METRICS_EXPORTER=otlp',
    'export OTEL_LOGS_EXPORTER=otlp',
    'export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf',
    `export OTEL_EXPORTER_OTLP_ENDPOINT=${publicUrl.replace(/\/$/, '')}`,
    `export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $${KEY_VARIABLE}"`,
  ].join('\n');
}

/** What the MCP command holds where its key goes: the key Claude Code reports with lacks `read`. */
export const MCP_KEY_PLACEHOLDER = '<API key with the read scope>';

/** The command that adds this appliance's MCP endpoint (/mcp) to Claude Code, with its key as a header. */
export function mcpAddCommand(publicUrl: string, key: string = MCP_KEY_PLACEHOLDER): string {
  return `claude mcp add --transport http agentmeter ${publicUrl.replace(/\/$/, '')}/mcp --header "Authorization: Bearer ${key}"`;
}

/** Host names (as a URL writes them) that reach only the machine itself, or no machine. */
const LOCAL_ONLY = /^(localhost|.+\.localhost|127(\.\d+){3}|0\.0\.0\.0|\[::1?\])\.?$/;

/**
 * The address others reach the appliance at (`proto://host`), when settings for `publicUrl`
 * would reach only the appliance's own machine: the public URL is a loopback address (the
 * default for a server listening on every address) while the page was asked for at `origin`,
 * which is not. Null otherwise.
 */
export function reachedElsewhere(
  publicUrl: string,
  origin: { proto: string; host: string | undefined },
): string | null {
  if (!origin.host || !LOCAL_ONLY.test(new URL(publicUrl).hostname)) return null;
  try {
    const asked = new URL(`${origin.proto}://${origin.host}`);
    return LOCAL_ONLY.test(asked.hostname) ? null : asked.origin;
  } catch {
    return null; // not a host: nothing to say
  }
}
