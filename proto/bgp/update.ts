/**
 * UPDATE message (RFC 4271 §4.3) with the error handling of RFC 7606: a malformed attribute maps to
 * attribute-discard, treat-as-withdraw or AFI/SAFI-disable, returned with the result; only what the
 * RFCs still make fatal throws a BgpMessageError (session reset).
 */
import { bytesToIpv4, bytesToIpv6, ipToBytes, ipv4ToBytes } from '../address.js';
import { ByteWriter, copyBytes, readU16, readU32 } from '../bytes.js';
import { EncodeError } from '../errors.js';
import { readAsPath, writeAsPath } from './as-path.js';
import {
  ATTRIBUTE_BY_CODE,
  ATTRIBUTE_INFO,
  canonicalFlags,
  type ExtendedCommunity,
  type KnownAttributeType,
  type LargeCommunity,
  type NextHop,
  type Origin,
  type PathAttribute,
} from './attributes.js';
import { Afi, AttrFlag, AttrType } from './constants.js';
import { BgpMessageError } from './errors.js';
import { hasFamily, IPV4_UNICAST, isSupportedFamily, type Family, type SessionParams } from './family.js';
import { MalformedField } from './malformed.js';
import { ErrorCode, UpdateSubcode } from './notification-codes.js';
import { readPrefixes, writePrefixes, type Prefix } from './prefix.js';

export interface UpdateMessage {
  readonly type: 'update';
  /** IPv4 unicast prefixes in the Withdrawn Routes field. */
  readonly withdrawn: readonly Prefix[];
  /** Path attributes in wire order. */
  readonly attributes: readonly PathAttribute[];
  /** IPv4 unicast prefixes in the NLRI field. */
  readonly nlri: readonly Prefix[];
}

/** RFC 7606 §2 approaches short of a session reset. */
export type Rfc7606Action = 'attribute-discard' | 'treat-as-withdraw' | 'afi-safi-disable';

/** One non-fatal problem found in an UPDATE. */
export interface UpdateProblem {
  readonly action: Rfc7606Action;
  /** Type code of the attribute concerned, when there is one. */
  readonly attributeType?: number;
  /** The family to disable, for 'afi-safi-disable'. */
  readonly family?: Family;
  /** The NOTIFICATION RFC 4271 would have sent (for logs, or if the caller resets anyway). */
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  readonly reason: string;
}

export interface UpdateDecodeResult {
  /** The UPDATE with discarded/malformed attributes removed. */
  readonly message: UpdateMessage;
  readonly problems: readonly UpdateProblem[];
  /** RFC 7606: every prefix this UPDATE announces (NLRI and MP_REACH_NLRI) must be treated as withdrawn. */
  readonly treatAsWithdraw: boolean;
  /** RFC 7606/RFC 4760 §7: families whose routes from this peer must all be dropped and further UPDATEs ignored. */
  readonly disabledFamilies: readonly Family[];
}

const NONE = new Uint8Array(0);
const ORIGINS: readonly Origin[] = ['igp', 'egp', 'incomplete'];

function updateError(subcode: number, reason: string, data: Uint8Array = NONE): BgpMessageError {
  return new BgpMessageError(ErrorCode.UPDATE_MESSAGE, subcode, data, reason);
}

/** RFC 7606 §7: what a malformed instance of each attribute calls for. */
const MALFORMED_ACTION: Readonly<Record<KnownAttributeType, Rfc7606Action>> = {
  origin: 'treat-as-withdraw',
  asPath: 'treat-as-withdraw',
  nextHop: 'treat-as-withdraw',
  med: 'treat-as-withdraw',
  localPref: 'treat-as-withdraw',
  atomicAggregate: 'attribute-discard',
  aggregator: 'attribute-discard',
  communities: 'treat-as-withdraw',
  originatorId: 'treat-as-withdraw',
  clusterList: 'treat-as-withdraw',
  mpReach: 'afi-safi-disable',
  mpUnreach: 'afi-safi-disable',
  extendedCommunities: 'treat-as-withdraw',
  // RFC 6793 §6: malformed AS4_PATH / AS4_AGGREGATOR are discarded.
  as4Path: 'attribute-discard',
  as4Aggregator: 'attribute-discard',
  largeCommunities: 'treat-as-withdraw',
};

