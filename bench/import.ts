// npm run bench:import — `agentmeter import claude` on a generated projects folder (1 GiB by
// default, BENCH_IMPORT_MB to change) uploading to a server process on loopback: events/s
// and MB/s, the peak RSS of the importer and of the server, and ccusage's own time reading
// the same folder (`ccusage session --json --offline`), as a ratio. Prints; asserts nothing.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeSync, closeSync, statSync, readdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, tempDir, waitFor } from '../test/helpers.js';
import { memoryMb, serverProcess } from './server.js';

const TARGET_MB = Number(process.env.BENCH_IMPORT_MB ?? 1024);
const PER_SESSION = 2000; // assistant records per transcript

/** Writes transcripts until the folder holds TARGET_MB: prompts, streamed copies (1 in 4 written twice), tool calls and results, sub-agents. */
export function generate(root: string, targetMb = TARGET_MB): { bytes: number; files: number; requests: number } {
  let bytes = 0;
  let files = 0;
  let requests = 0;
  for (let s = 0; bytes < targetMb * 2 ** 20; s++) {
    const dir = join(root, 'projects', `-home-dev-src-repo${s % 20}`);
    mkdirSync(dir, { recursive: true });
    const sessionId = `00000000-0000-4000-8000-${String(s).padStart(12, '0')}`;
    const fd = openSync(join(dir, `${sessionId}.jsonl`), 'w');
    const base = Date.UTC(2026, 9, 1) + s * 3_600_000;
    const common = {
      isSidechain: false,
      userType: 'external',
      cwd: `/home/dev/src/repo${s % 20}`,
      sessionId,
      version: '2.1.300',
    };
    let lines: string[] = [];
    for (let r = 0; r < PER_SESSION; r++) {
      const ts = new Date(base + r * 1000).toISOString();
      const tool = `toolu_${s}_${r}`;
      const usage = {
        input_tokens: 10 + (r % 50),
        output_tokens: 200 + (r % 300),
        cache_creation_input_tokens: r % 7 ? 0 : 2000,
        cache_read_input_tokens: 20_000 + r,
        cache_creation: { ephemeral_5m_input_tokens: r % 7 ? 0 : 1500, ephemeral_1h_input_tokens: r % 7 ? 0 : 500 },
        service_tier: 'standard',
      };
      const assistant = JSON.stringify({
        ...common,
        type: 'assistant',
        uuid: `a-${s}-${r}`,
        parentUuid: `u-${s}-${r}`,
        timestamp: ts,
        requestId: `req_${s}_${r}`,
        message: {
          id: `msg_${s}_${r}`,
          type: 'message',
          role: 'assistant',
          model: r % 5 ? 'claude-sonnet-4-5' : 'claude-haiku-4-5',
          content: [
            { type: 'text', text: 'Working on it.' },
            {
              type: 'tool_use',
              id: tool,
              name: ['Bash', 'Read', 'Edit', 'Grep'][r % 4],
              input: { command: `npm test -- --grep case-${r}` },
            },
          ],
          stop_reason: 'tool_use',
          usage,
        },
      });
      lines.push(
        JSON.stringify({
          ...common,
          type: 'user',
          uuid: `u-${s}-${r}`,
          parentUuid: null,
          timestamp: ts,
          promptId: `p-${s}-${Math.floor(r / 10)}`,
          message: { role: 'user', content: `step ${r}: make the tests pass` },
        }),
      );
      lines.push(assistant);
      if (r % 4 === 0) lines.push(assistant); // a streamed copy
      lines.push(
        JSON.stringify({
          ...common,
          type: 'user',
          uuid: `t-${s}-${r}`,
          parentUuid: `a-${s}-${r}`,
          timestamp: ts,
          message: {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: tool,
                is_error: r % 13 === 0,
                content: r % 13 === 0 ? 'Error: exit code 1' : 'ok',
              },
            ],
          },
        }),
      );
      requests++;
      if (lines.length >= 400) {
        const text = `${lines.join('\n')}\n`;
        writeSync(fd, text);
        bytes += Buffer.byteLength(text);
        lines = [];
      }
    }
    const text = lines.length ? `${lines.join('\n')}\n` : '';
    if (text) writeSync(fd, text);
    bytes += Buffer.byteLength(text);
    closeSync(fd);
    files++;
  }
  return { bytes, files, requests };
}

