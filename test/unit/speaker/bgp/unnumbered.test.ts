// Unnumbered BGP: the discovery of the peer's link-local address (fake packet socket, neighbour
// table and clock) and an unnumbered session's next hops (RFC 8950 IPv4 over link-local IPv6).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UnnumberedDiscovery, type FrameSink } from '../../../../speaker/bgp/unnumbered.js';
import { BgpSession } from '../../../../speaker/bgp/session.js';
import type { Conn, SessionConfig } from '../../../../speaker/bgp/session-config.js';
import type { InterfaceInfo } from '../../../../net/interfaces.js';
import { decodeEthernet } from '../../../../proto/ethernet.js';
import { decodeRouterDiscovery } from '../../../../proto/ndp-router.js';
import { encodeNdp, ipv6Frame, neighborSolicitation } from '../../../../proto/ndp.js';
import {
  decodeMessage,
  encodeMessage,
  splitMessages,
  type BgpMessage,
} from '../../../../proto/bgp/message.js';
import { makeOpen } from '../../../../proto/bgp/open.js';
import { IPV4_UNICAST, IPV6_UNICAST, type SessionParams } from '../../../../proto/bgp/family.js';
import type { UpdateMessage } from '../../../../proto/bgp/update.js';
import { formatPrefix } from '../../../../proto/bgp/prefix.js';
import { FakeClock } from '../../../support/fake-clock.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const OUR_LL = 'fe80::1';
const OUR_MAC = '02:00:00:00:00:01';
const eth0 = (over: Partial<InterfaceInfo> = {}): InterfaceInfo => ({
  name: 'eth0',
  index: 2,
  mac: OUR_MAC,
  up: true,
  broadcast: true,
  noarp: false,
  ipv4: [],
  ipv6: [],
  linkLocal6: [OUR_LL],
  ...over,
});

function harness(opts: { ifaces?: () => InterfaceInfo[]; table?: () => string } = {}) {
  const clock = new FakeClock();
  const sent: Uint8Array[] = [];
  let deliver: ((f: Uint8Array, outgoing: boolean) => void) | undefined;
  let opened = 0;
  let changes = 0;
  const d = new UnnumberedDiscovery({
    clock,
    onChange: () => changes++,
    interfaces: opts.ifaces ?? (() => [eth0()]),
    readNeighbours: () => Promise.resolve(opts.table?.() ?? '[]'),
    openSocket: (_i, onFrame): FrameSink => {
      opened++;
      deliver = onFrame;
      return { send: (f) => sent.push(f), close: () => undefined };
    },
  });
  return {
    d,
    clock,
    sent,
    opened: () => opened,
    changes: () => changes,
    receive: (f: Uint8Array) => deliver?.(f, false),
  };
}

describe('UnnumberedDiscovery', () => {
  it('sends a Router Solicitation and our Router Advertisement (lifetime 0) from our link-local', () => {
    const h = harness();
    h.d.setInterfaces(['eth0']);
    const msgs = h.sent.map((f) => decodeRouterDiscovery(decodeEthernet(f).payload));
    assert.deepEqual(
      msgs.map((m) => [m.message.type, m.ipv6.source, m.ipv6.destination]),
      [
        ['routerSolicitation', OUR_LL, 'ff02::2'],
        ['routerAdvertisement', OUR_LL, 'ff02::1'],
      ],
    );
    const ra = msgs[1]!.message;
    assert.ok(ra.type === 'routerAdvertisement' && ra.routerLifetime === 0 && ra.sourceMac === OUR_MAC);
    h.clock.advance(1000);
    assert.equal(h.sent.length, 3, 'another RA a second later while the peer is unknown');
    h.d.stop();
  });

  it("learns the peer from the Neighbor Solicitation it sends us, with the interface's zone", () => {
    const h = harness();
    h.d.setInterfaces(['eth0']);
    assert.equal(h.d.peerAddress('eth0'), undefined);
    const ns = neighborSolicitation('fe80::2', OUR_LL, '02:00:00:00:00:02');
    const pkt = encodeNdp({ source: 'fe80::2', destination: ns.destination, message: ns.message });
    h.receive(ipv6Frame(pkt, '02:00:00:00:00:02', ns.destination));
    assert.equal(h.d.peerAddress('eth0'), 'fe80::2%eth0');
    assert.equal(h.changes(), 1);
    h.receive(ipv6Frame(pkt, '02:00:00:00:00:02', ns.destination));
    assert.equal(h.changes(), 1, 'the same peer again is no change');
    h.d.stop();
  });

  it('learns the peer from the neighbour table, a router before another neighbour', async () => {
    const table = JSON.stringify([
      { dst: 'fe80::9', lladdr: '02:00:00:00:00:09', state: ['STALE'] },
      { dst: 'fe80::3', lladdr: '02:00:00:00:00:03', router: null, state: ['STALE'] },
    ]);
    const h = harness({ table: () => table });
    h.d.setInterfaces(['eth0']);
    await tick();
    assert.equal(h.d.peerAddress('eth0'), 'fe80::3%eth0');
    assert.equal(h.changes(), 1);
    h.d.stop();
  });

  it('waits for an interface that is missing or has no link-local address, then starts', () => {
    let ifaces: InterfaceInfo[] = [];
    const h = harness({ ifaces: () => ifaces });
    h.d.setInterfaces(['eth0']);
    assert.equal(h.opened(), 0);
    ifaces = [eth0({ linkLocal6: [] })];
    h.clock.advance(1000);
    assert.equal(h.opened(), 0);
    ifaces = [eth0()];
    h.clock.advance(1000);
    assert.equal(h.opened(), 1);
    assert.equal(h.sent.length, 2);
    h.d.setInterfaces([]);
    h.clock.advance(60_000);
    assert.equal(h.sent.length, 2, 'an interface no longer wanted is not watched');
    h.d.stop();
  });
});

