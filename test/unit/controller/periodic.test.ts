// The controller's periodic pass (pool status) on a fake clock: a slow pass is never overlapped by the
// next tick, and the pass after it runs once it ended; a failing pass is reported and the next runs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Periodic } from '../../../controller/periodic.js';
import { FakeClock } from '../../support/fake-clock.js';

/** A pass the test ends by hand. */
function gate() {
  let open: () => void = () => undefined;
  let fail: (e: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { done, open, fail };
}

describe('Periodic', () => {
  it('a slow pass is not overlapped by later ticks; the next pass runs after it ended', async (t) => {
    const clock = new FakeClock();
    const gates: ReturnType<typeof gate>[] = [];
    let active = 0;
    let most = 0;
    const p = new Periodic({
      intervalMs: 1000,
      clock,
      pass: async () => {
        const g = gate();
        gates.push(g);
        active++;
        most = Math.max(most, active);
        try {
          await g.done;
        } finally {
          active--;
        }
      },
      onError: () => assert.fail('no pass fails here'),
    });
    t.after(() => p.stop());
    p.start();
    clock.advance(1000);
    assert.equal(gates.length, 1, 'the first pass started');
    clock.advance(5000); // the apiserver is slow: five ticks while the pass hangs
    assert.equal(gates.length, 1, 'no second pass while the first runs');
    assert.equal(p.skipped, 5);
    gates[0]?.open();
    await p.idle();
    clock.advance(1000);
    assert.equal(gates.length, 2, 'the next tick after it ended runs a pass');
    gates[1]?.open();
    assert.equal(most, 1);
  });

  it('a pass that fails is reported, and the next tick runs a pass again', async (t) => {
    const clock = new FakeClock();
    const errors: string[] = [];
    let passes = 0;
    const p = new Periodic({
      intervalMs: 1000,
      clock,
      pass: () => {
        passes++;
        if (passes === 1) return Promise.reject(new Error('apiserver away'));
        if (passes === 2) throw new Error('thrown before any await');
        return Promise.resolve();
      },
      onError: (err) => errors.push(err.message),
    });
    t.after(() => p.stop());
    p.start();
    clock.advance(1000);
    await p.idle();
    assert.deepEqual(errors, ['apiserver away']);
    clock.advance(1000);
    await p.idle();
    assert.equal(passes, 2);
    assert.deepEqual(errors, ['apiserver away', 'thrown before any await']);
    clock.advance(1000);
    await p.idle();
    assert.equal(passes, 3);
    assert.equal(errors.length, 2);
  });
});
