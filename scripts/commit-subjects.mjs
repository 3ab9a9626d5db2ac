// Commit subjects say what changed in at most 72 characters (details go in the body).
// Checks every commit after the one that introduced this rule; older history is left as it is.
import { execFileSync } from 'node:child_process';

const SINCE = '5255d1c'; // the last commit before the rule
const LIMIT = 72;

let log;
try {
  const hasBase =
    execFileSync('git', ['cat-file', '-t', SINCE], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim() === 'commit';
  log = execFileSync('git', ['log', '--format=%h %s', ...(hasBase ? [`${SINCE}..HEAD`] : ['-n', '200'])], {
    encoding: 'utf8',
  });
} catch {
  console.log('commit subjects: not a git checkout (nothing to check)');
  process.exit(0);
}
const long = log
  .split('\n')
  .filter(Boolean)
  .filter((line) => line.length - line.indexOf(' ') - 1 > LIMIT);
for (const line of long) console.error(`commit subject over ${LIMIT} characters: ${line}`);
if (long.length) process.exit(1);
console.log(`commit subjects: ${log.split('\n').filter(Boolean).length} checked, none over ${LIMIT} characters`);
