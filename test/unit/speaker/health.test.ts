// The kube-proxy health prober's verdicts, with a probe the test answers and its interval on
// node:test's mock timers: healthy at the first success, unhealthy only after two failures in a row,
// one probe in flight per target. (The HTTP probe itself: test/integration/health-prober.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HealthProber, type HealthTarget } from '../../../speaker/health.js';

interface Pending {
  target: HealthTarget;
  answer: (ok: boolean) => Promise<void>;
}

describe('HealthProber', () => {
  it('healthy at the first success; unhealthy after two consecutive failures; healthy again after one success', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const probes: Pending[] = [];
    const reports: string[][] = [];
    const p = new HealthProber({
      intervalMs: 300,
      onChange: (h) => reports.push([...h]),
      probe: (target) => {
        let resolve!: (ok: boolean) => void;
        const result = new Promise<boolean>((r) => (resolve = r));
        // Awaiting the probe's own promise resumes after the prober's handler of it has run.
        probes.push({ target, answer: (ok) => (resolve(ok), result.then(() => undefined)) });
        return result;
      },
    });
    t.after(() => p.stop());
    const answer = async (ok: boolean): Promise<void> => {
      const next = probes.shift();
      assert.ok(next, 'a probe is in flight');
      await next.answer(ok);
    };

    p.setTargets(new Map([['ns/web', { host: '10.0.0.1', port: 30500 }]]));
    assert.equal(probes.length, 1, 'a new target is probed at once');
    assert.deepEqual(p.results(), new Map([['ns/web', undefined]]));
    await answer(true);
    assert.deepEqual(reports, [['ns/web']]);

    t.mock.timers.tick(300);
    await answer(false);
    assert.deepEqual(reports, [['ns/web']], 'one failure is not enough');
    assert.deepEqual(p.results(), new Map([['ns/web', true]]));

    t.mock.timers.tick(300);
    await answer(false);
    assert.deepEqual(reports, [['ns/web'], []], 'the second failure in a row is');

    t.mock.timers.tick(300);
    await answer(true);
    assert.deepEqual(reports, [['ns/web'], [], ['ns/web']]);
  });

  it('never has two probes of one target in flight; a forgotten target is reported gone', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const answers: ((ok: boolean) => void)[] = [];
    const reports: string[][] = [];
    const p = new HealthProber({
      intervalMs: 300,
      onChange: (h) => reports.push([...h]),
      probe: () => new Promise<boolean>((r) => answers.push(r)),
    });
    t.after(() => p.stop());
    p.setTargets(new Map([['ns/web', { host: '10.0.0.1', port: 30500 }]]));
    t.mock.timers.tick(300);
    t.mock.timers.tick(300);
    assert.equal(answers.length, 1, 'rounds skip a target whose probe has not answered');
    p.setTargets(new Map());
    assert.deepEqual(reports, [], 'nothing was healthy, so nothing changed');
    assert.deepEqual(p.results(), new Map());
  });
});
