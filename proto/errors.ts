/**
 * Typed errors shared by the link-layer and BFD codecs. BGP has its own error class
 * (`bgp/errors.ts`) because a BGP decoding error must carry a NOTIFICATION code.
 */

/** A received packet (Ethernet frame, ARP, IPv6/ICMPv6, BFD) could not be decoded or failed validation. */
export class PacketDecodeError extends Error {
  override readonly name = 'PacketDecodeError';
  constructor(
    /** Which codec rejected the bytes: 'ethernet', 'arp', 'ipv6', 'ndp', 'bfd'. */
    readonly protocol: string,
    /** Why, in words a log line can carry. */
    readonly reason: string,
  ) {
    super(`${protocol}: ${reason}`);
  }
}

/** A value handed to an encoder cannot be put on the wire (out of range, too long, malformed address…). */
export class EncodeError extends Error {
  override readonly name = 'EncodeError';
  constructor(
    readonly protocol: string,
    readonly reason: string,
  ) {
    super(`${protocol}: cannot encode: ${reason}`);
  }
}
