// Temporary: replaced by the legacy reader's baseline storage.
import type { Queryable } from '../storage/duckdb.js';
import type { Baseline } from './types.js';

export async function saveBaseline(_db: Queryable, _userId: string, _b: Baseline): Promise<void> {}
