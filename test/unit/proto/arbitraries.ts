/** fast-check generators of valid protocol values, shared by the proto property tests. */
import fc from 'fast-check';
import { bytesToIpv4, bytesToIpv6 } from '../../../proto/address.js';
import type {
  AsPathSegment,
  AsPathSegmentType,
  Capability,
  PathAttribute,
  Prefix,
  SessionParams,
  UpdateMessage,
} from '../../../proto/bgp/index.js';
import { ATTRIBUTE_BY_CODE, CapabilityCode, IPV4_UNICAST, IPV6_UNICAST } from '../../../proto/bgp/index.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => bytesToIpv4(b));
export const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => bytesToIpv6(b));
/** A usable NEXT_HOP (RFC 4271 §6.3: not 0.0.0.0, not multicast/class E). */
export const unicastIpv4 = fc
  .tuple(fc.integer({ min: 1, max: 223 }), u8, u8, u8)
  .map(([a, b, c, d]) => `${a}.${b}.${c}.${d}`);
export const mac = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
export const nonZeroU32 = fc.integer({ min: 1, max: 0xffffffff });

function prefixOf(width: 4 | 16, pathIds: boolean): fc.Arbitrary<Prefix> {
  return fc
    .tuple(fc.integer({ min: 0, max: width * 8 }), fc.uint8Array({ minLength: width, maxLength: width }), u32)
    .map(([length, raw, id]) => {
      const b = new Uint8Array(width);
      b.set(raw.subarray(0, (length + 7) >> 3));
      const address = width === 4 ? bytesToIpv4(b) : bytesToIpv6(b);
      return pathIds ? { address, length, pathId: id } : { address, length };
    });
}
export const prefix4 = (pathIds = false): fc.Arbitrary<Prefix> => prefixOf(4, pathIds);
export const prefix6 = (pathIds = false): fc.Arbitrary<Prefix> => prefixOf(16, pathIds);

export const session: fc.Arbitrary<SessionParams> = fc.record({
  fourOctetAs: fc.boolean(),
  extendedMessages: fc.boolean(),
  families: fc.constant([IPV4_UNICAST, IPV6_UNICAST]),
  addPath: fc.subarray([IPV4_UNICAST, IPV6_UNICAST]),
});

const ALL_SEGMENT_TYPES: AsPathSegmentType[] = ['set', 'sequence', 'confedSequence', 'confedSet'];
const PLAIN_SEGMENT_TYPES: AsPathSegmentType[] = ['set', 'sequence'];

const asn = (four: boolean): fc.Arbitrary<number> => (four ? u32 : u16);

export const segments = (four: boolean, confed = true): fc.Arbitrary<AsPathSegment[]> =>
  fc.array(
    fc.record({
      type: fc.constantFrom<AsPathSegmentType[]>(...(confed ? ALL_SEGMENT_TYPES : PLAIN_SEGMENT_TYPES)),
      asns: fc.array(asn(four), { minLength: 1, maxLength: 12 }),
    }),
    { maxLength: 4 },
  );

const KNOWN_CODES = new Set([...ATTRIBUTE_BY_CODE.keys()]);
const unknownAttribute: fc.Arbitrary<PathAttribute> = fc
  .tuple(
    u8.filter((c) => !KNOWN_CODES.has(c) && c !== 0),
    fc.integer({ min: 0, max: 7 }),
    fc.uint8Array({ maxLength: 40 }),
  )
  .map(([code, bits, value]) => ({ type: 'unknown' as const, code, flags: 0x80 | (bits << 4), value }));

/** Every attribute type except the mandatory ones and the MP pair, for a given session. */
export function optionalAttributes(s: SessionParams): fc.Arbitrary<PathAttribute>[] {
  const list: fc.Arbitrary<PathAttribute>[] = [
    u32.map((med) => ({ type: 'med', med })),
    u32.map((localPref) => ({ type: 'localPref', localPref })),
    fc.constant({ type: 'atomicAggregate' }),
    fc.tuple(asn(s.fourOctetAs), ipv4).map(([a, address]) => ({ type: 'aggregator', asn: a, address })),
    fc
      .array(u32, { minLength: 1, maxLength: 20 })
      .map((communities) => ({ type: 'communities', communities })),
    ipv4.map((originatorId) => ({ type: 'originatorId', originatorId })),
    fc.array(ipv4, { minLength: 1, maxLength: 5 }).map((clusterIds) => ({ type: 'clusterList', clusterIds })),
    fc
      .array(fc.record({ typeHigh: u8, typeLow: u8, value: fc.uint8Array({ minLength: 6, maxLength: 6 }) }), {
        minLength: 1,
        maxLength: 8,
      })
      .map((communities) => ({ type: 'extendedCommunities', communities })),
    fc
      .array(fc.record({ globalAdmin: u32, localData1: u32, localData2: u32 }), {
        minLength: 1,
        maxLength: 8,
      })
      .map((communities) => ({ type: 'largeCommunities', communities })),
    unknownAttribute,
  ];
  if (!s.fourOctetAs) {
    list.push(segments(true, false).map((sg) => ({ type: 'as4Path', segments: sg })));
    list.push(fc.tuple(u32, ipv4).map(([a, address]) => ({ type: 'as4Aggregator', asn: a, address })));
  }
  return list;
}

