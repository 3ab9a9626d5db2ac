// What the benchmarks share: the appliance started as an operator runs it, in a process of
// its own (so its memory is measured alone), and that process's memory as Linux reports it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, waitFor } from '../test/helpers.js';

export type ServerProcess = { url: string; pid: number; stop(): Promise<void> };

export async function serverProcess(dataDir: string, flags: string[] = []): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [
      // e.g. BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the server
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      'tsx',
      join(ROOT, 'src/main.ts'),
      'serve',
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      ...flags,
    ],
    {
      cwd: ROOT,
      env: { MALLOC_ARENA_MAX: '2', ...process.env },
      stdio: ['ignore', process.env.BENCH_SERVER_LOG ? 'inherit' : 'ignore', 'inherit'],
    },
  );
  await waitFor(async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined), 'server start', 60_000);
  return {
    url,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A process's resident set now and its peak (VmHWM), in MiB (Linux). */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** CPU seconds a process has used so far, user and system (Linux, /proc/<pid>/stat; clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  // The fields after the command's closing parenthesis (the command may hold one): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
