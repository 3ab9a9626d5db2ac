// Temporary: replaced by the transcript reader.
import type { Reader } from './types.js';

export const readTranscripts: Reader = async function* () {};
export function defaultClaudeRoots(_env: NodeJS.ProcessEnv, _home: string): string[] {
  return [];
}
