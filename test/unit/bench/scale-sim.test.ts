import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventQueue, SimNetwork } from '../../../bench/scale/sim.js';
import { seededRandom } from '../../../speaker/membership/messages.js';

describe('scale simulation: EventQueue (simulated clock)', () => {
  it('runs events in time order, same-time events in the order scheduled, and moves the clock with them', () => {
    const q = new EventQueue(1000);
    const seen: [string, number][] = [];
    const log = (name: string) => () => seen.push([name, q.now]);
    q.at(1030, log('c'));
    q.at(1010, log('a'));
    q.at(1020, log('b1'));
    q.at(1020, log('b2'));
    q.after(5, () => {
      seen.push(['first', q.now]);
      q.after(10, log('scheduled-while-running'));
    });
    assert.equal(q.runUntil(1020), 5);
    assert.deepEqual(seen, [
      ['first', 1005],
      ['a', 1010],
      ['scheduled-while-running', 1015],
      ['b1', 1020],
      ['b2', 1020],
    ]);
    assert.equal(q.now, 1020);
    assert.equal(q.size, 1);
    q.runUntil(2000);
    assert.deepEqual(seen.at(-1), ['c', 1030]);
    assert.equal(q.now, 2000, 'the clock ends at the end asked for');
  });

  it('never runs an event in the past', () => {
    const q = new EventQueue(50);
    let at = -1;
    q.at(10, () => (at = q.now));
    q.runUntil(60);
    assert.equal(at, 50);
  });

  it('keeps order over many random events (heap)', () => {
    const q = new EventQueue(0);
    const rnd = seededRandom(3);
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = Math.floor(rnd() * 500);
      q.at(t, () => times.push(q.now));
    }
    q.runUntil(1000);
    assert.equal(times.length, 2000);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
  });
});

describe('scale simulation: SimNetwork', () => {
  it('delivers after a latency within the range and counts what each node sent', () => {
    const q = new EventQueue(0);
    const net = new SimNetwork(q, { random: seededRandom(1), latencyMs: [1, 2] });
    const got: [string, number, number][] = [];
    net.attach('b', (from, bytes) => got.push([from, bytes.length, q.now]));
    net.send('a', 'b', new Uint8Array(10));
    net.send('a', 'b', new Uint8Array(30));
    q.runUntil(0.5);
    assert.equal(got.length, 0, 'not before the latency');
    q.runUntil(10);
    assert.equal(got.length, 2);
    for (const [from, , at] of got) {
      assert.equal(from, 'a');
      assert.ok(at >= 1 && at <= 2, `arrived at ${at}`);
    }
    assert.deepEqual(net.sentBy('a'), { datagrams: 2, bytes: 40 });
    assert.deepEqual(net.sentBy('b'), { datagrams: 0, bytes: 0 });
    net.resetCounts();
    assert.deepEqual(net.sentBy('a'), { datagrams: 0, bytes: 0 });
  });

  it('a down node neither sends nor receives; a datagram in flight to a node that goes down is dropped', () => {
    const q = new EventQueue(0);
    const net = new SimNetwork(q, { random: seededRandom(1) });
    let received = 0;
    net.attach('a', () => received++);
    net.attach('b', () => received++);
    net.send('a', 'b', new Uint8Array(1));
    net.down.add('b');
    q.runUntil(5);
    net.send('b', 'a', new Uint8Array(1));
    q.runUntil(10);
    assert.equal(received, 0);
    assert.equal(net.dropped, 1);
    assert.deepEqual(net.sentBy('b'), { datagrams: 0, bytes: 0 }, 'a down node sends nothing');
  });

  it('loses about the fraction asked for, deterministically for a seed', () => {
    const lost = (seed: number): number => {
      const q = new EventQueue(0);
      const net = new SimNetwork(q, { random: seededRandom(seed), loss: 0.2 });
      let n = 0;
      net.attach('b', () => n++);
      for (let i = 0; i < 5000; i++) net.send('a', 'b', new Uint8Array(1));
      q.runUntil(10);
      return 5000 - n;
    };
    const a = lost(9);
    assert.equal(a, lost(9));
    assert.ok(a > 850 && a < 1150, `lost ${a} of 5000`);
  });
});
