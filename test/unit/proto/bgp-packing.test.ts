// UPDATE packing within the size limit, End-of-RIB markers, AS4 helpers, communities, NOTIFICATION texts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  IPV4_UNICAST,
  IPV6_UNICAST,
  decodeMessage,
  encodeMessage,
  endOfRib,
  endOfRibFamily,
  formatCommunity,
  formatPrefix,
  mergeAs4Path,
  notificationName,
  packUpdates,
  parseCommunity,
  parsePrefix,
  routeChanges,
  shutdownCommunication,
  shutdownNotification,
  splitForTwoOctetPeer,
  type PathAttribute,
  type SessionParams,
  type UpdateDecodeResult,
} from '../../../proto/bgp/index.js';
import { prefix4, prefix6 } from './arbitraries.js';

const S: SessionParams = {
  fourOctetAs: true,
  extendedMessages: false,
  families: [IPV4_UNICAST, IPV6_UNICAST],
  addPath: [],
};
const ATTRS: PathAttribute[] = [
  { type: 'origin', origin: 'igp' },
  { type: 'asPath', segments: [{ type: 'sequence', asns: [64512] }] },
  { type: 'communities', communities: [parseCommunity('64512:100')] },
];

/** Everything announced/withdrawn by a list of UPDATEs, after decoding them back. */
function replay(
  updates: ReturnType<typeof packUpdates>,
  s: SessionParams,
): { announced: string[]; withdrawn: string[]; sizes: number[] } {
  const announced: string[] = [];
  const withdrawn: string[] = [];
  const sizes: number[] = [];
  for (const u of updates) {
    const bytes = encodeMessage(u, s);
    sizes.push(bytes.length);
    const d = decodeMessage(bytes, s) as UpdateDecodeResult;
    assert.deepEqual(d.problems, []);
    const c = routeChanges(d);
    announced.push(...c.announced.map((x) => formatPrefix(x.prefix)));
    withdrawn.push(...c.withdrawn.map((x) => formatPrefix(x.prefix)));
  }
  return { announced, withdrawn, sizes };
}

