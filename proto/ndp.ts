/**
 * IPv6 Neighbor Discovery (RFC 4861): Neighbor Solicitation and Neighbor Advertisement in ICMPv6
 * (RFC 4443) with source/target link-layer address options (unknown options kept), the validity
 * checks of §7.1.1/§7.1.2, and helpers for answering solicitations and unsolicited advertisements.
 */
import { formatMac, ipv6ToBytes, bytesToIpv6, macToBytes } from './address.js';
import { ByteWriter, copyBytes } from './bytes.js';
import { EncodeError, PacketDecodeError } from './errors.js';
import { EtherType, encodeEthernet } from './ethernet.js';
import {
  ALL_NODES,
  NextHeader,
  decodeIpv6,
  encodeIpv6,
  isMulticastIpv6,
  multicastMac,
  pseudoHeaderChecksum,
  solicitedNodeMulticast,
  type Ipv6Header,
} from './ipv6.js';

export const Icmpv6Type = { NEIGHBOR_SOLICITATION: 135, NEIGHBOR_ADVERTISEMENT: 136 } as const;
export const NdpOptionType = { SOURCE_LINK_LAYER_ADDRESS: 1, TARGET_LINK_LAYER_ADDRESS: 2 } as const;

export type NdpOption =
  | { readonly type: 'sourceLinkLayerAddress'; readonly mac: string }
  | { readonly type: 'targetLinkLayerAddress'; readonly mac: string }
  /** Any other option (or a link-layer option not 6 octets long): type and the octets after the length. */
  | { readonly type: 'unknown'; readonly code: number; readonly value: Uint8Array };

export type NdpMessage =
  | { readonly type: 'neighborSolicitation'; readonly target: string; readonly options: readonly NdpOption[] }
  | {
      readonly type: 'neighborAdvertisement';
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly target: string;
      readonly options: readonly NdpOption[];
    };

export interface NdpPacket {
  readonly ipv6: Ipv6Header;
  readonly message: NdpMessage;
}

const bad = (reason: string): PacketDecodeError => new PacketDecodeError('ndp', reason);

function readOptions(b: Uint8Array, start: number): NdpOption[] {
  const out: NdpOption[] = [];
  let off = start;
  while (off < b.length) {
    if (off + 2 > b.length) throw bad('option header truncated');
    const code = b[off]!;
    const units = b[off + 1]!;
    if (units === 0) throw bad('option with length zero'); // §4.6: must be discarded
    const end = off + units * 8;
    if (end > b.length) throw bad(`option ${code} overruns the message`);
    if ((code === 1 || code === 2) && units === 1) {
      out.push({
        type: code === 1 ? 'sourceLinkLayerAddress' : 'targetLinkLayerAddress',
        mac: formatMac(b, off + 2),
      });
    } else {
      out.push({ type: 'unknown', code, value: copyBytes(b, off + 2, end) });
    }
    off = end;
  }
  return out;
}

function writeOptions(w: ByteWriter, options: readonly NdpOption[]): void {
  for (const o of options) {
    if (o.type === 'unknown') {
      if ((o.value.length + 2) % 8 !== 0 || o.value.length + 2 > 255 * 8) {
        throw new EncodeError('ndp', 'option value must make the option a multiple of 8 octets');
      }
      w.u8(o.code)
        .u8((o.value.length + 2) / 8)
        .bytes(o.value);
    } else {
      w.u8(o.type === 'sourceLinkLayerAddress' ? 1 : 2)
        .u8(1)
        .bytes(macToBytes(o.mac));
    }
  }
}

/**
 * Decodes an IPv6 packet carrying an NS or NA, enforcing RFC 4861 §7.1.1/§7.1.2: Hop Limit 255,
 * valid checksum, code 0, at least 24 octets, non-multicast target, options of non-zero length; an
 * NS from :: must go to a solicited-node address and carry no source link-layer option; an NA to a
 * multicast address must not have Solicited set.
 */
export function decodeNdp(ipv6Bytes: Uint8Array): NdpPacket {
  const { header, payload: b } = decodeIpv6(ipv6Bytes);
  if (header.nextHeader !== NextHeader.ICMPV6) throw bad(`next header ${header.nextHeader}`);
  if (b.length < 24) throw bad(`ICMPv6 message of ${b.length} octets`);
  const type = b[0]!;
  if (type !== Icmpv6Type.NEIGHBOR_SOLICITATION && type !== Icmpv6Type.NEIGHBOR_ADVERTISEMENT) {
    throw bad(`ICMPv6 type ${type}`);
  }
  if (b[1] !== 0) throw bad(`ICMPv6 code ${b[1]}`);
  if (header.hopLimit !== 255) throw bad(`hop limit ${header.hopLimit}`);
  if (pseudoHeaderChecksum(header.source, header.destination, NextHeader.ICMPV6, b) !== 0)
    throw bad('bad checksum');
  const target = bytesToIpv6(b, 8);
  if (b[8] === 0xff) throw bad(`multicast target ${target}`);
  const options = readOptions(b, 24);
  if (type === Icmpv6Type.NEIGHBOR_SOLICITATION) {
    if (header.source === '::') {
      if (header.destination !== solicitedNodeMulticast(target))
        throw bad('DAD solicitation not to the solicited-node address');
      if (options.some((o) => o.type === 'sourceLinkLayerAddress'))
        throw bad('DAD solicitation with a source link-layer option');
    }
    return { ipv6: header, message: { type: 'neighborSolicitation', target, options } };
  }
  const flags = b[4]!;
  const solicited = (flags & 0x40) !== 0;
  if (solicited && isMulticastIpv6(header.destination))
    throw bad('solicited advertisement to a multicast address');
  return {
    ipv6: header,
    message: {
      type: 'neighborAdvertisement',
      router: (flags & 0x80) !== 0,
      solicited,
      override: (flags & 0x20) !== 0,
      target,
      options,
    },
  };
}