const PARAMS: SessionParams = {
  fourOctetAs: true,
  extendedMessages: true,
  families: [IPV4_UNICAST, IPV6_UNICAST],
  addPath: [],
};

/** An unnumbered session established over an in-memory connection; what it sent after the OPEN. */
async function unnumberedSession(
  nextHops: SessionConfig['nextHops'],
  extendedNextHop: boolean,
): Promise<UpdateMessage[]> {
  const received: BgpMessage[] = [];
  let buf = new Uint8Array(0);
  let onData: ((b: Uint8Array) => void) | undefined;
  const conn: Conn = {
    localAddress: 'fe80::1%eth0',
    remoteAddress: 'fe80::2%eth0',
    write: (b) => {
      const joined = new Uint8Array(buf.length + b.length);
      joined.set(buf);
      joined.set(b, buf.length);
      const { messages, rest } = splitMessages(joined, PARAMS);
      buf = rest.slice();
      for (const m of messages) received.push(decodeMessage(m, PARAMS).message);
    },
    end: () => undefined,
    destroy: () => undefined,
    onData: (cb) => (onData = cb),
    onClose: () => undefined,
  };
  const clock = new FakeClock();
  const s = new BgpSession(
    {
      name: 'eth0',
      peerAddress: 'fe80::2%eth0',
      localAsn: 64513,
      peerAsn: 'external',
      routerId: '10.0.0.11',
      holdTime: 9,
      keepaliveTime: 3,
      dualStack: true,
      unnumbered: true,
      ...(nextHops ? { nextHops } : {}),
    },
    { clock, dial: () => Promise.resolve(conn) },
  );
  s.setRoutes([
    { prefix: '192.0.2.10/32', communities: [], largeCommunities: [] },
    { prefix: '2001:db8::10/128', communities: [], largeCommunities: [] },
  ]);
  s.start();
  clock.advance(0);
  await tick();
  const open = makeOpen({
    asn: 64512,
    bgpId: '10.0.0.1',
    holdTime: 9,
    capabilities: [
      { type: 'multiprotocol', afi: 1, safi: 1 },
      { type: 'multiprotocol', afi: 2, safi: 1 },
      { type: 'fourOctetAs', asn: 64512 },
      ...(extendedNextHop
        ? [{ type: 'extendedNextHop' as const, entries: [{ afi: 1, safi: 1, nextHopAfi: 2 }] }]
        : []),
    ],
  });
  onData?.(encodeMessage(open, PARAMS));
  onData?.(encodeMessage({ type: 'keepalive' }, PARAMS));
  assert.equal(s.state, 'Established');
  s.stop('silent');
  return received.filter((m): m is UpdateMessage => m.type === 'update');
}

const reach = (u: UpdateMessage[], afi: number) =>
  u.flatMap((x) => x.attributes.flatMap((a) => (a.type === 'mpReach' && a.afi === afi ? [a] : [])));

describe('unnumbered session next hops', () => {
  it('IPv4 routes in MP_REACH_NLRI with our link-local next hop (16 octets) when the interface has no global IPv6', async () => {
    const u = await unnumberedSession({ ipv6LinkLocal: 'fe80::1' }, true);
    const v4 = reach(u, 1);
    assert.deepEqual(
      v4.map((a) => [a.nextHop, a.nlri.map(formatPrefix)]),
      [[{ global: 'fe80::1' }, ['192.0.2.10/32']]],
    );
    assert.deepEqual(reach(u, 2)[0]?.nextHop, { global: 'fe80::1' });
    assert.ok(u.every((x) => x.nlri.length === 0 && !x.attributes.some((a) => a.type === 'nextHop')));
  });

  it('global and link-local (32 octets, RFC 8950 §3) when the interface has a global IPv6 address', async () => {
    const u = await unnumberedSession({ ipv6: '2001:db8::1', ipv6LinkLocal: 'fe80::1' }, true);
    assert.deepEqual(reach(u, 1)[0]?.nextHop, { global: '2001:db8::1', linkLocal: 'fe80::1' });
  });

  it('no IPv4 routes when the peer did not offer the extended next hop capability', async () => {
    const u = await unnumberedSession({ ipv6LinkLocal: 'fe80::1' }, false);
    assert.equal(reach(u, 1).length, 0);
    assert.equal(reach(u, 2)[0]?.nlri.map(formatPrefix)[0], '2001:db8::10/128');
  });
});
