// Malformed BGP input: each case names the exact NOTIFICATION (code/subcode/data) or the RFC 7606
// action the decoder must produce.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromHex, toHex } from '../../../proto/bytes.js';
import {
  BgpMessageError,
  DEFAULT_SESSION,
  IPV4_UNICAST,
  IPV6_UNICAST,
  decodeMessage,
  makeOpen,
  negotiateSession,
  routeChanges,
  type Rfc7606Action,
  type SessionParams,
  type UpdateDecodeResult,
} from '../../../proto/bgp/index.js';

const S4: SessionParams = {
  fourOctetAs: true,
  extendedMessages: false,
  families: [IPV4_UNICAST, IPV6_UNICAST],
  addPath: [],
};
const S2: SessionParams = { ...S4, fourOctetAs: false };
const ONLY_V4: SessionParams = { ...S4, families: [IPV4_UNICAST] };
const EXT: SessionParams = { ...S4, external: true };

const MARKER = 'ff'.repeat(16);
/** A whole message: marker, computed length (unless given), type, body. */
function msg(type: number, bodyHex: string, length?: number): Uint8Array {
  const body = fromHex(bodyHex);
  const len = length ?? 19 + body.length;
  return fromHex(
    MARKER + len.toString(16).padStart(4, '0') + type.toString(16).padStart(2, '0') + toHex(body),
  );
}
/** One attribute with a 1-octet length (or 2-octet when flags has 0x10). */
function a(flags: number, type: number, valueHex: string): string {
  const v = fromHex(valueHex);
  const len = flags & 0x10 ? v.length.toString(16).padStart(4, '0') : v.length.toString(16).padStart(2, '0');
  return flags.toString(16).padStart(2, '0') + type.toString(16).padStart(2, '0') + len + valueHex;
}
/** An UPDATE from attribute hex strings, NLRI hex and withdrawn hex. */
function upd(attrs: string[], nlri = '', withdrawn = ''): Uint8Array {
  const at = attrs.join('');
  const wl = (withdrawn.length / 2).toString(16).padStart(4, '0');
  const al = (at.length / 2).toString(16).padStart(4, '0');
  return msg(2, wl + withdrawn + al + at + nlri);
}

const ORIGIN = a(0x40, 1, '00');
const AS_PATH = a(0x40, 2, '0201' + '0000fde8'); // AS_SEQUENCE [65000], 4-octet
const AS_PATH2 = a(0x40, 2, '0201' + 'fde8'); // 2-octet
const NEXT_HOP = a(0x40, 3, '0a000001');
const NLRI = '180a0000'; // 10.0.0.0/24
const VALID = [ORIGIN, AS_PATH, NEXT_HOP];

interface Fatal {
  name: string;
  bytes: Uint8Array;
  session?: SessionParams;
  code: number;
  subcode: number;
  data: string;
}