/** The ICMPv6 message octets with the checksum filled in. */
export function encodeNdpMessage(source: string, destination: string, m: NdpMessage): Uint8Array {
  const w = new ByteWriter(32);
  if (m.type === 'neighborSolicitation') {
    w.u8(Icmpv6Type.NEIGHBOR_SOLICITATION).u8(0).u16(0).u32(0);
  } else {
    w.u8(Icmpv6Type.NEIGHBOR_ADVERTISEMENT).u8(0).u16(0);
    w.u8((m.router ? 0x80 : 0) | (m.solicited ? 0x40 : 0) | (m.override ? 0x20 : 0))
      .u8(0)
      .u16(0);
  }
  w.bytes(ipv6ToBytes(m.target));
  writeOptions(w, m.options);
  const out = w.finish();
  const sum = pseudoHeaderChecksum(source, destination, NextHeader.ICMPV6, out);
  out[2] = sum >> 8;
  out[3] = sum & 0xff;
  return out;
}

/** The IPv6 packet (Hop Limit 255) carrying `m`. */
export function encodeNdp(p: {
  source: string;
  destination: string;
  message: NdpMessage;
  trafficClass?: number;
  flowLabel?: number;
}): Uint8Array {
  const icmp = encodeNdpMessage(p.source, p.destination, p.message);
  return encodeIpv6(
    {
      trafficClass: p.trafficClass ?? 0,
      flowLabel: p.flowLabel ?? 0,
      nextHeader: NextHeader.ICMPV6,
      hopLimit: 255,
      source: p.source,
      destination: p.destination,
    },
    icmp,
  );
}

/** An NS for `target` from `source` to its solicited-node multicast address, with our MAC. */
export function neighborSolicitation(
  source: string,
  target: string,
  mac: string,
): { destination: string; message: NdpMessage } {
  return {
    destination: solicitedNodeMulticast(target),
    message: {
      type: 'neighborSolicitation',
      target,
      options: source === '::' ? [] : [{ type: 'sourceLinkLayerAddress', mac }],
    },
  };
}

/**
 * The NA answering a received NS for one of `ownedAddresses` (RFC 4861 §7.2.4): Solicited and
 * Override set, to the solicitor; to all-nodes with Solicited clear if the NS came from :: (DAD).
 */
export function answerNeighborSolicitation(
  ns: NdpPacket,
  mac: string,
  ownedAddresses: ReadonlySet<string>,
): { source: string; destination: string; message: NdpMessage } | undefined {
  if (ns.message.type !== 'neighborSolicitation' || !ownedAddresses.has(ns.message.target)) return undefined;
  const dad = ns.ipv6.source === '::';
  return {
    source: ns.message.target,
    destination: dad ? ALL_NODES : ns.ipv6.source,
    message: {
      type: 'neighborAdvertisement',
      router: false,
      solicited: !dad,
      override: true,
      target: ns.message.target,
      options: [{ type: 'targetLinkLayerAddress', mac }],
    },
  };
}

/** Unsolicited NA announcing `address` at `mac` to ff02::1 with Override=1 (RFC 4861 §7.2.6). */
export function unsolicitedNeighborAdvertisement(
  address: string,
  mac: string,
): { source: string; destination: string; message: NdpMessage } {
  return {
    source: address,
    destination: ALL_NODES,
    message: {
      type: 'neighborAdvertisement',
      router: false,
      solicited: false,
      override: true,
      target: address,
      options: [{ type: 'targetLinkLayerAddress', mac }],
    },
  };
}

/** The Ethernet frame for an IPv6 packet: multicast destinations map to 33:33:…, unicast need `destinationMac`. */
export function ipv6Frame(
  ipv6Bytes: Uint8Array,
  sourceMac: string,
  destination: string,
  destinationMac?: string,
): Uint8Array {
  const dst = isMulticastIpv6(destination) ? multicastMac(destination) : destinationMac;
  if (dst === undefined) throw new EncodeError('ndp', `unicast destination ${destination} needs a MAC`);
  return encodeEthernet({
    destination: dst,
    source: sourceMac,
    vlans: [],
    etherType: EtherType.IPV6,
    payload: ipv6Bytes,
  });
}
