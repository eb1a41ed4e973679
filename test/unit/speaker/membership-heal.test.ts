// Partition heal in the membership core: proof of life from a dead member, refutation, stale rumours,
// the re-probe schedule, and a 3-node heal one firewall rule at a time (simulated clock, real codec).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Sim } from './membership-sim.js';
import { Membership } from '../../../speaker/membership/core.js';
import {
  DEFAULT_MEMBERSHIP,
  seededRandom,
  type Message,
  type Outgoing,
  type Update,
} from '../../../speaker/membership/messages.js';
import { decodeDatagram, encodeDatagram } from '../../../speaker/membership/wire.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const T0 = 1_000_000;

/** Through the real codec: what arrives is what an authenticated datagram carries. */
function wire(msg: Message): Message {
  const e = { from: msg.from, to: 'x', tb: 0, b: 1, c: 1 };
  const d = decodeDatagram(encodeDatagram({ e, m: msg }, KEY), KEY);
  assert.ok(d.ok && 'm' in d.d, 'decodes');
  return d.d.m;
}

/** Ticks every member every 10 ms for `ms`, dropping everything they send (a full partition). */
function isolated(ms: number, clock: { now: number }, ...members: Membership[]): void {
  const end = clock.now + ms;
  while (clock.now < end) {
    clock.now += 10;
    for (const m of members) m.onTick(clock.now);
  }
}

/** Ticks every member every 10 ms for `ms`, delivering what they send (and the replies) at once. */
function connected(ms: number, clock: { now: number }, ...members: Membership[]): void {
  const by = new Map(members.map((m) => [m.self, m]));
  const deliver = (out: Outgoing[]): void => {
    for (const o of out) {
      const to = by.get(o.to);
      if (to) deliver(to.onMessage(wire(o.msg), clock.now).send);
    }
  };
  const end = clock.now + ms;
  while (clock.now < end) {
    clock.now += 10;
    for (const m of members) deliver(m.onTick(clock.now).send);
  }
}

function ping(from: string, inc: number, upd: Update[]): Message {
  return { t: 'ping', from, inc, hv: 0, seq: 1, upd };
}

