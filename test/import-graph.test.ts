// The shape of src/ as its imports show it: the web layer is a leaf that only the server
// starts, routes share nothing with each other, no two domain folders lean on each other
// both ways, and no SQL is written in the web layer. Imports are read with TypeScript's
// own pre-processor (type-only imports, re-exports and dynamic imports included).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const SRC = fileURLToPath(new URL('../src', import.meta.url));
// The composition root: it builds the app context and starts the web server.
const STARTS_WEB = new Set(['server.ts']);

type Source = { file: string; text: string; imports: string[] };

const sources: Source[] = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
  .filter((name) => name.endsWith('.ts'))
  .map((name) => {
    const file = name.split(sep).join('/');
    const text = readFileSync(join(SRC, name), 'utf8');
    const imports = ts
      .preProcessFile(text, true, true)
      .importedFiles.map((i) => i.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) =>
        relative(SRC, resolve(SRC, dirname(name), spec))
          .split(sep)
          .join('/')
          .replace(/\.js$/, '.ts'),
      );
    return { file, text, imports };
  });

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : null);
const inWeb = (file: string) => file.startsWith('web/');
const isRoute = (file: string) => file.startsWith('web/routes/');

test('the sources were read', () => {
  assert.ok(sources.length > 100, `${sources.length} files`);
  assert.ok(sources.some((s) => s.file === 'web/app.ts' && s.imports.includes('web/routes/query.ts')));
});

test('nothing outside src/web imports src/web (but the server that starts it)', () => {
  const offending = sources.flatMap((s) =>
    inWeb(s.file) || STARTS_WEB.has(s.file) ? [] : s.imports.filter(inWeb).map((to) => `${s.file} -> ${to}`),
  );
  assert.equal(offending, []);
});

test('no route imports another route', () => {
  const offending = sources.flatMap((s) =>
    isRoute(s.file) ? s.imports.filter((to) => isRoute(to) && to !== s.file).map((to) => `${s.file} -> ${to}`) : [],
  );
  assert.equal(offending, []);
});

test('no two folders of src/ import each other', () => {
  const edges = new Map<string, string>();
  for (const s of sources) {
    const from = folderOf(s.file);
    for (const to of s.imports) {
      const target = folderOf(to);
      if (from && target && target !== from && !edges.has(`${from}->${target}`))
        edges.set(`${from}->${target}`, `${s.file} -> ${to}`);
    }
  }
  const cycles: string[] = [];
  for (const [edge, example] of edges) {
    const [from, to] = edge.split('->') as [string, string];
    const back = edges.get(`${to}->${from}`);
    if (from < to && back) cycles.push(`${from}<->${to}: ${example}; ${back}`);
  }
  assert.equal(cycles, []);
});

test('no SQL in the string literals of src/web', () => {
  const SQL = /\b(SELECT|INSERT|DELETE|UPDATE) /;
  const offending: string[] = [];
  for (const s of sources.filter((s) => inWeb(s.file))) {
    const tree = ts.createSourceFile(s.file, s.text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) {
        if (SQL.test(node.text)) {
          const line = tree.getLineAndCharacterOfPosition(node.getStart()).line + 1;
          offending.push(`${s.file}:${line}: ${node.text.slice(0, 60)}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(tree);
  }
  assert.equal(offending, []);
});

test.run();
