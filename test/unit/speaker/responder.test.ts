// The responder against fake packet sockets: what it answers, on which interface, with which MAC.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, arpRequest, decodeArp } from '../../../proto/arp.js';
import { decodeEthernet, EtherType } from '../../../proto/ethernet.js';
import { decodeNdp, encodeNdp, ipv6Frame, neighborSolicitation } from '../../../proto/ndp.js';
import { Layer2Responder, type FrameSocket } from '../../../speaker/layer2/responder.js';
import type { InterfaceInfo } from '../../../net/interfaces.js';
import type { FrameHandler } from '../../../net/packet.js';

class FakeSocket implements FrameSocket {
  sent: Uint8Array[] = [];
  joined: string[] = [];
  closed = false;
  constructor(
    readonly iface: string,
    readonly deliver: FrameHandler,
  ) {}
  send(f: Uint8Array): void {
    this.sent.push(f);
  }
  joinMulticast(mac: Uint8Array): void {
    this.joined.push(Buffer.from(mac).toString('hex'));
  }
  leaveMulticast(mac: Uint8Array): void {
    this.joined = this.joined.filter((m) => m !== Buffer.from(mac).toString('hex'));
  }
  close(): void {
    this.closed = true;
  }
}

const iface = (name: string, index: number, mac: string): InterfaceInfo => ({
  name,
  index,
  mac,
  up: true,
  broadcast: true,
  noarp: false,
  ipv4: [],
  ipv6: [],
  linkLocal6: ['fe80::1'],
});

const CLIENT = '02:00:00:00:00:99';

