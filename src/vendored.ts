// The browser libraries the pages load from /public/vendor/ (no CDN: the appliance must
// work on a LAN without internet), and the node_modules file each one is. From source
// they are read from node_modules; the build embeds them in the executable.
export const VENDORED: Record<string, string> = {
  'htmx.min.js': 'htmx.org/dist/htmx.min.js',
  'alpine-csp.min.js': '@alpinejs/csp/dist/cdn.min.js',
  'alpine-sort.min.js': '@alpinejs/sort/dist/cdn.min.js',
  'apexcharts.min.js': 'apexcharts/dist/apexcharts.min.js',
  'apexcharts.css': 'apexcharts/dist/apexcharts.css',
  'apexcharts-legend.css': 'apexcharts/dist/apexcharts-legend.css',
};

export const VENDOR_PREFIX = 'public/vendor/';
