// Partition heal in the membership core: the re-probe schedule of dead members (simulated clock).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Membership, seededRandom } from '../../../speaker/membership/core.js';

const T0 = 1_000_000;

/** Ticks every member every 10 ms for `ms`, dropping everything they send (a full partition). */
function isolated(ms: number, clock: { now: number }, ...members: Membership[]): void {
  const end = clock.now + ms;
  while (clock.now < end) {
    clock.now += 10;
    for (const m of members) m.onTick(clock.now);
  }
}

describe('membership core: partition heal', () => {
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
});
