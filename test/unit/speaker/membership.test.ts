import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Sim } from './membership-sim.js';
import { Membership } from '../../../speaker/membership/core.js';
import { DEFAULT_MEMBERSHIP } from '../../../speaker/membership/messages.js';
import { decodeDatagram, encodeDatagram, type Datagram } from '../../../speaker/membership/wire.js';

const NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];
/** The documented bound for declaring a dead node with the defaults on a LAN. */
const DEAD_WITHIN_MS = 1000;

describe('membership core (SWIM) on a simulated LAN', () => {
  it('everyone sees everyone alive on a clean network', () => {
    const sim = new Sim({ nodes: NODES });
    sim.run(5000);
    for (const n of NODES) assert.deepEqual(sim.live(n), NODES);
    assert.equal(sim.log.filter((l) => l.change.to === 'dead' || l.change.to === 'suspect').length, 0);
  });

  for (const n of [2, 3, 5]) {
    it(`a killed node is declared dead by every survivor within ${DEAD_WITHIN_MS} ms (${n} nodes, 20 trials)`, () => {
      const nodes = NODES.slice(0, n);
      for (let trial = 0; trial < 20; trial++) {
        const sim = new Sim({ nodes, seed: trial + 7 });
        sim.run(1000 + trial * 13);
        const victim = nodes[trial % n] as string;
        const t0 = sim.now;
        sim.kill(victim);
        sim.run(DEAD_WITHIN_MS + 500);
        for (const o of nodes) {
          if (o === victim) continue;
          const at = sim.deadAt(o, victim, t0);
          assert.ok(at !== undefined, `${o} never declared ${victim} dead`);
          assert.ok(at - t0 <= DEAD_WITHIN_MS, `${o} declared ${victim} dead after ${at - t0} ms`);
          assert.ok(!sim.live(o).includes(victim));
        }
      }
    });
  }

  it('no false positive under 10% packet loss (5 nodes, 60 simulated seconds, 3 seeds)', () => {
    for (const seed of [1, 2, 3]) {
      const sim = new Sim({ nodes: NODES, loss: 0.1, seed });
      sim.run(60_000);
      const deaths = sim.log.filter((l) => l.change.to === 'dead');
      assert.deepEqual(deaths, [], `seed ${seed}: false deaths ${JSON.stringify(deaths.slice(0, 3))}`);
      for (const n of NODES) assert.deepEqual(sim.live(n), NODES);
    }
  });

  it('under 10% loss a killed node is still declared dead within the bound', () => {
    const sim = new Sim({ nodes: NODES, loss: 0.1, seed: 11 });
    sim.run(2000);
    const t0 = sim.now;
    sim.kill('node-3');
    sim.run(2000);
    for (const o of NODES.filter((x) => x !== 'node-3')) {
      const at = sim.deadAt(o, 'node-3', t0);
      assert.ok(
        at !== undefined && at - t0 <= DEAD_WITHIN_MS,
        `${o}: ${at === undefined ? 'never' : at - t0 + ' ms'}`,
      );
    }
  });

  it('after a partition heals every node sees every node alive again within a second', () => {
    const sim = new Sim({ nodes: NODES, seed: 5 });
    sim.run(1000);
    sim.partition(['node-1', 'node-2'], ['node-3', 'node-4', 'node-5']);
    sim.run(3000);
    assert.deepEqual(sim.live('node-1'), ['node-1', 'node-2']);
    assert.deepEqual(sim.live('node-4'), ['node-3', 'node-4', 'node-5']);
    sim.heal();
    const t0 = sim.now;
    let convergedAt: number | undefined;
    for (let i = 0; i < 200 && convergedAt === undefined; i++) {
      sim.run(10);
      if (NODES.every((n) => sim.live(n).length === NODES.length)) convergedAt = sim.now;
    }
    assert.ok(
      convergedAt !== undefined && convergedAt - t0 <= 1000,
      `converged after ${convergedAt === undefined ? '>2000' : convergedAt - t0} ms`,
    );
    // And it stays converged (no flapping from stale gossip).
    sim.run(3000);
    for (const n of NODES) assert.deepEqual(sim.live(n), NODES);
  });

  it('a restarted node is alive again for everyone (its new incarnation outranks the old death)', () => {
    const sim = new Sim({ nodes: NODES.slice(0, 3), seed: 9 });
    sim.run(1000);
    sim.kill('node-2');
    sim.run(2000);
    assert.ok(!sim.live('node-1').includes('node-2'));
    sim.restart('node-2');
    sim.run(1000);
    for (const n of NODES.slice(0, 3)) assert.deepEqual(sim.live(n), NODES.slice(0, 3));
  });

  it('messages from a speaker with the wrong key are dropped and counted; it looks dead to the others', () => {
    const sim = new Sim({
      nodes: NODES.slice(0, 3),
      seed: 3,
      keys: { 'node-3': Buffer.from('another key, not the secret one!') },
    });
    sim.run(3000);
    assert.ok((sim.rejected['bad-key'] ?? 0) > 0);
    assert.deepEqual(sim.live('node-1'), ['node-1', 'node-2']);
    assert.deepEqual(sim.live('node-3'), ['node-3']);
  });

  it('health results travel to every member and changes propagate', () => {
    const sim = new Sim({ nodes: NODES.slice(0, 3), seed: 4 });
    sim.run(500);
    const m2 = sim.members.get('node-2') as Membership;
    // setHealth returns messages; the simulation delivers the rest through the views on pings/acks.
    m2.setHealth(new Set(['default/web']));
    sim.run(1000);
    assert.deepEqual(
      [...((sim.members.get('node-1') as Membership).healthOf('node-2') ?? [])],
      ['default/web'],
    );
    assert.deepEqual(
      [...((sim.members.get('node-3') as Membership).healthOf('node-2') ?? [])],
      ['default/web'],
    );
    m2.setHealth(new Set());
    sim.run(1000);
    assert.deepEqual([...((sim.members.get('node-3') as Membership).healthOf('node-2') ?? ['x'])], []);
  });
});

