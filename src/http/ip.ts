import { isIP } from 'node:net';

/**
 * Client addresses as rate-limit keys. IPv4-mapped IPv6 in any spelling (`::ffff:1.2.3.4`,
 * `0:0:0:0:0:ffff:102:304`, `::FFFF:0102:0304`...) is read as the IPv4 address, IPv6 addresses are
 * grouped by prefix (default /56, what one subscriber usually gets), so rotating through addresses of
 * one allocation does not buy a fresh bucket each time. Brackets, a zone (`%eth0`) and an IPv4 port
 * (`1.2.3.4:5678`, as some proxies write X-Forwarded-For) are dropped. Undefined when the text is no
 * address (the HTTP core then counts it under INVALID_IP).
 */
export function ipKey(address: string, ipv6Prefix = 56): string | undefined {
  // Longer than any address (bracketed IPv6 with an IPv4 tail and a zone): worked out, not remembered.
  if (address.length > MAX_MEMO_INPUT) return computeIpKey(address, ipv6Prefix);
  // Clients come back: the key of a recent address is remembered (per prefix, bounded).
  let memo = memos.get(ipv6Prefix);
  if (!memo) {
    memo = new Map();
    memos.set(ipv6Prefix, memo);
  }
  const known = memo.get(address);
  if (known !== undefined || memo.has(address)) return known;
  const key = computeIpKey(address, ipv6Prefix);
  if (memo.size >= MAX_MEMO) memo.clear();
  memo.set(address, key);
  return key;
}

/** The IP key of a request whose peer address is unknown (the socket closed before it was read). */
export const UNKNOWN_IP = 'unknown';
/** The IP key of a client address that does not parse (a forwarded entry that is no address). */
export const INVALID_IP = 'invalid';

const memos = new Map<number, Map<string, string | undefined>>();
/** Addresses remembered per prefix (the memo is cleared when full). */
const MAX_MEMO = 4096;
/** Longest input remembered: the memo holds at most MAX_MEMO x 64 characters per prefix. */
export const MAX_MEMO_INPUT = 64;

/** Entries of the memo of one prefix (for tests). */
export function ipMemoSize(ipv6Prefix = 56): number {
  return memos.get(ipv6Prefix)?.size ?? 0;
}

function computeIpKey(address: string, ipv6Prefix: number): string | undefined {
  let ip = address.trim();
  if (ip.startsWith('[') && ip.includes(']')) ip = ip.slice(1, ip.indexOf(']'));
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const port = /^(\d+\.\d+\.\d+\.\d+):\d{1,5}$/.exec(ip);
  if (port) ip = port[1] as string;
  const version = isIP(ip);
  if (version === 4) return ip;
  if (version !== 6) return undefined;
  const groups = expand(ip);
  // IPv4-mapped (::ffff:0:0/96): the IPv4 address, whichever way the IPv6 text spelled it.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const hi = groups[6] as number;
    const lo = groups[7] as number;
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${prefixOf(groups, ipv6Prefix)}/${ipv6Prefix}`;
}

/** Eight 16-bit groups of an IPv6 address (with an embedded IPv4 tail converted). */
function expand(ip: string): number[] {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const parts = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((parts[0] << 8) | parts[1]).toString(16)}:${((parts[2] << 8) | parts[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((g) => Number.parseInt(g || '0', 16));
}

function prefixOf(groups: number[], bits: number): string {
  const out = groups.map((g, i) => {
    const start = i * 16;
    if (start >= bits) return 0;
    if (start + 16 <= bits) return g;
    const keep = bits - start;
    return g & (0xffff << (16 - keep)) & 0xffff;
  });
  return out.map((g) => g.toString(16)).join(':');
}

/** Whether `ip` is inside `cidr` ("10.0.0.0/8", "2001:db8::/32", or a single address). */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/') as [string, string | undefined];
  const a = ipKey(ip, 128);
  const b = ipKey(base, 128);
  if (!a || !b) return false;
  const v4 = !a.includes(':');
  if (v4 !== !b.includes(':')) return false;
  if (v4) {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    const toInt = (s: string) => s.split('.').reduce((n, p) => (n << 8) | Number(p), 0) >>> 0;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return (toInt(a) & mask) === (toInt(b) & mask);
  }
  const bits = bitsText === undefined ? 128 : Number(bitsText);
  return ipKey(ip, bits) === ipKey(base, bits);
}

/** Trusted proxies: false (default: ignore X-Forwarded-For), a hop count, or a list of addresses/CIDRs. */
export type TrustProxy = boolean | number | string[];

/**
 * The client's address: the socket's, unless the peer is a trusted proxy, in which case the
 * right-most untrusted entry of X-Forwarded-For (entries added by trusted proxies are skipped).
 */
export function clientAddress(
  remote: string | undefined,
  forwardedFor: string | undefined,
  trust: TrustProxy,
): string | undefined {
  if (trust === false || trust === 0 || !forwardedFor) return remote;
  // Without the peer there is no telling who wrote the chain (a client gone before it was read would
  // otherwise pick its own entry): no address at all.
  if (!remote) return undefined;
  const chain = [
    ...forwardedFor
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    remote,
  ];
  if (trust === true) return chain[0];
  if (typeof trust === 'number') return chain[Math.max(0, chain.length - 1 - trust)];
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = chain[i] as string;
    if (!trust.some((cidr) => inCidr(hop, cidr))) return hop;
  }
  return chain[0];
}
