// IP address arithmetic on bigint: CIDRs and first-last ranges, and summarising ranges to CIDRs. Pure.
// Addresses are parsed and written by proto/address.ts, the one IP address module.
import { bytesToIp, parseIp, type IpFamily } from '../proto/address.js';

export type Family = IpFamily;

export interface IP {
  family: Family;
  value: bigint;
}

/** An inclusive range of addresses of one family. */
export interface IPRange {
  family: Family;
  first: bigint;
  last: bigint;
}

export interface CIDR {
  family: Family;
  base: bigint;
  prefix: number;
}

export const BITS: Record<Family, number> = { 4: 32, 6: 128 };
export const MAX: Record<Family, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };

/** The address as a number (network order bytes, most significant first). */
function toBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const x of bytes) v = (v << 8n) | BigInt(x);
  return v;
}

/**
 * Parses an IPv4 or IPv6 address (surrounding spaces ignored, as in a CR's text); undefined if
 * malformed. The text forms are proto/address.ts's, the one parser: no zone ids, and an IPv4-mapped
 * address (`::ffff:10.0.0.1`) is IPv6.
 */
export function parseIP(s: string): IP | undefined {
  const ip = parseIp(s.trim());
  return ip ? { family: ip.family, value: toBigint(ip.bytes) } : undefined;
}

/** Canonical text (proto/address.ts: dotted quad, RFC 5952 IPv6 with IPv4-mapped as ::ffff:a.b.c.d). */
export function formatIP(family: Family, value: bigint): string {
  const n = family === 4 ? 4 : 16;
  const bytes = new Uint8Array(n);
  let v = value;
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 255n);
    v >>= 8n;
  }
  return bytesToIp(bytes);
}

export function ipString(ip: IP): string {
  return formatIP(ip.family, ip.value);
}

/** Canonical text of an address (e.g. "fc00:0::1" → "fc00::1"); undefined if malformed. */
export function canonicalIP(s: string): string | undefined {
  const ip = parseIP(s);
  return ip ? ipString(ip) : undefined;
}

export function parseCIDR(s: string): CIDR | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > BITS[ip.family]) return undefined;
  const hostBits = BigInt(BITS[ip.family] - prefix);
  const base = (ip.value >> hostBits) << hostBits;
  return { family: ip.family, base, prefix };
}

export function cidrRange(c: CIDR): IPRange {
  const hostBits = BigInt(BITS[c.family] - c.prefix);
  return { family: c.family, first: c.base, last: c.base + (1n << hostBits) - 1n };
}

export function formatCIDR(c: CIDR): string {
  return `${formatIP(c.family, c.base)}/${c.prefix}`;
}

export type RangeParse = { ok: true; range: IPRange; cidrs: CIDR[] } | { ok: false; reason: string };

/** Parses a pool entry: "CIDR" or "first-last" (either family; both ends the same family, first ≤ last). */
export function parseAddressRange(entry: string): RangeParse {
  const s = entry.trim();
  if (s === '') return { ok: false, reason: 'empty address range' };
  if (s.includes('/')) {
    const c = parseCIDR(s);
    if (!c) return { ok: false, reason: `invalid CIDR "${s}"` };
    return { ok: true, range: cidrRange(c), cidrs: [c] };
  }
  const dash = s.indexOf('-');
  if (dash < 0) {
    // A bare address is not a CIDR: MetalLB refuses it (internal/config/config.go: ParseCIDR).
    const ip = parseIP(s);
    if (!ip)
      return { ok: false, reason: `invalid address range "${s}": expected a CIDR or first-last range` };
    return {
      ok: false,
      reason: `invalid address range "${s}": a single address is written as a CIDR, ${s}/${BITS[ip.family]}`,
    };
  }
  const a = parseIP(s.slice(0, dash));
  const b = parseIP(s.slice(dash + 1));
  if (!a)
    return { ok: false, reason: `invalid range "${s}": "${s.slice(0, dash).trim()}" is not an IP address` };
  if (!b)
    return { ok: false, reason: `invalid range "${s}": "${s.slice(dash + 1).trim()}" is not an IP address` };
  if (a.family !== b.family) return { ok: false, reason: `invalid range "${s}": mixes IPv4 and IPv6` };
  if (a.value > b.value)
    return { ok: false, reason: `invalid range "${s}": first address is after the last` };
  const range: IPRange = { family: a.family, first: a.value, last: b.value };
  return { ok: true, range, cidrs: rangeToCIDRs(range) };
}

/** The smallest list of CIDRs covering exactly the range. */
export function rangeToCIDRs(r: IPRange): CIDR[] {
  const out: CIDR[] = [];
  const bits = BITS[r.family];
  let cur = r.first;
  while (cur <= r.last) {
    // the largest block aligned at cur that does not pass r.last
    let size = cur === 0n ? bits : 0;
    if (cur !== 0n) {
      let x = cur;
      while ((x & 1n) === 0n && size < bits) {
        x >>= 1n;
        size++;
      }
    }
    while (size > 0 && cur + (1n << BigInt(size)) - 1n > r.last) size--;
    out.push({ family: r.family, base: cur, prefix: bits - size });
    cur += 1n << BigInt(size);
  }
  return out;
}

export function rangeSize(r: IPRange): bigint {
  return r.last - r.first + 1n;
}

/** IPv4 addresses ending in .0 or .255, which some old firmware mishandles. */
export function isBuggyIP(family: Family, value: bigint): boolean {
  if (family !== 4) return false;
  const low = value & 255n;
  return low === 0n || low === 255n;
}

/** How many addresses of r end in .0 or .255 (IPv4 only). */
export function buggyCount(r: IPRange): bigint {
  if (r.family !== 4) return 0n;
  // count x in [first, last] with x mod 256 in {0, 255}
  const countMod = (upTo: bigint, residue: bigint): bigint =>
    upTo < residue ? 0n : (upTo - residue) / 256n + 1n;
  const inRange = (res: bigint) =>
    countMod(r.last, res) - (r.first === 0n ? 0n : countMod(r.first - 1n, res));
  return inRange(0n) + inRange(255n);
}

export function rangesOverlap(a: IPRange, b: IPRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function formatRange(r: IPRange): string {
  return r.first === r.last
    ? formatIP(r.family, r.first)
    : `${formatIP(r.family, r.first)}-${formatIP(r.family, r.last)}`;
}
