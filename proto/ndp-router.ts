/**
 * IPv6 router discovery (RFC 4861 §4.1, §4.2): Router Solicitation and Router Advertisement, and the
 * pure part of finding an unnumbered BGP peer's link-local address on an interface: a Router
 * Advertisement, a Neighbor Solicitation/Advertisement, or the kernel's neighbour table names a
 * neighbour; `choosePeerLinkLocal` picks the one to peer with.
 */
import { formatMac, ipv6ToBytes, macToBytes } from './address.js';
import { ByteWriter } from './bytes.js';
import { PacketDecodeError } from './errors.js';
import {
  ALL_NODES,
  NextHeader,
  decodeIpv6,
  encodeIpv6,
  pseudoHeaderChecksum,
  type Ipv6Header,
} from './ipv6.js';
import { decodeNdp } from './ndp.js';

export const RouterIcmpv6Type = { ROUTER_SOLICITATION: 133, ROUTER_ADVERTISEMENT: 134 } as const;
export const ALL_ROUTERS = 'ff02::2';

export interface RouterAdvertisement {
  readonly type: 'routerAdvertisement';
  readonly curHopLimit: number;
  readonly managed: boolean;
  readonly other: boolean;
  /** Seconds; 0 = not a default router. */
  readonly routerLifetime: number;
  readonly reachableTime: number;
  readonly retransTimer: number;
  readonly sourceMac?: string;
}

export interface RouterSolicitation {
  readonly type: 'routerSolicitation';
  readonly sourceMac?: string;
}

const bad = (reason: string): PacketDecodeError => new PacketDecodeError('ndp', reason);

/** fe80::/10. */
export function isLinkLocalIpv6(address: string): boolean {
  const plain = address.split('%')[0]!;
  if (!plain.includes(':')) return false;
  let b: Uint8Array;
  try {
    b = ipv6ToBytes(plain);
  } catch {
    return false;
  }
  return b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
}

function sourceMacOption(b: Uint8Array, start: number): string | undefined {
  let off = start;
  let mac: string | undefined;
  while (off < b.length) {
    if (off + 2 > b.length) throw bad('option header truncated');
    const code = b[off]!;
    const units = b[off + 1]!;
    if (units === 0) throw bad('option with length zero');
    if (off + units * 8 > b.length) throw bad(`option ${code} overruns the message`);
    if (code === 1 && units === 1) mac = formatMac(b, off + 2);
    off += units * 8;
  }
  return mac;
}

/**
 * Decodes an IPv6 packet carrying an RS or RA with RFC 4861 §6.1 checks: Hop Limit 255, valid
 * checksum, code 0, length; an RA must come from a link-local address.
 */
export function decodeRouterDiscovery(ipv6Bytes: Uint8Array): {
  readonly ipv6: Ipv6Header;
  readonly message: RouterAdvertisement | RouterSolicitation;
} {
  const { header, payload: b } = decodeIpv6(ipv6Bytes);
  if (header.nextHeader !== NextHeader.ICMPV6) throw bad(`next header ${header.nextHeader}`);
  if (b.length < 8) throw bad(`ICMPv6 message of ${b.length} octets`);
  const type = b[0]!;
  if (type !== RouterIcmpv6Type.ROUTER_SOLICITATION && type !== RouterIcmpv6Type.ROUTER_ADVERTISEMENT)
    throw bad(`ICMPv6 type ${type}`);
  if (b[1] !== 0) throw bad(`ICMPv6 code ${b[1]}`);
  if (header.hopLimit !== 255) throw bad(`hop limit ${header.hopLimit}`);
  if (pseudoHeaderChecksum(header.source, header.destination, NextHeader.ICMPV6, b) !== 0)
    throw bad('bad checksum');
  if (type === RouterIcmpv6Type.ROUTER_SOLICITATION) {
    const mac = sourceMacOption(b, 8);
    return { ipv6: header, message: { type: 'routerSolicitation', ...(mac ? { sourceMac: mac } : {}) } };
  }
  if (b.length < 16) throw bad(`router advertisement of ${b.length} octets`);
  if (!isLinkLocalIpv6(header.source)) throw bad(`router advertisement from ${header.source}`);
  const mac = sourceMacOption(b, 16);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  return {
    ipv6: header,
    message: {
      type: 'routerAdvertisement',
      curHopLimit: b[4]!,
      managed: (b[5]! & 0x80) !== 0,
      other: (b[5]! & 0x40) !== 0,
      routerLifetime: dv.getUint16(6),
      reachableTime: dv.getUint32(8),
      retransTimer: dv.getUint32(12),
      ...(mac ? { sourceMac: mac } : {}),
    },
  };
}

/**
 * The IPv6 packet of a Router Advertisement from `source` (our link-local) to all-nodes. The
 * defaults make it announce nothing but our address: router lifetime 0 (never a default router),
 * no prefixes, hop limit / reachable / retransmit unspecified (0).
 */
