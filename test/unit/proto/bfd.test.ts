// BFD control packets and the session state machine (RFC 5880), with a fake clock and random.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BFD_MULTIHOP_PORT,
  BFD_SINGLE_HOP_PORT,
  BfdDiag,
  bfdAdminDown,
  bfdAdminUp,
  bfdNextWakeup,
  bfdReceive,
  bfdSetParameters,
  bfdTick,
  controlPacket,
  createBfdSession,
  decodeBfdControl,
  detectionTimeUs,
  encodeBfdControl,
  jitteredTxMs,
  signBfdControl,
  txIntervalUs,
  verifyBfdAuth,
  type BfdAction,
  type BfdAuth,
  type BfdConfig,
  type BfdControlPacket,
  type BfdSession,
} from '../../../proto/bfd.js';
import { PacketDecodeError } from '../../../proto/errors.js';
import { nonZeroU32, plain, u32 } from './arbitraries.js';

const packet: fc.Arbitrary<BfdControlPacket> = fc
  .record({
    diag: fc.integer({ min: 0, max: 31 }),
    state: fc.constantFrom('AdminDown', 'Down', 'Init', 'Up' as const),
    pf: fc.constantFrom('none', 'poll', 'final'),
    c: fc.boolean(),
    d: fc.boolean(),
    detectMult: fc.integer({ min: 1, max: 255 }),
    my: nonZeroU32,
    your: u32,
    tx: u32,
    rx: u32,
    echo: u32,
    auth: fc.option(
      fc.oneof(
        fc.record({
          type: fc.constant('simple-password' as const),
          keyId: fc.integer({ min: 0, max: 255 }),
          password: fc.uint8Array({ minLength: 1, maxLength: 16 }),
        }),
        fc.record({
          type: fc.constantFrom('keyed-md5', 'meticulous-keyed-md5' as const),
          keyId: fc.integer({ min: 0, max: 255 }),
          sequence: u32,
          digest: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        }),
        fc.record({
          type: fc.constantFrom('keyed-sha1', 'meticulous-keyed-sha1' as const),
          keyId: fc.integer({ min: 0, max: 255 }),
          sequence: u32,
          digest: fc.uint8Array({ minLength: 20, maxLength: 20 }),
        }),
      ),
      { nil: undefined },
    ),
  })
  .map((r) => {
    const p: BfdControlPacket = {
      version: 1,
      diag: r.diag,
      state: r.state as BfdControlPacket['state'],
      poll: r.pf === 'poll',
      final: r.pf === 'final',
      controlPlaneIndependent: r.c,
      demand: r.d,
      multipoint: false,
      detectMult: r.detectMult,
      myDiscriminator: r.my,
      yourDiscriminator: r.your === 0 && r.state !== 'Down' && r.state !== 'AdminDown' ? 1 : r.your,
      desiredMinTxInterval: r.tx,
      requiredMinRxInterval: r.rx,
      requiredMinEchoRxInterval: r.echo,
    };
    return r.auth ? { ...p, auth: r.auth as BfdAuth } : p;
  });

