// OTLP/HTTP receiver: POST /v1/metrics, /v1/logs, /v1/traces. (Being written.)
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import type { Env } from '../env.js';

export function otlpRoutes(_ctx: AppContext) {
  return new Hono<Env>();
}
