// Claude Code's hooks settings, as its documentation describes them, to check what the
// connect page generates: an event name maps to matcher groups of handlers; an `http`
// handler has a url, optional headers (values may name variables listed in allowedEnvVars)
// and the fields common to every handler.
import { z } from 'zod';

const httpHandler = z
  .strictObject({
    type: z.literal('http'),
    url: z.url(),
    headers: z.record(z.string(), z.string()).optional(),
    allowedEnvVars: z.array(z.string().regex(/^[A-Z_][A-Z0-9_]*$/)).optional(),
    timeout: z.number().positive().optional(),
    if: z.string().optional(),
    statusMessage: z.string().optional(),
    once: z.boolean().optional(),
  })
  // A header may name a variable only when allowedEnvVars lists it; anything else is sent as written.
  .refine(
    (h) =>
      Object.values(h.headers ?? {}).every((v) =>
        [...v.matchAll(/\$\{?([A-Z_][A-Z0-9_]*)/g)].every((m) => h.allowedEnvVars?.includes(m[1]!)),
      ),
    'a header names a variable that allowedEnvVars does not list',
  );
const HOOK_EVENTS = [
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
  'Notification',
  'UserPromptSubmit',
  'Stop',
  'StopFailure',
  'SubagentStart',
  'SubagentStop',
  'PreCompact',
  'PostCompact',
  'SessionStart',
  'SessionEnd',
  'PermissionRequest',
] as const;
export const hooksSettingsSchema = z.strictObject({
  hooks: z.partialRecord(
    z.enum(HOOK_EVENTS),
    z.array(z.strictObject({ matcher: z.string().optional(), hooks: z.array(httpHandler).min(1) })).min(1),
  ),
});
