// The seeds' REST ingestion API under /api/metrics. (Being written.)
import { Hono } from 'hono';
import type { AppContext } from '../../context.js';
import type { Env } from '../env.js';

export function restMetricsRoutes(_ctx: AppContext) {
  return new Hono<Env>();
}
