import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rebuildAllocator } from '../../../controller/rebuild.js';
import type { Service } from '../../../controller/informers.js';
import { pools } from './helpers.js';

function svc(name: string, created: string, ip: string, extra: Partial<Service['spec']> = {}): Service {
  return {
    metadata: { name, namespace: 'shop', creationTimestamp: created },
    spec: {
      type: 'LoadBalancer',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ protocol: 'TCP', port: 80 }],
      selector: { app: name },
      ...extra,
    },
    status: { loadBalancer: { ingress: [{ ip }] } },
  } as Service;
}

describe('rebuilding the allocator from Service status', () => {
  const ps = pools({ lan: { addresses: ['10.0.0.0/29'] } });

  it('keeps every address a Service names in its status', () => {
    const r = rebuildAllocator(ps, [svc('a', '2026-01-01T00:00:00Z', '10.0.0.3')], undefined, () => ({}));
    assert.deepEqual(r.allocator.assignment('shop/a')?.ips, ['10.0.0.3']);
    assert.equal(r.lost.size, 0);
  });

  it('gives a contested address to the older Service, whatever order the list has', () => {
    const younger = svc('young', '2026-02-01T00:00:00Z', '10.0.0.3');
    const older = svc('old', '2026-01-01T00:00:00Z', '10.0.0.3');
    for (const list of [
      [younger, older],
      [older, younger],
    ]) {
      const r = rebuildAllocator(ps, list, undefined, () => ({}));
      assert.deepEqual(r.allocator.assignment('shop/old')?.ips, ['10.0.0.3']);
      assert.equal(r.allocator.assignment('shop/young'), undefined);
      const lost = r.lost.get('shop/young');
      assert.deepEqual(lost?.ips, ['10.0.0.3']);
      assert.match(lost?.reason ?? '', /older and keeps it/);
    }
  });

  it('ignores other classes and has nothing to keep without a configuration', () => {
    const other = svc('x', '2026-01-01T00:00:00Z', '10.0.0.4', { loadBalancerClass: 'other' });
    assert.equal(
      rebuildAllocator(ps, [other], undefined, () => ({})).allocator.assignment('shop/x'),
      undefined,
    );
    const none = rebuildAllocator(
      undefined,
      [svc('a', '2026-01-01T00:00:00Z', '10.0.0.3')],
      undefined,
      () => ({}),
    );
    assert.equal(none.allocator.assignmentCount, 0);
    assert.equal(none.lost.size, 0);
  });
});