describe('membership wire format', () => {
  const key = Buffer.from('k'.repeat(32));
  const msg = {
    t: 'ping' as const,
    from: 'node-1',
    inc: 5,
    hv: 1,
    seq: 9,
    upd: [{ n: 'node-2', s: 'dead' as const, i: 3 }],
  };
  const e = { from: 'node-1', to: 'node-2', tb: 0, b: 1_700_000_000_000, c: 1 };
  it('round-trips with the right key (a message, and a stale-boot notice)', () => {
    for (const dg of [
      { e, m: msg },
      { e, stale: 1_700_000_000_001 },
    ] as Datagram[]) {
      const d = decodeDatagram(encodeDatagram(dg, key), key);
      assert.ok(d.ok);
      assert.deepEqual(d.d, dg);
    }
  });
  it('rejects a wrong key, a flipped bit, junk, BLM1 and malformed bodies without throwing', () => {
    const enc = encodeDatagram({ e, m: msg }, key);
    assert.deepEqual(decodeDatagram(enc, Buffer.from('x'.repeat(32))), { ok: false, reason: 'bad-key' });
    const flipped = Buffer.from(enc);
    flipped[flipped.length - 3] ^= 1;
    assert.deepEqual(decodeDatagram(flipped, key), { ok: false, reason: 'bad-key' });
    assert.deepEqual(decodeDatagram(Buffer.from('hello'), key), { ok: false, reason: 'bad-magic' });
    const v1 = Buffer.from(enc);
    v1.write('BLM1', 0, 'ascii');
    assert.deepEqual(decodeDatagram(v1, key), { ok: false, reason: 'bad-magic' });
    const bad = (dg: unknown): void =>
      assert.deepEqual(decodeDatagram(encodeDatagram(dg as Datagram, key), key), {
        ok: false,
        reason: 'malformed',
      });
    bad({ e, m: { ...msg, upd: [{ n: '', s: 'zombie', i: -1 }] } });
    bad({ m: msg }); // no envelope
    bad({ e: { ...e, from: 'node-3' }, m: msg }); // envelope and message disagree on the sender
    bad({ e: { ...e, c: 0 }, m: msg });
    bad({ e: { ...e, b: 1.5 }, m: msg });
    bad({ e: { ...e, tb: -1 }, m: msg });
    bad({ e, stale: 'x' });
    bad({ e, stale: 5, m: msg });
  });
  it('defaults are in the documented ranges', () => {
    assert.ok(DEFAULT_MEMBERSHIP.probeIntervalMs >= 100 && DEFAULT_MEMBERSHIP.probeIntervalMs <= 200);
  });
});