describe('membership core: partition heal', () => {
  it('a dead member that sends one authenticated ping is alive again at once, and the reply makes it refute', () => {
    const clock = { now: T0 };
    const a = new Membership('A', clock.now, {}, seededRandom(1));
    const b = new Membership('B', clock.now, {}, seededRandom(2));
    a.setPeers(['A', 'B'], clock.now);
    b.setPeers(['A', 'B'], clock.now);
    connected(500, clock, a, b);
    assert.equal(b.stateOf('A'), 'alive');
    isolated(2000, clock, a, b);
    assert.equal(a.stateOf('B'), 'dead');
    assert.equal(b.stateOf('A'), 'dead');
    const incBefore = a.incarnation;

    // A's next re-probe of B gets through.
    let out: Outgoing | undefined;
    while (!out) {
      clock.now += 10;
      out = a.onTick(clock.now).send.find((o) => o.to === 'B' && o.msg.t === 'ping');
    }
    const atB = b.onMessage(wire(out.msg), clock.now);
    assert.equal(b.stateOf('A'), 'alive', 'one packet is proof of life');
    assert.deepEqual(atB.changes, [{ node: 'A', from: 'dead', to: 'alive' }]);
    const ack = atB.send.find((o) => o.to === 'A' && o.msg.t === 'ack');
    assert.ok(ack && ack.msg.t === 'ack');
    assert.equal(ack.msg.view?.s, 'dead', 'the reply tells A it had been declared dead');

    const atA = a.onMessage(wire(ack.msg), clock.now + 1);
    assert.equal(a.stateOf('B'), 'alive');
    assert.deepEqual(atA.changes, [{ node: 'B', from: 'dead', to: 'alive' }]);
    assert.ok(a.incarnation > incBefore, 'A refuted: its incarnation outranks the rumours of its death');

    // A's next message carries the new incarnation; B's views stop telling A it is dead.
    const next = b.onMessage(wire(ping('A', a.incarnation, [])), clock.now + 2);
    const ack2 = next.send.find((o) => o.msg.t === 'ack');
    assert.ok(ack2 && ack2.msg.t === 'ack');
    assert.equal(ack2.msg.view?.s, 'alive');
    assert.equal(ack2.msg.view?.i, a.incarnation);
  });

  it('a rumour of death at the incarnation we hold does not kill a member we heard from since (stale gossip)', () => {
    const now = T0 + 5000;
    const b = new Membership('B', T0, {}, seededRandom(3));
    b.setPeers(['A', 'B', 'C'], T0);
    // C talks to B; then A (just back from a partition, its queue full of old news) says C is dead.
    b.onMessage(wire(ping('C', 700, [])), now);
    const s1 = b.onMessage(wire(ping('A', 500, [{ n: 'C', s: 'dead', i: 700 }])), now + 50);
    assert.ok(b.liveNodes().has('C'), 'C is still live at B');
    assert.ok(!s1.changes.some((c) => c.to === 'dead'));
    // B pings the suspect: the ping tells C it is suspected, so C refutes with a higher incarnation.
    const tick = b.onTick(now + 150);
    const toC = tick.send.find((o) => o.to === 'C' && o.msg.t === 'ping');
    assert.ok(toC && toC.msg.t === 'ping');
    assert.notEqual(toC.msg.view?.s, 'alive');
    b.onMessage(wire(ping('C', 701, [])), now + 151);
    assert.equal(b.stateOf('C'), 'alive');
    // A later rumour at the old incarnation is outranked.
    b.onMessage(wire(ping('A', 500, [{ n: 'C', s: 'dead', i: 700 }])), now + 2000);
    assert.equal(b.stateOf('C'), 'alive');
  });

  it('a member revived by direct proof is not killed again by an old rumour at that incarnation', () => {
    const clock = { now: T0 };
    const b = new Membership('B', clock.now, {}, seededRandom(4));
    b.setPeers(['A', 'B', 'C'], clock.now);
    // A falls silent (C keeps talking): B declares A dead.
    const end = clock.now + 2000;
    while (clock.now < end) {
      clock.now += 10;
      b.onTick(clock.now);
      if (clock.now % 100 === 0) b.onMessage(wire(ping('C', 700, [])), clock.now);
    }
    assert.equal(b.stateOf('A'), 'dead');
    b.onMessage(wire(ping('A', 500, [])), clock.now + 1);
    assert.equal(b.stateOf('A'), 'alive');
    // C's queue still holds "A is dead" from the partition.
    b.onMessage(wire(ping('C', 700, [{ n: 'A', s: 'dead', i: 500 }])), clock.now + 20);
    assert.ok(b.liveNodes().has('A'), 'A stays live at B');
  });

  it('a rumour of death about a member silent for longer than the suspicion time is believed (no slower failover)', () => {
    const b = new Membership('B', T0, {}, seededRandom(5));
    b.setPeers(['A', 'B', 'C'], T0);
    b.onMessage(wire(ping('A', 500, [])), T0 + 100);
    const at = T0 + 100 + DEFAULT_MEMBERSHIP.suspicionMs;
    const s = b.onMessage(wire(ping('C', 700, [{ n: 'A', s: 'dead', i: 500 }])), at);
    assert.equal(b.stateOf('A'), 'dead');
    assert.deepEqual(s.changes, [{ node: 'A', from: 'alive', to: 'dead' }]);
  });

  it('dead members are pinged every reconnectMs on their own schedule, not rounded up to a probe round', () => {
    const clock = { now: T0 };
    const reconnectMs = 250;
    const b = new Membership('B', clock.now, { reconnectMs }, seededRandom(6));
    b.setPeers(['A', 'B'], clock.now);
    isolated(1500, clock, b);
    assert.equal(b.stateOf('A'), 'dead');
    const at: number[] = [];
    const end = clock.now + 2000;
    while (clock.now < end) {
      clock.now += 10;
      if (b.onTick(clock.now).send.some((o) => o.to === 'A' && o.msg.t === 'ping')) at.push(clock.now);
    }
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    assert.ok(gaps.length >= 6, `${at.length} pings`);
    for (const g of gaps) assert.ok(g >= reconnectMs && g <= reconnectMs + 10, `gaps ${gaps.join(', ')}`);
    assert.ok(b.nextDeadline() <= (at.at(-1) as number) + reconnectMs);
  });

  it('3 nodes, one cut off from the other two then healed one firewall rule at a time: all alive within 200 ms of the last rule, and no flapping (120 trials)', () => {
    const nodes = ['node-1', 'node-2', 'node-3'];
    const took: number[] = [];
    for (let trial = 0; trial < 120; trial++) {
      const sim = new Sim({ nodes, seed: trial + 1 });
      sim.run(1000 + ((trial * 37) % 500));
      const lone = nodes[trial % 3] as string;
      const others = nodes.filter((n) => n !== lone);
      for (const o of others) {
        sim.block(lone, o);
        sim.block(o, lone);
      }
      // until both sides have declared the other dead, then a while longer (0-3 s)
      const split = sim.now;
      while (nodes.some((n) => sim.live(n).length > (n === lone ? 1 : 2))) {
        assert.ok(sim.now - split < 3000, `trial ${trial}: no split`);
        sim.run(10);
      }
      sim.run((trial * 211) % 3000);
      // iptables -D, one rule after the other: INPUT from o, then OUTPUT to o, for each o
      const gap = (trial * 13) % 70;
      for (const o of trial % 2 ? others : [...others].reverse()) {
        sim.unblock(o, lone);
        sim.run(gap);
        sim.unblock(lone, o);
        sim.run(gap);
      }
      const t0 = sim.now;
      let convergedAt: number | undefined;
      const end = t0 + 3000;
      while (sim.now < end) {
        sim.run(5);
        const whole = nodes.every((n) => sim.live(n).length === nodes.length);
        if (whole && convergedAt === undefined) convergedAt = sim.now;
        assert.ok(
          whole || convergedAt === undefined,
          `trial ${trial}: flapped ${sim.now - t0} ms after the heal: ${nodes.map((n) => `${n} sees ${sim.live(n).join(',')}`).join('; ')}`,
        );
      }
      assert.ok(convergedAt !== undefined, `trial ${trial}: never converged`);
      took.push(convergedAt - t0);
    }
    const worst = Math.max(...took);
    assert.ok(worst <= 200, `worst ${worst} ms; ${took.join(', ')}`);
  });
});
