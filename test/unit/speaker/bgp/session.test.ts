// BgpSession against proto's codecs over an in-memory duplex with a fake clock: the pure session
// logic (FSM use, timers, UPDATE diffs, End-of-RIB, route refresh, RFC 7606, collisions, shutdown).
import { describe, it } from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { BgpSession } from '../../../../speaker/bgp/session.js';
import { buildOpen, type Conn, type SessionConfig } from '../../../../speaker/bgp/session-config.js';
import type { ExportedRoute } from '../../../../speaker/bgp/types.js';
import {
  decodeMessage,
  encodeMessage,
  splitMessages,
  type BgpMessage,
} from '../../../../proto/bgp/message.js';
import { makeOpen, openAsn, type OpenMessage } from '../../../../proto/bgp/open.js';
import { sessionAsn } from '../../../../speaker/bgp/speaker.js';
import { IPV4_UNICAST, IPV6_UNICAST, type SessionParams } from '../../../../proto/bgp/family.js';
import type { UpdateMessage } from '../../../../proto/bgp/update.js';
import { shutdownCommunication, type NotificationMessage } from '../../../../proto/bgp/notification.js';
import { endOfRibFamily } from '../../../../proto/bgp/end-of-rib.js';
import { formatPrefix } from '../../../../proto/bgp/prefix.js';
import { FakeClock } from '../../../support/fake-clock.js';

const PARAMS: SessionParams = {
  fourOctetAs: true,
  extendedMessages: true,
  families: [IPV4_UNICAST, IPV6_UNICAST],
  addPath: [],
};