/** Thrown from value parsers: carries the UPDATE subcode the malformation maps to. */
class BadValue extends MalformedField {
  constructor(
    readonly subcode: number,
    reason: string,
  ) {
    super(reason);
  }
}

function lengthMust(ok: boolean, what: string, len: number): void {
  if (!ok) throw new BadValue(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `${what} has bad length ${len}`);
}

function readNextHop(afi: number, b: Uint8Array, start: number, len: number): NextHop {
  if (afi === Afi.IPV4 && len === 4) return { global: bytesToIpv4(b, start) };
  if (len === 16) return { global: bytesToIpv6(b, start) };
  if (len === 32) return { global: bytesToIpv6(b, start), linkLocal: bytesToIpv6(b, start + 16) };
  throw new BadValue(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `next hop length ${len} invalid for AFI ${afi}`);
}

/** RFC 4271 §6.3 semantic NEXT_HOP check: not 0.0.0.0, not multicast/class E, not broadcast. */
function validIpv4NextHop(b: Uint8Array, off: number): boolean {
  const first = b[off]!;
  if (first >= 224) return false;
  return !(first === 0 && b[off + 1] === 0 && b[off + 2] === 0 && b[off + 3] === 0);
}

interface AttrContext {
  readonly session: SessionParams;
  readonly b: Uint8Array;
  readonly start: number;
  readonly end: number;
}