const hasAp = (s: SessionParams, afi: number): boolean => s.addPath.some((f) => f.afi === afi);

export function mpReach(s: SessionParams): fc.Arbitrary<PathAttribute> {
  return fc.oneof(
    fc
      .tuple(ipv6, fc.option(ipv6, { nil: undefined }), fc.array(prefix6(hasAp(s, 2)), { maxLength: 10 }))
      .map(([global, linkLocal, nlri]) => ({
        type: 'mpReach' as const,
        afi: 2,
        safi: 1,
        nextHop: linkLocal === undefined ? { global } : { global, linkLocal },
        nlri,
      })),
    fc
      .tuple(fc.oneof(ipv4, ipv6), fc.array(prefix4(hasAp(s, 1)), { maxLength: 10 }))
      .map(([global, nlri]) => ({ type: 'mpReach' as const, afi: 1, safi: 1, nextHop: { global }, nlri })),
  );
}

export function mpUnreach(s: SessionParams): fc.Arbitrary<PathAttribute> {
  return fc.oneof(
    fc
      .array(prefix6(hasAp(s, 2)), { maxLength: 10 })
      .map((withdrawn) => ({ type: 'mpUnreach' as const, afi: 2, safi: 1, withdrawn })),
    fc
      .array(prefix4(hasAp(s, 1)), { maxLength: 10 })
      .map((withdrawn) => ({ type: 'mpUnreach' as const, afi: 1, safi: 1, withdrawn })),
  );
}

/** A valid UPDATE for `s` (unique attribute types, mandatory attributes when it announces). */
export function update(s: SessionParams): fc.Arbitrary<UpdateMessage> {
  const ap4 = hasAp(s, 1);
  return fc
    .record({
      withdrawn: fc.array(prefix4(ap4), { maxLength: 10 }),
      nlri: fc.array(prefix4(ap4), { maxLength: 10 }),
      origin: fc.constantFrom('igp', 'egp', 'incomplete'),
      path: segments(s.fourOctetAs),
      nextHop: unicastIpv4,
      others: fc.uniqueArray(fc.oneof(...optionalAttributes(s)), {
        maxLength: 6,
        selector: (a) => (a.type === 'unknown' ? a.code : a.type),
      }),
      reach: fc.option(mpReach(s), { nil: undefined }),
      unreach: fc.option(mpUnreach(s), { nil: undefined }),
      withAttributes: fc.boolean(),
      shuffle: fc.integer(),
    })
    .map((r) => {
      const announces = r.nlri.length > 0 || r.reach !== undefined;
      const attrs: PathAttribute[] = [];
      if (r.reach) attrs.push(r.reach);
      if (r.unreach) attrs.push(r.unreach);
      if (announces || r.withAttributes) {
        attrs.push({ type: 'origin', origin: r.origin as 'igp' }, { type: 'asPath', segments: r.path });
        if (r.nlri.length > 0 || r.withAttributes) attrs.push({ type: 'nextHop', nextHop: r.nextHop });
        attrs.push(...r.others);
      }
      // a deterministic shuffle: attribute order on the wire is preserved by the codec
      const rot = Math.abs(r.shuffle) % Math.max(1, attrs.length);
      return {
        type: 'update' as const,
        withdrawn: r.withdrawn,
        attributes: [...attrs.slice(rot), ...attrs.slice(0, rot)],
        nlri: r.nlri,
      };
    });
}

const KNOWN_CAPS = new Set<number>(Object.values(CapabilityCode));
const latin1 = fc.uint8Array({ maxLength: 40 }).map((b) => String.fromCharCode(...b));

export const capability: fc.Arbitrary<Capability> = fc.oneof(
  fc.record({ type: fc.constant('multiprotocol' as const), afi: u16, safi: u8 }),
  fc.constant({ type: 'routeRefresh' as const }),
  fc.constant({ type: 'enhancedRouteRefresh' as const }),
  fc.constant({ type: 'extendedMessage' as const }),
  fc.record({
    type: fc.constant('extendedNextHop' as const),
    entries: fc.array(fc.record({ afi: u16, safi: u16, nextHopAfi: u16 }), { maxLength: 5 }),
  }),
  fc.record({
    type: fc.constant('gracefulRestart' as const),
    restarting: fc.boolean(),
    notification: fc.boolean(),
    restartTime: fc.integer({ min: 0, max: 4095 }),
    families: fc.array(fc.record({ afi: u16, safi: u8, forwarding: fc.boolean() }), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant('fourOctetAs' as const), asn: u32 }),
  fc.record({
    type: fc.constant('addPath' as const),
    entries: fc.array(fc.record({ afi: u16, safi: u8, sendReceive: u8 }), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant('fqdn' as const), hostname: latin1, domain: latin1 }),
  fc.record({
    type: fc.constant('unknown' as const),
    code: u8.filter((c) => !KNOWN_CAPS.has(c)),
    value: fc.uint8Array({ maxLength: 30 }),
  }),
);

/** A deep copy with ordinary prototypes (fast-check records have none, and deepStrictEqual checks prototypes). */
export function plain<T>(x: T): T {
  if (x instanceof Uint8Array) return Uint8Array.from(x) as T;
  if (Array.isArray(x)) return x.map(plain) as T;
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = plain(v);
    return out as T;
  }
  return x;
}
