import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  candidateFromPacket,
  candidatesFromIpNeigh,
  choosePeerLinkLocal,
  decodeRouterDiscovery,
  encodeRouterAdvertisement,
  encodeRouterSolicitation,
  isLinkLocalIpv6,
} from '../../../proto/ndp-router.js';
import { encodeNdp, neighborSolicitation } from '../../../proto/ndp.js';

const LL = 'fe80::1';
const MAC = '02:00:00:00:00:01';

describe('router discovery (RFC 4861)', () => {
  it('an RA we build decodes: lifetime 0, our MAC, hop limit 255, to all-nodes', () => {
    const p = encodeRouterAdvertisement({ source: LL, sourceMac: MAC });
    const d = decodeRouterDiscovery(p);
    assert.equal(d.ipv6.hopLimit, 255);
    assert.equal(d.ipv6.destination, 'ff02::1');
    assert.deepEqual(d.message, {
      type: 'routerAdvertisement',
      curHopLimit: 0,
      managed: false,
      other: false,
      routerLifetime: 0,
      reachableTime: 0,
      retransTimer: 0,
      sourceMac: MAC,
    });
  });

  it('an RS decodes; a corrupted checksum, a hop limit below 255 or a global RA source are refused', () => {
    const rs = encodeRouterSolicitation({ source: LL, sourceMac: MAC });
    assert.deepEqual(decodeRouterDiscovery(rs).message, { type: 'routerSolicitation', sourceMac: MAC });
    const ra = encodeRouterAdvertisement({ source: LL, sourceMac: MAC });
    const badSum = Uint8Array.from(ra);
    badSum[43] = badSum[43]! ^ 0xff;
    assert.throws(() => decodeRouterDiscovery(badSum), /checksum/);
    const lowHop = Uint8Array.from(ra);
    lowHop[7] = 64;
    assert.throws(() => decodeRouterDiscovery(lowHop), /hop limit/);
    assert.throws(
      () => decodeRouterDiscovery(encodeRouterAdvertisement({ source: '2001:db8::1', sourceMac: MAC })),
      /router advertisement from/,
    );
  });

  it('fe80::/10 is link-local, with or without a zone', () => {
    assert.ok(isLinkLocalIpv6('fe80::1'));
    assert.ok(isLinkLocalIpv6('febf::1%eth0'));
    assert.ok(!isLinkLocalIpv6('fec0::1'));
    assert.ok(!isLinkLocalIpv6('2001:db8::1'));
    assert.ok(!isLinkLocalIpv6('192.0.2.1'));
  });
});

describe('finding the unnumbered peer', () => {
  const own = new Set(['fe80::aa']);

  it('an RA names a router; an NS names a neighbour; our own frames and garbage name nobody', () => {
    const ra = encodeRouterAdvertisement({ source: 'fe80::2', sourceMac: MAC });
    assert.deepEqual(candidateFromPacket(ra, own, 5), {
      address: 'fe80::2',
      source: 'ra',
      router: true,
      seenAt: 5,
    });
    const ns = neighborSolicitation('fe80::3', 'fe80::aa', MAC);
    const nsPacket = encodeNdp({ source: 'fe80::3', destination: ns.destination, message: ns.message });
    assert.deepEqual(candidateFromPacket(nsPacket, own, 6), {
      address: 'fe80::3',
      source: 'ndp',
      router: false,
      seenAt: 6,
    });
    assert.equal(
      candidateFromPacket(encodeRouterAdvertisement({ source: 'fe80::aa', sourceMac: MAC }), own, 7),
      undefined,
    );
    assert.equal(candidateFromPacket(new Uint8Array([0x60, 1, 2]), own, 7), undefined);
  });

  it('reads `ip -j -6 neigh` output: link-local, resolved entries only; the router flag', () => {
    const json = JSON.stringify([
      { dst: 'fe80::5', lladdr: '02:00:00:00:00:05', router: null, state: ['STALE'] },
      { dst: 'fe80::6', lladdr: '02:00:00:00:00:06', state: ['REACHABLE'] },
      { dst: 'fe80::7', state: ['FAILED'] },
      { dst: '2001:db8::8', lladdr: '02:00:00:00:00:08', state: ['REACHABLE'] },
    ]);
    assert.deepEqual(candidatesFromIpNeigh(json, 1), [
      { address: 'fe80::5', source: 'neighbours', router: true, seenAt: 1 },
      { address: 'fe80::6', source: 'neighbours', router: false, seenAt: 1 },
    ]);
    assert.deepEqual(candidatesFromIpNeigh('not json', 1), []);
  });

  it('prefers a router, then the most recently seen, then the lowest address', () => {
    assert.equal(choosePeerLinkLocal([]), undefined);
    assert.equal(
      choosePeerLinkLocal([
        { address: 'fe80::1', source: 'ndp', router: false, seenAt: 9 },
        { address: 'fe80::2', source: 'ra', router: true, seenAt: 1 },
      ]),
      'fe80::2',
    );
    assert.equal(
      choosePeerLinkLocal([
        { address: 'fe80::1', source: 'ndp', router: false, seenAt: 1 },
        { address: 'fe80::3', source: 'ndp', router: false, seenAt: 2 },
      ]),
      'fe80::3',
    );
  });
});