/** Parses one known attribute's value; throws BadValue when it is malformed. */
function readKnownValue(type: KnownAttributeType, c: AttrContext): PathAttribute {
  const { b, start, end, session } = c;
  const len = end - start;
  switch (type) {
    case 'origin': {
      lengthMust(len === 1, 'ORIGIN', len);
      const origin = ORIGINS[b[start]!];
      if (origin === undefined)
        throw new BadValue(UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE, `ORIGIN ${b[start]}`);
      return { type, origin };
    }
    case 'asPath':
    case 'as4Path':
      try {
        return { type, segments: readAsPath(b, start, end, type === 'as4Path' || session.fourOctetAs) };
      } catch (e) {
        if (e instanceof MalformedField && !(e instanceof BadValue)) {
          throw new BadValue(
            type === 'asPath' ? UpdateSubcode.MALFORMED_AS_PATH : UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
            e.reason,
          );
        }
        throw e;
      }
    case 'nextHop':
      lengthMust(len === 4, 'NEXT_HOP', len);
      if (!validIpv4NextHop(b, start)) {
        throw new BadValue(UpdateSubcode.INVALID_NEXT_HOP_ATTRIBUTE, `NEXT_HOP ${bytesToIpv4(b, start)}`);
      }
      return { type, nextHop: bytesToIpv4(b, start) };
    case 'med':
      lengthMust(len === 4, 'MULTI_EXIT_DISC', len);
      return { type, med: readU32(b, start) };
    case 'localPref':
      lengthMust(len === 4, 'LOCAL_PREF', len);
      return { type, localPref: readU32(b, start) };
    case 'atomicAggregate':
      lengthMust(len === 0, 'ATOMIC_AGGREGATE', len);
      return { type };
    case 'aggregator':
    case 'as4Aggregator': {
      const four = type === 'as4Aggregator' || session.fourOctetAs;
      lengthMust(len === (four ? 8 : 6), type === 'aggregator' ? 'AGGREGATOR' : 'AS4_AGGREGATOR', len);
      return four
        ? { type, asn: readU32(b, start), address: bytesToIpv4(b, start + 4) }
        : { type, asn: readU16(b, start), address: bytesToIpv4(b, start + 2) };
    }
    case 'communities': {
      lengthMust(len > 0 && len % 4 === 0, 'COMMUNITIES', len);
      const communities: number[] = [];
      for (let o = start; o < end; o += 4) communities.push(readU32(b, o));
      return { type, communities };
    }
    case 'originatorId':
      lengthMust(len === 4, 'ORIGINATOR_ID', len);
      return { type, originatorId: bytesToIpv4(b, start) };
    case 'clusterList': {
      lengthMust(len > 0 && len % 4 === 0, 'CLUSTER_LIST', len);
      const clusterIds: string[] = [];
      for (let o = start; o < end; o += 4) clusterIds.push(bytesToIpv4(b, o));
      return { type, clusterIds };
    }
    case 'extendedCommunities': {
      lengthMust(len > 0 && len % 8 === 0, 'EXTENDED_COMMUNITIES', len);
      const communities: ExtendedCommunity[] = [];
      for (let o = start; o < end; o += 8) {
        communities.push({ typeHigh: b[o]!, typeLow: b[o + 1]!, value: copyBytes(b, o + 2, o + 8) });
      }
      return { type, communities };
    }
    case 'largeCommunities': {
      lengthMust(len > 0 && len % 12 === 0, 'LARGE_COMMUNITY', len);
      const communities: LargeCommunity[] = [];
      for (let o = start; o < end; o += 12) {
        communities.push({
          globalAdmin: readU32(b, o),
          localData1: readU32(b, o + 4),
          localData2: readU32(b, o + 8),
        });
      }
      return { type, communities };
    }
    case 'mpReach': {
      // AFI(2) SAFI(1) NH-len(1) NH Reserved(1) NLRI — the caller checked len >= 3 and the family.
      const afi = readU16(b, start);
      const safi = b[start + 2]!;
      if (len < 5) throw new BadValue(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'MP_REACH_NLRI truncated');
      const nhLen = b[start + 3]!;
      if (start + 4 + nhLen + 1 > end) {
        throw new BadValue(
          UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
          'MP_REACH_NLRI next hop overruns the attribute',
        );
      }
      const nextHop = readNextHop(afi, b, start + 4, nhLen);
      const nlriStart = start + 4 + nhLen + 1;
      const addPath = hasFamily(session.addPath, { afi, safi });
      try {
        return { type, afi, safi, nextHop, nlri: readPrefixes(b, nlriStart, end, afi, addPath) };
      } catch (e) {
        if (e instanceof MalformedField) throw new BadValue(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, e.reason);
        throw e;
      }
    }
    case 'mpUnreach': {
      const afi = readU16(b, start);
      const safi = b[start + 2]!;
      const addPath = hasFamily(session.addPath, { afi, safi });
      try {
        return { type, afi, safi, withdrawn: readPrefixes(b, start + 3, end, afi, addPath) };
      } catch (e) {
        if (e instanceof MalformedField) throw new BadValue(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, e.reason);
        throw e;
      }
    }
  }
}

/**
 * Decodes an UPDATE body (bytes after the header) under the negotiated session parameters.
 * Throws BgpMessageError only for what remains a session reset: 3/1 Malformed Attribute List
 * (withdrawn/total attribute length overrun, duplicate MP_REACH/MP_UNREACH), 3/2 Unrecognized
 * Well-known Attribute, 3/10 Invalid Network Field (Withdrawn Routes or NLRI), 3/9 for an
 * MP_REACH/MP_UNREACH too short to name its AFI/SAFI.
 */
