// The project's own checks: a clone made anywhere has everything its tests read.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers.js';

const files = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mjs|js|json)$/.test(f) && !f.includes('node_modules') && !f.startsWith('fixtures/'))
    .map((f) => join(dir, f));

test('no test, benchmark or script reads the shared folder beside the clone (its fixtures are copied into test/fixtures)', () => {
  const readers = ['src', 'test', 'bench', 'scripts']
    .flatMap(files)
    .filter(
      (f) =>
        /\.\.\/shared\b|['"`/]shared\/fixtures/.test(readFileSync(join(ROOT, f), 'utf8')) &&
        f !== 'test/project.test.ts',
    );
  assert.equal(readers, []);
  for (const fixture of ['claude-code-hooks/expected.json', 'otlp/expected-totals.json', 'otlp/logs.pb']) {
    assert.ok(readFileSync(join(ROOT, 'test/fixtures', fixture)).length > 0, fixture);
  }
});

test.run();
