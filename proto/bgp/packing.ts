/**
 * Packs many prefixes sharing one attribute set into as few UPDATEs as the session's maximum
 * message size allows: IPv4 with an IPv4 next hop in the plain NLRI field, IPv6 (and IPv4 with an
 * IPv6 next hop, RFC 8950) in MP_REACH_NLRI; withdrawals in Withdrawn Routes / MP_UNREACH_NLRI.
 */
import { ByteWriter } from '../bytes.js';
import { EncodeError } from '../errors.js';
import { attributeCode, type NextHop, type PathAttribute } from './attributes.js';
import { Afi, HEADER_LENGTH, Safi } from './constants.js';
import { hasFamily, type SessionParams } from './family.js';
import { maxMessageLength } from './message.js';
import { prefixWireSize, type Prefix } from './prefix.js';
import { writeAttribute, type UpdateMessage } from './update.js';

export interface PackRequest {
  /** Attributes shared by every announced prefix, without NEXT_HOP/MP_REACH_NLRI/MP_UNREACH_NLRI. */
  readonly attributes: readonly PathAttribute[];
  /**
   * Next hop of IPv4 prefixes: an IPv4 address (NEXT_HOP) or an IPv6 one (MP_REACH_NLRI, RFC 8950;
   * a global and a link-local one make the 32-octet next hop of §3).
   */
  readonly ipv4NextHop?: string | NextHop;
  /** Next hop of IPv6 prefixes. */
  readonly ipv6NextHop?: NextHop;
  readonly announce: readonly Prefix[];
  readonly withdraw: readonly Prefix[];
}

const isV6 = (p: Prefix): boolean => p.address.includes(':');

/** Greedy split of prefixes into chunks whose wire size fits `budget(chunkBytes)`. */
function chunk(prefixes: readonly Prefix[], addPath: boolean, fits: (bytes: number) => boolean): Prefix[][] {
  const out: Prefix[][] = [];
  let cur: Prefix[] = [];
  let bytes = 0;
  for (const p of prefixes) {
    const n = prefixWireSize(p, addPath);
    if (cur.length > 0 && !fits(bytes + n)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    if (!fits(bytes + n)) throw new EncodeError('bgp', 'attributes leave no room for a single prefix');
    cur.push(p);
    bytes += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function attributesSize(attrs: readonly PathAttribute[], session: SessionParams): number {
  const w = new ByteWriter(256);
  for (const a of attrs) writeAttribute(w, a, session);
  return w.length;
}

/** MP attribute header is 3 octets, or 4 once the value passes 255 (Extended Length). */
const mpAttrSize = (valueLen: number): number => valueLen + (valueLen > 255 ? 4 : 3);

function nextHopLength(afi: number, nh: NextHop): number {
  const g = nh.global.includes(':') ? 16 : 4;
  if (g === 4 && afi !== Afi.IPV4) throw new EncodeError('bgp', 'IPv4 next hop for IPv6 prefixes');
  return g + (nh.linkLocal !== undefined ? 16 : 0);
}

/** UPDATEs announcing `announce` and withdrawing `withdraw`, each within the session's size limit. */
export function packUpdates(req: PackRequest, session: SessionParams): UpdateMessage[] {
  for (const a of req.attributes) {
    if (a.type === 'nextHop' || a.type === 'mpReach' || a.type === 'mpUnreach') {
      throw new EncodeError('bgp', `pass next hops via ipv4NextHop/ipv6NextHop, not a ${a.type} attribute`);
    }
  }
  const max = maxMessageLength(session);
  const fixed = HEADER_LENGTH + 4; // header + Withdrawn Routes Length + Total Path Attribute Length
  const v4 = { afi: Afi.IPV4, safi: Safi.UNICAST };
  const v6 = { afi: Afi.IPV6, safi: Safi.UNICAST };
  const ap4 = hasFamily(session.addPath, v4);
  const ap6 = hasFamily(session.addPath, v6);
  const out: UpdateMessage[] = [];
  const sorted = [...req.attributes].sort((a, b) => attributeCode(a) - attributeCode(b));

  const w4 = req.withdraw.filter((p) => !isV6(p));
  const w6 = req.withdraw.filter(isV6);
  for (const c of chunk(w4, ap4, (n) => fixed + n <= max)) {
    out.push({ type: 'update', withdrawn: c, attributes: [], nlri: [] });
  }
  for (const c of chunk(w6, ap6, (n) => fixed + mpAttrSize(3 + n) <= max)) {
    out.push({
      type: 'update',
      withdrawn: [],
      attributes: [{ type: 'mpUnreach', ...v6, withdrawn: c }],
      nlri: [],
    });
  }

  const a4 = req.announce.filter((p) => !isV6(p));
  const a6 = req.announce.filter(isV6);
  if (a4.length > 0) {
    if (req.ipv4NextHop === undefined)
      throw new EncodeError('bgp', 'IPv4 prefixes to announce but no ipv4NextHop');
    if (typeof req.ipv4NextHop === 'string' && !req.ipv4NextHop.includes(':')) {
      const nh: PathAttribute = { type: 'nextHop', nextHop: req.ipv4NextHop };
      const attrs = [...sorted, nh].sort((a, b) => attributeCode(a) - attributeCode(b));
      const base = fixed + attributesSize(attrs, session);
      for (const c of chunk(a4, ap4, (n) => base + n <= max)) {
        out.push({ type: 'update', withdrawn: [], attributes: attrs, nlri: c });
      }
    } else {
      const nh = typeof req.ipv4NextHop === 'string' ? { global: req.ipv4NextHop } : req.ipv4NextHop;
      out.push(...packMp(a4, v4, nh, sorted, session, ap4, fixed, max));
    }
  }
  if (a6.length > 0) {
    if (req.ipv6NextHop === undefined)
      throw new EncodeError('bgp', 'IPv6 prefixes to announce but no ipv6NextHop');
    out.push(...packMp(a6, v6, req.ipv6NextHop, sorted, session, ap6, fixed, max));
  }
  return out;
}

function packMp(
  prefixes: readonly Prefix[],
  family: { afi: number; safi: number },
  nextHop: NextHop,
  attrs: readonly PathAttribute[],
  session: SessionParams,
  addPath: boolean,
  fixed: number,
  max: number,
): UpdateMessage[] {
  const base = fixed + attributesSize(attrs, session);
  const mpFixed = 3 + 1 + nextHopLength(family.afi, nextHop) + 1;
  return chunk(prefixes, addPath, (n) => base + mpAttrSize(mpFixed + n) <= max).map((c) => ({
    type: 'update',
    withdrawn: [],
    // RFC 7606 §5.1: MP_REACH_NLRI first.
    attributes: [{ type: 'mpReach', ...family, nextHop, nlri: c }, ...attrs],
    nlri: [],
  }));
}