export function decodeUpdate(b: Uint8Array, session: SessionParams): UpdateDecodeResult {
  const len = b.length;
  if (len < 4)
    throw updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'UPDATE shorter than its length fields');
  const wlen = readU16(b, 0);
  if (2 + wlen + 2 > len) {
    throw updateError(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `Withdrawn Routes Length ${wlen} overruns the message`,
    );
  }
  const v4AddPath = hasFamily(session.addPath, IPV4_UNICAST);
  let withdrawn: Prefix[];
  try {
    withdrawn = readPrefixes(b, 2, 2 + wlen, Afi.IPV4, v4AddPath);
  } catch (e) {
    if (e instanceof MalformedField)
      throw updateError(UpdateSubcode.INVALID_NETWORK_FIELD, `withdrawn: ${e.reason}`);
    throw e;
  }
  const attrStart = 2 + wlen + 2;
  const alen = readU16(b, 2 + wlen);
  const attrEnd = attrStart + alen;
  if (attrEnd > len) {
    throw updateError(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `Total Path Attribute Length ${alen} overruns the message`,
    );
  }
  let nlri: Prefix[];
  try {
    nlri = readPrefixes(b, attrEnd, len, Afi.IPV4, v4AddPath);
  } catch (e) {
    if (e instanceof MalformedField)
      throw updateError(UpdateSubcode.INVALID_NETWORK_FIELD, `NLRI: ${e.reason}`);
    throw e;
  }

  const attributes: PathAttribute[] = [];
  const problems: UpdateProblem[] = [];
  const seen = new Set<number>();
  let off = attrStart;
  while (off < attrEnd) {
    const flags = b[off]!;
    const ext = (flags & AttrFlag.EXTENDED_LENGTH) !== 0;
    const headLen = ext ? 4 : 3;
    if (attrEnd - off < headLen) {
      // RFC 7606 §4: too few octets left for an attribute header.
      problems.push({
        action: 'treat-as-withdraw',
        code: ErrorCode.UPDATE_MESSAGE,
        subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
        data: NONE,
        reason: `${attrEnd - off} octet(s) left, too few for an attribute header`,
      });
      break;
    }
    const code = b[off + 1]!;
    const vlen = ext ? readU16(b, off + 2) : b[off + 2]!;
    const vstart = off + headLen;
    const vend = vstart + vlen;
    if (vend > attrEnd) {
      // RFC 7606 §4: the attribute's length overruns the Total Path Attribute Length.
      problems.push({
        action: 'treat-as-withdraw',
        attributeType: code,
        code: ErrorCode.UPDATE_MESSAGE,
        subcode: UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
        data: copyBytes(b, off, attrEnd),
        reason: `attribute ${code} length ${vlen} overruns the path attributes`,
      });
      break;
    }
    const attrStartOff = off;
    const raw = (): Uint8Array => copyBytes(b, attrStartOff, vend);
    off = vend;

    if (seen.has(code)) {
      // RFC 7606 §3 (g).
      if (code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI) {
        throw updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `attribute ${code} appears more than once`);
      }
      problems.push({
        action: 'attribute-discard',
        attributeType: code,
        code: ErrorCode.UPDATE_MESSAGE,
        subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
        data: NONE,
        reason: `duplicate attribute ${code} discarded`,
      });
      continue;
    }
    seen.add(code);

    const known = ATTRIBUTE_BY_CODE.get(code);
    if (known === undefined) {
      if ((flags & AttrFlag.OPTIONAL) === 0) {
        throw updateError(
          UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
          `well-known attribute ${code}`,
          raw(),
        );
      }
      attributes.push({ type: 'unknown', code, flags, value: copyBytes(b, vstart, vend) });
      continue;
    }

    const isMp = known === 'mpReach' || known === 'mpUnreach';
    let family: Family | undefined;
    if (isMp) {
      if (vlen < 3) {
        throw updateError(
          UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
          `attribute ${code} too short to hold AFI/SAFI`,
          raw(),
        );
      }
      family = { afi: readU16(b, vstart), safi: b[vstart + 2]! };
    }
    const fail = (subcode: number, reason: string): void => {
      const action = MALFORMED_ACTION[known];
      problems.push({
        action,
        attributeType: code,
        ...(action === 'afi-safi-disable' && family ? { family } : {}),
        code: ErrorCode.UPDATE_MESSAGE,
        subcode,
        data: raw(),
        reason,
      });
    };

    // RFC 7606 §3 (c): Optional/Transitive bits in conflict with the attribute's definition.
    if ((flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)) !== ATTRIBUTE_INFO[known].flags) {
      fail(UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, `attribute ${code} has flags 0x${flags.toString(16)}`);
      continue;
    }
    if (family && !hasFamily(session.families, family)) {
      problems.push({
        action: 'attribute-discard',
        attributeType: code,
        code: ErrorCode.UPDATE_MESSAGE,
        subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
        data: NONE,
        reason: `AFI ${family.afi}/SAFI ${family.safi} was not negotiated`,
      });
      continue;
    }
    if (family && !isSupportedFamily(family)) {
      attributes.push({ type: 'unknown', code, flags, value: copyBytes(b, vstart, vend) });
      continue;
    }
    if (known === 'localPref' && session.external === true) {
      // RFC 7606 §7.5: LOCAL_PREF from an external peer is discarded.
      problems.push({
        action: 'attribute-discard',
        attributeType: code,
        code: ErrorCode.UPDATE_MESSAGE,
        subcode: UpdateSubcode.UNSPECIFIC,
        data: NONE,
        reason: 'LOCAL_PREF received from an external peer',
      });
      continue;
    }
    if ((known === 'as4Path' || known === 'as4Aggregator') && session.fourOctetAs) {
      // RFC 6793 §4.1: a 4-octet speaker ignores AS4_PATH/AS4_AGGREGATOR from another 4-octet speaker.
      problems.push({
        action: 'attribute-discard',
        attributeType: code,
        code: ErrorCode.UPDATE_MESSAGE,
        subcode: UpdateSubcode.UNSPECIFIC,
        data: NONE,
        reason: `attribute ${code} received on a 4-octet AS session`,
      });
      continue;
    }
    let value: PathAttribute;
    try {
      value = readKnownValue(known, { session, b, start: vstart, end: vend });
    } catch (e) {
      if (e instanceof BadValue) {
        fail(e.subcode, e.reason);
        continue;
      }
      throw e;
    }
    const canonical = canonicalFlags(known, vlen);
    attributes.push(flags === canonical ? value : { ...value, flags });
  }

  // RFC 4271 §6.3 / RFC 7606 §3 (d): well-known mandatory attributes, required only when NLRI is present.
  const reach = attributes.find((a) => a.type === 'mpReach');
  const announces =
    nlri.length > 0 || (reach !== undefined && reach.type === 'mpReach' && reach.nlri.length > 0);
  if (announces) {
    const required = [AttrType.ORIGIN, AttrType.AS_PATH, ...(nlri.length > 0 ? [AttrType.NEXT_HOP] : [])];
    for (const code of required) {
      if (!seen.has(code)) {
        problems.push({
          action: 'treat-as-withdraw',
          attributeType: code,
          code: ErrorCode.UPDATE_MESSAGE,
          subcode: UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
          data: Uint8Array.of(code),
          reason: `missing well-known attribute ${code}`,
        });
      }
    }
  }

  const disabled: Family[] = [];
  for (const p of problems) if (p.family && !hasFamily(disabled, p.family)) disabled.push(p.family);
  return {
    message: { type: 'update', withdrawn, attributes, nlri },
    problems,
    treatAsWithdraw: problems.some((p) => p.action === 'treat-as-withdraw'),
    disabledFamilies: disabled,
  };
}