/** Runs a command, sampling its peak RSS (VmHWM) until it exits. */
function measured(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; seconds: number; peakMb: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let peakMb = 0;
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setInterval(() => {
      try {
        peakMb = Math.max(peakMb, memoryMb(child.pid!).peak);
      } catch {
        // exited between samples
      }
    }, 100);
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code: code ?? -1, seconds: (performance.now() - started) / 1000, peakMb, stdout, stderr });
    });
  });
}

async function main() {
  const work = tempDir('am-bench-import');
  const data = join(work.path, 'data');
  const home = join(work.path, 'home', '.claude');
  try {
    const made = performance.now();
    const corpus = generate(home);
    console.log(
      `generated ${corpus.files} transcripts, ${(corpus.bytes / 2 ** 20).toFixed(0)} MiB, ${corpus.requests.toLocaleString('en-US')} requests in ${((performance.now() - made) / 1000).toFixed(0)} s`,
    );

    const opts = { dataDir: data };
    await runCli(['setup', '--name', 'Bench', '--email', 'root@bench.test', '--password-stdin'], {
      ...opts,
      stdin: 'bench password 123',
    });
    await runCli(['user', 'create', '--tenant', 'Bench', '--email', 'dev@bench.test', '--role', 'developer'], opts);
    const key = (
      JSON.parse(
        (
          await runCli(
            ['apikey', 'create', '--tenant', 'Bench', '--user', 'dev@bench.test', '--scopes', 'ingest,read', '--json'],
            opts,
          )
        ).stdout,
      ) as { key: string }
    ).key;
    const server = await serverProcess(data);
    let serverPeak = 0;
    const sampler = setInterval(() => (serverPeak = Math.max(serverPeak, memoryMb(server.pid).peak)), 200);
    let ours;
    try {
      ours = await measured(
        process.execPath,
        [
          '--import',
          'tsx',
          join(ROOT, 'src/main.ts'),
          'import',
          'claude',
          home,
          '--url',
          server.url,
          '--key',
          key,
          '--state',
          join(work.path, 'state.json'),
          '--json',
        ],
        {},
      );
      if (ours.code !== 0) throw new Error(`import failed: ${ours.stderr}`);
      await waitFor(
        async () =>
          ((await (await fetch(`${server.url}/readyz`)).json()) as { aggregation?: { pending_events?: number } })
            .aggregation?.pending_events === 0
            ? true
            : undefined,
        'the rollups',
        1_800_000,
      );
    } finally {
      clearInterval(sampler);
      serverPeak = Math.max(serverPeak, memoryMb(server.pid).peak);
      await server.stop();
    }
    const summary = JSON.parse(ours.stdout) as { events: number; requests: number; stored: number; sessions: number };
    const ccusageBin = join(ROOT, 'node_modules', '.bin', 'ccusage');
    const theirs = await measured(ccusageBin, ['session', '--json', '--offline'], { CLAUDE_CONFIG_DIR: home });
    const tenants = join(data, 'tenants');
    const fileMb = readdirSync(tenants).reduce((n, f) => n + statSync(join(tenants, f)).size, 0) / 2 ** 20;

    const mb = corpus.bytes / 2 ** 20;
    console.log(
      `\nimport benchmark (loopback, Node ${process.version}, ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}, ${new Date().toISOString()})\n`,
    );
    console.log(
      `agentmeter import claude: ${summary.events.toLocaleString('en-US')} events (${summary.requests.toLocaleString('en-US')} requests, ${summary.sessions} sessions) in ${ours.seconds.toFixed(1)} s`,
    );
    console.log(
      `  ${(summary.events / ours.seconds).toFixed(0)} events/s, ${(mb / ours.seconds).toFixed(1)} MiB/s of transcripts, ${summary.stored.toLocaleString('en-US')} stored`,
    );
    console.log(
      `  peak RSS: importer ${ours.peakMb.toFixed(0)} MiB (${(ours.peakMb / mb).toFixed(3)}× the folder), server ${serverPeak.toFixed(0)} MiB; tenant file ${fileMb.toFixed(0)} MiB`,
    );
    console.log(
      `ccusage session --json --offline on the same folder: ${theirs.code === 0 ? `${theirs.seconds.toFixed(1)} s, peak RSS ${theirs.peakMb.toFixed(0)} MiB` : `failed (${theirs.stderr.slice(0, 200)})`}`,
    );
    if (theirs.code === 0)
      console.log(
        `  ratio: our import (read + upload + commit) takes ${(ours.seconds / theirs.seconds).toFixed(2)}× ccusage's read-and-report time`,
      );
  } finally {
    work.remove();
  }
}

if (process.argv[1]?.endsWith('import.ts')) await main();
