// WebSocket gateway GET /api/v1/stream. (Being written.)
import type { Server } from 'node:http';
import type { AppContext } from '../context.js';

export function attachStreamGateway(_server: Server, _ctx: AppContext): { close(): Promise<void> } {
  return { close: async () => {} };
}
