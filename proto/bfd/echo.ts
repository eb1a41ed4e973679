/**
 * BFD Echo packets (RFC 5880 §6.4, RFC 5881 §4). The payload of an echo packet is a local matter: only
 * its sender reads it, after the remote system's forwarding plane has sent it back. Ours is 24 octets:
 *
 *   0      format version (1)
 *   1      length (24)
 *   2..7   zero (another implementation that takes octets 4..7 for its own discriminator finds none)
 *   8..11  our session's discriminator (bfd.LocalDiscr)
 *   12..15 sequence number
 *   16..23 send time, microseconds of the sender's clock
 *
 * IPv4 echoes travel as one Ethernet frame addressed to the peer's MAC whose IP source and destination
 * are both our own address (TTL 255, UDP 3785 -> 3785): the peer routes it straight back to us.
 */
import { bytesToIpv4, ipv4ToBytes } from '../address.js';
import { ByteWriter, readU16, readU32 } from '../bytes.js';
import { EncodeError, PacketDecodeError } from '../errors.js';
import { EtherType, encodeEthernet } from '../ethernet.js';
import { BFD_ECHO_PORT, BFD_SINGLE_HOP_TTL } from './packet.js';

export const BFD_ECHO_LENGTH = 24;
const ECHO_VERSION = 1;

export interface BfdEchoPayload {
  /** Our bfd.LocalDiscr: which session the echo belongs to. */
  readonly discriminator: number;
  readonly sequence: number;
  /** Microseconds (our clock), for the round-trip time. */
  readonly sentAtUs: number;
}

export function encodeBfdEcho(p: BfdEchoPayload): Uint8Array {
  if (!Number.isInteger(p.discriminator) || p.discriminator < 1 || p.discriminator > 0xffffffff)
    throw new EncodeError('bfd-echo', `discriminator ${p.discriminator} out of range`);
  const t = Math.max(0, Math.floor(p.sentAtUs));
  return new ByteWriter(BFD_ECHO_LENGTH)
    .u8(ECHO_VERSION)
    .u8(BFD_ECHO_LENGTH)
    .zeros(6)
    .u32(p.discriminator)
    .u32(p.sequence >>> 0)
    .u32(Math.floor(t / 2 ** 32) >>> 0)
    .u32(t >>> 0)
    .finish();
}

/** Decodes an echo that came back; throws PacketDecodeError for anything that is not one of ours. */
export function decodeBfdEcho(b: Uint8Array): BfdEchoPayload {
  if (b.length < BFD_ECHO_LENGTH) throw new PacketDecodeError('bfd-echo', `${b.length} octets`);
  if (b[0] !== ECHO_VERSION || b[1] !== BFD_ECHO_LENGTH)
    throw new PacketDecodeError('bfd-echo', `version ${b[0]} length ${b[1]}`);
  const discriminator = readU32(b, 8);
  if (discriminator === 0) throw new PacketDecodeError('bfd-echo', 'discriminator is zero');
  return {
    discriminator,
    sequence: readU32(b, 12),
    sentAtUs: readU32(b, 16) * 2 ** 32 + readU32(b, 20),
  };
}

/** RFC 1071 Internet checksum over `parts` (concatenated). */
function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const part of parts) {
    for (const byte of part) {
      if (odd === undefined) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface BfdEchoFrame {
  /** Our interface's MAC (the frame's source). */
  readonly sourceMac: string;
  /** The peer's MAC: its forwarding plane gets the frame and routes it back. */
  readonly peerMac: string;
  /** Our IPv4 address: both the IP source and the IP destination. */
  readonly localAddress: string;
  /** IPv4 identification. */
  readonly id: number;
  readonly payload: Uint8Array;
}

/** The Ethernet frame of an IPv4 echo (RFC 5881 §4: UDP 3785 both ways, TTL 255, addressed to ourselves). */
export function encodeBfdEchoFrame(f: BfdEchoFrame): Uint8Array {
  const ip = ipv4ToBytes(f.localAddress);
  const udpLength = 8 + f.payload.length;
  const udp = new ByteWriter(udpLength)
    .u16(BFD_ECHO_PORT)
    .u16(BFD_ECHO_PORT)
    .u16(udpLength)
    .u16(0)
    .bytes(f.payload)
    .finish();
  const pseudo = new ByteWriter(12).bytes(ip).bytes(ip).u8(0).u8(17).u16(udpLength).finish();
  const udpSum = internetChecksum(pseudo, udp) || 0xffff;
  udp[6] = udpSum >> 8;
  udp[7] = udpSum & 0xff;
  const header = new ByteWriter(20)
    .u8(0x45)
    // DSCP CS6 (internetwork control), as for the control packets of a routing protocol.
    .u8(0xc0)
    .u16(20 + udpLength)
    .u16(f.id & 0xffff)
    .u16(0x4000) // Don't Fragment
    .u8(BFD_SINGLE_HOP_TTL)
    .u8(17)
    .u16(0)
    .bytes(ip)
    .bytes(ip)
    .finish();
  const ipSum = internetChecksum(header);
  header[10] = ipSum >> 8;
  header[11] = ipSum & 0xff;
  const payload = new Uint8Array(header.length + udp.length);
  payload.set(header, 0);
  payload.set(udp, header.length);
  return encodeEthernet(
    { destination: f.peerMac, source: f.sourceMac, vlans: [], etherType: EtherType.IPV4, payload },
    60,
  );
}

export interface ReceivedBfdEcho {
  readonly ttl: number;
  readonly source: string;
  readonly destination: string;
  readonly echo: BfdEchoPayload;
}

/**
 * Reads an IPv4 echo frame (untagged Ethernet, UDP to 3785) as captured on the wire; throws
 * PacketDecodeError for anything else, including a payload that is not one of ours.
 */
export function decodeBfdEchoFrame(frame: Uint8Array): ReceivedBfdEcho {
  if (frame.length < 14 + 20 + 8) throw new PacketDecodeError('bfd-echo', `frame of ${frame.length} octets`);
  if (readU16(frame, 12) !== EtherType.IPV4) throw new PacketDecodeError('bfd-echo', 'not IPv4');
  const ihl = (frame[14]! & 0x0f) * 4;
  if (frame[14]! >> 4 !== 4 || ihl < 20) throw new PacketDecodeError('bfd-echo', 'bad IPv4 header');
  if (frame[23] !== 17) throw new PacketDecodeError('bfd-echo', 'not UDP');
  const udp = 14 + ihl;
  if (frame.length < udp + 8) throw new PacketDecodeError('bfd-echo', 'UDP header truncated');
  if (readU16(frame, udp + 2) !== BFD_ECHO_PORT) throw new PacketDecodeError('bfd-echo', 'not UDP 3785');
  const udpLength = readU16(frame, udp + 4);
  if (udpLength < 8 || udp + udpLength > frame.length)
    throw new PacketDecodeError('bfd-echo', `UDP length ${udpLength}`);
  return {
    ttl: frame[22]!,
    source: bytesToIpv4(frame, 26),
    destination: bytesToIpv4(frame, 30),
    echo: decodeBfdEcho(frame.subarray(udp + 8, udp + udpLength)),
  };
}
