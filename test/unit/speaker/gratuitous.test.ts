import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GratuitousSchedule } from '../../../speaker/layer2/gratuitous.js';

function times(
  s: GratuitousSchedule,
  key: string,
  from: number,
  to: number,
  step = 10,
  onTick?: (t: number) => void,
): number[] {
  const out: number[] = [];
  for (let t = from; t <= to; t += step) {
    onTick?.(t);
    if (s.due(t).includes(key)) out.push(t);
  }
  return out;
}

describe('gratuitous schedule (MetalLB: at once, then every 1.1 s until 5 s after the last trigger)', () => {
  it('sends at once and every 1.1 s for 5 s', () => {
    const s = new GratuitousSchedule();
    s.trigger('eth0|192.0.2.1', 0);
    assert.deepEqual(times(s, 'eth0|192.0.2.1', 0, 20_000), [0, 1100, 2200, 3300, 4400]);
    assert.equal(s.size, 0);
  });
  it('a new trigger restarts the window', () => {
    const s = new GratuitousSchedule();
    s.trigger('k', 0);
    const sent = times(s, 'k', 0, 20_000, 10, (t) => {
      if (t === 3000) s.trigger('k', 3000);
    });
    assert.deepEqual(sent, [0, 1100, 2200, 3000, 4100, 5200, 6300, 7400]);
  });
  it('cancel stops at once', () => {
    const s = new GratuitousSchedule();
    s.trigger('k', 0);
    s.due(0);
    s.cancel('k');
    assert.deepEqual(times(s, 'k', 0, 10_000), []);
    assert.equal(s.nextDeadline(), undefined);
  });
  it('a stalled clock does not burst', () => {
    const s = new GratuitousSchedule();
    s.trigger('k', 0);
    s.due(0);
    assert.deepEqual(s.due(3500), ['k']);
    assert.equal(s.nextDeadline(), 4400);
  });
  it('custom interval and window', () => {
    const s = new GratuitousSchedule({ intervalMs: 500, windowMs: 1000 });
    s.trigger('k', 100);
    assert.deepEqual(times(s, 'k', 100, 5000), [100, 600, 1100]);
  });
});