describe('BFD control packets', () => {
  it('round-trips every valid packet, with and without authentication (fast-check)', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const bytes = encodeBfdControl(p);
        assert.deepEqual(decodeBfdControl(bytes), plain(p));
        assert.deepEqual(encodeBfdControl(decodeBfdControl(bytes)), bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('known bytes: Up, P bit, 300 ms/300 ms, multiplier 3', () => {
    const p: BfdControlPacket = {
      ...controlPacket(
        createBfdSession(
          { myDiscriminator: 1, desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3 },
          0,
          () => 0,
        ),
      ),
      state: 'Up',
      poll: true,
      yourDiscriminator: 2,
      desiredMinTxInterval: 300_000,
    };
    assert.equal(
      Buffer.from(encodeBfdControl(p)).toString('hex'),
      '20e003180000000100000002000493e0000493e000000000',
    );
  });

  it('rejects what RFC 5880 §6.8.6 says to discard', () => {
    const good = encodeBfdControl({
      ...controlPacket(
        createBfdSession(
          { myDiscriminator: 7, desiredMinTxUs: 1e6, requiredMinRxUs: 1e6, detectMult: 3 },
          0,
          () => 0,
        ),
      ),
    });
    const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
      const b = Uint8Array.from(good);
      f(b);
      return b;
    };
    const cases: [string, Uint8Array][] = [
      ['version 0', mutate((b) => (b[0] = b[0]! & 0x1f))],
      ['length 23', mutate((b) => (b[3] = 23))],
      ['length beyond the payload', mutate((b) => (b[3] = 30))],
      ['detect mult 0', mutate((b) => (b[2] = 0))],
      ['multipoint', mutate((b) => (b[1] = b[1]! | 1))],
      ['my discriminator 0', mutate((b) => b.fill(0, 4, 8))],
      ['your discriminator 0 in Up', mutate((b) => (b[1] = 0xc0))],
      ['A bit with no room for auth', mutate((b) => (b[1] = b[1]! | 4))],
      ['short', good.subarray(0, 20)],
    ];
    for (const [name, bytes] of cases) assert.throws(() => decodeBfdControl(bytes), PacketDecodeError, name);
  });

  it('keyed SHA1 and MD5 digests verify with the right key only; simple passwords compare', () => {
    const base = controlPacket(
      createBfdSession(
        { myDiscriminator: 9, desiredMinTxUs: 1e6, requiredMinRxUs: 1e6, detectMult: 3 },
        0,
        () => 0,
      ),
    );
    for (const type of ['keyed-sha1', 'meticulous-keyed-md5'] as const) {
      const dlen = type === 'keyed-sha1' ? 20 : 16;
      const p: BfdControlPacket = {
        ...base,
        auth: { type, keyId: 3, sequence: 42, digest: new Uint8Array(dlen) },
      };
      const key = new TextEncoder().encode('s3cret');
      const bytes = signBfdControl(p, key);
      const d = decodeBfdControl(bytes);
      assert.equal(verifyBfdAuth(bytes, d, 3, key), true);
      assert.equal(verifyBfdAuth(bytes, d, 3, new TextEncoder().encode('wrong')), false);
      assert.equal(verifyBfdAuth(bytes, d, 4, key), false);
      const tampered = Uint8Array.from(bytes);
      tampered[2] = 9;
      assert.equal(verifyBfdAuth(tampered, decodeBfdControl(tampered), 3, key), false);
    }
    const pw = new TextEncoder().encode('pw');
    const sp = encodeBfdControl({ ...base, auth: { type: 'simple-password', keyId: 1, password: pw } });
    assert.equal(verifyBfdAuth(sp, decodeBfdControl(sp), 1, pw), true);
    assert.equal(verifyBfdAuth(sp, decodeBfdControl(sp), 1, new TextEncoder().encode('px')), false);
  });

  it('ports: single-hop 3784, multihop 4784', () => {
    assert.deepEqual([BFD_SINGLE_HOP_PORT, BFD_MULTIHOP_PORT], [3784, 4784]);
  });
});

/** Two sessions wired back to back on a fake clock; packets are delivered instantly unless the link is cut. */
class Pair {
  now = 0;
  a: BfdSession;
  b: BfdSession;
  linkUp = true;
  events: { who: 'a' | 'b'; from: string; to: string; diag: number; at: number }[] = [];
  sentByA: BfdControlPacket[] = [];
  constructor(
    ca: Partial<BfdConfig> = {},
    cb: Partial<BfdConfig> = {},
    readonly random: () => number = () => 0.5,
  ) {
    const base = { desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, detectMult: 3 };
    this.a = createBfdSession({ ...base, myDiscriminator: 1, ...ca }, 0, random);
    this.b = createBfdSession({ ...base, myDiscriminator: 2, ...cb }, 0, random);
  }
  private apply(who: 'a' | 'b', actions: readonly BfdAction[]): void {
    for (const x of actions) {
      if (x.type === 'state-change')
        this.events.push({ who, from: x.from, to: x.to, diag: x.diag, at: this.now });
      else if (x.type === 'send') {
        if (who === 'a') this.sentByA.push(x.packet);
        if (!this.linkUp) continue;
        const bytes = encodeBfdControl(x.packet);
        const p = decodeBfdControl(bytes);
        const r = bfdReceive(who === 'a' ? this.b : this.a, p, this.now, this.random);
        if (who === 'a') this.b = r.session;
        else this.a = r.session;
        this.apply(who === 'a' ? 'b' : 'a', r.actions);
      }
    }
  }
  run(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = Math.min(bfdNextWakeup(this.a) ?? Infinity, bfdNextWakeup(this.b) ?? Infinity);
      if (next > end) break;
      this.now = Math.max(this.now, next);
      const ra = bfdTick(this.a, this.now, this.random);
      this.a = ra.session;
      this.apply('a', ra.actions);
      const rb = bfdTick(this.b, this.now, this.random);
      this.b = rb.session;
      this.apply('b', rb.actions);
    }
    this.now = end;
  }
}

