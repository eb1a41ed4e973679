import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../../controller/queue.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('WorkQueue', () => {
  it('de-duplicates queued keys and re-runs a key added while it is processed', async () => {
    const seen: string[] = [];
    let release: (() => void) | undefined;
    const q = new WorkQueue({
      concurrency: 1,
      handler: async (k) => {
        seen.push(k);
        if (k === 'a' && seen.filter((x) => x === 'a').length === 1)
          await new Promise<void>((r) => (release = r));
      },
    });
    q.start();
    q.add('a');
    await tick();
    q.add('a'); // while processing: runs again afterwards, once
    q.add('a');
    q.add('b');
    q.add('b');
    await tick();
    release?.();
    await q.idle();
    assert.deepEqual(seen, ['a', 'b', 'a']);
  });
  it('one slow key does not stall the others', async () => {
    const done: string[] = [];
    const q = new WorkQueue({
      concurrency: 2,
      handler: async (k) => {
        if (k === 'slow') await new Promise((r) => setTimeout(r, 200));
        done.push(k);
      },
    });
    q.start();
    q.add('slow');
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(done.length, 20, 'the fast keys finished while the slow one ran');
    await q.idle();
    assert.equal(done.at(-1), 'slow');
  });
  it('never runs one key twice at once and respects the concurrency', async () => {
    let active = 0;
    let peak = 0;
    const running = new Set<string>();
    const q = new WorkQueue({
      concurrency: 3,
      handler: async (k) => {
        assert.ok(!running.has(k));
        running.add(k);
        active++;
        peak = Math.max(peak, active);
        await tick();
        active--;
        running.delete(k);
      },
    });
    q.start();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) q.add(`k${i}`);
      await tick();
    }
    await q.idle();
    assert.equal(peak, 3);
  });
  it('retries failures with backoff', async () => {
    let calls = 0;
    const errors: number[] = [];
    const q = new WorkQueue({
      concurrency: 1,
      backoffInitialMs: 5,
      handler: async () => {
        calls++;
        if (calls < 3) throw new Error('conflict');
      },
      onError: (_k, _e, retry) => errors.push(retry),
    });
    q.start();
    q.add('a');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(calls, 3);
    assert.deepEqual(errors, [5, 10]);
    q.stop();
  });
  it('stop() forgets queued work', async () => {
    const seen: string[] = [];
    const q = new WorkQueue({ concurrency: 1, handler: async (k) => void seen.push(k) });
    q.add('before-start');
    q.start();
    q.stop();
    q.add('after-stop');
    await tick();
    assert.deepEqual(seen, []);
  });
});