function checkU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new EncodeError('bgp', `${what} ${v} out of range`);
  return v;
}

function writeNextHop(w: ByteWriter, afi: number, nh: NextHop): void {
  const g = ipToBytes(nh.global);
  if (g.length === 4 && (afi !== Afi.IPV4 || nh.linkLocal !== undefined)) {
    throw new EncodeError(
      'bgp',
      `IPv4 next hop ${nh.global} for AFI ${afi}${nh.linkLocal ? ' with a link-local' : ''}`,
    );
  }
  const ll = nh.linkLocal !== undefined ? ipToBytes(nh.linkLocal) : undefined;
  if (ll && ll.length !== 16) throw new EncodeError('bgp', `link-local next hop ${nh.linkLocal} is not IPv6`);
  w.u8(g.length + (ll ? 16 : 0)).bytes(g);
  if (ll) w.bytes(ll);
}

/** The value octets of one attribute under the session parameters. */
export function encodeAttributeValue(a: PathAttribute, session: SessionParams): Uint8Array {
  const w = new ByteWriter(32);
  switch (a.type) {
    case 'origin':
      w.u8(ORIGINS.indexOf(a.origin));
      break;
    case 'asPath':
      writeAsPath(w, a.segments, session.fourOctetAs);
      break;
    case 'as4Path':
      writeAsPath(w, a.segments, true);
      break;
    case 'nextHop':
      w.bytes(ipv4ToBytes(a.nextHop));
      break;
    case 'med':
      w.u32(checkU32(a.med, 'MED'));
      break;
    case 'localPref':
      w.u32(checkU32(a.localPref, 'LOCAL_PREF'));
      break;
    case 'atomicAggregate':
      break;
    case 'aggregator':
    case 'as4Aggregator': {
      const four = a.type === 'as4Aggregator' || session.fourOctetAs;
      if (four) w.u32(checkU32(a.asn, 'ASN'));
      else if (Number.isInteger(a.asn) && a.asn >= 0 && a.asn <= 0xffff) w.u16(a.asn);
      else throw new EncodeError('bgp', `AGGREGATOR ASN ${a.asn} does not fit 2 octets`);
      w.bytes(ipv4ToBytes(a.address));
      break;
    }
    case 'communities':
      for (const c of a.communities) w.u32(checkU32(c, 'community'));
      break;
    case 'originatorId':
      w.bytes(ipv4ToBytes(a.originatorId));
      break;
    case 'clusterList':
      for (const id of a.clusterIds) w.bytes(ipv4ToBytes(id));
      break;
    case 'extendedCommunities':
      for (const c of a.communities) {
        if (c.value.length !== 6) throw new EncodeError('bgp', 'extended community value must be 6 octets');
        w.u8(c.typeHigh).u8(c.typeLow).bytes(c.value);
      }
      break;
    case 'largeCommunities':
      for (const c of a.communities) {
        w.u32(checkU32(c.globalAdmin, 'large community')).u32(checkU32(c.localData1, 'large community'));
        w.u32(checkU32(c.localData2, 'large community'));
      }
      break;
    case 'mpReach':
      w.u16(a.afi).u8(a.safi);
      writeNextHop(w, a.afi, a.nextHop);
      w.u8(0);
      writePrefixes(w, a.afi, a.nlri, hasFamily(session.addPath, a));
      break;
    case 'mpUnreach':
      w.u16(a.afi).u8(a.safi);
      writePrefixes(w, a.afi, a.withdrawn, hasFamily(session.addPath, a));
      break;
    case 'unknown':
      w.bytes(a.value);
      break;
  }
  return w.finish();
}

