import { isIP } from 'node:net';

/**
 * Where a webhook may be delivered. The control plane runs next to things a tenant must not reach
 * through it: its own loopback services, the cloud's metadata endpoint (credentials), the provider's
 * private network. So a receiver's address is classified, and only public ones are allowed, plus the
 * private kinds an on-prem install opts into (FERRY_WEBHOOK_ALLOW_PRIVATE=true).
 */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'unique_local'
  | 'shared'
  | 'link_local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

/** Classes an on-prem install may allow: receivers on the hospital's own network or this host. */
const PRIVATE_CLASSES: ReadonlySet<AddressClass> = new Set(['loopback', 'private', 'unique_local', 'shared']);

/** How each refused class is named to the admin (no address, no resolver detail). */
export const ADDRESS_CLASS_LABELS: Record<Exclude<AddressClass, 'public'>, string> = {
  loopback: 'a loopback address',
  private: 'a private network address',
  unique_local: 'a unique-local (private) IPv6 address',
  shared: 'a carrier-grade NAT address',
  link_local: 'a link-local address',
  metadata: 'a cloud metadata address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

/** Host names of cloud metadata services (and RFC 6761 localhost), refused before any lookup. */
const METADATA_HOSTS = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.internal',
  'instance-data',
  'instance-data.ec2.internal',
]);

interface Rule {
  net: bigint;
  bits: number;
  cls: AddressClass;
}

function v4(text: string): bigint {
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** Most specific first: the first rule that matches decides. */
const V4_RULES: Rule[] = (
  [
    ['169.254.169.254', 32, 'metadata'], // AWS, GCP, Azure, OpenStack, Oracle
    ['169.254.170.2', 32, 'metadata'], // AWS ECS task credentials
    ['100.100.100.200', 32, 'metadata'], // Alibaba Cloud
    ['0.0.0.0', 8, 'unspecified'],
    ['10.0.0.0', 8, 'private'],
    ['100.64.0.0', 10, 'shared'],
    ['127.0.0.0', 8, 'loopback'],
    ['169.254.0.0', 16, 'link_local'],
    ['172.16.0.0', 12, 'private'],
    ['192.0.0.0', 24, 'reserved'],
    ['192.0.2.0', 24, 'reserved'],
    ['192.88.99.0', 24, 'reserved'],
    ['192.168.0.0', 16, 'private'],
    ['198.18.0.0', 15, 'reserved'],
    ['198.51.100.0', 24, 'reserved'],
    ['203.0.113.0', 24, 'reserved'],
    ['224.0.0.0', 4, 'multicast'],
    ['240.0.0.0', 4, 'reserved'], // includes 255.255.255.255
  ] as const
).map(([net, bits, cls]) => ({ net: v4(net), bits, cls }));

/** An IPv6 address as a 128-bit number, or undefined. Accepts `::` and a trailing dotted quad. */
export function parseIPv6(text: string): bigint | undefined {
  let address = text.split('%')[0] ?? ''; // a zone id (fe80::1%eth0) names an interface
  if (isIP(address) !== 6) return undefined;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  if (tail) {
    const n = v4(tail);
    address = `${address.slice(0, -tail.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [left = '', right] = address.split('::');
  const l = left === '' ? [] : left.split(':');
  const r = right === undefined || right === '' ? [] : right.split(':');
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

function v6(text: string): bigint {
  const n = parseIPv6(text);
  if (n === undefined) throw new Error(`bad IPv6 literal ${text}`);
  return n;
}

/** IPv6 ranges; those that embed an IPv4 address are handled before these (see classifyAddress). */
const V6_RULES: Rule[] = (
  [
    ['fd00:ec2::254', 128, 'metadata'], // AWS over IPv6
    ['::', 128, 'unspecified'],
    ['::1', 128, 'loopback'],
    ['::', 96, 'reserved'], // IPv4-compatible, deprecated
    ['100::', 64, 'reserved'], // discard-only
    ['64:ff9b:1::', 48, 'private'], // local-use NAT64
    ['2001::', 32, 'reserved'], // Teredo: the IPv4 inside is obfuscated
    ['2001:db8::', 32, 'reserved'], // documentation
    ['fc00::', 7, 'unique_local'],
    ['fe80::', 10, 'link_local'],
    ['fec0::', 10, 'private'], // site-local, deprecated
    ['ff00::', 8, 'multicast'],
  ] as const
).map(([net, bits, cls]) => ({ net: v6(net), bits, cls }));

function match(rules: Rule[], n: bigint, width: number): AddressClass {
  for (const rule of rules) {
    const shift = BigInt(width - rule.bits);
    if (n >> shift === rule.net >> shift) return rule.cls;
  }
  return 'public';
}

function classifyV4(n: bigint): AddressClass {
  return match(V4_RULES, n, 32);
}

const V4_MAPPED = v6('::ffff:0:0');
const NAT64 = v6('64:ff9b::');
const SIX_TO_FOUR = v6('2002::');

/**
 * The class of an IP address (v4 or v6). IPv6 forms that carry an IPv4 address (mapped ::ffff:a.b.c.d,
 * NAT64 64:ff9b::/96, 6to4 2002::/16) are classified by that IPv4 address, so ::ffff:127.0.0.1 is
 * loopback. Anything that is not an IP address is 'reserved'.
 */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address.split('%')[0] ?? '');
  if (family === 4) return classifyV4(v4(address));
  const n = family === 6 ? parseIPv6(address) : undefined;
  if (n === undefined) return 'reserved';
  const low32 = n & 0xffffffffn;
  if (n >> 32n === V4_MAPPED >> 32n) return classifyV4(low32);
  if (n >> 32n === NAT64 >> 32n) return classifyV4(low32);
  if (n >> 112n === SIX_TO_FOUR >> 112n) return classifyV4((n >> 80n) & 0xffffffffn);
  return match(V6_RULES, n, 128);
}

/** Whether deliveries may go to an address of this class. */
export function classAllowed(cls: AddressClass, opts: { allowPrivate: boolean }): boolean {
  return cls === 'public' || (opts.allowPrivate && PRIVATE_CLASSES.has(cls));
}

/**
 * The class a host name is refused as before any lookup: cloud metadata names always, localhost
 * (RFC 6761: it and every name under it are loopback) as loopback. Undefined for other names.
 */
export function classifyHostName(host: string): AddressClass | undefined {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (METADATA_HOSTS.has(name)) return 'metadata';
  if (name === 'localhost' || name.endsWith('.localhost')) return 'loopback';
  return undefined;
}
