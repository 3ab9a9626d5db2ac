// A `tools/call` whose params are not the shape the protocol gives them (a name, and
// arguments as an object): the SDK answers those with -32603, an internal error, whose
// message is its validator's dump (typescript-sdk#2284). This says what is wrong, as the
// JSON-RPC error for bad params (-32602), naming the field.

type JsonRpcError = { jsonrpc: '2.0'; id: string | number | null; error: { code: number; message: string } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The error for `message` (one parsed JSON-RPC message) when it is a tools/call with bad params; null otherwise. */
export function badToolCall(message: unknown): JsonRpcError | null {
  if (!isObject(message) || message.method !== 'tools/call') return null;
  const id = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null;
  const p = message.params;
  const problem = !isObject(p)
    ? "params: must be an object with the tool's name and its arguments"
    : typeof p.name !== 'string'
      ? 'params.name: must be the name of a tool (a string)'
      : p.arguments !== undefined && !isObject(p.arguments)
        ? "params.arguments: must be an object of the tool's arguments by name"
        : null;
  return problem ? { jsonrpc: '2.0', id, error: { code: -32602, message: problem } } : null;
}
