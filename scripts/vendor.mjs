// Copies the browser libraries from node_modules into public/vendor/, so the appliance
// serves them itself (no CDN: it must work on a LAN without internet). Runs before
// start, test and build; public/vendor/ is not committed.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const out = fileURLToPath(new URL('../public/vendor/', import.meta.url));

export const VENDORED = {
  'htmx.min.js': 'htmx.org/dist/htmx.min.js',
  'alpine-csp.min.js': '@alpinejs/csp/dist/cdn.min.js',
  'alpine-sort.min.js': '@alpinejs/sort/dist/cdn.min.js',
  'apexcharts.min.js': 'apexcharts/dist/apexcharts.min.js',
  'apexcharts.css': 'apexcharts/dist/apexcharts.css',
  'apexcharts-legend.css': 'apexcharts/dist/apexcharts-legend.css',
};

mkdirSync(out, { recursive: true });
for (const [name, from] of Object.entries(VENDORED)) copyFileSync(require.resolve(from), out + name);
