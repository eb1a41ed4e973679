/** Address families (AFI/SAFI pairs) and the negotiated per-session codec parameters. */
import { Afi, Safi } from './constants.js';

/** An AFI/SAFI pair. Only IPv4 and IPv6 unicast have NLRI codecs here; others are carried opaquely. */
export interface Family {
  readonly afi: number;
  readonly safi: number;
}

export const IPV4_UNICAST: Family = Object.freeze({ afi: Afi.IPV4, safi: Safi.UNICAST });
export const IPV6_UNICAST: Family = Object.freeze({ afi: Afi.IPV6, safi: Safi.UNICAST });

export function sameFamily(a: Family, b: Family): boolean {
  return a.afi === b.afi && a.safi === b.safi;
}

export function familyName(f: Family): string {
  const afi = f.afi === Afi.IPV4 ? 'ipv4' : f.afi === Afi.IPV6 ? 'ipv6' : `afi${f.afi}`;
  const safi =
    f.safi === Safi.UNICAST ? 'unicast' : f.safi === Safi.MULTICAST ? 'multicast' : `safi${f.safi}`;
  return `${afi}-${safi}`;
}

/** True for the families whose NLRI this codec can parse (IPv4/IPv6 unicast). */
export function isSupportedFamily(f: Family): boolean {
  return f.safi === Safi.UNICAST && (f.afi === Afi.IPV4 || f.afi === Afi.IPV6);
}

/**
 * What both ends agreed in their OPENs; an explicit parameter of every encode and decode,
 * because the same bytes mean different things under different agreements.
 */
export interface SessionParams {
  /** RFC 6793: both sides advertised the 4-octet AS capability (AS_PATH/AGGREGATOR carry 4-octet ASNs). */
  readonly fourOctetAs: boolean;
  /** RFC 8654: both sides advertised extended messages (UPDATE/NOTIFICATION/ROUTE-REFRESH up to 65535). */
  readonly extendedMessages: boolean;
  /** Families both sides enabled (RFC 4760); IPv4 unicast alone when neither sent multiprotocol capabilities. */
  readonly families: readonly Family[];
  /**
   * RFC 7911 ADD-PATH: families whose NLRI carry a 4-octet Path Identifier in the direction being
   * coded (for decode: families we receive paths for; for encode: families we send paths for).
   */
  readonly addPath: readonly Family[];
  /** The peer is in another AS (eBGP). Only changes how a received LOCAL_PREF is handled (RFC 7606 §7.5). */
  readonly external?: boolean;
}

/** What holds before any OPEN is exchanged (and what a plain RFC 4271 speaker gets). */
export const DEFAULT_SESSION: SessionParams = Object.freeze({
  fourOctetAs: false,
  extendedMessages: false,
  families: Object.freeze([IPV4_UNICAST]),
  addPath: Object.freeze([]),
});

export function hasFamily(list: readonly Family[], f: Family): boolean {
  for (const x of list) if (x.afi === f.afi && x.safi === f.safi) return true;
  return false;
}
