// Runs every uvu suite under test/ (TypeScript through tsx) in one process and ends
// with the line CI reads: `N passed, N failed`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureChromium } from './chromium.mjs';

const uvu = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url));
const testDir = fileURLToPath(new URL('../test', import.meta.url));
const pattern = process.argv[2] ?? '\\.test\\.ts$';

// uvu matches the pattern (case-insensitive) against paths relative to test/; when that
// selects a browser suite, Chromium has to be there first (CI installs it here).
const selected = readdirSync(testDir, { recursive: true, encoding: 'utf8' }).filter((name) =>
  new RegExp(pattern, 'i').test(name),
);
if (selected.some((name) => /^browser-.*\.test\.ts$/.test(basename(name)))) {
  try {
    ensureChromium();
  } catch (err) {
    process.stdout.write(`\n${err instanceof Error ? err.message : err}\n0 passed, 1 failed\n`);
    process.exit(1);
  }
}

const child = spawn(process.execPath, ['--import', 'tsx', uvu, 'test', pattern, '--no-color'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FORCE_COLOR: '0' },
});

// Once uvu has printed its totals the run is over; a failed test that left a server or
// socket open would keep the process alive forever, so it gets 30 s to exit by itself.
const GRACE_MS = 30_000;
let output = '';
let lingering = null;
child.stdout.on('data', (chunk) => {
  output += chunk;
  process.stdout.write(chunk);
  if (!lingering && /Duration:\s+[\d.]+ms/.test(output)) {
    lingering = setTimeout(() => {
      process.stderr.write(
        `\nthe test process did not exit ${GRACE_MS / 1000} s after reporting (something a test opened is still open); stopping it\n`,
      );
      child.kill('SIGKILL');
    }, GRACE_MS);
    lingering.unref();
  }
});

child.on('close', (code, signal) => {
  if (lingering) clearTimeout(lingering);
  const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? NaN);
  if (Number.isNaN(total) || Number.isNaN(passed)) {
    process.stdout.write(`\nthe test runner stopped before reporting (exit ${code})\n0 passed, 1 failed\n`);
    process.exit(code || 1);
  }
  const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
  process.stdout.write(`\n${passed} passed, ${total - passed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  // uvu exits 0 when a suite's `before` hook throws, though its tests count as not passed.
  process.exit(signal ? 1 : code === 0 && passed < total ? 1 : (code ?? 1));
});