describe('BFD session state machine', () => {
  it('comes Up through Down -> Init -> Up on both sides (three-way handshake)', () => {
    const p = new Pair();
    p.run(3000);
    assert.equal(p.a.state, 'Up');
    assert.equal(p.b.state, 'Up');
    for (const who of ['a', 'b'] as const) {
      const path = p.events.filter((e) => e.who === who).map((e) => `${e.from}->${e.to}`);
      assert.ok(
        JSON.stringify(path) === JSON.stringify(['Down->Init', 'Init->Up']) ||
          JSON.stringify(path) === JSON.stringify(['Down->Up']),
        path.join(', '),
      );
    }
    // once Up and the Poll Sequence done, the fast rate is in force on both sides
    assert.equal(p.a.polling, false);
    assert.equal(txIntervalUs(p.a), 100_000);
  });

  it('advertises at least 1 s Desired Min TX while not Up (§6.8.3)', () => {
    const s = createBfdSession(
      { myDiscriminator: 1, desiredMinTxUs: 50_000, requiredMinRxUs: 50_000, detectMult: 3 },
      0,
      () => 0,
    );
    assert.equal(controlPacket(s).desiredMinTxInterval, 1_000_000);
  });

  it('detection time = remote multiplier × max(local Required Min RX, remote Desired Min TX)', () => {
    const p = new Pair({ requiredMinRxUs: 200_000 }, { desiredMinTxUs: 300_000, detectMult: 5 });
    p.run(5000);
    assert.equal(p.a.state, 'Up');
    assert.equal(detectionTimeUs(p.a), 5 * 300_000);
    assert.equal(detectionTimeUs(p.b), 3 * Math.max(100_000, 100_000));
  });

  it('goes Down with diag 1 when packets stop, exactly after the detection time', () => {
    const p = new Pair();
    p.run(3000);
    const detect = detectionTimeUs(p.a) / 1000;
    p.linkUp = false;
    const cut = p.now;
    p.run(2000);
    const down = p.events.find((e) => e.who === 'a' && e.to === 'Down')!;
    assert.equal(down.diag, BfdDiag.CONTROL_DETECTION_TIME_EXPIRED);
    assert.ok(down.at - cut <= detect, `${down.at - cut} ms <= ${detect} ms`);
    assert.ok(down.at - cut >= detect - 100, `${down.at - cut} ms`);
    assert.equal(p.a.remoteDiscriminator, 0);
  });

  it('AdminDown: the peer goes Down with diag 3 and stays there; admin up recovers', () => {
    const p = new Pair();
    p.run(3000);
    const r = bfdAdminDown(p.a);
    p.a = r.session;
    (p as unknown as { apply: (w: 'a', x: readonly BfdAction[]) => void }).apply('a', r.actions);
    assert.equal(p.a.state, 'AdminDown');
    assert.equal(p.b.state, 'Down');
    assert.equal(
      p.events.find((e) => e.who === 'b' && e.to === 'Down')?.diag,
      BfdDiag.NEIGHBOR_SIGNALED_SESSION_DOWN,
    );
    p.run(5000);
    assert.equal(p.a.state, 'AdminDown');
    assert.equal(p.b.state, 'Down');
    p.a = bfdAdminUp(p.a).session;
    p.run(5000);
    assert.equal(p.a.state, 'Up');
    assert.equal(p.b.state, 'Up');
  });

  it('Poll/Final: a slower TX interval takes effect only when the Final arrives', () => {
    const p = new Pair();
    p.run(3000);
    p.linkUp = false; // hold the Final back
    const r = bfdSetParameters(p.a, { desiredMinTxUs: 500_000 });
    p.a = r.session;
    assert.equal(p.a.polling, true);
    assert.equal(r.actions.length, 1);
    const sent = r.actions[0]!;
    assert.ok(sent.type === 'send' && sent.packet.poll && sent.packet.desiredMinTxInterval === 500_000);
    assert.equal(txIntervalUs(p.a), 100_000); // unchanged until the Final
    p.linkUp = true;
    p.sentByA = [];
    p.run(1000);
    assert.equal(p.a.polling, false);
    assert.equal(txIntervalUs(p.a), 500_000);
    assert.equal(p.a.state, 'Up');
    assert.equal(p.b.state, 'Up');
  });

  it('answers a Poll with a Final at once', () => {
    const s = createBfdSession(
      { myDiscriminator: 1, desiredMinTxUs: 1e6, requiredMinRxUs: 1e6, detectMult: 3 },
      0,
      () => 0,
    );
    const poll: BfdControlPacket = {
      ...controlPacket(s),
      myDiscriminator: 5,
      yourDiscriminator: 1,
      poll: true,
    };
    const r = bfdReceive(s, poll, 10, () => 0);
    const finals = r.actions.filter((x) => x.type === 'send' && x.packet.final);
    assert.equal(finals.length, 1);
  });

  it('discards packets for another discriminator, and A-bit mismatches', () => {
    const s = createBfdSession(
      { myDiscriminator: 1, desiredMinTxUs: 1e6, requiredMinRxUs: 1e6, detectMult: 3 },
      0,
      () => 0,
    );
    const other: BfdControlPacket = { ...controlPacket(s), myDiscriminator: 5, yourDiscriminator: 99 };
    assert.deepEqual(
      bfdReceive(s, other, 0, () => 0),
      { session: s, actions: [] },
    );
    const authed: BfdControlPacket = {
      ...controlPacket(s),
      myDiscriminator: 5,
      auth: { type: 'simple-password', keyId: 1, password: Uint8Array.of(1) },
    };
    assert.deepEqual(bfdReceive(s, authed, 0, () => 0).actions, []);
  });

  it('TX jitter: 75–100% of the interval, 75–90% with Detect Mult 1', () => {
    const up = (mult: number): BfdSession => ({
      ...createBfdSession(
        { myDiscriminator: 1, desiredMinTxUs: 100_000, requiredMinRxUs: 100_000, detectMult: mult },
        0,
        () => 0,
      ),
      remoteMinRxUs: 100_000,
      active: { desiredMinTxUs: 100_000, requiredMinRxUs: 100_000 },
    });
    assert.equal(
      jitteredTxMs(up(3), () => 0),
      75,
    );
    assert.ok(Math.abs(jitteredTxMs(up(3), () => 0.999999) - 100) < 0.01);
    assert.ok(Math.abs(jitteredTxMs(up(1), () => 0.999999) - 90) < 0.01);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), (r) => {
        const ms = jitteredTxMs(up(3), () => r);
        return ms >= 75 && ms <= 100;
      }),
    );
  });

  it('a passive session sends nothing until it hears from the remote', () => {
    const s = createBfdSession(
      { myDiscriminator: 1, desiredMinTxUs: 1e6, requiredMinRxUs: 1e6, detectMult: 3, passive: true },
      0,
      () => 0,
    );
    assert.equal(bfdNextWakeup(s), undefined);
    assert.deepEqual(bfdTick(s, 10_000, () => 0).actions, []);
  });
});
