// Makes sure the Chromium that the browser tests drive is on this machine. A fresh Debian CI
// machine (root, no terminal) gets Debian's `chromium` package through apt-get; anywhere
// else the person is told the exact command, because installing a browser needs their say.
//
//   node scripts/chromium.mjs          # ensure, print the path
//   import { ensureChromium } from './chromium.mjs'
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';
const INSTALL = 'apt-get install -y --no-install-recommends chromium';

/** Where the tests look for Chromium: `AGENTMETER_CHROMIUM`, else Debian's path. */
export function chromiumPath(env = process.env) {
  return env.AGENTMETER_CHROMIUM || DEFAULT_CHROMIUM;
}

const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function run(log, command, args) {
  log(`chromium: running ${command} ${args.join(' ')}`);
  // apt's progress goes to stderr so it never mixes with test output on stdout.
  const result = spawnSync(command, args, {
    stdio: ['ignore', process.stderr, process.stderr],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) throw new Error(`chromium: could not run ${command}: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`chromium: \`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})`);
}

/**
 * Returns the path of a Chromium executable, installing Debian's package first when this
 * process may (root with apt-get). Throws an Error whose message says what to do otherwise.
 */
export function ensureChromium({ env = process.env, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const path = chromiumPath(env);
  if (existsSync(path)) return path;
  if (env.AGENTMETER_CHROMIUM) {
    throw new Error(
      `chromium: AGENTMETER_CHROMIUM is ${path}, which does not exist. Point it at a Chromium executable or unset it to use ${DEFAULT_CHROMIUM}.`,
    );
  }
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !onPath('apt-get')) {
    throw new Error(
      `chromium: the browser tests need Chromium at ${DEFAULT_CHROMIUM}, and it is not there.\n` +
        (onPath('apt-get')
          ? `Install it with:\n  sudo apt-get update && sudo ${INSTALL}\n`
          : `Install Chromium with your package manager.\n`) +
        `Or set AGENTMETER_CHROMIUM to the path of a Chromium you already have.`,
    );
  }
  log(`chromium: ${DEFAULT_CHROMIUM} is missing; installing Debian's chromium package (this takes a minute)`);
  run(log, 'apt-get', ['update']);
  run(log, 'apt-get', INSTALL.split(' ').slice(1));
  if (!existsSync(path)) throw new Error(`chromium: apt-get installed chromium but ${path} is still missing`);
  log(`chromium: installed ${path}`);
  return path;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    process.stdout.write(`${ensureChromium()}\n`);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : err}\n`);
    process.exit(1);
  }
}
