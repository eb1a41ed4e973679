/**
 * Path attribute values (RFC 4271 §5 and extensions) as plain data. Each known attribute may carry
 * `flags`: the flag octet as received, present only when it differs from the canonical flags this
 * codec would write (so decode -> encode stays byte-identical, e.g. a peer that sets Extended Length
 * on a short attribute, or the Partial bit on an optional transitive one).
 */
import { AttrFlag, AttrType } from './constants.js';
import type { Prefix } from './prefix.js';

export type Origin = 'igp' | 'egp' | 'incomplete';

/** RFC 4271 §4.3 (AS_SET 1, AS_SEQUENCE 2) and RFC 5065 (AS_CONFED_SEQUENCE 3, AS_CONFED_SET 4). */
export type AsPathSegmentType = 'set' | 'sequence' | 'confedSequence' | 'confedSet';

export interface AsPathSegment {
  readonly type: AsPathSegmentType;
  readonly asns: readonly number[];
}

/** MP_REACH_NLRI next hop: one global address, plus a link-local one for IPv6 (RFC 2545 §3). */
export interface NextHop {
  /** IPv4 for IPv4 NLRI, IPv6 for IPv6 NLRI, or IPv6 for IPv4 NLRI under RFC 8950. */
  readonly global: string;
  readonly linkLocal?: string;
}

/** RFC 4360: 8 octets, Type high / Type low (subtype) and a 6-octet value. */
export interface ExtendedCommunity {
  readonly typeHigh: number;
  readonly typeLow: number;
  readonly value: Uint8Array;
}

/** RFC 8092. */
export interface LargeCommunity {
  readonly globalAdmin: number;
  readonly localData1: number;
  readonly localData2: number;
}

interface Wire {
  /** Flag octet as received when not canonical (see module comment). */
  readonly flags?: number;
}

export type PathAttribute =
  | ({ readonly type: 'origin'; readonly origin: Origin } & Wire)
  | ({ readonly type: 'asPath'; readonly segments: readonly AsPathSegment[] } & Wire)
  | ({ readonly type: 'nextHop'; readonly nextHop: string } & Wire)
  | ({ readonly type: 'med'; readonly med: number } & Wire)
  | ({ readonly type: 'localPref'; readonly localPref: number } & Wire)
  | ({ readonly type: 'atomicAggregate' } & Wire)
  | ({ readonly type: 'aggregator'; readonly asn: number; readonly address: string } & Wire)
  | ({ readonly type: 'communities'; readonly communities: readonly number[] } & Wire)
  | ({ readonly type: 'originatorId'; readonly originatorId: string } & Wire)
  | ({ readonly type: 'clusterList'; readonly clusterIds: readonly string[] } & Wire)
  | ({
      readonly type: 'mpReach';
      readonly afi: number;
      readonly safi: number;
      readonly nextHop: NextHop;
      readonly nlri: readonly Prefix[];
    } & Wire)
  | ({
      readonly type: 'mpUnreach';
      readonly afi: number;
      readonly safi: number;
      readonly withdrawn: readonly Prefix[];
    } & Wire)
  | ({ readonly type: 'extendedCommunities'; readonly communities: readonly ExtendedCommunity[] } & Wire)
  | ({ readonly type: 'as4Path'; readonly segments: readonly AsPathSegment[] } & Wire)
  | ({ readonly type: 'as4Aggregator'; readonly asn: number; readonly address: string } & Wire)
  | ({ readonly type: 'largeCommunities'; readonly communities: readonly LargeCommunity[] } & Wire)
  | {
      /** Any attribute this codec does not interpret; kept verbatim. */
      readonly type: 'unknown';
      readonly code: number;
      readonly flags: number;
      readonly value: Uint8Array;
    };

export type KnownAttributeType = Exclude<PathAttribute['type'], 'unknown'>;

const O = AttrFlag.OPTIONAL;
const T = AttrFlag.TRANSITIVE;

/** Type code and the Optional/Transitive bits RFC 4271 and the defining RFCs give each known attribute. */
export const ATTRIBUTE_INFO: Readonly<Record<KnownAttributeType, { code: number; flags: number }>> = {
  origin: { code: AttrType.ORIGIN, flags: T },
  asPath: { code: AttrType.AS_PATH, flags: T },
  nextHop: { code: AttrType.NEXT_HOP, flags: T },
  med: { code: AttrType.MULTI_EXIT_DISC, flags: O },
  localPref: { code: AttrType.LOCAL_PREF, flags: T },
  atomicAggregate: { code: AttrType.ATOMIC_AGGREGATE, flags: T },
  aggregator: { code: AttrType.AGGREGATOR, flags: O | T },
  communities: { code: AttrType.COMMUNITIES, flags: O | T },
  originatorId: { code: AttrType.ORIGINATOR_ID, flags: O },
  clusterList: { code: AttrType.CLUSTER_LIST, flags: O },
  mpReach: { code: AttrType.MP_REACH_NLRI, flags: O },
  mpUnreach: { code: AttrType.MP_UNREACH_NLRI, flags: O },
  extendedCommunities: { code: AttrType.EXTENDED_COMMUNITIES, flags: O | T },
  as4Path: { code: AttrType.AS4_PATH, flags: O | T },
  as4Aggregator: { code: AttrType.AS4_AGGREGATOR, flags: O | T },
  largeCommunities: { code: AttrType.LARGE_COMMUNITY, flags: O | T },
};

/** Known attribute name by type code. */
export const ATTRIBUTE_BY_CODE: ReadonlyMap<number, KnownAttributeType> = new Map(
  (Object.entries(ATTRIBUTE_INFO) as [KnownAttributeType, { code: number }][]).map(([k, v]) => [v.code, k]),
);

/** The type code of any attribute value. */
export function attributeCode(a: PathAttribute): number {
  return a.type === 'unknown' ? a.code : ATTRIBUTE_INFO[a.type].code;
}

/** Canonical flag octet: the attribute's O/T bits, plus Extended Length when the value exceeds 255 octets. */
export function canonicalFlags(type: KnownAttributeType, valueLength: number): number {
  return ATTRIBUTE_INFO[type].flags | (valueLength > 255 ? AttrFlag.EXTENDED_LENGTH : 0);
}

/**
 * The attributes to pass on when re-advertising a received path (RFC 4271 §5, §9.1.3): unknown
 * optional non-transitive attributes are dropped, unknown optional transitive ones are kept with the
 * Partial bit set; known attributes keep their values (the caller applies its own policy to them).
 */
export function attributesToPropagate(attrs: readonly PathAttribute[]): PathAttribute[] {
  const out: PathAttribute[] = [];
  for (const a of attrs) {
    if (a.type !== 'unknown') {
      out.push(a);
    } else if ((a.flags & AttrFlag.OPTIONAL) !== 0 && (a.flags & AttrFlag.TRANSITIVE) !== 0) {
      out.push({ ...a, flags: a.flags | AttrFlag.PARTIAL });
    }
  }
  return out;
}
