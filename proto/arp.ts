/**
 * ARP for IPv4 over Ethernet (RFC 826): requests, replies, and both gratuitous forms (RFC 5227 §3
 * announcement as a request; the reply form), sender = target = the announced address, broadcast.
 */
import { BROADCAST_MAC, ZERO_MAC, bytesToIpv4, formatMac, ipv4ToBytes, macToBytes } from './address.js';
import { ByteWriter, readU16 } from './bytes.js';
import { PacketDecodeError } from './errors.js';
import { EtherType, encodeEthernet, type EthernetFrame } from './ethernet.js';

export const ArpOperation = { REQUEST: 1, REPLY: 2 } as const;

export interface ArpPacket {
  readonly operation: 'request' | 'reply';
  readonly senderMac: string;
  readonly senderIp: string;
  readonly targetMac: string;
  readonly targetIp: string;
}

export const ARP_LENGTH = 28;

/** Decodes an Ethernet/IPv4 ARP packet; trailing octets (frame padding) are ignored. */
export function decodeArp(b: Uint8Array): ArpPacket {
  if (b.length < ARP_LENGTH) throw new PacketDecodeError('arp', `packet of ${b.length} octets`);
  if (readU16(b, 0) !== 1) throw new PacketDecodeError('arp', `hardware type ${readU16(b, 0)}`);
  if (readU16(b, 2) !== EtherType.IPV4)
    throw new PacketDecodeError('arp', `protocol type 0x${readU16(b, 2).toString(16)}`);
  if (b[4] !== 6 || b[5] !== 4) throw new PacketDecodeError('arp', `address lengths ${b[4]}/${b[5]}`);
  const op = readU16(b, 6);
  if (op !== ArpOperation.REQUEST && op !== ArpOperation.REPLY)
    throw new PacketDecodeError('arp', `operation ${op}`);
  return {
    operation: op === ArpOperation.REQUEST ? 'request' : 'reply',
    senderMac: formatMac(b, 8),
    senderIp: bytesToIpv4(b, 14),
    targetMac: formatMac(b, 18),
    targetIp: bytesToIpv4(b, 24),
  };
}

export function encodeArp(p: ArpPacket): Uint8Array {
  return new ByteWriter(ARP_LENGTH)
    .u16(1)
    .u16(EtherType.IPV4)
    .u8(6)
    .u8(4)
    .u16(p.operation === 'request' ? ArpOperation.REQUEST : ArpOperation.REPLY)
    .bytes(macToBytes(p.senderMac))
    .bytes(ipv4ToBytes(p.senderIp))
    .bytes(macToBytes(p.targetMac))
    .bytes(ipv4ToBytes(p.targetIp))
    .finish();
}

/** Who-has `targetIp`, tell `senderIp` (broadcast). */
export function arpRequest(senderMac: string, senderIp: string, targetIp: string): ArpPacket {
  return { operation: 'request', senderMac, senderIp, targetMac: ZERO_MAC, targetIp };
}

/**
 * The reply to `request` if it asks for one of `ownedIps`: `ourMac` is at the requested address,
 * sent back to the requester (what the Linux kernel answers for its own addresses).
 */
export function answerArpRequest(
  request: ArpPacket,
  ourMac: string,
  ownedIps: ReadonlySet<string>,
): ArpPacket | undefined {
  if (request.operation !== 'request' || !ownedIps.has(request.targetIp)) return undefined;
  // RFC 5227 §2.1.1: a probe (sender IP 0.0.0.0) is answered too; its sender MAC is where the reply goes.
  return {
    operation: 'reply',
    senderMac: ourMac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  };
}

/** Gratuitous ARP as a request (RFC 5227 "ARP Announcement"): sender = target = `ip`, target MAC zero. */
export function gratuitousArpRequest(mac: string, ip: string): ArpPacket {
  return { operation: 'request', senderMac: mac, senderIp: ip, targetMac: ZERO_MAC, targetIp: ip };
}

/** Gratuitous ARP as a reply: sender = target = `ip`; target MAC broadcast unless given (some stacks use their own). */
export function gratuitousArpReply(mac: string, ip: string, targetMac: string = BROADCAST_MAC): ArpPacket {
  return { operation: 'reply', senderMac: mac, senderIp: ip, targetMac, targetIp: ip };
}

/**
 * The Ethernet frame carrying `p`: to the requester for a reply to a request (`destination`), else
 * broadcast. No padding unless asked (the NIC pads short frames).
 */
export function arpFrame(
  p: ArpPacket,
  source: string,
  destination: string = BROADCAST_MAC,
  minLength = 0,
): Uint8Array {
  const f: EthernetFrame = {
    destination,
    source,
    vlans: [],
    etherType: EtherType.ARP,
    payload: encodeArp(p),
  };
  return encodeEthernet(f, minLength);
}
