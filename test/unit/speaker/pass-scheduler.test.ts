import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassScheduler, type PassScope } from '../../../speaker/pass-scheduler.js';
import type { TimerHandle } from '../../../proto/clock.js';

/** A fake clock whose time the passes move too: `soon` and its timers queue; advance() runs what is due, in order. */
function harness(passMs: number, ready = () => true) {
  let t = 0;
  let seq = 0;
  const queue: { at: number; seq: number; fn: () => void }[] = [];
  const runs: { at: number; scope: string }[] = [];
  const show = (s: PassScope): string => (s === 'all' ? 'all' : [...s].sort().join(','));
  const sched = new PassScheduler({
    run: (scope) => {
      if (!ready()) return false;
      runs.push({ at: t, scope: show(scope) });
      t += passMs;
      return true;
    },
    clock: {
      now: () => t,
      setTimer: (fn, ms) => {
        const e = { at: t + ms, seq: seq++, fn };
        queue.push(e);
        return e as TimerHandle;
      },
      clearTimer: (h) => {
        const i = queue.indexOf(h as (typeof queue)[number]);
        if (i >= 0) queue.splice(i, 1);
      },
    },
    soon: (fn) => queue.push({ at: t, seq: seq++, fn }),
  });
  const advance = (until: number): void => {
    for (;;) {
      queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = queue[0];
      if (!next || next.at > until) break;
      queue.shift();
      t = Math.max(t, next.at);
      next.fn();
    }
    t = Math.max(t, until);
  };
  return { sched, runs, advance, pending: () => queue.length, now: () => t };
}

describe('PassScheduler', () => {
  it('coalesces requests into one pass: keys are merged, a request for everything wins', () => {
    const h = harness(10);
    h.sched.request(['a/x']);
    h.sched.request(['a/y']);
    h.advance(0);
    assert.deepEqual(h.runs, [{ at: 0, scope: 'all' }]); // the first pass is always over everything
    h.advance(100);
    h.sched.request(['a/x']);
    h.sched.request(['a/y', 'a/x']);
    h.advance(200);
    assert.deepEqual(h.runs[1], { at: 100, scope: 'a/x,a/y' });
    h.sched.request(['a/z']);
    h.sched.request();
    h.advance(300);
    assert.deepEqual(h.runs[2], { at: 200, scope: 'all' });
    assert.equal(h.runs.length, 3);
  });

  it('a pass over changed Services waits the last pass duration after it ended; everything runs at once', () => {
    const h = harness(40);
    h.sched.request();
    h.advance(0); // pass 0..40
    h.sched.request(['a/x']); // at 40: must wait until 80
    h.advance(79);
    assert.equal(h.runs.length, 1);
    h.advance(80);
    assert.deepEqual(h.runs[1], { at: 80, scope: 'a/x' });
    // pass 80..120; a keyed request waits until 160, but a request for everything cancels the wait
    h.sched.request(['a/y']);
    h.advance(130);
    assert.equal(h.runs.length, 2);
    h.sched.request();
    h.advance(130);
    assert.deepEqual(h.runs[2], { at: 130, scope: 'all' });
    h.advance(1000);
    assert.equal(h.runs.length, 3, 'the cancelled timer does not run a pass of its own');
  });

  it('when nothing can be decided yet, the next pass is over everything', () => {
    let ready = false;
    const h = harness(5, () => ready);
    h.sched.request();
    h.advance(0);
    h.sched.request(['a/x']);
    h.advance(10);
    assert.equal(h.runs.length, 0);
    ready = true;
    h.sched.request(['a/y']);
    h.advance(20);
    assert.deepEqual(h.runs, [{ at: 10, scope: 'all' }]);
  });

  it("requestFirst: a failover's Services are decided at once, before the pass over everything", () => {
    const h = harness(100);
    h.sched.request();
    h.advance(0); // first pass over everything: 0..100
    h.advance(1000);
    // a member died: its Services first, then everything (membership changed)
    h.sched.requestFirst(['a/x', 'a/y']);
    h.sched.request();
    h.advance(2000);
    assert.deepEqual(h.runs.slice(1), [
      { at: 1000, scope: 'a/x,a/y' },
      { at: 1100, scope: 'all' },
    ]);
  });

  it('requestFirst overtakes changed Services waiting their turn; they run after it, as they would have', () => {
    const h = harness(100);
    h.sched.request();
    h.advance(0); // 0..100: the next changed pass may start at 200
    h.sched.request(['a/z', 'a/x']);
    h.sched.requestFirst(['a/x']);
    h.advance(1000);
    assert.deepEqual(h.runs.slice(1), [
      { at: 100, scope: 'a/x' },
      { at: 300, scope: 'a/z' }, // waits the last pass's duration after it ended (200 + 100)
    ]);
  });

  it('requestFirst with nothing in it runs nothing; before anything can be decided it runs nothing either', () => {
    let ready = false;
    const h = harness(10, () => ready);
    h.sched.requestFirst([]);
    h.advance(0);
    assert.equal(h.pending(), 0);
    h.sched.requestFirst(['a/x']);
    h.advance(10);
    assert.equal(h.runs.length, 0);
    ready = true;
    h.sched.request(['a/y']);
    h.advance(20);
    assert.deepEqual(h.runs, [{ at: 10, scope: 'all' }]);
  });

  it('stop() cancels what is pending and refuses new requests', () => {
    const h = harness(50);
    h.sched.request();
    h.advance(0);
    h.sched.request(['a/x']); // timer at 100
    h.sched.stop();
    h.sched.request();
    h.advance(1000);
    assert.equal(h.runs.length, 1);
    assert.equal(h.pending(), 0);
  });
});