export function encodeRouterAdvertisement(p: {
  readonly source: string;
  readonly sourceMac: string;
  readonly destination?: string;
  readonly routerLifetime?: number;
}): Uint8Array {
  const destination = p.destination ?? ALL_NODES;
  const w = new ByteWriter(24);
  w.u8(RouterIcmpv6Type.ROUTER_ADVERTISEMENT).u8(0).u16(0);
  w.u8(0)
    .u8(0)
    .u16(p.routerLifetime ?? 0);
  w.u32(0).u32(0);
  w.u8(1).u8(1).bytes(macToBytes(p.sourceMac));
  return icmpPacket(p.source, destination, w.finish());
}

/** The IPv6 packet of a Router Solicitation from `source` to all-routers (asks routers for an RA now). */
export function encodeRouterSolicitation(p: {
  readonly source: string;
  readonly sourceMac: string;
}): Uint8Array {
  const w = new ByteWriter(16);
  w.u8(RouterIcmpv6Type.ROUTER_SOLICITATION).u8(0).u16(0).u32(0);
  w.u8(1).u8(1).bytes(macToBytes(p.sourceMac));
  return icmpPacket(p.source, ALL_ROUTERS, w.finish());
}

function icmpPacket(source: string, destination: string, icmp: Uint8Array): Uint8Array {
  const sum = pseudoHeaderChecksum(source, destination, NextHeader.ICMPV6, icmp);
  icmp[2] = sum >> 8;
  icmp[3] = sum & 0xff;
  return encodeIpv6(
    { trafficClass: 0, flowLabel: 0, nextHeader: NextHeader.ICMPV6, hopLimit: 255, source, destination },
    icmp,
  );
}

/** A neighbour on the interface that could be the BGP peer, and how we learned of it. */
export interface LinkLocalCandidate {
  readonly address: string;
  readonly source: 'ra' | 'ndp' | 'neighbours';
  /** It said it is a router (an RA, an NA with R set, the kernel's "router" flag). */
  readonly router: boolean;
  /** Last seen, ms (the caller's clock). */
  readonly seenAt: number;
}

/**
 * The neighbour a received IPv6 packet (an RA, RS, NS or NA) shows on the link, if it came from a
 * link-local address other than ours; undefined for anything else (malformed input included).
 */
export function candidateFromPacket(
  ipv6Bytes: Uint8Array,
  own: ReadonlySet<string>,
  now: number,
): LinkLocalCandidate | undefined {
  let source: string;
  let router: boolean;
  let via: 'ra' | 'ndp';
  try {
    const type = ipv6Bytes.length > 40 ? ipv6Bytes[40] : undefined;
    if (type === RouterIcmpv6Type.ROUTER_ADVERTISEMENT || type === RouterIcmpv6Type.ROUTER_SOLICITATION) {
      const d = decodeRouterDiscovery(ipv6Bytes);
      source = d.ipv6.source;
      router = d.message.type === 'routerAdvertisement';
      via = 'ra';
    } else {
      const d = decodeNdp(ipv6Bytes);
      source = d.ipv6.source;
      router = d.message.type === 'neighborAdvertisement' && d.message.router;
      via = 'ndp';
    }
  } catch {
    return undefined;
  }
  if (!isLinkLocalIpv6(source) || own.has(source)) return undefined;
  return { address: source, source: via, router, seenAt: now };
}

/** One entry of `ip -j -6 neigh show dev IFACE`. */
interface IpNeighJson {
  dst?: unknown;
  lladdr?: unknown;
  state?: unknown;
  router?: unknown;
}

/** Link-local neighbours from `ip -j -6 neigh show dev IFACE` output (failed/incomplete ones left out). */
export function candidatesFromIpNeigh(json: string, now: number): LinkLocalCandidate[] {
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const out: LinkLocalCandidate[] = [];
  for (const r of rows as IpNeighJson[]) {
    if (typeof r !== 'object' || r === null || typeof r.dst !== 'string') continue;
    const states = Array.isArray(r.state) ? r.state.filter((s): s is string => typeof s === 'string') : [];
    if (states.includes('FAILED') || states.includes('INCOMPLETE') || typeof r.lladdr !== 'string') continue;
    if (!isLinkLocalIpv6(r.dst)) continue;
    out.push({ address: r.dst, source: 'neighbours', router: r.router !== undefined, seenAt: now });
  }
  return out;
}

/**
 * The peer's link-local address among what we learned: routers first (an unnumbered peer is a
 * router sending RAs, or a speaker like us), then the most recently seen; ties by address so the
 * choice is stable. Undefined when there is no candidate.
 */
export function choosePeerLinkLocal(candidates: readonly LinkLocalCandidate[]): string | undefined {
  let best: LinkLocalCandidate | undefined;
  for (const c of candidates) {
    if (
      !best ||
      (c.router && !best.router) ||
      (c.router === best.router &&
        (c.seenAt > best.seenAt || (c.seenAt === best.seenAt && c.address < best.address)))
    )
      best = c;
  }
  return best?.address;
}

export { ALL_NODES };
