/** IPv6 fixed header (RFC 8200 §3), the upper-layer checksum over the pseudo-header (§8.1), multicast helpers. */
import { bytesToIpv6, ipv6ToBytes } from './address.js';
import { ByteWriter, copyBytes, readU16 } from './bytes.js';
import { EncodeError, PacketDecodeError } from './errors.js';

export const NextHeader = { ICMPV6: 58, UDP: 17, TCP: 6 } as const;

export interface Ipv6Header {
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly source: string;
  readonly destination: string;
}

export interface Ipv6Packet {
  readonly header: Ipv6Header;
  /** Exactly Payload Length octets (link-layer padding removed). */
  readonly payload: Uint8Array;
}

export function decodeIpv6(b: Uint8Array): Ipv6Packet {
  if (b.length < 40) throw new PacketDecodeError('ipv6', `packet of ${b.length} octets`);
  if (b[0]! >> 4 !== 6) throw new PacketDecodeError('ipv6', `version ${b[0]! >> 4}`);
  const payloadLength = readU16(b, 4);
  if (40 + payloadLength > b.length)
    throw new PacketDecodeError('ipv6', `payload length ${payloadLength} overruns`);
  return {
    header: {
      trafficClass: ((b[0]! & 0x0f) << 4) | (b[1]! >> 4),
      flowLabel: ((b[1]! & 0x0f) << 16) | readU16(b, 2),
      nextHeader: b[6]!,
      hopLimit: b[7]!,
      source: bytesToIpv6(b, 8),
      destination: bytesToIpv6(b, 24),
    },
    payload: copyBytes(b, 40, 40 + payloadLength),
  };
}

export function encodeIpv6(h: Ipv6Header, payload: Uint8Array): Uint8Array {
  if (payload.length > 0xffff)
    throw new EncodeError('ipv6', 'payload longer than 65535 (jumbograms unsupported)');
  const w = new ByteWriter(40 + payload.length);
  w.u8(0x60 | (h.trafficClass >> 4)).u8(((h.trafficClass & 0x0f) << 4) | ((h.flowLabel >> 16) & 0x0f));
  w.u16(h.flowLabel & 0xffff)
    .u16(payload.length)
    .u8(h.nextHeader)
    .u8(h.hopLimit);
  w.bytes(ipv6ToBytes(h.source)).bytes(ipv6ToBytes(h.destination)).bytes(payload);
  return w.finish();
}

/** RFC 8200 §8.1 checksum of `upper` (with its checksum field as given) over the pseudo-header. */
export function pseudoHeaderChecksum(
  source: string,
  destination: string,
  nextHeader: number,
  upper: Uint8Array,
): number {
  let sum = 0;
  const add = (b: Uint8Array): void => {
    for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
  };
  add(ipv6ToBytes(source));
  add(ipv6ToBytes(destination));
  sum += (upper.length >>> 16) + (upper.length & 0xffff) + nextHeader;
  add(upper);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 4291 §2.7.1: ff02::1:ffXX:XXXX from the low 24 bits of `address`. */
export function solicitedNodeMulticast(address: string): string {
  const b = ipv6ToBytes(address);
  const m = ipv6ToBytes('ff02::1:ff00:0');
  m[13] = b[13]!;
  m[14] = b[14]!;
  m[15] = b[15]!;
  return bytesToIpv6(m);
}

/** RFC 2464 §7: 33:33 followed by the low 32 bits of the IPv6 multicast address. */
export function multicastMac(address: string): string {
  const b = ipv6ToBytes(address);
  const hex = (x: number): string => x.toString(16).padStart(2, '0');
  return `33:33:${hex(b[12]!)}:${hex(b[13]!)}:${hex(b[14]!)}:${hex(b[15]!)}`;
}

export const ALL_NODES = 'ff02::1';

export function isMulticastIpv6(address: string): boolean {
  return ipv6ToBytes(address)[0] === 0xff;
}