describe('UPDATE packing', () => {
  it('10,000 /32 and 10,000 /128 with one attribute set: every prefix once, every UPDATE within 4096, few UPDATEs', () => {
    const v4 = Array.from({ length: 10_000 }, (_, i) => parsePrefix(`10.${(i >> 8) & 255}.${i & 255}.1/32`));
    const v6 = Array.from({ length: 10_000 }, (_, i) => parsePrefix(`2001:db8::${i.toString(16)}/128`));
    const ups = packUpdates(
      {
        attributes: ATTRS,
        ipv4NextHop: '192.0.2.1',
        ipv6NextHop: { global: '2001:db8::1', linkLocal: 'fe80::1' },
        announce: [...v4, ...v6],
        withdraw: [],
      },
      S,
    );
    const r = replay(ups, S);
    assert.equal(r.announced.length, 20_000);
    assert.equal(new Set(r.announced).size, 20_000);
    assert.ok(r.sizes.every((n) => n <= 4096));
    // a /32 takes 5 octets, a /128 17: the packing must be near those bounds
    const v4Updates = ups.filter((u) => u.nlri.length > 0).length;
    const v6Updates = ups.length - v4Updates;
    assert.ok(v4Updates <= Math.ceil((10_000 * 5) / (4096 - 23 - 40)), `${v4Updates} IPv4 UPDATEs`);
    assert.ok(v6Updates <= Math.ceil((10_000 * 17) / (4096 - 23 - 80)), `${v6Updates} IPv6 UPDATEs`);
    // all but the last of each family are full: nothing more would fit
    assert.ok(r.sizes.filter((n) => n < 4096 - 17).length <= 2, `sizes ${r.sizes.join(',')}`);
  });

  it('extended messages pack into 65535-octet UPDATEs', () => {
    const v4 = Array.from({ length: 30_000 }, (_, i) => parsePrefix(`10.${(i >> 8) & 255}.${i & 255}.0/24`));
    const X = { ...S, extendedMessages: true };
    const ups = packUpdates({ attributes: ATTRS, ipv4NextHop: '192.0.2.1', announce: v4, withdraw: [] }, X);
    assert.ok(ups.length <= 2, `${ups.length}`);
    assert.equal(replay(ups, X).announced.length, 30_000);
  });

  it('withdrawals: IPv4 in Withdrawn Routes, IPv6 in MP_UNREACH_NLRI, all within the limit (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(prefix4(), { maxLength: 2000 }),
        fc.array(prefix6(), { maxLength: 1000 }),
        (w4, w6) => {
          const ups = packUpdates({ attributes: [], announce: [], withdraw: [...w4, ...w6] }, S);
          const r = replay(ups, S);
          assert.deepEqual(r.withdrawn.sort(), [...w4, ...w6].map(formatPrefix).sort());
          assert.ok(r.sizes.every((n) => n <= 4096));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('IPv4 with an IPv6 next hop goes in MP_REACH_NLRI (RFC 8950)', () => {
    const ups = packUpdates(
      {
        attributes: ATTRS,
        ipv4NextHop: '2001:db8::1',
        announce: [parsePrefix('198.51.100.0/24')],
        withdraw: [],
      },
      S,
    );
    assert.equal(ups.length, 1);
    const reach = ups[0]!.attributes[0]!;
    assert.ok(reach.type === 'mpReach' && reach.afi === 1 && reach.nextHop.global === '2001:db8::1');
    assert.equal(replay(ups, S).announced[0], '198.51.100.0/24');
  });

  it('refuses next hops passed as attributes', () => {
    assert.throws(() =>
      packUpdates({ attributes: [{ type: 'nextHop', nextHop: '192.0.2.1' }], announce: [], withdraw: [] }, S),
    );
  });
});

describe('End-of-RIB, AS4 helpers, names', () => {
  it('End-of-RIB: empty UPDATE for IPv4, empty MP_UNREACH for IPv6; recognised after a round trip', () => {
    for (const f of [IPV4_UNICAST, IPV6_UNICAST]) {
      const d = decodeMessage(encodeMessage(endOfRib(f), S), S);
      assert.ok(d.message.type === 'update');
      assert.deepEqual(endOfRibFamily(d.message), f);
    }
    assert.equal(encodeMessage(endOfRib(IPV4_UNICAST), S).length, 23);
  });

  it('RFC 6793: splitting for a 2-octet peer and merging back restores the path', () => {
    const path = [{ type: 'sequence' as const, asns: [64512, 4200000000, 65001] }];
    const { asPath, as4Path } = splitForTwoOctetPeer(path);
    assert.deepEqual(asPath[0]!.asns, [64512, 23456, 65001]);
    assert.deepEqual(mergeAs4Path(asPath, as4Path!), path);
    // an old speaker prepended itself after the 4-octet path was built
    assert.deepEqual(
      mergeAs4Path([{ type: 'sequence', asns: [65100, 64512, 23456, 65001] }], as4Path!)[0]!.asns,
      [65100],
    );
    assert.equal(splitForTwoOctetPeer([{ type: 'sequence', asns: [1, 2] }]).as4Path, undefined);
  });

  it('communities by name, and NOTIFICATION names', () => {
    assert.equal(parseCommunity('no-export'), 0xffffff01);
    assert.equal(formatCommunity(0xffff029a), 'blackhole');
    assert.equal(formatCommunity(parseCommunity('graceful-shutdown')), 'graceful-shutdown');
    assert.equal(formatCommunity(parseCommunity('65000:7')), '65000:7');
    assert.equal(notificationName(6, 2), 'Cease / Administrative Shutdown (6/2)');
    assert.equal(notificationName(3, 11), 'UPDATE Message Error / Malformed AS_PATH (3/11)');
  });

  it('RFC 9003 shutdown communication: UTF-8, cut to 255 octets at a character boundary', () => {
    const n = shutdownNotification('maintenance ✈');
    assert.equal(shutdownCommunication(n), 'maintenance ✈');
    const long = shutdownNotification('é'.repeat(200));
    assert.ok(long.data.length <= 256);
    assert.equal(shutdownCommunication(long), 'é'.repeat(127));
    assert.equal(
      shutdownCommunication({ ...n, data: Uint8Array.of(5, 0xff, 0xfe, 0x41, 0x42, 0x43) }),
      undefined,
    );
  });
});