/** The peer's end of an in-memory connection. */
class Pipe {
  private dataCb: ((b: Uint8Array) => void) | undefined;
  private closeCb: (() => void) | undefined;
  private buf: Uint8Array = new Uint8Array(0);
  readonly received: BgpMessage[] = [];
  closed = false;
  readonly conn: Conn;
  constructor(local: string, remote: string) {
    this.conn = {
      localAddress: local,
      remoteAddress: remote,
      write: (b) => this.onWrite(b),
      end: () => this.close(),
      destroy: () => this.close(),
      onData: (cb) => (this.dataCb = cb),
      onClose: (cb) => (this.closeCb = cb),
    };
  }
  private onWrite(b: Uint8Array): void {
    const joined = new Uint8Array(this.buf.length + b.length);
    joined.set(this.buf);
    joined.set(b, this.buf.length);
    const { messages, rest } = splitMessages(joined, PARAMS);
    this.buf = rest.slice();
    for (const m of messages) this.received.push(decodeMessage(m, PARAMS).message);
  }
  private close(): void {
    this.closed = true;
  }
  /** The peer sends bytes. */
  send(b: Uint8Array): void {
    this.dataCb?.(b);
  }
  sendMsg(m: BgpMessage): void {
    this.send(encodeMessage(m, PARAMS));
  }
  /** The peer's side goes away. */
  drop(): void {
    this.closed = true;
    this.closeCb?.();
  }
  take(): BgpMessage[] {
    return this.received.splice(0);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

const peerOpen = (
  asn: number,
  id = '10.0.0.1',
  hold = 9,
  extra: OpenMessage['capabilities'] = [],
): OpenMessage =>
  makeOpen({
    asn,
    bgpId: id,
    holdTime: hold,
    capabilities: [
      { type: 'multiprotocol', afi: 1, safi: 1 },
      { type: 'multiprotocol', afi: 2, safi: 1 },
      { type: 'routeRefresh' },
      { type: 'fourOctetAs', asn },
      { type: 'extendedMessage' },
      ...extra,
    ],
  });

const baseCfg: SessionConfig = {
  name: 'router',
  peerAddress: '10.0.0.1',
  localAsn: 64513,
  peerAsn: 64512,
  routerId: '10.0.0.11',
  holdTime: 9,
  keepaliveTime: 3,
};

const route = (prefix: string, extra: Partial<ExportedRoute> = {}): ExportedRoute => ({
  prefix,
  communities: [],
  largeCommunities: [],
  ...extra,
});

const updates = (ms: BgpMessage[]): UpdateMessage[] =>
  ms.filter((m): m is UpdateMessage => m.type === 'update');
const announced = (u: UpdateMessage[]): string[] =>
  u.flatMap((x) => [
    ...x.nlri.map(formatPrefix),
    ...x.attributes.flatMap((a) => (a.type === 'mpReach' ? a.nlri.map(formatPrefix) : [])),
  ]);
const withdrawn = (u: UpdateMessage[]): string[] =>
  u.flatMap((x) => [
    ...x.withdrawn.map(formatPrefix),
    ...x.attributes.flatMap((a) => (a.type === 'mpUnreach' ? a.withdrawn.map(formatPrefix) : [])),
  ]);

async function establish(
  cfg: SessionConfig = baseCfg,
  open: OpenMessage = peerOpen(64512),
): Promise<{ s: BgpSession; clock: FakeClock; pipe: Pipe; first: BgpMessage[] }> {
  const clock = new FakeClock();
  const pipe = new Pipe(cfg.peerAddress.includes(':') ? 'fd00::11' : '10.0.0.11', cfg.peerAddress);
  const s = new BgpSession(cfg, { clock, dial: () => Promise.resolve(pipe.conn) });
  s.start();
  clock.advance(0);
  await tick();
  const sent = pipe.take();
  assert.equal(sent[0]?.type, 'open', 'our OPEN goes first');
  pipe.sendMsg(open);
  pipe.sendMsg({ type: 'keepalive' });
  assert.equal(s.state, 'Established');
  return { s, clock, pipe, first: pipe.take() };
}

describe('BgpSession', () => {
  it('dials, exchanges OPENs, reaches Established and sends its routes then End-of-RIB', async () => {
    const clock = new FakeClock();
    const pipe = new Pipe('10.0.0.11', '10.0.0.1');
    let dials = 0;
    const s = new BgpSession(baseCfg, {
      clock,
      dial: () => {
        dials++;
        return Promise.resolve(pipe.conn);
      },
    });
    s.setRoutes([route('192.0.2.10/32', { communities: [0xfc000064] })]);
    assert.equal(s.pendingCount, 1);
    s.start();
    clock.advance(0);
    await tick();
    assert.equal(dials, 1);
    const open = pipe.take()[0] as OpenMessage;
    assert.equal(open.type, 'open');
    assert.equal(open.holdTime, 9);
    assert.equal(open.bgpId, '10.0.0.11');
    pipe.sendMsg(peerOpen(64512));
    assert.equal(s.state, 'OpenConfirm');
    assert.deepEqual(
      pipe.take().map((m) => m.type),
      ['keepalive'],
    );
    pipe.sendMsg({ type: 'keepalive' });
    assert.equal(s.state, 'Established');
    const u = updates(pipe.take());
    assert.deepEqual(announced(u), ['192.0.2.10/32']);
    const attrs = u[0]!.attributes;
    assert.deepEqual(
      attrs.find((a) => a.type === 'nextHop'),
      { type: 'nextHop', nextHop: '10.0.0.11' },
    );
    assert.deepEqual(
      attrs.find((a) => a.type === 'asPath'),
      { type: 'asPath', segments: [{ type: 'sequence', asns: [64513] }] },
    );
    assert.deepEqual(
      attrs.find((a) => a.type === 'communities'),
      { type: 'communities', communities: [0xfc000064] },
    );
    assert.equal(
      attrs.find((a) => a.type === 'localPref'),
      undefined,
      'no LOCAL_PREF to an eBGP peer',
    );
    assert.deepEqual(endOfRibFamily(u[u.length - 1]!), IPV4_UNICAST);
    assert.equal(s.announcedCount, 1);
    assert.equal(s.pendingCount, 0);
    assert.equal(s.counters.opensSent, 1);
    assert.equal(s.counters.opensReceived, 1);
  });

  it('sends only the differences when the routes change', async () => {
    const { s, pipe } = await establish();
    s.setRoutes([route('192.0.2.1/32'), route('192.0.2.2/32')]);
    assert.deepEqual(announced(updates(pipe.take())).sort(), ['192.0.2.1/32', '192.0.2.2/32']);
    s.setRoutes([route('192.0.2.1/32'), route('192.0.2.3/32')]);
    const u = updates(pipe.take());
    assert.deepEqual(withdrawn(u), ['192.0.2.2/32']);
    assert.deepEqual(announced(u), ['192.0.2.3/32']);
    s.setRoutes([route('192.0.2.1/32'), route('192.0.2.3/32')]);
    assert.deepEqual(pipe.take(), [], 'nothing changed, nothing sent');
    s.setRoutes([route('192.0.2.1/32', { communities: [1] }), route('192.0.2.3/32')]);
    assert.deepEqual(
      announced(updates(pipe.take())),
      ['192.0.2.1/32'],
      'an attribute change re-announces that prefix only',
    );
  });

  it('packs many prefixes into few UPDATEs', async () => {
    const { s, pipe } = await establish();
    const many = Array.from({ length: 2000 }, (_, i) => route(`10.${(i >> 8) & 255}.${i & 255}.1/32`));
    s.setRoutes(many);
    const u = updates(pipe.take());
    assert.equal(announced(u).length, 2000);
    assert.ok(u.length <= 3, `${u.length} UPDATEs for 2000 prefixes with extended messages`);
  });

  it('keepalives at the configured interval; the hold timer resets the session with 4/0 when the peer goes quiet', async () => {
    const { s, clock, pipe } = await establish();
    clock.advance(3000);
    assert.deepEqual(
      pipe.take().map((m) => m.type),
      ['keepalive'],
    );
    pipe.sendMsg({ type: 'keepalive' });
    clock.advance(6000);
    assert.equal(s.state, 'Established', 'a keepalive restarted the hold timer');
    clock.advance(3001);
    const sent = pipe.take();
    const n = sent.find((m): m is NotificationMessage => m.type === 'notification');
    assert.ok(n, 'NOTIFICATION sent');
    assert.equal(n.code, 4);
    assert.notEqual(s.state, 'Established');
    assert.ok(pipe.closed);
    assert.equal(s.announcedCount, 0);
  });

  it('reconnects with backoff after the connection fails', async () => {
    const clock = new FakeClock();
    let dials = 0;
    const s = new BgpSession(baseCfg, {
      clock,
      dial: () => {
        dials++;
        return Promise.reject(new Error('ECONNREFUSED'));
      },
    });
    s.start();
    clock.advance(0);
    await tick();
    assert.equal(dials, 1);
    clock.advance(100);
    await tick();
    assert.equal(dials, 1, 'not before the backoff');
    clock.advance(1000);
    await tick();
    assert.equal(dials, 2);
    s.stop();
    clock.advance(60_000);
    await tick();
    assert.equal(dials, 2, 'no dialing once stopped');
  });

  it('answers a route refresh with everything again and End-of-RIB', async () => {
    const { s, pipe } = await establish();
    s.setRoutes([route('192.0.2.1/32'), route('192.0.2.2/32')]);
    pipe.take();
    pipe.sendMsg({ type: 'routeRefresh', afi: 1, safi: 1, subtype: 0 });
    const u = updates(pipe.take());
    assert.deepEqual(announced(u).sort(), ['192.0.2.1/32', '192.0.2.2/32']);
    assert.deepEqual(endOfRibFamily(u[u.length - 1]!), IPV4_UNICAST);
    assert.equal(s.counters.routeRefreshReceived, 1);
  });

  it('ignores the peer UPDATEs; a malformed attribute is handled per RFC 7606 without a reset', async () => {
    const { s, pipe } = await establish();
    pipe.sendMsg({
      type: 'update',
      withdrawn: [],
      attributes: [
        { type: 'origin', origin: 'igp' },
        { type: 'asPath', segments: [] },
        { type: 'nextHop', nextHop: '10.0.0.1' },
      ],
      nlri: [{ address: '203.0.113.0', length: 24 }],
    });
    // An UPDATE whose COMMUNITIES attribute has a length that is not a multiple of 4: treat-as-withdraw.
    const attrs = [0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 0, 1, 0xc0, 8, 3, 1, 2, 3];
    const nlri = [24, 203, 0, 113];
    const body = [0, 0, attrs.length >> 8, attrs.length & 255, ...attrs, ...nlri];
    const msg = Uint8Array.from([...new Array<number>(16).fill(0xff), 0, 19 + body.length, 2, ...body]);
    pipe.send(msg);
    assert.equal(s.state, 'Established');
    assert.equal(pipe.take().filter((m) => m.type === 'notification').length, 0);
    assert.equal(s.counters.updatesReceived, 2);
  });

  it('a broken header gets NOTIFICATION 1/1 and resets only this session; nothing throws', async () => {
    const { s, pipe } = await establish();
    const bad = encodeMessage({ type: 'keepalive' }, PARAMS);
    bad[0] = 0;
    assert.doesNotThrow(() => pipe.send(bad));
    const n = pipe.take().find((m): m is NotificationMessage => m.type === 'notification');
    assert.equal(n?.code, 1);
    assert.equal(n?.subcode, 1);
    assert.notEqual(s.state, 'Established');
    assert.ok(pipe.closed);
  });

  it('rejects a wrong peer AS with 2/2', async () => {
    const clock = new FakeClock();
    const pipe = new Pipe('10.0.0.11', '10.0.0.1');
    const s = new BgpSession(baseCfg, { clock, dial: () => Promise.resolve(pipe.conn) });
    s.start();
    clock.advance(0);
    await tick();
    pipe.take();
    pipe.sendMsg(peerOpen(65000));
    const n = pipe.take().find((m): m is NotificationMessage => m.type === 'notification');
    assert.deepEqual([n?.code, n?.subcode], [2, 2]);
  });

  it('dynamicASN external accepts any other AS and refuses our own', async () => {
    const { s } = await establish({ ...baseCfg, peerAsn: 'external' }, peerOpen(65123));
    assert.equal(s.negotiated?.peerAsn, 65123);
    const clock = new FakeClock();
    const pipe = new Pipe('10.0.0.11', '10.0.0.1');
    const s2 = new BgpSession(
      { ...baseCfg, peerAsn: 'external' },
      { clock, dial: () => Promise.resolve(pipe.conn) },
    );
    s2.start();
    clock.advance(0);
    await tick();
    pipe.take();
    pipe.sendMsg(peerOpen(64513, '10.0.0.1'));
    const n = pipe.take().find((m): m is NotificationMessage => m.type === 'notification');
    assert.deepEqual([n?.code, n?.subcode], [2, 2]);
  });

  it('iBGP: empty AS_PATH and LOCAL_PREF (the configured one, else 100)', async () => {
    const { s, pipe } = await establish({ ...baseCfg, peerAsn: 64513 }, peerOpen(64513, '10.0.0.1'));
    s.setRoutes([route('192.0.2.1/32', { localPref: 250 }), route('192.0.2.2/32')]);
    const u = updates(pipe.take());
    const lp = u.map((x) => x.attributes.find((a) => a.type === 'localPref'));
    assert.deepEqual(
      lp.map((a) => (a && a.type === 'localPref' ? a.localPref : undefined)).sort(),
      [100, 250],
    );
    assert.deepEqual(
      u[0]!.attributes.find((a) => a.type === 'asPath'),
      { type: 'asPath', segments: [] },
    );
  });

  it('IPv6 session: IPv6 routes in MP_REACH with global and link-local next hops; IPv4 only with dualStack', async () => {
    const cfg: SessionConfig = {
      ...baseCfg,
      peerAddress: 'fd00::1',
      nextHops: { ipv4: '10.0.0.11', ipv6LinkLocal: 'fe80::11' },
    };
    const { s, pipe, first } = await establish(cfg);
    assert.deepEqual(updates(first).map(endOfRibFamily), [IPV6_UNICAST], 'End-of-RIB for IPv6 only');
    s.setRoutes([route('192.0.2.1/32'), route('2001:db8::1/128')]);
    const u = updates(pipe.take());
    assert.deepEqual(announced(u), ['2001:db8::1/128']);
    const mp = u[0]!.attributes.find((a) => a.type === 'mpReach');
    assert.ok(mp && mp.type === 'mpReach');
    assert.deepEqual(mp.nextHop, { global: 'fd00::11', linkLocal: 'fe80::11' });

    const dual = await establish({ ...cfg, dualStack: true });
    dual.s.setRoutes([route('192.0.2.1/32'), route('2001:db8::1/128')]);
    const u2 = updates(dual.pipe.take());
    assert.deepEqual(announced(u2).sort(), ['192.0.2.1/32', '2001:db8::1/128']);
    const v4 = u2.find((x) => x.nlri.length > 0);
    assert.deepEqual(
      v4?.attributes.find((a) => a.type === 'nextHop'),
      { type: 'nextHop', nextHop: '10.0.0.11' },
    );
  });

  it('offers graceful restart (RFC 4724) with the forwarding bit when enabled', () => {
    const open = buildOpen({ ...baseCfg, gracefulRestart: true, restartTime: 90 }, true);
    const gr = open.capabilities.find((c) => c.type === 'gracefulRestart');
    assert.ok(gr && gr.type === 'gracefulRestart');
    assert.equal(gr.restarting, true);
    assert.equal(gr.restartTime, 90);
    assert.deepEqual(gr.families, [{ afi: 1, safi: 1, forwarding: true }]);
    assert.equal(
      buildOpen(baseCfg, false).capabilities.some((c) => c.type === 'gracefulRestart'),
      false,
    );
    const v6 = buildOpen({ ...baseCfg, peerAddress: 'fd00::1' }, false);
    assert.ok(v6.capabilities.some((c) => c.type === 'extendedNextHop'));
  });

  it('stop(): Cease / Administrative Shutdown with an RFC 9003 message', async () => {
    const { s, pipe } = await establish();
    s.stop('notify', 'node drained');
    const n = pipe.take().find((m): m is NotificationMessage => m.type === 'notification');
    assert.deepEqual([n?.code, n?.subcode], [6, 2]);
    assert.equal(n && shutdownCommunication(n), 'node drained');
    assert.ok(pipe.closed);
    assert.equal(s.state, 'Idle');
  });

  it("stop('silent') closes without a NOTIFICATION (graceful restart keeps the peer's copy)", async () => {
    const { s, pipe } = await establish();
    s.stop('silent');
    assert.deepEqual(pipe.take(), []);
    assert.ok(pipe.closed);
  });

  it('pathDown (BFD) drops the session at once with Cease / BFD Down', async () => {
    const { s, pipe } = await establish();
    s.pathDown('BFD down');
    const n = pipe.take().find((m): m is NotificationMessage => m.type === 'notification');
    assert.deepEqual([n?.code, n?.subcode], [6, 10]);
    assert.notEqual(s.state, 'Established');
  });

  it('connection collision: the connection initiated by the higher BGP identifier survives', async () => {
    // Peer 10.0.0.99 > our 10.0.0.11: its (incoming) connection wins over our outgoing one.
    const clock = new FakeClock();
    const out = new Pipe('10.0.0.11', '10.0.0.1');
    const inc = new Pipe('10.0.0.11', '10.0.0.1');
    const s = new BgpSession(baseCfg, { clock, dial: () => Promise.resolve(out.conn) });
    s.start();
    clock.advance(0);
    await tick();
    s.accept(inc.conn);
    assert.equal(out.take()[0]?.type, 'open');
    assert.equal(inc.take()[0]?.type, 'open');
    out.sendMsg(peerOpen(64512, '10.0.0.99'));
    inc.sendMsg(peerOpen(64512, '10.0.0.99'));
    const outMsgs = out.take();
    assert.ok(
      outMsgs.some((m) => m.type === 'notification' && m.code === 6 && m.subcode === 7),
      'our connection dumped with 6/7',
    );
    assert.ok(out.closed);
    inc.take();
    inc.sendMsg({ type: 'keepalive' });
    assert.equal(s.state, 'Established');
  });

  it('a new connection with a valid OPEN from an Established peer replaces the old one (the peer restarted)', async () => {
    const { s, pipe } = await establish();
    s.setRoutes([route('192.0.2.1/32')]);
    pipe.take();
    const fresh = new Pipe('10.0.0.11', '10.0.0.1');
    s.accept(fresh.conn);
    assert.equal(fresh.take()[0]?.type, 'open');
    fresh.sendMsg(peerOpen(64512));
    const old = pipe.take().find((m): m is NotificationMessage => m.type === 'notification');
    assert.deepEqual([old?.code, old?.subcode], [6, 7]);
    assert.ok(pipe.closed);
    fresh.take();
    fresh.sendMsg({ type: 'keepalive' });
    assert.equal(s.state, 'Established');
    assert.deepEqual(
      announced(updates(fresh.take())),
      ['192.0.2.1/32'],
      'routes go out again on the new session',
    );
  });

  it('nothing a peer sends throws: random bytes and mutated messages end in the session carrying on or a NOTIFICATION', async () => {
    const valid = [
      encodeMessage({ type: 'keepalive' }, PARAMS),
      encodeMessage({ type: 'routeRefresh', afi: 1, safi: 1, subtype: 0 }, PARAMS),
      encodeMessage(
        {
          type: 'update',
          withdrawn: [],
          attributes: [
            { type: 'origin', origin: 'igp' },
            { type: 'asPath', segments: [{ type: 'sequence', asns: [64512] }] },
            { type: 'nextHop', nextHop: '10.0.0.1' },
          ],
          nlri: [{ address: '203.0.113.0', length: 24 }],
        },
        PARAMS,
      ),
    ];
    const arb = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([m, i, v]) => {
        const b = m.slice();
        b[i % b.length] = v;
        return b;
      }),
    );
    const runs: (() => Promise<void>)[] = [];
    fc.assert(
      fc.property(fc.array(arb, { minLength: 1, maxLength: 5 }), (chunks) => {
        runs.push(async () => {
          const { s, pipe } = await establish();
          for (const c of chunks) assert.doesNotThrow(() => pipe.send(c));
          const sent = pipe.take();
          if (s.state !== 'Established') {
            // Every reset is a NOTIFICATION we send, or one the (mutated) input carried.
            assert.ok(
              sent.some((m) => m.type === 'notification') || s.lastError?.startsWith('received'),
              `reset without a NOTIFICATION (${s.lastError})`,
            );
            assert.ok(pipe.closed);
          }
        });
      }),
      { numRuns: 300, seed: 20261121 },
    );
    for (const r of runs) await r();
  });

  it('the peer closing the connection drops the session and schedules a reconnect', async () => {
    const { s, clock, pipe } = await establish();
    s.setRoutes([route('192.0.2.1/32')]);
    pipe.drop();
    assert.notEqual(s.state, 'Established');
    assert.equal(s.pendingCount, 1, 'routes wait for the next session');
    clock.advance(10_000);
    await tick();
    assert.ok(['Connect', 'OpenSent', 'Active'].includes(s.state), s.state);
  });
});

