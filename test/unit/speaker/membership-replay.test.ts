// Replay protection of membership datagrams: the pure window (replay.ts). Real agents on loopback UDP
// replaying recorded datagrams are in test/integration/membership-replay.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplayGuard } from '../../../speaker/membership/replay.js';

describe('ReplayGuard', () => {
  it('accepts rising counters, refuses repeats, counters below the window and older boots', () => {
    const g = new ReplayGuard(8);
    assert.equal(g.accept('a', 100, 1), 'accept');
    assert.equal(g.accept('a', 100, 1), 'replayed');
    assert.equal(g.accept('a', 100, 5), 'accept');
    assert.equal(g.accept('a', 100, 3), 'accept'); // late, inside the window
    assert.equal(g.accept('a', 100, 3), 'replayed');
    assert.equal(g.accept('a', 100, 20), 'accept');
    assert.equal(g.accept('a', 100, 12), 'replayed'); // 8 below 20: outside the window
    assert.equal(g.accept('a', 100, 13), 'accept');
    assert.equal(g.accept('a', 99, 500), 'stale-boot');
    assert.equal(g.accept('a', 101, 1), 'accept'); // restarted
    assert.equal(g.accept('a', 100, 21), 'stale-boot');
    assert.equal(g.bootOf('a'), 101);
    assert.equal(g.accept('b', 100, 1), 'accept'); // senders are separate
  });

  it('any datagram is accepted at most once, and every fresh one inside the window is accepted (random orders)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 400 }), (counters) => {
        const window = 32;
        const g = new ReplayGuard(window);
        const accepted = new Set<number>();
        let max = 0;
        for (const c of counters) {
          const v = g.accept('a', 7, c);
          if (accepted.has(c)) assert.equal(v, 'replayed', `repeat of ${c}`);
          else if (c > max - window) assert.equal(v, 'accept', `fresh ${c} (max ${max})`);
          else assert.equal(v, 'replayed', `${c} below the window (max ${max})`);
          if (v === 'accept') accepted.add(c);
          max = Math.max(max, c);
        }
      }),
    );
  });

  it('remembers at most maxSenders, least recently used out', () => {
    const g = new ReplayGuard(64, 3);
    for (const s of ['a', 'b', 'c']) g.accept(s, 1, 1);
    g.accept('a', 1, 2);
    g.accept('d', 1, 1);
    assert.equal(g.size, 3);
    assert.equal(g.bootOf('b'), undefined);
    assert.equal(g.bootOf('a'), 1);
  });
});
