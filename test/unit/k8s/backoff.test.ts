import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, backoffDelay } from '../../../k8s/backoff.js';

describe('backoff', () => {
  it('doubles from the initial delay up to the cap', () => {
    const p = { initialMs: 200, maxMs: 1000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 100, 10_000].map((n) => backoffDelay(p, n)),
      [200, 400, 800, 1000, 1000, 1000, 1000],
    );
  });

  it('grows by the factor asked for', () => {
    assert.deepEqual(
      [1, 2, 3].map((n) => backoffDelay({ initialMs: 10, maxMs: 1e9, factor: 3 }, n)),
      [10, 30, 90],
    );
  });

  it('takes at most the jitter fraction off, from the random source', () => {
    const p = { initialMs: 1000, maxMs: 1000, jitter: 0.25 };
    assert.equal(
      backoffDelay(p, 1, () => 0),
      1000,
    );
    assert.equal(
      backoffDelay(p, 1, () => 0.5),
      875,
    );
    const least = backoffDelay(p, 1, () => 0.999_999);
    assert.ok(least >= 750 && least < 751, `${least}`);
  });

  it('treats nonsense failure counts as the first failure and never returns more than the cap', () => {
    const p = { initialMs: 100, maxMs: 5000 };
    assert.equal(backoffDelay(p, 0), 100);
    assert.equal(backoffDelay(p, -3), 100);
    assert.equal(backoffDelay(p, Number.MAX_SAFE_INTEGER), 5000);
  });

  it('Backoff counts consecutive failures and starts over after a success', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000 });
    assert.deepEqual([b.fail(), b.fail(), b.fail()], [100, 200, 400]);
    assert.equal(b.failures, 3);
    b.succeed();
    assert.equal(b.failures, 0);
    assert.equal(b.fail(), 100);
  });
});
