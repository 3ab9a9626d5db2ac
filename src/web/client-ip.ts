// The address a request came from, for the login throttle and the audit log. It is the
// TCP peer, unless that peer is a trusted reverse proxy (--trusted-proxy): then it is the
// right-most X-Forwarded-For entry that is not itself a trusted proxy, the one address in
// the header that no client can forge. And the scheme and host the client asked for: from
// a trusted proxy its X-Forwarded-Proto and X-Forwarded-Host, else the request's own.
import { BlockList, isIP } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Env } from './env.js';

export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

/** `::ffff:10.0.0.1` is 10.0.0.1; `[::1]:443` and `10.0.0.1:443` (some proxies add the port) lose the port. */
function plainAddress(raw: string): string {
  let address = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(':'));
  return address.replace(/^::ffff:(?=[\d.]+$)/i, '');
}

const trusted = (list: BlockList, address: string) => {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
};

/** The client's address from the peer and X-Forwarded-For; without trusted proxies the header is ignored. */
export function clientAddress(peer: string, forwardedFor: string | undefined, proxies: BlockList | null): string {
  let client = plainAddress(peer);
  if (!proxies || !forwardedFor) return client;
  const hops = forwardedFor.split(',').map(plainAddress).reverse();
  for (const hop of hops) {
    if (!trusted(proxies, client)) break;
    // What a trusted proxy wrote but is no address says nothing: the proxy itself is the client then.
    if (!isIP(hop)) break;
    client = hop;
  }
  return client;
}

/** Resolves the client's address once per request, into `c.var.clientIp`. */
export function resolveClientIp(trustedProxies: readonly string[]): MiddlewareHandler<Env> {
  const proxies = trustedProxies.length ? trustedProxyList(trustedProxies) : null;
  return async (c, next) => {
    let peer = 'unknown';
    try {
      peer = getConnInfo(c).remote.address ?? 'unknown';
    } catch {
      // Not a node socket (the app called directly): no address to give.
    }
    c.set('clientIp', clientAddress(peer, c.req.header('x-forwarded-for'), proxies));
    // The first of a header's values is what the first proxy was asked for.
    const forwarded = (name: string) =>
      proxies && trusted(proxies, plainAddress(peer))
        ? c.req.header(name)?.split(',')[0]?.trim() || undefined
        : undefined;
    const proto = forwarded('x-forwarded-proto') ?? new URL(c.req.url).protocol.slice(0, -1);
    c.set('origin', {
      proto: proto === 'https' ? 'https' : 'http',
      host: forwarded('x-forwarded-host') ?? c.req.header('host'),
    });
    return next();
  };
}

export const clientIp = (c: Context<Env>): string => c.var.clientIp ?? 'unknown';
