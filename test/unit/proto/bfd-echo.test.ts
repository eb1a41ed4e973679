// BFD Echo (RFC 5880 §6.4/§6.8.9, RFC 5881 §4): the echo payload and frame, and the session's echo
// scheduling and detection on a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BFD_ECHO_PORT,
  BfdDiag,
  bfdEchoReceive,
  bfdNextWakeup,
  bfdReceive,
  bfdTick,
  controlPacket,
  createBfdSession,
  decodeBfdControl,
  decodeBfdEcho,
  decodeBfdEchoFrame,
  echoDetectionTimeUs,
  echoIntervalUs,
  encodeBfdControl,
  encodeBfdEcho,
  encodeBfdEchoFrame,
  type BfdAction,
  type BfdConfig,
  type BfdSession,
} from '../../../proto/bfd.js';
import { PacketDecodeError } from '../../../proto/errors.js';

/** RFC 1071 sum over `b`: 0xffff when the checksum inside is right. */
function sum16(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

describe('BFD echo packets', () => {
  it('round-trips the payload; rejects what is not ours', () => {
    const p = { discriminator: 0xdeadbeef, sequence: 7, sentAtUs: 2 ** 40 + 12345 };
    const b = encodeBfdEcho(p);
    assert.equal(b.length, 24);
    assert.deepEqual(decodeBfdEcho(b), p);
    // octets 4..7 stay zero: another implementation reading its discriminator there finds none
    assert.deepEqual([...b.subarray(2, 8)], [0, 0, 0, 0, 0, 0]);
    assert.throws(() => decodeBfdEcho(b.subarray(0, 20)), PacketDecodeError);
    const other = Uint8Array.from(b);
    other[0] = 2;
    assert.throws(() => decodeBfdEcho(other), PacketDecodeError);
    const zero = Uint8Array.from(b);
    zero.fill(0, 8, 12);
    assert.throws(() => decodeBfdEcho(zero), PacketDecodeError);
  });

  it('frame: to the peer MAC, IP source = destination = us, TTL 255, UDP 3785 both ways, valid checksums', () => {
    const payload = encodeBfdEcho({ discriminator: 42, sequence: 1, sentAtUs: 1000 });
    const f = encodeBfdEchoFrame({
      sourceMac: '02:00:00:00:00:0b',
      peerMac: '02:00:00:00:00:01',
      localAddress: '10.50.0.11',
      id: 0x1234,
      payload,
    });
    assert.equal(f.length, 14 + 20 + 8 + 24);
    assert.deepEqual([...f.subarray(0, 6)], [2, 0, 0, 0, 0, 1]);
    assert.deepEqual([...f.subarray(6, 12)], [2, 0, 0, 0, 0, 0x0b]);
    assert.deepEqual([...f.subarray(12, 14)], [0x08, 0x00]);
    const ip = f.subarray(14, 34);
    assert.equal(ip[0], 0x45);
    assert.equal(ip[8], 255, 'TTL 255');
    assert.equal(ip[9], 17, 'UDP');
    assert.deepEqual([...ip.subarray(12, 16)], [10, 50, 0, 11]);
    assert.deepEqual([...ip.subarray(16, 20)], [10, 50, 0, 11]);
    assert.equal(sum16(ip), 0xffff, 'IPv4 header checksum');
    const udp = f.subarray(34);
    assert.equal((udp[0]! << 8) | udp[1]!, BFD_ECHO_PORT);
    assert.equal((udp[2]! << 8) | udp[3]!, BFD_ECHO_PORT);
    assert.equal((udp[4]! << 8) | udp[5]!, 32);
    const pseudo = Uint8Array.from([10, 50, 0, 11, 10, 50, 0, 11, 0, 17, 0, 32]);
    const all = new Uint8Array(pseudo.length + udp.length);
    all.set(pseudo);
    all.set(udp, pseudo.length);
    assert.equal(sum16(all), 0xffff, 'UDP checksum over the pseudo-header');
    assert.deepEqual(decodeBfdEcho(udp.subarray(8)), { discriminator: 42, sequence: 1, sentAtUs: 1000 });
  });

  it('reads a captured echo frame back (TTL, addresses, payload); rejects other frames', () => {
    const payload = encodeBfdEcho({ discriminator: 42, sequence: 9, sentAtUs: 5 });
    const f = encodeBfdEchoFrame({
      sourceMac: '02:00:00:00:00:0b',
      peerMac: '02:00:00:00:00:01',
      localAddress: '10.50.0.11',
      id: 1,
      payload,
    });
    f[22] = 254; // one hop later
    assert.deepEqual(decodeBfdEchoFrame(f), {
      ttl: 254,
      source: '10.50.0.11',
      destination: '10.50.0.11',
      echo: { discriminator: 42, sequence: 9, sentAtUs: 5 },
    });
    const arp = Uint8Array.from(f);
    arp[13] = 0x06;
    assert.throws(() => decodeBfdEchoFrame(arp), PacketDecodeError);
    const tcp = Uint8Array.from(f);
    tcp[23] = 6;
    assert.throws(() => decodeBfdEchoFrame(tcp), PacketDecodeError);
    const control = Uint8Array.from(f);
    control[14 + 20 + 3] = 0xc8; // UDP 3784
    assert.throws(() => decodeBfdEchoFrame(control), PacketDecodeError);
    // FRR's own echo format (a discriminator at octets 4..7) is not ours
    const frr = Uint8Array.from(f);
    frr.fill(0, 14 + 28, 14 + 28 + 24);
    frr[14 + 28] = 1;
    frr[14 + 28 + 7] = 5;
    assert.throws(() => decodeBfdEchoFrame(frr), PacketDecodeError);
    assert.throws(() => decodeBfdEchoFrame(f.subarray(0, 40)), PacketDecodeError);
  });
});

/**
 * Two sessions back to back on a fake clock. Control packets pass while `linkUp`; an echo sent by a
 * side comes back to that side (looped by the other's forwarding plane) while `echoPathUp`.
 */
class Pair {
  now = 0;
  a: BfdSession;
  b: BfdSession;
  linkUp = true;
  echoPathUp = true;
  events: { who: 'a' | 'b'; from: string; to: string; diag: number; at: number }[] = [];
  echoes = { a: 0, b: 0 };
  controlByA = 0;
  readonly random = (): number => 0.5;
  constructor(ca: Partial<BfdConfig> = {}, cb: Partial<BfdConfig> = {}) {
    const base = { desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3 };
    this.a = createBfdSession({ ...base, myDiscriminator: 1, ...ca }, 0, this.random);
    this.b = createBfdSession({ ...base, myDiscriminator: 2, ...cb }, 0, this.random);
  }
  private set(who: 'a' | 'b', s: BfdSession): void {
    if (who === 'a') this.a = s;
    else this.b = s;
  }
  private apply(who: 'a' | 'b', actions: readonly BfdAction[]): void {
    const other = who === 'a' ? 'b' : 'a';
    for (const x of actions) {
      if (x.type === 'state-change') {
        this.events.push({ who, from: x.from, to: x.to, diag: x.diag, at: this.now });
      } else if (x.type === 'send-echo') {
        this.echoes[who]++;
        if (this.echoPathUp) this.set(who, bfdEchoReceive(who === 'a' ? this.a : this.b, this.now));
      } else {
        if (who === 'a') this.controlByA++;
        if (!this.linkUp) continue;
        const p = decodeBfdControl(encodeBfdControl(x.packet));
        const r = bfdReceive(other === 'a' ? this.a : this.b, p, this.now, this.random);
        this.set(other, r.session);
        this.apply(other, r.actions);
      }
    }
  }
  run(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = Math.min(bfdNextWakeup(this.a) ?? Infinity, bfdNextWakeup(this.b) ?? Infinity);
      if (next > end) break;
      this.now = Math.max(this.now, next);
      for (const who of ['a', 'b'] as const) {
        const r = bfdTick(who === 'a' ? this.a : this.b, this.now, this.random);
        this.set(who, r.session);
        this.apply(who, r.actions);
      }
    }
    this.now = end;
  }
}

