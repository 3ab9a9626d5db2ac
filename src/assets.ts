// Files that ship with the appliance (views/, public/, migrations/). From source they
// are read from the project folder; inside the single executable they are SEA assets,
// listed in an embedded manifest because SEA assets cannot be enumerated.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VENDOR_PREFIX, VENDORED } from './vendored.js';

export const MANIFEST_KEY = 'asset-manifest.json';

type Sea = { isSea(): boolean; getAsset(key: string): ArrayBuffer };

function loadSea(): Sea | null {
  try {
    // node:sea exists from Node 20.12; require keeps it out of the ESM import graph.
    const require = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
    const sea = require('node:sea') as Sea;
    return sea.isSea() ? sea : null;
  } catch {
    return null;
  }
}

declare const __filename: string | undefined;

const sea = loadSea();
let manifest: string[] | null = null;

export function isSingleExecutable(): boolean {
  return sea !== null;
}

function projectRoot(): string {
  return fileURLToPath(new URL('..', import.meta.url));
}

function seaManifest(s: Sea): string[] {
  manifest ??= JSON.parse(Buffer.from(s.getAsset(MANIFEST_KEY)).toString('utf8')) as string[];
  return manifest;
}

/**
 * Where a shipped file is from source: under the project root, or for a vendored browser
 * library its file in node_modules (so every way of starting from source serves it).
 */
function sourcePath(path: string): string {
  const vendored = path.startsWith(VENDOR_PREFIX) ? VENDORED[path.slice(VENDOR_PREFIX.length)] : undefined;
  if (vendored) return createRequire(join(projectRoot(), 'package.json')).resolve(vendored);
  return join(projectRoot(), path);
}

/** Reads a shipped file by its path relative to the project root, e.g. `views/login.eta`. */
export function readAsset(path: string): Buffer {
  if (sea) return Buffer.from(sea.getAsset(path));
  return readFileSync(sourcePath(path));
}

export function readAssetText(path: string): string {
  return readAsset(path).toString('utf8');
}

/** Paths (relative to the project root) of the shipped files under `dir`, sorted. */
export function listAssets(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  if (sea)
    return seaManifest(sea)
      .filter((p) => p.startsWith(prefix))
      .sort();
  return walk(projectRoot(), prefix.slice(0, -1)).sort();
}

export function assetExists(path: string): boolean {
  if (sea) return seaManifest(sea).includes(path);
  try {
    return statSync(sourcePath(path)).isFile();
  } catch {
    return false;
  }
}

function walk(root: string, rel: string): string[] {
  let entries;
  try {
    entries = readdirSync(join(root, rel), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? walk(root, `${rel}/${e.name}`) : [`${rel}/${e.name}`]));
}
