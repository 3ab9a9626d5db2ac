// A validated query → one SQL statement over the tenant's file: first a plan (plan.ts: the
// cube, the periods and their tier and raw segments, the tail, the sketch source, the
// buckets), then its SQL (sql/emit.ts). With `raw: true` the whole range is read from raw
// events (the benchmark's comparison, and the check the property tests make).
import type { Query } from './model.js';
import { planQuery, type PlanState } from './plan.js';
import { emit, type Compiled } from './sql/emit.js';

export { cubeFor, keyCubeFor, tiersFor } from './plan.js';
export type { Compiled } from './sql/emit.js';
export type CompileContext = PlanState;

export const compile = (q: Query, ctx: CompileContext): Compiled => emit(planQuery(q, ctx));
