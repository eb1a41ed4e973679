import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnnouncedSeries } from '../../../speaker/announced-series.js';

describe('AnnouncedSeries', () => {
  it('keeps one series per announced (Service, IP), touching only what changed', () => {
    const ops: string[] = [];
    const s = new AnnouncedSeries(
      {
        set: (l, v) => ops.push(`set ${l.service} ${l.ip} ${l.protocol} ${l.node} ${v}`),
        remove: (l) => ops.push(`remove ${l.service} ${l.ip}`),
      },
      'bgp',
      'node-1',
    );
    s.update('ns/a', ['10.0.0.1', 'fd00::1']);
    s.update('ns/a', ['10.0.0.1', 'fd00::1']); // unchanged: nothing
    s.update('ns/a', ['10.0.0.2', 'fd00::1']);
    s.update('ns/b', []); // never announced: nothing
    s.update('ns/a', []);
    assert.deepEqual(ops, [
      'set ns/a 10.0.0.1 bgp node-1 1',
      'set ns/a fd00::1 bgp node-1 1',
      'remove ns/a 10.0.0.1',
      'set ns/a 10.0.0.2 bgp node-1 1',
      'remove ns/a 10.0.0.2',
      'remove ns/a fd00::1',
    ]);
    assert.deepEqual([...s.services()], []);
  });
});