/** Appends one attribute (flags, type, length, value). */
export function writeAttribute(w: ByteWriter, a: PathAttribute, session: SessionParams): void {
  const value = encodeAttributeValue(a, session);
  if (value.length > 0xffff) throw new EncodeError('bgp', 'attribute value longer than 65535 octets');
  let flags: number;
  let code: number;
  if (a.type === 'unknown') {
    flags = a.flags;
    code = a.code;
  } else {
    code = ATTRIBUTE_INFO[a.type].code;
    flags = a.flags ?? canonicalFlags(a.type, value.length);
  }
  if (value.length > 255) flags |= AttrFlag.EXTENDED_LENGTH;
  w.u8(flags).u8(code);
  if (flags & AttrFlag.EXTENDED_LENGTH) w.u16(value.length);
  else w.u8(value.length);
  w.bytes(value);
}

/** Encodes an UPDATE body (without the header). */
export function encodeUpdateBody(u: UpdateMessage, session: SessionParams): Uint8Array {
  const w = new ByteWriter(256);
  const v4AddPath = hasFamily(session.addPath, IPV4_UNICAST);
  w.u16(0);
  writePrefixes(w, Afi.IPV4, u.withdrawn, v4AddPath);
  const wlen = w.length - 2;
  if (wlen > 0xffff) throw new EncodeError('bgp', 'withdrawn routes longer than 65535 octets');
  w.patchU16(0, wlen);
  const apos = w.length;
  w.u16(0);
  for (const a of u.attributes) writeAttribute(w, a, session);
  const alen = w.length - apos - 2;
  if (alen > 0xffff) throw new EncodeError('bgp', 'path attributes longer than 65535 octets');
  w.patchU16(apos, alen);
  writePrefixes(w, Afi.IPV4, u.nlri, v4AddPath);
  return w.finish();
}
