// The work queue, driven by its own events: handlers wait on gates the test opens, and the retry
// backoff runs on a FakeClock. Nothing here waits on the wall clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../../controller/queue.js';
import { FakeClock } from '../../support/fake-clock.js';

/** A promise and the function that resolves it. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('de-duplicates queued keys and re-runs a key added while it is processed', async () => {
    const seen: string[] = [];
    const started = deferred();
    const gate = deferred();
    const q = new WorkQueue({
      concurrency: 1,
      handler: async (k) => {
        seen.push(k);
        if (k === 'a' && seen.filter((x) => x === 'a').length === 1) {
          started.resolve();
          await gate.promise;
        }
      },
    });
    q.start();
    q.add('a');
    await started.promise;
    q.add('a'); // while processing: runs again afterwards, once
    q.add('a');
    q.add('b');
    q.add('b');
    assert.deepEqual(seen, ['a'], 'b waits for the one worker');
    gate.resolve();
    await q.idle();
    assert.deepEqual(seen, ['a', 'b', 'a']);
  });

  it('one slow key does not stall the others', async () => {
    const done: string[] = [];
    const slowGate = deferred();
    const fastDone = deferred();
    const q = new WorkQueue({
      concurrency: 2,
      handler: async (k) => {
        if (k === 'slow') await slowGate.promise;
        done.push(k);
        if (done.length === 20) fastDone.resolve();
      },
    });
    q.start();
    q.add('slow');
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    // The slow key is held until the test opens its gate, so all 20 fast keys finish while it runs.
    await fastDone.promise;
    assert.ok(!done.includes('slow'));
    assert.equal(q.depth, 0, 'nothing is left waiting behind the slow key');
    slowGate.resolve();
    await q.idle();
    assert.equal(done.at(-1), 'slow');
    assert.equal(done.length, 21);
  });

  it('never runs one key twice at once and respects the concurrency', async () => {
    let active = 0;
    let peak = 0;
    const running = new Set<string>();
    const gates: (() => void)[] = [];
    let open = false;
    let started = deferred();
    const q = new WorkQueue({
      concurrency: 3,
      handler: async (k) => {
        assert.ok(!running.has(k), `${k} runs twice at once`);
        running.add(k);
        active++;
        peak = Math.max(peak, active);
        started.resolve();
        if (!open) await new Promise<void>((r) => gates.push(r));
        active--;
        running.delete(k);
      },
    });
    q.start();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) q.add(`k${i}`);
      assert.equal(active, 3, 'as many workers as the concurrency, no more');
      // Let the oldest running key finish; the queue starts the next one (queued, or re-added).
      started = deferred();
      gates.shift()?.();
      await started.promise;
    }
    open = true;
    for (const g of gates.splice(0)) g();
    await q.idle();
    assert.equal(peak, 3);
    assert.equal(active, 0);
  });

  it('retries failures with backoff', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const errors: number[] = [];
    let failed = deferred();
    const succeeded = deferred();
    const q = new WorkQueue({
      concurrency: 1,
      backoffInitialMs: 5,
      clock,
      handler: async () => {
        calls++;
        if (calls < 3) throw new Error('conflict');
        succeeded.resolve();
      },
      onError: (_k, _e, retry) => {
        errors.push(retry);
        failed.resolve();
      },
    });
    q.start();
    q.add('a');
    await failed.promise;
    failed = deferred();
    clock.advance(4);
    assert.equal(calls, 1, 'no retry before the backoff has passed');
    clock.advance(1);
    assert.equal(calls, 2);
    await failed.promise;
    clock.advance(9);
    assert.equal(calls, 2, 'the second delay is twice the first');
    clock.advance(1);
    await succeeded.promise;
    assert.equal(calls, 3);
    assert.deepEqual(errors, [5, 10]);
    q.stop();
  });

  it('stop() forgets queued work', () => {
    const seen: string[] = [];
    const q = new WorkQueue({ concurrency: 1, handler: async (k) => void seen.push(k) });
    q.add('before-start');
    q.start();
    q.stop();
    q.add('after-stop');
    // A running queue calls the handler within add(); the marker shows the ones before it were dropped.
    q.start();
    q.add('marker');
    assert.deepEqual(seen, ['marker']);
  });
});
