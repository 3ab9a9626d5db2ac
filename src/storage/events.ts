// The `events` table's columns (migrations/tenant), named once for the statements that list
// them: the export's, the session timeline's. The writer maps its own rows onto them.
export const EVENT_TEXT_COLUMNS = [
  'kind',
  'source',
  'user_id',
  'session_id',
  'project',
  'prompt_id',
  'tool_use_id',
  'request_id',
  'agent_id',
  'agent_type',
  'name',
  'model',
  'status',
] as const;
export const EVENT_NUMBER_COLUMNS = [
  'duration_ms',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_creation_tokens',
  'cost_usd',
  'lines_added',
  'lines_removed',
  'value',
] as const;