// BGPPeer.localASN (MetalLB: internal/bgp/frr/templates/neighborsession.tmpl, "local-as N no-prepend
// replace-as"): the session speaks as localASN instead of myASN.
describe('BGPPeer localASN', () => {
  it('sessionAsn: localASN replaces myASN, and decides iBGP against it', () => {
    assert.deepEqual(sessionAsn({ myASN: 64513, peerASN: 64512 }), { localAsn: 64513, internal: false });
    assert.deepEqual(sessionAsn({ myASN: 64513, localASN: 64600, peerASN: 64512 }), {
      localAsn: 64600,
      internal: false,
    });
    assert.deepEqual(sessionAsn({ myASN: 64513, localASN: 64512, peerASN: 64512 }), {
      localAsn: 64512,
      internal: true,
    });
    assert.deepEqual(sessionAsn({ myASN: 64513, localASN: 64600, peerASN: 64513 }), {
      localAsn: 64600,
      internal: false,
    });
  });

  it('the OPEN (AS_TRANS + 4-octet capability) and the AS_PATH carry localASN', async () => {
    const { localAsn } = sessionAsn({ myASN: 64513, localASN: 4200000001, peerASN: 64512 });
    const clock = new FakeClock();
    const pipe = new Pipe('10.0.0.11', '10.0.0.1');
    const s = new BgpSession({ ...baseCfg, localAsn }, { clock, dial: () => Promise.resolve(pipe.conn) });
    s.start();
    clock.advance(0);
    await tick();
    const open = pipe.take()[0] as OpenMessage;
    assert.equal(open.myAs, 23456, 'AS_TRANS in the 2-octet field');
    assert.equal(openAsn(open), 4200000001);
    pipe.sendMsg(peerOpen(64512));
    pipe.sendMsg({ type: 'keepalive' });
    assert.equal(s.state, 'Established');
    pipe.take();
    s.setRoutes([route('192.0.2.1/32')]);
    assert.deepEqual(
      updates(pipe.take())[0]?.attributes.find((a) => a.type === 'asPath'),
      { type: 'asPath', segments: [{ type: 'sequence', asns: [4200000001] }] },
    );
  });

  it('a peer configured with localASN as its iBGP AS gets an empty AS_PATH', async () => {
    const { localAsn } = sessionAsn({ myASN: 64513, localASN: 64512, peerASN: 64512 });
    const { s, pipe } = await establish({ ...baseCfg, localAsn }, peerOpen(64512));
    s.setRoutes([route('192.0.2.1/32')]);
    assert.deepEqual(
      updates(pipe.take())[0]?.attributes.find((a) => a.type === 'asPath'),
      { type: 'asPath', segments: [] },
    );
  });
});
