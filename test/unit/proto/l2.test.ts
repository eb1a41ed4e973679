// Ethernet, ARP and NDP: property round trips, frames captured from the Linux kernel decode and
// re-encode identically, and what we build matches what the kernel sends.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  bytesToIpv6,
  canonicalIp,
  formatMac,
  ipv4ToBytes,
  ipv6ToBytes,
  isIpv4,
  isIpv6,
  macToBytes,
} from '../../../proto/address.js';
import {
  answerArpRequest,
  arpFrame,
  decodeArp,
  encodeArp,
  gratuitousArpReply,
  gratuitousArpRequest,
  type ArpPacket,
} from '../../../proto/arp.js';
import { fromHex, toHex } from '../../../proto/bytes.js';
import { PacketDecodeError } from '../../../proto/errors.js';
import { EtherType, decodeEthernet, encodeEthernet, type EthernetFrame } from '../../../proto/ethernet.js';
import {
  encodeIpv6,
  multicastMac,
  pseudoHeaderChecksum,
  solicitedNodeMulticast,
} from '../../../proto/ipv6.js';
import {
  answerNeighborSolicitation,
  decodeNdp,
  encodeNdp,
  encodeNdpMessage,
  ipv6Frame,
  unsolicitedNeighborAdvertisement,
  type NdpMessage,
  type NdpOption,
} from '../../../proto/ndp.js';
import { repoPath } from '../../support/repo.js';
import { ipv4, ipv6, mac, plain, u8 } from './arbitraries.js';

const fixture = JSON.parse(
  readFileSync(repoPath('test', 'fixtures', 'l2', 'kernel-arp-ndp.json'), 'utf8'),
) as {
  macs: { a: string; b: string };
  frames: string[];
};
const frames = fixture.frames.map((h) => ({ hex: h, frame: decodeEthernet(fromHex(h)) }));

describe('addresses', () => {
  it('IPv4 and IPv6 text <-> bytes round-trip (RFC 5952 canonical text)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const s = bytesToIpv6(b);
        assert.deepEqual(ipv6ToBytes(s), b);
        assert.ok(isIpv6(s) && !isIpv4(s));
      }),
    );
    fc.assert(fc.property(ipv4, (s) => assert.equal(canonicalIp(s), s)));
    assert.equal(canonicalIp('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(canonicalIp('::ffff:192.0.2.1'), '::ffff:192.0.2.1');
    assert.equal(canonicalIp('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1');
    for (const bad of ['1.2.3', '256.1.1.1', '01.2.3.4', '1::2::3', '12345::', 'g::1']) {
      assert.ok(!isIpv4(bad) && !isIpv6(bad), bad);
    }
    assert.throws(() => ipv4ToBytes('1.2.3.4.5'));
    fc.assert(fc.property(mac, (m) => assert.equal(formatMac(macToBytes(m)), m)));
  });

  it('solicited-node multicast and its MAC', () => {
    assert.equal(solicitedNodeMulticast('2001:db8::abcd:1234:5678'), 'ff02::1:ff34:5678');
    assert.equal(multicastMac('ff02::1:ff34:5678'), '33:33:ff:34:56:78');
    assert.equal(multicastMac('ff02::1'), '33:33:00:00:00:01');
  });
});

describe('Ethernet and ARP (fast-check)', () => {
  it('frames with any VLAN stack round-trip', () => {
    const frame: fc.Arbitrary<EthernetFrame> = fc.record({
      destination: mac,
      source: mac,
      vlans: fc.array(
        fc.record({
          tpid: fc.constantFrom(0x8100, 0x88a8),
          pcp: fc.integer({ min: 0, max: 7 }),
          dei: fc.boolean(),
          vid: fc.integer({ min: 0, max: 4095 }),
        }),
        { maxLength: 3 },
      ),
      etherType: fc.constantFrom(EtherType.ARP, EtherType.IPV4, EtherType.IPV6),
      payload: fc.uint8Array({ maxLength: 100 }),
    });
    fc.assert(fc.property(frame, (f) => assert.deepEqual(decodeEthernet(encodeEthernet(f)), plain(f))));
  });
  it('ARP packets round-trip', () => {
    const arp: fc.Arbitrary<ArpPacket> = fc.record({
      operation: fc.constantFrom('request', 'reply' as const),
      senderMac: mac,
      senderIp: ipv4,
      targetMac: mac,
      targetIp: ipv4,
    }) as fc.Arbitrary<ArpPacket>;
    fc.assert(fc.property(arp, (p) => assert.deepEqual(decodeArp(encodeArp(p)), plain(p))));
  });
  it('rejects non-Ethernet/IPv4 ARP and unknown operations', () => {
    const good = encodeArp(gratuitousArpRequest('02:00:00:00:00:01', '192.0.2.1'));
    const bad = (i: number, v: number): Uint8Array => {
      const b = Uint8Array.from(good);
      b[i] = v;
      return b;
    };
    for (const b of [bad(1, 6), bad(3, 0xdd), bad(4, 8), bad(7, 3), good.subarray(0, 27)]) {
      assert.throws(() => decodeArp(b), PacketDecodeError);
    }
    assert.throws(() => decodeEthernet(fromHex('ffffffffffff0200000000018100')), PacketDecodeError);
  });
});