const fatal: Fatal[] = [
  {
    name: 'marker not all ones -> 1/1',
    bytes: fromHex('ff'.repeat(15) + '00' + '001304'),
    code: 1,
    subcode: 1,
    data: '',
  },
  { name: 'length 18 -> 1/2 with the length', bytes: msg(4, '', 18), code: 1, subcode: 2, data: '0012' },
  {
    name: 'length 4097 without extended messages -> 1/2',
    bytes: msg(2, '00'.repeat(4097 - 19)),
    code: 1,
    subcode: 2,
    data: '1001',
  },
  { name: 'unknown type 9 -> 1/3 with the type', bytes: msg(9, ''), code: 1, subcode: 3, data: '09' },
  { name: 'KEEPALIVE of 20 octets -> 1/2', bytes: msg(4, '00'), code: 1, subcode: 2, data: '0014' },
  {
    name: 'OPEN of 28 octets -> 1/2',
    bytes: msg(1, '04fde8005a0a000001'),
    code: 1,
    subcode: 2,
    data: '001c',
  },
  {
    name: 'OPEN over 4096 even with extended messages -> 1/2',
    bytes: msg(1, '04fde8005a0a00000100' + '00'.repeat(4090)),
    session: { ...S4, extendedMessages: true },
    code: 1,
    subcode: 2,
    data: toHex(Uint8Array.of((19 + 4100) >> 8, (19 + 4100) & 0xff)),
  },
  { name: 'UPDATE of 22 octets -> 1/2', bytes: msg(2, '000000'), code: 1, subcode: 2, data: '0016' },
  { name: 'NOTIFICATION of 20 octets -> 1/2', bytes: msg(3, '06'), code: 1, subcode: 2, data: '0014' },
  { name: 'ROUTE-REFRESH of 22 octets -> 1/2', bytes: msg(5, '000100'), code: 1, subcode: 2, data: '0016' },
  {
    name: 'header length larger than the bytes given -> 1/2',
    bytes: msg(4, '', 40),
    code: 1,
    subcode: 2,
    data: '0028',
  },
  {
    name: 'OPEN version 3 -> 2/1 with version 4',
    bytes: msg(1, '03fde8005a0a00000100'),
    code: 2,
    subcode: 1,
    data: '0004',
  },
  { name: 'OPEN hold time 1 -> 2/6', bytes: msg(1, '04fde800010a00000100'), code: 2, subcode: 6, data: '' },
  { name: 'OPEN hold time 2 -> 2/6', bytes: msg(1, '04fde800020a00000100'), code: 2, subcode: 6, data: '' },
  {
    name: 'OPEN identifier 0.0.0.0 -> 2/3',
    bytes: msg(1, '04fde8005a0000000000'),
    code: 2,
    subcode: 3,
    data: '',
  },
  {
    name: 'OPEN authentication parameter -> 2/4',
    bytes: msg(1, '04fde8005a0a00000103010100'),
    code: 2,
    subcode: 4,
    data: '',
  },
  {
    name: 'OPEN parameter overruns -> 2/0',
    bytes: msg(1, '04fde8005a0a0000010302050000'),
    code: 2,
    subcode: 0,
    data: '',
  },
  {
    name: 'OPEN parameters length disagrees -> 2/0',
    bytes: msg(1, '04fde8005a0a0000010a020401040001'),
    code: 2,
    subcode: 0,
    data: '',
  },
  {
    name: 'OPEN multiprotocol capability of 3 octets -> 2/0',
    bytes: msg(1, '04fde8005a0a000001050203010300'),
    code: 2,
    subcode: 0,
    data: '',
  },
  {
    name: 'Withdrawn Routes Length overruns -> 3/1',
    bytes: msg(2, '00ff0000'),
    code: 3,
    subcode: 1,
    data: '',
  },
  {
    name: 'Total Path Attribute Length overruns -> 3/1',
    bytes: msg(2, '000000ff'),
    code: 3,
    subcode: 1,
    data: '',
  },
  { name: 'NLRI prefix /33 -> 3/10', bytes: upd(VALID, '210a000000ff'), code: 3, subcode: 10, data: '' },
  { name: 'NLRI prefix overruns -> 3/10', bytes: upd(VALID, '180a00'), code: 3, subcode: 10, data: '' },
  {
    name: 'withdrawn prefix /40 -> 3/10',
    bytes: upd([], '', '280a0000000000'),
    code: 3,
    subcode: 10,
    data: '',
  },
  {
    name: 'unrecognized well-known attribute -> 3/2 with the attribute',
    bytes: upd([...VALID, a(0x40, 99, 'abcd')], NLRI),
    code: 3,
    subcode: 2,
    data: '406302abcd',
  },
  {
    name: 'MP_REACH_NLRI twice -> 3/1',
    bytes: upd([
      a(0x80, 14, '000201' + '10' + '20010db8000000000000000000000001' + '00'),
      a(0x80, 14, '000201' + '10' + '20010db8000000000000000000000001' + '00'),
      ORIGIN,
      AS_PATH,
    ]),
    code: 3,
    subcode: 1,
    data: '',
  },
  {
    name: 'MP_REACH_NLRI too short for AFI/SAFI -> 3/9 with the attribute',
    bytes: upd([a(0x80, 14, '0002')]),
    code: 3,
    subcode: 9,
    data: '800e020002',
  },
  {
    name: 'BoRR with a 5-octet body -> 7/1 with the message',
    bytes: msg(5, '0001010100'),
    code: 7,
    subcode: 1,
    data: toHex(msg(5, '0001010100')),
  },
];

