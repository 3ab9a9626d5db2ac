// The migrations that are code. A numbered file `migrations/<series>/NNNN_<name>.sql` says
// when one runs and why; the step named <name> here does the work, after that file's SQL.
// It lives beside the composition root, not in storage/, because its code is the domain's.
import { applyCatalogue } from './aggregate/catalogue-ddl.js';
import type { Queryable } from './storage/duckdb.js';

export type MigrationStep = (tx: Queryable) => Promise<void>;

export const MIGRATION_STEPS: Record<'control' | 'tenant', Record<string, MigrationStep>> = {
  control: {},
  tenant: { rollup_catalogue: applyCatalogue },
};