describe('NDP (fast-check)', () => {
  const option: fc.Arbitrary<NdpOption> = fc.oneof(
    mac.map((m) => ({ type: 'sourceLinkLayerAddress' as const, mac: m })),
    mac.map((m) => ({ type: 'targetLinkLayerAddress' as const, mac: m })),
    fc
      .tuple(
        u8.filter((c) => c > 2),
        fc.integer({ min: 0, max: 3 }),
      )
      .chain(([code, k]) =>
        fc
          .uint8Array({ minLength: 6 + 8 * k, maxLength: 6 + 8 * k })
          .map((value) => ({ type: 'unknown' as const, code, value })),
      ),
  );
  const unicast6 = ipv6.filter((a) => !a.startsWith('ff') && a !== '::');
  it('NS and NA round-trip through IPv6 with a valid checksum', () => {
    const na = fc.record({
      type: fc.constant('neighborAdvertisement' as const),
      router: fc.boolean(),
      solicited: fc.boolean(),
      override: fc.boolean(),
      target: unicast6,
      options: fc.array(option, { maxLength: 3 }),
    });
    const ns = fc.record({
      type: fc.constant('neighborSolicitation' as const),
      target: unicast6,
      options: fc.array(option, { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.oneof(na, ns), unicast6, unicast6, (m: NdpMessage, src, dst) => {
        const bytes = encodeNdp({ source: src, destination: dst, message: m });
        const d = decodeNdp(bytes);
        assert.deepEqual(d.message, plain(m));
        assert.deepEqual(
          encodeNdp({ source: d.ipv6.source, destination: d.ipv6.destination, message: d.message }),
          bytes,
        );
      }),
    );
  });
  it('enforces RFC 4861 §7.1 validity: hop limit, checksum, code, multicast target, solicited NA to multicast', () => {
    const m: NdpMessage = {
      type: 'neighborAdvertisement',
      router: false,
      solicited: true,
      override: true,
      target: 'fd01::2',
      options: [],
    };
    const good = encodeNdp({ source: 'fd01::2', destination: 'fd01::1', message: m });
    const flip = (i: number, v: number): Uint8Array => {
      const b = Uint8Array.from(good);
      b[i] = v;
      return b;
    };
    assert.doesNotThrow(() => decodeNdp(good));
    assert.throws(() => decodeNdp(flip(7, 64)), /hop limit/);
    assert.throws(() => decodeNdp(flip(42, 0x12)), /checksum/);
    assert.throws(
      () => decodeNdp(encodeNdp({ source: 'fd01::2', destination: 'ff02::1', message: m })),
      /multicast/,
    );
    assert.throws(
      () =>
        decodeNdp(
          encodeNdp({ source: 'fd01::2', destination: 'fd01::1', message: { ...m, target: 'ff02::1' } }),
        ),
      /multicast target/,
    );
    // an option of length 0 must be discarded (RFC 4861 §4.6), checksum valid
    const icmp = Uint8Array.from([...encodeNdpMessage('fd01::2', 'fd01::1', m), 9, 0, 0, 0, 0, 0, 0, 0]);
    icmp[2] = 0;
    icmp[3] = 0;
    const sum = pseudoHeaderChecksum('fd01::2', 'fd01::1', 58, icmp);
    icmp[2] = sum >> 8;
    icmp[3] = sum & 0xff;
    const ip = encodeIpv6(
      {
        trafficClass: 0,
        flowLabel: 0,
        nextHeader: 58,
        hopLimit: 255,
        source: 'fd01::2',
        destination: 'fd01::1',
      },
      icmp,
    );
    assert.throws(() => decodeNdp(ip), /length zero/);
  });
});

describe('link-layer frames captured from the Linux kernel', () => {
  it('has frames, and every one decodes and re-encodes byte-identically', () => {
    assert.ok(frames.length >= 12, `${frames.length} frames`);
    for (const { hex, frame } of frames) {
      const bytes = fromHex(hex);
      assert.deepEqual(encodeEthernet(frame), bytes);
      if (frame.etherType === EtherType.ARP) {
        const arp = decodeArp(frame.payload);
        const re = encodeArp(arp);
        assert.deepEqual(re, frame.payload.subarray(0, 28));
        assert.ok(
          frame.payload.subarray(28).every((x) => x === 0),
          'only zero padding after the ARP packet',
        );
      } else {
        assert.equal(frame.etherType, EtherType.IPV6);
        const d = decodeNdp(frame.payload);
        const re = encodeNdp({
          source: d.ipv6.source,
          destination: d.ipv6.destination,
          message: d.message,
          flowLabel: d.ipv6.flowLabel,
          trafficClass: d.ipv6.trafficClass,
        });
        assert.deepEqual(re, frame.payload);
      }
    }
  });

  it('contains the 802.1Q-tagged request and both gratuitous ARP forms', () => {
    const arps = frames
      .filter((f) => f.frame.etherType === EtherType.ARP)
      .map((f) => ({ f: f.frame, p: decodeArp(f.frame.payload) }));
    const tagged = arps.find((x) => x.f.vlans.length === 1);
    assert.equal(tagged?.f.vlans[0]?.vid, 10);
    assert.ok(arps.some((x) => x.p.operation === 'request' && x.p.senderIp === x.p.targetIp));
    assert.ok(arps.some((x) => x.p.operation === 'reply' && x.p.senderIp === x.p.targetIp));
  });

  it("our ARP reply is the kernel's reply, byte for byte", () => {
    const { a, b } = fixture.macs;
    const pairs = frames.filter((f) => f.frame.etherType === EtherType.ARP);
    const request = pairs
      .map((f) => decodeArp(f.frame.payload))
      .find((p) => p.operation === 'request' && p.targetIp === '10.0.1.2' && p.senderMac === a)!;
    const kernelReply = pairs.find((f) => {
      const p = decodeArp(f.frame.payload);
      return p.operation === 'reply' && p.senderMac === b;
    })!;
    const ours = answerArpRequest(request, b, new Set(['10.0.1.2']))!;
    assert.equal(toHex(arpFrame(ours, b, request.senderMac)), kernelReply.hex);
    assert.equal(answerArpRequest(request, b, new Set(['10.0.1.3'])), undefined);
  });

  it("our gratuitous ARP frames match arping's (arping pads to 58 octets and sets the request's target MAC to ff:..)", () => {
    const { a } = fixture.macs;
    const grat = frames
      .filter((f) => f.frame.etherType === EtherType.ARP && f.frame.vlans.length === 0)
      .map((f) => ({ bytes: fromHex(f.hex), p: decodeArp(f.frame.payload) }));
    const req = grat.find((x) => x.p.operation === 'request' && x.p.senderIp === x.p.targetIp)!;
    const rep = grat.find((x) => x.p.operation === 'reply' && x.p.senderIp === x.p.targetIp)!;
    const ourReply = arpFrame(gratuitousArpReply(a, '10.0.1.1'), a);
    assert.deepEqual(rep.bytes.subarray(0, 42), ourReply);
    assert.ok(rep.bytes.subarray(42).every((x) => x === 0));
    // RFC 5227 announcements carry a zero target MAC; arping -U puts the broadcast address there.
    assert.deepEqual(req.p, { ...gratuitousArpRequest(a, '10.0.1.1'), targetMac: 'ff:ff:ff:ff:ff:ff' });
  });

  it("our NA answering the kernel's NS is the kernel's NA; our unsolicited NA is the kernel's (ndisc_notify)", () => {
    const { b } = fixture.macs;
    const ndp = frames
      .filter((f) => f.frame.etherType === EtherType.IPV6)
      .map((f) => ({ hex: f.hex, f: f.frame, d: decodeNdp(f.frame.payload) }));
    const ns = ndp.find((x) => x.d.message.type === 'neighborSolicitation' && x.d.ipv6.source === 'fd01::1')!;
    const kernelNa = ndp.find(
      (x) => x.d.message.type === 'neighborAdvertisement' && x.d.ipv6.destination === 'fd01::1',
    )!;
    const ans = answerNeighborSolicitation(ns.d, b, new Set(['fd01::2']))!;
    const ours = ipv6Frame(encodeNdp(ans), b, ans.destination, ns.f.source);
    assert.equal(toHex(ours), kernelNa.hex);

    const unsolicited = ndp.find(
      (x) =>
        x.d.message.type === 'neighborAdvertisement' &&
        x.d.ipv6.destination === 'ff02::1' &&
        x.d.message.target === 'fd01::3',
    )!;
    const u = unsolicitedNeighborAdvertisement('fd01::3', b);
    assert.equal(toHex(ipv6Frame(encodeNdp(u), b, u.destination)), unsolicited.hex);

    const dad = ndp.find((x) => x.d.ipv6.source === '::')!;
    assert.equal(dad.d.ipv6.destination, solicitedNodeMulticast('fd01::3'));
    const dadAnswer = answerNeighborSolicitation(dad.d, b, new Set(['fd01::3']))!;
    assert.equal(dadAnswer.destination, 'ff02::1');
    assert.equal(dadAnswer.message.type === 'neighborAdvertisement' && dadAnswer.message.solicited, false);
  });
});