describe('BFD session: the Echo function', () => {
  it('advertises our Required Min Echo RX (0 unless configured)', () => {
    const cfg = { myDiscriminator: 1, desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3 };
    assert.equal(controlPacket(createBfdSession(cfg, 0, () => 0)).requiredMinEchoRxInterval, 0);
    const s = createBfdSession({ ...cfg, requiredMinEchoRxUs: 50_000 }, 0, () => 0);
    assert.equal(controlPacket(s).requiredMinEchoRxInterval, 50_000);
  });

  it('sends echoes once Up, at max(ours, the remote Required Min Echo RX); none when the remote advertises 0', () => {
    const p = new Pair({ desiredMinEchoTxUs: 50_000 }, { requiredMinEchoRxUs: 100_000 });
    p.run(5000);
    assert.equal(p.a.state, 'Up');
    assert.equal(echoIntervalUs(p.a), 100_000, '§6.8.9: not faster than the remote asks');
    assert.equal(echoDetectionTimeUs(p.a), 300_000);
    const before = p.echoes.a;
    p.run(1000);
    assert.equal(p.echoes.a - before, 10, 'one echo every 100 ms');
    assert.equal(p.echoes.b, 0, 'b has no echo interval of its own');

    const q = new Pair({ desiredMinEchoTxUs: 50_000 }, { requiredMinEchoRxUs: 0 });
    q.run(5000);
    assert.equal(q.a.state, 'Up');
    assert.equal(echoIntervalUs(q.a), 0);
    assert.equal(q.echoes.a, 0, '§6.4: no echoes to a system that does not loop them');
  });

  it('echoes that stop coming back take the session Down with diag 2 after Detect Mult × interval, control packets still flowing', () => {
    const p = new Pair({ desiredMinEchoTxUs: 50_000 }, { requiredMinEchoRxUs: 50_000 });
    p.run(5000);
    assert.equal(p.a.state, 'Up');
    const controlBefore = p.controlByA;
    p.echoPathUp = false;
    const cut = p.now;
    p.run(1000);
    const down = p.events.find((e) => e.who === 'a' && e.to === 'Down' && e.at > cut);
    assert.ok(down, 'a went Down');
    assert.equal(down.diag, BfdDiag.ECHO_FUNCTION_FAILED);
    // the last echo that came back was sent at most one interval before the cut; 3 × 50 ms after it
    assert.ok(down.at - cut <= 150 && down.at - cut > 100, `down ${down.at - cut} ms after the cut`);
    const bDown = p.events.find((e) => e.who === 'b' && e.to === 'Down' && e.at > cut);
    assert.equal(bDown?.diag, BfdDiag.NEIGHBOR_SIGNALED_SESSION_DOWN, 'b hears of it through control');
    assert.ok(p.controlByA > controlBefore);
    // with the echo path back, the session comes Up again and stays Up
    p.echoPathUp = true;
    p.run(5000);
    assert.equal(p.a.state, 'Up');
    assert.notEqual(p.a.echoTxUs, undefined);
  });

  it('control-only detection is unchanged while echo is active', () => {
    const p = new Pair({ desiredMinEchoTxUs: 50_000 }, { requiredMinEchoRxUs: 50_000 });
    p.run(5000);
    p.linkUp = false;
    const cut = p.now;
    p.run(2000);
    const down = p.events.find((e) => e.who === 'a' && e.to === 'Down' && e.at > cut);
    // echoes still come back here, so only control detection (3 × 300 ms) fires
    assert.equal(down?.diag, BfdDiag.CONTROL_DETECTION_TIME_EXPIRED);
  });

  it('echo stops when the session leaves Up, and a late echo is ignored', () => {
    const p = new Pair({ desiredMinEchoTxUs: 50_000 }, { requiredMinEchoRxUs: 50_000 });
    p.run(5000);
    p.linkUp = false;
    p.echoPathUp = false;
    p.run(2000);
    assert.equal(p.a.state, 'Down');
    assert.equal(p.a.echoTxUs, undefined);
    assert.equal(p.a.nextEchoAt, undefined);
    assert.equal(bfdEchoReceive(p.a, p.now), p.a);
  });
});
