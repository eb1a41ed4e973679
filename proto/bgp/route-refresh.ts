/** ROUTE-REFRESH message (RFC 2918) with the RFC 7313 subtypes (BoRR/EoRR). */
import { ByteWriter, copyBytes, readU16 } from '../bytes.js';
import { EncodeError } from '../errors.js';
import { RouteRefreshSubtype } from './constants.js';

export interface RouteRefreshMessage {
  readonly type: 'routeRefresh';
  readonly afi: number;
  readonly safi: number;
  /** 0 normal request, 1 BoRR, 2 EoRR (RFC 7313); other values are kept and must be ignored by the caller. */
  readonly subtype: number;
  /** Octets after AFI/Subtype/SAFI (RFC 5291 ORF entries, not interpreted here). */
  readonly orf?: Uint8Array;
}

/** Decodes a ROUTE-REFRESH body; the framer has checked it is at least 4 octets. */
export function decodeRouteRefresh(b: Uint8Array): RouteRefreshMessage {
  const base = { type: 'routeRefresh', afi: readU16(b, 0), subtype: b[2]!, safi: b[3]! } as const;
  return b.length > 4 ? { ...base, orf: copyBytes(b, 4, b.length) } : base;
}

export function encodeRouteRefreshBody(m: RouteRefreshMessage): Uint8Array {
  if (m.afi < 0 || m.afi > 0xffff || m.safi < 0 || m.safi > 0xff || m.subtype < 0 || m.subtype > 0xff) {
    throw new EncodeError('bgp', 'ROUTE-REFRESH AFI/SAFI/subtype out of range');
  }
  const w = new ByteWriter(8).u16(m.afi).u8(m.subtype).u8(m.safi);
  if (m.orf) w.bytes(m.orf);
  return w.finish();
}

export const isBeginningOfRibRefresh = (m: RouteRefreshMessage): boolean =>
  m.subtype === RouteRefreshSubtype.BORR;
export const isEndOfRibRefresh = (m: RouteRefreshMessage): boolean => m.subtype === RouteRefreshSubtype.EORR;
