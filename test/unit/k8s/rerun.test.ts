import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rerun } from '../../../k8s/rerun.js';

describe('Rerun', () => {
  it('asks while a round runs fold into one more round; never two rounds at once', async () => {
    let active = 0;
    let rounds = 0;
    let release: () => void = () => undefined;
    const r = new Rerun(async () => {
      active++;
      assert.equal(active, 1);
      rounds++;
      if (rounds === 1) await new Promise<void>((res) => (release = res));
      active--;
    });
    const first = r.run();
    await Promise.all([r.run(), r.run(), r.run()]);
    release();
    await first;
    assert.equal(rounds, 2);
    await r.run();
    assert.equal(rounds, 3);
  });

  it('starts no further round once stopped', async () => {
    let rounds = 0;
    let stopped = false;
    let release: () => void = () => undefined;
    const r = new Rerun(
      async () => {
        rounds++;
        if (rounds === 1) await new Promise<void>((res) => (release = res));
      },
      () => stopped,
    );
    const first = r.run();
    await r.run();
    stopped = true;
    release();
    await first;
    assert.equal(rounds, 1);
  });
});
