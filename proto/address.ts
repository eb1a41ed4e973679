/**
 * The one IP address module: IPv4/IPv6/MAC text <-> bytes, for every layer (proto, net, config, k8s,
 * controller, speaker all import it; it imports nothing but its error type). config/ip.ts builds its
 * bigint arithmetic (pools, ranges, CIDRs) on it; x509 SANs and wire codecs use its bytes.
 *
 * What it accepts: a dotted quad (no leading zeros, each part 0..255); IPv6 in any RFC 4291 text form
 * (hex groups of 1-4 digits in either case, one `::`, a trailing dotted quad as in `::ffff:10.0.0.1`).
 * Nothing else: no surrounding spaces, no zone id (`fe80::1%eth0` is an address plus a zone: split it
 * with splitZone first), no prefix length. An IPv4-mapped address (`::ffff:a.b.c.d`) is an IPv6
 * address (16 bytes, family 6); isIpv4Mapped and ipv4OfMapped say which IPv4 address it maps.
 *
 * What it writes: dotted quads, and RFC 5952 canonical IPv6 (lower case, leading zeros dropped, the
 * longest run of two or more zero groups compressed, the first on a tie, IPv4-mapped addresses as
 * ::ffff:a.b.c.d); colon-separated lower-case MACs.
 */
import { EncodeError } from './errors.js';

export type IpFamily = 4 | 6;

/** An address as the family and its 4 or 16 bytes (network order). */
export interface IpBytes {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
}

/** Dotted quad -> the four octets, or undefined (no leading zeros, each part 0..255). Hot path: no regex. */
function parseIpv4(s: string): Uint8Array | undefined {
  const n = s.length;
  if (n < 7 || n > 15) return undefined;
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

export function isIpv4(s: string): boolean {
  return parseIpv4(s) !== undefined;
}

export function isIpv6(s: string): boolean {
  return tryParseIpv6(s) !== undefined;
}

/** Four bytes of a dotted-quad IPv4 address; throws EncodeError on anything else. */
export function ipv4ToBytes(s: string): Uint8Array {
  const b = parseIpv4(s);
  if (!b) throw new EncodeError('address', `not an IPv4 address: ${JSON.stringify(s)}`);
  return b;
}

export function bytesToIpv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** An IPv4 address as an unsigned 32-bit number (used for BGP identifiers and comparisons). */
export function ipv4ToNumber(s: string): number {
  const b = ipv4ToBytes(s);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function numberToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function tryParseIpv6(s: string): Uint8Array | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  let text = s;
  if (s.includes('.')) {
    // Trailing dotted quad (RFC 4291 §2.2 form 3): rewrite it as two hex groups.
    const i = s.lastIndexOf(':');
    const tail = s.slice(i + 1);
    if (i < 0 || !isIpv4(tail)) return undefined;
    const v = ipv4ToBytes(tail);
    text = `${s.slice(0, i + 1)}${((v[0]! << 8) | v[1]!).toString(16)}:${((v[2]! << 8) | v[3]!).toString(16)}`;
  }
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const dbl = text.indexOf('::');
  if (dbl !== text.lastIndexOf('::')) return undefined;
  let groups: number[];
  if (dbl >= 0) {
    const left = parseGroups(text.slice(0, dbl));
    const right = parseGroups(text.slice(dbl + 2));
    if (!left || !right || left.length + right.length > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Sixteen bytes of an IPv6 address in any RFC 4291 text form; throws EncodeError otherwise. */
export function ipv6ToBytes(s: string): Uint8Array {
  const b = tryParseIpv6(s);
  if (!b) throw new EncodeError('address', `not an IPv6 address: ${JSON.stringify(s)}`);
  return b;
}

/** RFC 5952 canonical text of the 16 bytes at `off`. */
export function bytesToIpv6(b: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + i * 2]! << 8) | b[off + i * 2 + 1]!);
  // IPv4-mapped (::ffff:a.b.c.d), RFC 5952 §5.
  if (isIpv4Mapped(b, off)) return `::ffff:${bytesToIpv4(b, off + 12)}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return g.map((x) => x.toString(16)).join(':');
  const left = g.slice(0, bestStart).map((x) => x.toString(16));
  const right = g.slice(bestStart + bestLen).map((x) => x.toString(16));
  return `${left.join(':')}::${right.join(':')}`;
}

/** The family and bytes of an IPv4 or IPv6 address, or undefined if the text is neither. */
export function parseIp(s: string): IpBytes | undefined {
  const v4 = parseIpv4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = tryParseIpv6(s);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** Whether 16 bytes (at `off`) are an IPv4-mapped IPv6 address, ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
export function isIpv4Mapped(b: Uint8Array, off = 0): boolean {
  if (b.length - off < 16) return false;
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/** The IPv4 address an IPv4-mapped IPv6 text maps (`::ffff:10.0.0.1` -> `10.0.0.1`), else undefined. */
export function ipv4OfMapped(s: string): string | undefined {
  const b = tryParseIpv6(s);
  return b && isIpv4Mapped(b) ? bytesToIpv4(b, 12) : undefined;
}

/**
 * What a dual-stack socket reports for an IPv4 peer (`::ffff:10.0.0.1`) as the IPv4 address it is;
 * any other text as given.
 */
export function unmapIpv4(s: string): string {
  if (s.slice(0, 7).toLowerCase() !== '::ffff:') return s;
  return ipv4OfMapped(s) ?? s;
}

/**
 * An address with an optional zone id (`fe80::1%eth0`, RFC 4007 §11) split in two; neither part is
 * checked. Whether a zone is allowed (only link-local IPv6 needs one) is the caller's decision.
 */
export function splitZone(s: string): { address: string; zone?: string } {
  const i = s.indexOf('%');
  if (i < 0) return { address: s };
  return { address: s.slice(0, i), zone: s.slice(i + 1) };
}

/** Bytes of an IPv4 or IPv6 address, whichever the text is. */
export function ipToBytes(s: string): Uint8Array {
  return isIpv4(s) ? ipv4ToBytes(s) : ipv6ToBytes(s);
}

/** Canonical text of a 4- or 16-byte address. */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return bytesToIpv4(b);
  if (b.length === 16) return bytesToIpv6(b);
  throw new EncodeError('address', `an IP address has 4 or 16 bytes, not ${b.length}`);
}

/** Canonical text of an IP address given in any accepted form (e.g. '2001:DB8:0::1' -> '2001:db8::1'). */
export function canonicalIp(s: string): string {
  return bytesToIp(ipToBytes(s));
}

const MAC_RE = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/;

/** Six bytes of a MAC address written aa:bb:cc:dd:ee:ff (or with dashes). */
export function macToBytes(s: string): Uint8Array {
  if (!MAC_RE.test(s)) throw new EncodeError('address', `not a MAC address: ${JSON.stringify(s)}`);
  return Uint8Array.from(s.split(/[:-]/).map((h) => parseInt(h, 16)));
}

/** Lower-case colon-separated text of the six bytes at `off`. */
export function formatMac(b: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
export const ZERO_MAC = '00:00:00:00:00:00';
