// Browser assets from public/ (embedded in the executable): no CDN, works offline.
import { Hono } from 'hono';
import { assetExists, readAsset } from '../../assets.js';
import type { Env } from '../env.js';

const TYPES: Record<string, string> = {
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
  json: 'application/json',
};

export function staticRoutes() {
  return new Hono<Env>().get('/public/*', (c) => {
    const path = c.req.path.slice(1);
    if (path.includes('..') || !assetExists(path)) return c.json({ error: 'not found' }, 404);
    const type = TYPES[path.slice(path.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
    return c.body(new Uint8Array(readAsset(path)), 200, {
      'content-type': type,
      'cache-control': 'public, max-age=3600',
    });
  });
}