describe('layer 2 responder (fake sockets)', () => {
  let r: Layer2Responder | undefined;
  const sockets = new Map<string, FakeSocket>();
  const counts = { request: 0, response: 0, gratuitous: 0 };
  afterEach(() => r?.stop());
  const make = (): Layer2Responder => {
    sockets.clear();
    counts.request = counts.response = counts.gratuitous = 0;
    r = new Layer2Responder({
      rescanMs: 0,
      scan: () => [
        iface('eth0', 2, '02:00:00:00:00:01'),
        iface('eth1', 3, '02:00:00:00:00:02'),
        iface('veth9', 4, '02:00:00:00:00:03'),
      ],
      openSocket: (i, onFrame) => {
        const s = new FakeSocket(i.name, onFrame);
        sockets.set(i.name, s);
        return s;
      },
      counters: {
        request: () => counts.request++,
        response: () => counts.response++,
        gratuitous: () => counts.gratuitous++,
      },
    });
    return r;
  };
  const ask = (ifname: string, ip: string): void => {
    sockets.get(ifname)!.deliver(Buffer.from(arpFrame(arpRequest(CLIENT, '192.0.2.200', ip), CLIENT)), 1);
  };

  it('opens sockets on usable interfaces only (veth excluded by default)', () => {
    make();
    assert.deepEqual([...sockets.keys()].sort(), ['eth0', 'eth1']);
  });

  it('answers ARP for an owned VIP with the interface MAC, to the requester; ignores others', () => {
    const resp = make();
    resp.setAnnouncements(new Map([['192.0.2.1', { interfaces: [] }]]));
    const s0 = sockets.get('eth0')!;
    s0.sent = [];
    ask('eth0', '192.0.2.1');
    assert.equal(s0.sent.length, 1);
    const eth = decodeEthernet(s0.sent[0]!);
    assert.equal(eth.destination, CLIENT);
    assert.equal(eth.source, '02:00:00:00:00:01');
    const a = decodeArp(eth.payload);
    assert.deepEqual(
      [a.operation, a.senderMac, a.senderIp, a.targetMac, a.targetIp],
      ['reply', '02:00:00:00:00:01', '192.0.2.1', CLIENT, '192.0.2.200'],
    );
    ask('eth0', '192.0.2.2');
    assert.equal(s0.sent.length, 1, 'no answer for a VIP we do not own');
    assert.equal(counts.response, 1);
  });

  it('ignores frames for another host (promiscuous NIC) and our own outgoing frames', () => {
    const resp = make();
    resp.setAnnouncements(new Map([['192.0.2.1', { interfaces: [] }]]));
    const s0 = sockets.get('eth0')!;
    s0.sent = [];
    const req = Buffer.from(arpFrame(arpRequest(CLIENT, '192.0.2.200', '192.0.2.1'), CLIENT));
    s0.deliver(req, 3);
    s0.deliver(req, 4);
    assert.equal(s0.sent.length, 0);
    s0.deliver(req, 0);
    assert.equal(s0.sent.length, 1, 'a unicast request to us is answered');
  });

  it('answers only on the interfaces the advertisement selects', () => {
    const resp = make();
    resp.setAnnouncements(new Map([['192.0.2.1', { interfaces: ['eth1'] }]]));
    sockets.get('eth0')!.sent = [];
    sockets.get('eth1')!.sent = [];
    ask('eth0', '192.0.2.1');
    ask('eth1', '192.0.2.1');
    assert.equal(sockets.get('eth0')!.sent.length, 0);
    assert.equal(sockets.get('eth1')!.sent.length, 1);
    assert.deepEqual(resp.interfacesFor('192.0.2.1'), ['eth1']);
  });

  it('sends gratuitous ARP (request and reply) at once on gain, and stops answering at once on loss', () => {
    const resp = make();
    resp.setAnnouncements(new Map([['192.0.2.1', { interfaces: ['eth0'] }]]));
    const s0 = sockets.get('eth0')!;
    const ops = s0.sent.map((f) => decodeArp(decodeEthernet(f).payload));
    assert.deepEqual(
      ops.map((o) => [o.operation, o.senderIp, o.targetIp]),
      [
        ['request', '192.0.2.1', '192.0.2.1'],
        ['reply', '192.0.2.1', '192.0.2.1'],
      ],
    );
    resp.setAnnouncements(new Map());
    s0.sent = [];
    ask('eth0', '192.0.2.1');
    assert.equal(s0.sent.length, 0);
  });

  it('answers NDP solicitations for an owned IPv6 VIP and joins the solicited-node group', () => {
    const resp = make();
    resp.setAnnouncements(new Map([['fd00:2::5', { interfaces: ['eth0'] }]]));
    const s0 = sockets.get('eth0')!;
    assert.deepEqual(s0.joined, ['3333ff000005']);
    const first = decodeNdp(decodeEthernet(s0.sent[0]!).payload);
    assert.equal(first.ipv6.destination, 'ff02::1');
    assert.ok(
      first.message.type === 'neighborAdvertisement' && first.message.override && !first.message.solicited,
    );
    s0.sent = [];
    const ns = neighborSolicitation('fd00:2::99', 'fd00:2::5', CLIENT);
    s0.deliver(Buffer.from(ipv6Frame(encodeNdp({ source: 'fd00:2::99', ...ns }), CLIENT, ns.destination)), 2);
    assert.equal(s0.sent.length, 1);
    const eth = decodeEthernet(s0.sent[0]!);
    assert.equal(eth.etherType, EtherType.IPV6);
    assert.equal(eth.destination, CLIENT);
    const na = decodeNdp(eth.payload);
    assert.equal(na.ipv6.destination, 'fd00:2::99');
    assert.ok(na.message.type === 'neighborAdvertisement' && na.message.solicited && na.message.override);
    resp.setAnnouncements(new Map());
    assert.deepEqual(s0.joined, []);
  });

  it("answers a handed-over VIP with the next owner's MAC (ARP sender / NA target), from its own Ethernet source; no gratuitous announcement; an owned VIP is never proxied", () => {
    const resp = make();
    const NEXT = '02:00:00:00:00:77';
    resp.setProxies(
      new Map([
        ['192.0.2.1', { interfaces: ['eth0'], macs: [NEXT] }],
        ['fd00:2::5', { interfaces: ['eth0'], macs: [NEXT] }],
      ]),
    );
    const s0 = sockets.get('eth0')!;
    assert.equal(s0.sent.length, 0, 'no gratuitous announcement for a proxied VIP');
    assert.deepEqual(s0.joined, ['3333ff000005'], 'in the solicited-node group for the proxied IPv6 VIP');
    ask('eth0', '192.0.2.1');
    const eth = decodeEthernet(s0.sent[0]!);
    assert.equal(eth.source, '02:00:00:00:00:01');
    const a = decodeArp(eth.payload);
    assert.deepEqual([a.operation, a.senderMac, a.senderIp], ['reply', NEXT, '192.0.2.1']);
    const ns = neighborSolicitation('fd00:2::99', 'fd00:2::5', CLIENT);
    s0.deliver(Buffer.from(ipv6Frame(encodeNdp({ source: 'fd00:2::99', ...ns }), CLIENT, ns.destination)), 2);
    const na = decodeNdp(decodeEthernet(s0.sent[1]!).payload);
    assert.ok(na.message.type === 'neighborAdvertisement');
    assert.deepEqual(na.message.options, [{ type: 'targetLinkLayerAddress', mac: NEXT }]);
    // not on eth1 (not among its interfaces)
    const s1 = sockets.get('eth1')!;
    s1.sent = [];
    ask('eth1', '192.0.2.1');
    assert.equal(s1.sent.length, 0);
    // owned again: answered with our own MAC
    resp.setAnnouncements(new Map([['192.0.2.1', { interfaces: [] }]]));
    s0.sent = [];
    ask('eth0', '192.0.2.1');
    assert.equal(decodeArp(decodeEthernet(s0.sent.at(-1)!).payload).senderMac, '02:00:00:00:00:01');
    resp.setAnnouncements(new Map());
    resp.setProxies(new Map());
    assert.deepEqual(s0.joined, []);
    s0.sent = [];
    ask('eth0', '192.0.2.1');
    assert.equal(s0.sent.length, 0, 'nothing once the handover ended');
  });

  it('a next owner with several MACs is answered for with the one seen on that interface, else not at all', () => {
    const resp = make();
    const macs = ['02:00:00:00:00:71', '02:00:00:00:00:72'];
    resp.setProxies(new Map([['192.0.2.1', { interfaces: [], macs }]]));
    const s0 = sockets.get('eth0')!;
    ask('eth0', '192.0.2.1');
    assert.equal(s0.sent.length, 0, 'none of its MACs seen here yet');
    // an ARP request from its second MAC on eth0
    s0.deliver(Buffer.from(arpFrame(arpRequest(macs[1]!, '192.0.2.7', '192.0.2.200'), macs[1]!)), 1);
    ask('eth0', '192.0.2.1');
    assert.equal(decodeArp(decodeEthernet(s0.sent.at(-1)!).payload).senderMac, macs[1]);
  });

  it('garbage frames are counted, never thrown', () => {
    const resp = make();
    resp.setAnnouncements(new Map([['192.0.2.1', { interfaces: [] }]]));
    const s0 = sockets.get('eth0')!;
    for (const junk of [
      Buffer.alloc(0),
      Buffer.alloc(13),
      Buffer.from('ffffffffffff0200000000990806000100', 'hex'),
      Buffer.alloc(60, 0xff),
    ])
      s0.deliver(junk, 1);
    assert.ok(resp.errors >= 3);
  });
});
