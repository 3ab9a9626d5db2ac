// The REST batch items bench:ingest sends and bench:batch-steps times: one shape, named once.

/** The i-th command execution of a batch, `t0` the first one's time (epoch ms). */
export function commandItem(i: number, t0: number) {
  return {
    id: `bench-${i}`,
    command_name: ['plan-product', 'create-trd', 'implement', 'review'][i % 4]!,
    execution_time_ms: 100 + (i % 900),
    status: i % 17 ? 'success' : 'failure',
    timestamp: new Date(t0 + i).toISOString(),
    context: { session_id: `bench-s${i % 500}` },
  };
}
