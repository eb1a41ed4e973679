// The steady period of layer 2 checks: seconds for a few VIPs, stretched with their number so steady
// probing stays under its rate, capped; and the cores use it (a healthy VIP among few is probed again
// within seconds, among many within the cap).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { steadyPeriod } from '../../../speaker/layer2/steady-period.js';
import { VerifyCore } from '../../../speaker/layer2/verify-core.js';
import { DeliveryCore } from '../../../speaker/layer2/delivery-core.js';

const OWNER_MAC = '02:00:00:00:00:01';

describe('steady period of layer 2 checks', () => {
  const o = { minPeriodMs: 2_000, periodMs: 30_000, steadyPerSecond: 20 };
  it('is the minimum for few items, grows with their number at the steady rate, and is capped', () => {
    assert.equal(steadyPeriod(0, o), 2_000);
    assert.equal(steadyPeriod(1, o), 2_000);
    assert.equal(steadyPeriod(40, o), 2_000);
    assert.equal(steadyPeriod(41, o), 2_050);
    assert.equal(steadyPeriod(100, o), 5_000);
    assert.equal(steadyPeriod(600, o), 30_000);
    assert.equal(steadyPeriod(10_000, o), 30_000);
    assert.equal(steadyPeriod(5, { ...o, steadyPerSecond: 0 }), 30_000, 'no rate: the cap');
  });

  it('the prober probes a healthy VIP again after the short period when it probes few', () => {
    const c = new VerifyCore((m) => m === OWNER_MAC);
    c.setTargets(
      [{ service: 'ns/web', ip: '10.0.0.10', owner: 'node-1', ownerMacs: new Set([OWNER_MAC]) }],
      0,
    );
    c.due(0);
    c.answer('10.0.0.10', OWNER_MAC);
    c.tick(1_000);
    assert.equal(c.result('10.0.0.10')?.state, 'Answering');
    assert.equal(c.nextDeadline(), 3_000, 'defaults: 2 s after the window closed');
  });

  it('with many VIPs the period stretches to keep under the steady rate', () => {
    const c = new VerifyCore((m) => m === OWNER_MAC, { maxPerSecond: 10_000 });
    const targets = Array.from({ length: 200 }, (_, i) => ({
      service: `ns/s${i}`,
      ip: `10.0.${i >> 8}.${i & 255}`,
      owner: 'node-1',
      ownerMacs: new Set([OWNER_MAC]),
    }));
    c.setTargets(targets, 0);
    assert.equal(c.due(0).length, 200);
    for (const t of targets) c.answer(t.ip, OWNER_MAC);
    c.tick(1_000);
    assert.equal(c.nextDeadline(), 11_000, '200 VIPs at 20/s: every 10 s');
  });

  it('the owner checks delivery again after the short period when it checks few Services', () => {
    const c = new DeliveryCore();
    c.setTargets([{ service: 'ns/web', endpoints: [{ ip: '10.0.0.10', port: 80 }] }], 0);
    c.due(0);
    c.done('ns/web', new Map([['10.0.0.10:80', undefined]]), 100);
    assert.equal(c.nextDeadline(), 2_100);
  });
});
