// Loads DuckDB's native binding. From source it is the normal npm package. Inside the
// single executable (SEA) the binding is an embedded asset, but the OS can only load a
// shared library from a file, so it is extracted once into a cache directory and loaded
// from there. build.ts points @duckdb/node-bindings at loadDuckDBBinding().
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import { privateTempDir, unusableDir } from './private-dir.js';

declare const __filename: string | undefined;

type Sea = { isSea(): boolean; getAsset(key: string): ArrayBuffer };

/** Written by build.ts next to the two library assets. */
export type BindingInfo = {
  /** Version of the @duckdb/node-bindings-<platform> package that was embedded. */
  version: string;
  /** Short SHA-256 over both files: a changed binding always gets a new directory. */
  hash: string;
  /** Expected size in bytes of each file, by file name. */
  sizes: Record<string, number>;
};

export const BINDING_ASSET_PREFIX = 'duckdb/';
export const BINDING_INFO_KEY = 'duckdb/binding.json';
/** duckdb.node NEEDS libduckdb.so and finds it through RUNPATH $ORIGIN: same directory. */
export const BINDING_FILES = ['libduckdb.so', 'duckdb.node'] as const;

// A real require (not the SEA one, which only knows builtins); esbuild leaves it alone.
const nodeRequire = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);

function runningSea(): Sea | null {
  try {
    const sea = nodeRequire('node:sea') as Sea;
    return sea.isSea() ? sea : null;
  } catch {
    return null; // node:sea does not exist before Node 20.12
  }
}

/** Returns the exports of DuckDB's native module (what `@duckdb/node-bindings` exports). */
export function loadDuckDBBinding(): unknown {
  const sea = runningSea();
  if (!sea) return nodeRequire('@duckdb/node-bindings');
  try {
    return loadEmbeddedBinding(sea);
  } catch (err) {
    // In the executable this runs while the bundle's modules load, before the CLI's own
    // error handling exists; an uncaught error would bury the reason under a stack trace.
    writeSync(2, `agentmeter: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

function loadEmbeddedBinding(sea: Sea): unknown {
  const info = JSON.parse(Buffer.from(sea.getAsset(BINDING_INFO_KEY)).toString('utf8')) as BindingInfo;
  const dir = join(chooseCacheDir(), `duckdb-${info.version}-${info.hash}`);
  try {
    extractOnce(sea, info, dir);
  } catch (err) {
    throw new Error(
      `cannot extract the DuckDB native library to ${dir}: ${(err as Error).message}; set AGENTMETER_CACHE_DIR to a writable directory`,
    );
  }
  const mod = { exports: {} as unknown };
  try {
    process.dlopen(mod, join(dir, 'duckdb.node'), osConstants.dlopen.RTLD_NOW);
  } catch (err) {
    throw new Error(
      `cannot load the DuckDB native library from ${dir}: ${(err as Error).message} (if that file system is mounted noexec, set AGENTMETER_CACHE_DIR to a directory on another one)`,
    );
  }
  return mod.exports;
}

/** Writes the files unless a previous run already did; reading the 70 MB asset is skipped then. */
function extractOnce(sea: Sea, info: BindingInfo, dir: string): void {
  const missing = BINDING_FILES.filter((name) => sizeOf(join(dir, name)) !== info.sizes[name]);
  if (missing.length === 0) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const name of missing) {
    // Temp file + rename in the same directory: a crash or a second process starting at
    // the same time never leaves (or loads) a half-written library.
    const temp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      writeFileSync(temp, new Uint8Array(sea.getAsset(`${BINDING_ASSET_PREFIX}${name}`)), { mode: 0o755 });
      renameSync(temp, join(dir, name));
    } finally {
      rmSync(temp, { force: true });
    }
  }
}

function sizeOf(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

/**
 * The first usable of: $AGENTMETER_CACHE_DIR, $CACHE_DIRECTORY (systemd CacheDirectory=),
 * $XDG_CACHE_HOME/agentmeter, ~/.cache/agentmeter, <tmp>/agentmeter-cache-<uid>.
 * An explicit AGENTMETER_CACHE_DIR that cannot be used is an error, not skipped.
 */
export function chooseCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.AGENTMETER_CACHE_DIR ? resolve(env.AGENTMETER_CACHE_DIR) : undefined;
  if (explicit) {
    const problem = unusableDir(explicit);
    if (problem)
      throw new Error(`AGENTMETER_CACHE_DIR=${explicit} cannot be used for the DuckDB native library: ${problem}`);
    return explicit;
  }
  const home = safeHomedir();
  const candidates = [
    env.CACHE_DIRECTORY?.split(':')[0], // systemd passes several dirs colon-separated
    env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, 'agentmeter') : undefined,
    home ? join(home, '.cache', 'agentmeter') : undefined,
  ].filter((d): d is string => !!d);
  for (const dir of candidates) if (!unusableDir(dir)) return dir;

  // Last resort in a shared temp directory: only trust it if we own it and nobody else
  // can write to it, or another user could plant a library for us to load.
  try {
    return privateTempDir('agentmeter-cache');
  } catch (err) {
    throw new Error(
      `no usable cache directory for the DuckDB native library (tried ${candidates.join(', ')}); last: ${(err as Error).message}; set AGENTMETER_CACHE_DIR`,
    );
  }
}

function safeHomedir(): string | null {
  try {
    return homedir() || null;
  } catch {
    return null;
  }
}