interface Soft {
  name: string;
  bytes: Uint8Array;
  session?: SessionParams;
  action: Rfc7606Action;
  subcode: number;
  data?: string;
  treatAsWithdraw: boolean;
  family?: { afi: number; safi: number };
}

const soft: Soft[] = [
  {
    name: 'ORIGIN of 2 octets',
    bytes: upd([a(0x40, 1, '0000'), AS_PATH, NEXT_HOP], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    data: '40010200 00'.replace(' ', ''),
    treatAsWithdraw: true,
  },
  {
    name: 'ORIGIN value 3',
    bytes: upd([a(0x40, 1, '03'), AS_PATH, NEXT_HOP], NLRI),
    action: 'treat-as-withdraw',
    subcode: 6,
    data: '40010103',
    treatAsWithdraw: true,
  },
  {
    name: 'ORIGIN flagged optional',
    bytes: upd([a(0xc0, 1, '00'), AS_PATH, NEXT_HOP], NLRI),
    action: 'treat-as-withdraw',
    subcode: 4,
    data: 'c0010100',
    treatAsWithdraw: true,
  },
  {
    name: 'AS_PATH segment type 5',
    bytes: upd([ORIGIN, a(0x40, 2, '05010000fde8'), NEXT_HOP], NLRI),
    action: 'treat-as-withdraw',
    subcode: 11,
    treatAsWithdraw: true,
  },
  {
    name: 'AS_PATH segment of length 0',
    bytes: upd([ORIGIN, a(0x40, 2, '0200'), NEXT_HOP], NLRI),
    action: 'treat-as-withdraw',
    subcode: 11,
    treatAsWithdraw: true,
  },
  {
    name: 'AS_PATH segment overruns (2-octet ASNs read as 4)',
    bytes: upd([ORIGIN, a(0x40, 2, '0202fde8fde9'), NEXT_HOP], NLRI),
    action: 'treat-as-withdraw',
    subcode: 11,
    treatAsWithdraw: true,
  },
  {
    name: 'NEXT_HOP of 5 octets',
    bytes: upd([ORIGIN, AS_PATH, a(0x40, 3, '0a00000100')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    data: '4003050a00000100',
    treatAsWithdraw: true,
  },
  {
    name: 'NEXT_HOP multicast 224.0.0.1',
    bytes: upd([ORIGIN, AS_PATH, a(0x40, 3, 'e0000001')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 8,
    data: '400304e0000001',
    treatAsWithdraw: true,
  },
  {
    name: 'NEXT_HOP 0.0.0.0',
    bytes: upd([ORIGIN, AS_PATH, a(0x40, 3, '00000000')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 8,
    treatAsWithdraw: true,
  },
  {
    name: 'MULTI_EXIT_DISC of 3 octets',
    bytes: upd([...VALID, a(0x80, 4, '000001')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    data: '800403000001',
    treatAsWithdraw: true,
  },
  {
    name: 'LOCAL_PREF of 5 octets',
    bytes: upd([...VALID, a(0x40, 5, '0000006400')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    treatAsWithdraw: true,
  },
  {
    name: 'LOCAL_PREF from an external peer',
    bytes: upd([...VALID, a(0x40, 5, '00000064')], NLRI),
    session: EXT,
    action: 'attribute-discard',
    subcode: 0,
    treatAsWithdraw: false,
  },
  {
    name: 'ATOMIC_AGGREGATE of 1 octet',
    bytes: upd([...VALID, a(0x40, 6, '00')], NLRI),
    action: 'attribute-discard',
    subcode: 5,
    data: '40060100',
    treatAsWithdraw: false,
  },
  {
    name: 'AGGREGATOR of 7 octets on a 4-octet session',
    bytes: upd([...VALID, a(0xc0, 7, '0000fde80a0000')], NLRI),
    action: 'attribute-discard',
    subcode: 5,
    treatAsWithdraw: false,
  },
  {
    name: 'AGGREGATOR flagged non-transitive',
    bytes: upd([...VALID, a(0x80, 7, '0000fde80a000001')], NLRI),
    action: 'attribute-discard',
    subcode: 4,
    treatAsWithdraw: false,
  },
  {
    name: 'COMMUNITIES of 6 octets',
    bytes: upd([...VALID, a(0xc0, 8, '0001000200ff')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    treatAsWithdraw: true,
  },
  {
    name: 'COMMUNITIES empty',
    bytes: upd([...VALID, a(0xc0, 8, '')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    data: 'c00800',
    treatAsWithdraw: true,
  },
  {
    name: 'EXTENDED_COMMUNITIES of 12 octets',
    bytes: upd([...VALID, a(0xc0, 16, '00'.repeat(12))], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    treatAsWithdraw: true,
  },
  {
    name: 'LARGE_COMMUNITY of 11 octets',
    bytes: upd([...VALID, a(0xc0, 32, '00'.repeat(11))], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    treatAsWithdraw: true,
  },
  {
    name: 'ORIGINATOR_ID of 3 octets',
    bytes: upd([...VALID, a(0x80, 9, '0a0000')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    treatAsWithdraw: true,
  },
  {
    name: 'CLUSTER_LIST of 5 octets',
    bytes: upd([...VALID, a(0x80, 10, '0a00000101')], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    treatAsWithdraw: true,
  },
  {
    name: 'AS4_PATH malformed on a 2-octet session',
    bytes: upd([ORIGIN, AS_PATH2, NEXT_HOP, a(0xc0, 17, '0200')], NLRI),
    session: S2,
    action: 'attribute-discard',
    subcode: 9,
    treatAsWithdraw: false,
  },
  {
    name: 'AS4_PATH from a 4-octet speaker',
    bytes: upd([...VALID, a(0xc0, 17, '02010000fde8')], NLRI),
    action: 'attribute-discard',
    subcode: 0,
    treatAsWithdraw: false,
  },
  {
    name: 'AS4_AGGREGATOR of 6 octets',
    bytes: upd([ORIGIN, AS_PATH2, NEXT_HOP, a(0xc0, 18, 'fde80a000001')], NLRI),
    session: S2,
    action: 'attribute-discard',
    subcode: 5,
    treatAsWithdraw: false,
  },
  {
    name: 'missing ORIGIN with NLRI',
    bytes: upd([AS_PATH, NEXT_HOP], NLRI),
    action: 'treat-as-withdraw',
    subcode: 3,
    data: '01',
    treatAsWithdraw: true,
  },
  {
    name: 'missing NEXT_HOP with NLRI',
    bytes: upd([ORIGIN, AS_PATH], NLRI),
    action: 'treat-as-withdraw',
    subcode: 3,
    data: '03',
    treatAsWithdraw: true,
  },
  {
    name: 'missing AS_PATH with MP_REACH_NLRI',
    bytes: upd([
      a(0x80, 14, '000201' + '10' + '20010db8000000000000000000000001' + '00' + '3020010db80001'),
      ORIGIN,
    ]),
    action: 'treat-as-withdraw',
    subcode: 3,
    data: '02',
    treatAsWithdraw: true,
  },
  {
    name: 'duplicate MULTI_EXIT_DISC',
    bytes: upd([...VALID, a(0x80, 4, '00000001'), a(0x80, 4, '00000002')], NLRI),
    action: 'attribute-discard',
    subcode: 1,
    treatAsWithdraw: false,
  },
  {
    name: 'MP_REACH_NLRI IPv6 next hop of 20 octets',
    bytes: upd([a(0x80, 14, '000201' + '14' + '00'.repeat(20) + '00'), ORIGIN, AS_PATH]),
    action: 'afi-safi-disable',
    subcode: 9,
    family: IPV6_UNICAST,
    treatAsWithdraw: false,
  },
  {
    name: 'MP_REACH_NLRI IPv6 prefix /129',
    bytes: upd([
      a(0x80, 14, '000201' + '10' + '20010db8000000000000000000000001' + '00' + '81' + '00'.repeat(17)),
      ORIGIN,
      AS_PATH,
    ]),
    action: 'afi-safi-disable',
    subcode: 9,
    family: IPV6_UNICAST,
    treatAsWithdraw: false,
  },
  {
    name: 'MP_UNREACH_NLRI prefix overruns',
    bytes: upd([a(0x80, 15, '000201' + '4020010db8')]),
    action: 'afi-safi-disable',
    subcode: 9,
    family: IPV6_UNICAST,
    treatAsWithdraw: false,
  },
  {
    name: 'MP_REACH_NLRI flagged transitive',
    bytes: upd([a(0xc0, 14, '000201' + '10' + '20010db8000000000000000000000001' + '00'), ORIGIN, AS_PATH]),
    action: 'afi-safi-disable',
    subcode: 4,
    family: IPV6_UNICAST,
    treatAsWithdraw: false,
  },
  {
    name: 'MP_REACH_NLRI for a family not negotiated',
    bytes: upd([
      a(0x80, 14, '000201' + '10' + '20010db8000000000000000000000001' + '00' + '3020010db80001'),
      ORIGIN,
      AS_PATH,
    ]),
    session: ONLY_V4,
    action: 'attribute-discard',
    subcode: 9,
    treatAsWithdraw: false,
  },
  {
    name: 'attribute length overruns the attributes (RFC 7606 §4)',
    bytes: upd([ORIGIN, AS_PATH, '40030a0a000001'], NLRI),
    action: 'treat-as-withdraw',
    subcode: 5,
    treatAsWithdraw: true,
  },
  {
    name: 'two stray octets after the last attribute (RFC 7606 §4)',
    bytes: upd([...VALID, '4001'], NLRI),
    action: 'treat-as-withdraw',
    subcode: 1,
    treatAsWithdraw: true,
  },
];

function expectFatal(c: Fatal): void {
  assert.throws(
    () => decodeMessage(c.bytes, c.session ?? S4),
    (e: unknown) => {
      assert.ok(e instanceof BgpMessageError, `a BgpMessageError, got ${String(e)}`);
      assert.equal(`${e.code}/${e.subcode}`, `${c.code}/${c.subcode}`, e.message);
      assert.equal(toHex(e.data), c.data);
      return true;
    },
  );
}

describe('malformed BGP messages: session reset with the RFC NOTIFICATION', () => {
  for (const c of fatal) it(c.name, () => expectFatal(c));
});

describe('malformed UPDATE attributes: RFC 7606 actions', () => {
  for (const c of soft) {
    it(`${c.name} -> ${c.action} (3/${c.subcode})`, () => {
      const d = decodeMessage(c.bytes, c.session ?? S4) as UpdateDecodeResult;
      const p = d.problems.find((x) => x.action === c.action);
      assert.ok(p, `problems: ${JSON.stringify(d.problems.map((x) => [x.action, x.subcode, x.reason]))}`);
      assert.equal(p.code, 3);
      assert.equal(p.subcode, c.subcode, p.reason);
      if (c.data !== undefined) assert.equal(toHex(p.data), c.data);
      assert.equal(d.treatAsWithdraw, c.treatAsWithdraw);
      assert.deepEqual(d.disabledFamilies, c.family ? [c.family] : []);
    });
  }

  it('a withdraw-only UPDATE needs no attributes', () => {
    const d = decodeMessage(upd([], '', NLRI), S4);
    assert.deepEqual(d.problems, []);
  });

  it('keeps the first of duplicated attributes', () => {
    const d = decodeMessage(upd([...VALID, a(0x80, 4, '00000001'), a(0x80, 4, '00000002')], NLRI), S4);
    const meds = d.message.type === 'update' ? d.message.attributes.filter((x) => x.type === 'med') : [];
    assert.deepEqual(meds, [{ type: 'med', med: 1 }]);
  });

  it('an attribute-discard leaves the route announced; treat-as-withdraw moves it to withdrawn', () => {
    const discard = decodeMessage(upd([...VALID, a(0x40, 6, '00')], NLRI), S4) as UpdateDecodeResult;
    assert.deepEqual(
      routeChanges(discard).announced.map((x) => x.prefix.address),
      ['10.0.0.0'],
    );
    assert.ok(!discard.message.attributes.some((x) => x.type === 'atomicAggregate'));
    const taw = decodeMessage(upd([ORIGIN, AS_PATH, a(0x40, 3, 'e0000001')], NLRI), S4) as UpdateDecodeResult;
    assert.deepEqual(routeChanges(taw).announced, []);
    assert.deepEqual(
      routeChanges(taw).withdrawn.map((x) => x.prefix.address),
      ['10.0.0.0'],
    );
  });

  it('several errors: every one is reported, the strongest governs', () => {
    const d = decodeMessage(upd([ORIGIN, AS_PATH, NEXT_HOP, a(0x40, 6, '00'), a(0xc0, 8, '0001')], NLRI), S4);
    assert.deepEqual(d.problems.map((p) => p.action).sort(), ['attribute-discard', 'treat-as-withdraw']);
    assert.equal(d.treatAsWithdraw, true);
  });
});

describe('OPEN checks that need configuration (negotiateSession)', () => {
  const local = makeOpen({
    asn: 65000,
    bgpId: '10.0.0.1',
    holdTime: 90,
    capabilities: [{ type: 'fourOctetAs', asn: 65000 }],
  });
  const peer = (asn: number, holdTime = 90, bgpId = '10.0.0.2', caps = true) =>
    makeOpen({ asn, bgpId, holdTime, capabilities: caps ? [{ type: 'fourOctetAs', asn }] : [] });
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      if (e instanceof BgpMessageError) return `${e.code}/${e.subcode}/${toHex(e.data)}`;
      throw e;
    }
    return 'none';
  };

  it('2/2 Bad Peer AS', () => {
    assert.equal(
      code(() => negotiateSession(local, peer(65009), { localAsn: 65000, peerAsn: 65001 })),
      '2/2/',
    );
  });
  it('2/3 Bad BGP Identifier: our own identifier on an internal session', () => {
    assert.equal(
      code(() => negotiateSession(local, peer(65000, 90, '10.0.0.1'), { localAsn: 65000 })),
      '2/3/',
    );
    assert.equal(
      code(() => negotiateSession(local, peer(65001, 90, '10.0.0.1'), { localAsn: 65000 })),
      'none',
    );
  });
  it('2/6 Unacceptable Hold Time below our minimum', () => {
    assert.equal(
      code(() => negotiateSession(local, peer(65001, 5), { localAsn: 65000, minHoldTime: 10 })),
      '2/6/',
    );
  });
  it('2/7 Unsupported Capability carries our version of the missing capability', () => {
    assert.equal(
      code(() =>
        negotiateSession(local, peer(65001, 90, '10.0.0.2', false), {
          localAsn: 65000,
          requiredCapabilities: ['fourOctetAs'],
        }),
      ),
      '2/7/41040000fde8',
    );
  });
  it('hold time: the smaller of the two, 0 means no keepalives', () => {
    assert.equal(negotiateSession(local, peer(65001, 30), { localAsn: 65000 }).holdTime, 30);
    assert.equal(negotiateSession(local, peer(65001, 30), { localAsn: 65000 }).keepaliveTime, 10);
    const zero = negotiateSession(local, peer(65001, 0), { localAsn: 65000 });
    assert.deepEqual([zero.holdTime, zero.keepaliveTime], [0, 0]);
  });
  it('families: intersection; none advertised means IPv4 unicast', () => {
    const v6 = makeOpen({
      asn: 65001,
      bgpId: '10.0.0.2',
      holdTime: 90,
      capabilities: [{ type: 'multiprotocol', afi: 2, safi: 1 }],
    });
    assert.deepEqual(negotiateSession(local, v6, { localAsn: 65000 }).receive.families, []);
    assert.deepEqual(negotiateSession(local, peer(65001), { localAsn: 65000 }).receive.families, [
      IPV4_UNICAST,
    ]);
    assert.equal(DEFAULT_SESSION.fourOctetAs, false);
  });
});
