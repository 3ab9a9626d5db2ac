// Where alert deliveries may go: the SSRF guard for webhook and Slack URLs. A URL is checked
// when a rule is saved (checkTarget) and again when it is sent, on the addresses its name
// resolves to (guardedLookup), so a name that resolves to an internal address is refused too.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

export type TargetPolicy = {
  /** Loopback and private networks allowed (`--alert-allow-private`): receivers on the LAN, and tests. */
  allowPrivate?: boolean;
  /** The appliance's public URL: never a target, whatever the policy. */
  self?: URL;
  /** The port the appliance listens on: never a target on a loopback address. */
  selfPort?: number;
};

export type TargetCheck = { ok: true; url: URL } | { ok: false; message: string };

// Cloud metadata services and link-local, unspecified and multicast addresses: never a receiver.
const NEVER = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['169.254.0.0', 16],
  ['100.100.100.200', 32],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NEVER.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['fe80::', 10],
  ['fd00:ec2::254', 128],
  ['ff00::', 8],
] as const)
  NEVER.addSubnet(net, bits, 'ipv6');
const NEVER_NAMES =
  /^(metadata|metadata\.google\.internal|metadata\.goog|instance-data|instance-data\.ec2\.internal)\.?$/i;

// Loopback and private networks: allowed only with the operator's allowance.
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['127.0.0.0', 8],
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::1', 128],
  ['fc00::', 7],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether `raw` may receive alert deliveries; the message names what is wrong. */
export function checkTarget(raw: string, policy: TargetPolicy = {}): TargetCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: 'not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, message: `must be http or https, not ${url.protocol.replace(':', '')}` };
  if (url.username || url.password) return { ok: false, message: 'must not hold a user name or password' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (NEVER_NAMES.test(host)) return { ok: false, message: `${host} is a cloud metadata service` };
  if (policy.self && url.host.toLowerCase() === policy.self.host.toLowerCase() && portOf(url) === portOf(policy.self)) {
    return { ok: false, message: 'is this appliance itself' };
  }
  const refused = isIP(host) ? refusedAddress(host, portOf(url), policy) : null;
  return refused ? { ok: false, message: refused } : { ok: true, url };
}

/** Why `address` (with `port`) may not be connected to, or null when it may. */
export function refusedAddress(address: string, port: number, policy: TargetPolicy): string | null {
  const [ip, family] = plain(address);
  if (NEVER.check(ip, family)) return `${address} is a link-local, metadata or unspecified address`;
  if (LOOPBACK.check(ip, family) && port === policy.selfPort) return `${address}:${port} is this appliance itself`;
  if (!policy.allowPrivate && PRIVATE.check(ip, family))
    return `${address} is a loopback or private address (allowed only with --alert-allow-private)`;
  return null;
}

/**
 * Where to connect for `host` at `port` (an SMTP server's): a name is resolved here, an address
 * read in any form a URL takes (127.1, 2130706433, 0x7f000001), and the address is checked as a
 * webhook's are. The caller connects to `address`, so a name cannot change between the two.
 * A name that does not resolve is an error (ENOTFOUND).
 */
export async function checkedAddress(
  host: string,
  port: number,
  policy: TargetPolicy,
): Promise<{ address: string; name: string } | { refused: string }> {
  const bare = host.replace(/^\[|\]$/g, '');
  let name: string;
  try {
    name = new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return { refused: `${host} is not a host name or address` };
  }
  if (NEVER_NAMES.test(name)) return { refused: `${name} is a cloud metadata service` };
  const addresses = isIP(name) ? [name] : (await lookupAll(name, { all: true })).map((a) => a.address);
  const refused = addresses.map((a) => refusedAddress(a, port, policy)).find(Boolean);
  if (refused) return { refused: isIP(name) ? refused : `${name} resolves to ${refused}` };
  return { address: addresses.find((a) => isIP(a) === 4) ?? addresses[0]!, name }; // IPv4 first, as most mail servers answer
}

/**
 * A DNS lookup for http.request that refuses a name resolving to an address the policy
 * forbids: the check and the connection use the same answer, so a name cannot change between them.
 */
export function guardedLookup(policy: TargetPolicy, port: number): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const refused = addresses.map((a) => refusedAddress(a.address, port, policy)).find(Boolean);
      if (refused)
        return callback(
          Object.assign(new Error(`${hostname} resolves to ${refused}`), { code: 'ETARGETREFUSED' }),
          '',
          0,
        );
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

export function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** An IPv4-mapped IPv6 address (::ffff:7f00:1) is the IPv4 address it carries. */
function plain(address: string): [string, 'ipv4' | 'ipv6'] {
  const mapped = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (mapped?.[1]) return [mapped[1], 'ipv4'];
  if (mapped?.[2] && mapped[3]) {
    const hi = parseInt(mapped[2], 16);
    const lo = parseInt(mapped[3], 16);
    return [`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4'];
  }
  return [address, isIP(address) === 6 ? 'ipv6' : 'ipv4'];
}
