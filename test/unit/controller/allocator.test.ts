import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Allocator } from '../../../controller/allocator.js';
import { pools, req } from './helpers.js';

function ok<T extends { ok: boolean }>(r: T): Extract<T, { ok: true }> {
  if (!r.ok) assert.fail(`expected ok, got ${JSON.stringify(r)}`);
  return r as Extract<T, { ok: true }>;
}
function fail(r: { ok: boolean; reason?: string }): string {
  assert.equal(r.ok, false, `expected failure, got ${JSON.stringify(r)}`);
  return r.reason ?? '';
}

describe('allocator: basics', () => {
  it('hands out the lowest free address, deterministically', () => {
    const a = new Allocator(pools({ lan: { addresses: ['10.0.0.10-10.0.0.12'] } }));
    assert.deepEqual(ok(a.ensure(req('a'))).assignment.ips, ['10.0.0.10']);
    assert.deepEqual(ok(a.ensure(req('b'))).assignment.ips, ['10.0.0.11']);
    a.release('default/a');
    assert.deepEqual(ok(a.ensure(req('c'))).assignment.ips, ['10.0.0.10']);
  });
  it('keeps a valid assignment (ensure is idempotent)', () => {
    const a = new Allocator(pools({ lan: { addresses: ['10.0.0.0/30'] } }));
    const first = ok(a.ensure(req('a')));
    const again = ok(a.ensure(req('a')));
    assert.equal(again.changed, false);
    assert.deepEqual(again.assignment.ips, first.assignment.ips);
  });
  it('reports exhaustion with counts', () => {
    const a = new Allocator(pools({ lan: { addresses: ['10.0.0.1-10.0.0.2'] } }));
    ok(a.ensure(req('a')));
    ok(a.ensure(req('b')));
    assert.equal(fail(a.ensure(req('c'))), 'pool lan is exhausted: 2 of 2 in use');
  });
  it('reports exhaustion of several pools', () => {
    const a = new Allocator(pools({ a: { addresses: ['10.0.0.1/32'] }, b: { addresses: ['10.0.1.1/32'] } }));
    ok(a.ensure(req('x')));
    ok(a.ensure(req('y')));
    assert.equal(
      fail(a.ensure(req('z'))),
      'no free address: pool a is exhausted: 1 of 1 in use; pool b is exhausted: 1 of 1 in use',
    );
  });
  it('no pools', () => {
    assert.equal(fail(new Allocator([]).ensure(req('a'))), 'no IPAddressPool is configured');
  });
  it('avoidBuggyIPs skips .0 and .255', () => {
    const a = new Allocator(pools({ lan: { addresses: ['10.0.0.255-10.0.1.1'], avoidBuggyIPs: true } }));
    assert.deepEqual(ok(a.ensure(req('a'))).assignment.ips, ['10.0.1.1']);
    assert.equal(fail(a.ensure(req('b'))), 'pool lan is exhausted: 1 of 1 in use');
    assert.equal(
      fail(a.ensure(req('c', { requestedIPs: ['10.0.0.255'] }))),
      '10.0.0.255 is excluded by avoidBuggyIPs in pool lan',
    );
  });
  it('works in an IPv6 /48 with bigint counts', () => {
    const a = new Allocator(pools({ v6: { addresses: ['fd00:1:2::/48'] } }));
    assert.deepEqual(ok(a.ensure(req('a', { families: [6] }))).assignment.ips, ['fd00:1:2::']);
    assert.deepEqual(ok(a.ensure(req('b', { families: [6] }))).assignment.ips, ['fd00:1:2::1']);
    const s = a.stats()[0];
    assert.equal(s?.assigned[6], 2n);
    assert.equal(s?.available[6], (1n << 80n) - 2n);
  });
  it('keeps stats current', () => {
    const a = new Allocator(pools({ lan: { addresses: ['10.0.0.0/29', 'fc00::/126'] } }));
    ok(a.ensure(req('a', { families: [4, 6], policy: 'RequireDualStack' })));
    ok(a.ensure(req('b')));
    assert.deepEqual(a.stats(), [
      {
        pool: 'lan',
        services: 2,
        assigned: { 4: 2n, 6: 1n },
        available: { 4: 6n, 6: 3n },
        total: { 4: 8n, 6: 4n },
      },
    ]);
    a.release('default/a');
    assert.deepEqual(a.stats()[0]?.assigned, { 4: 1n, 6: 0n });
    assert.equal(a.stats()[0]?.services, 1);
  });
});

describe('allocator: requested IPs', () => {
  const p = () =>
    new Allocator(
      pools({ lan: { addresses: ['10.0.0.0/24'] }, dmz: { addresses: ['10.0.1.0/24'], autoAssign: false } }),
    );
  it('claims a requested IP, even from an autoAssign: false pool', () => {
    const a = p();
    assert.deepEqual(ok(a.ensure(req('a', { requestedIPs: ['10.0.1.7'] }))).assignment, {
      key: 'default/a',
      pool: 'dmz',
      ips: ['10.0.1.7'],
    });
  });
  it('rejects an IP outside every pool', () => {
    assert.equal(fail(p().ensure(req('a', { requestedIPs: ['10.9.9.9'] }))), '10.9.9.9 is not in any pool');
  });
  it('rejects an IP outside the address-pool', () => {
    assert.equal(
      fail(p().ensure(req('a', { requestedIPs: ['10.0.1.7'], pool: 'lan' }))),
      '10.0.1.7 is not in pool lan (it is in pool dmz)',
    );
  });
  it('rejects an IP in use by another Service', () => {
    const a = p();
    ok(a.ensure(req('web', { namespace: 'shop', requestedIPs: ['10.0.0.5'] })));
    assert.equal(
      fail(a.ensure(req('other', { requestedIPs: ['10.0.0.5'] }))),
      '10.0.0.5 is used by shop/web',
    );
  });
  it('moves when the requested IP changes, and says why', () => {
    const a = p();
    ok(a.ensure(req('a', { requestedIPs: ['10.0.0.5'] })));
    const r = ok(a.ensure(req('a', { requestedIPs: ['10.0.0.6'] })));
    assert.deepEqual(r.assignment.ips, ['10.0.0.6']);
    assert.deepEqual(r.cleared, { ips: ['10.0.0.5'], reason: 'the requested IPs changed to 10.0.0.6' });
    assert.deepEqual(a.usersOf('10.0.0.5'), []);
  });
  it('a failed claim keeps nothing half-done', () => {
    const a = p();
    ok(a.ensure(req('b', { requestedIPs: ['10.0.0.6'] })));
    assert.ok(!a.claim(req('a', { families: [4], requestedIPs: ['10.0.0.6'] }), ['10.0.0.6']).ok);
    assert.equal(a.assignment('default/a'), undefined);
    assert.deepEqual(a.usersOf('10.0.0.6'), ['default/b']);
  });
  it('dual-stack requested IPs must come from one pool', () => {
    const a = new Allocator(pools({ v4: { addresses: ['10.0.0.0/24'] }, v6: { addresses: ['fc00::/64'] } }));
    assert.equal(
      fail(
        a.ensure(
          req('a', { families: [4, 6], policy: 'RequireDualStack', requestedIPs: ['10.0.0.1', 'fc00::1'] }),
        ),
      ),
      "10.0.0.1, fc00::1 are in different pools (v4, v6); a Service's IPs must come from one pool",
    );
  });
});

describe('allocator: pool selection', () => {
  it('address-pool ignores autoAssign; an unknown pool is an error', () => {
    const a = new Allocator(
      pools({
        lan: { addresses: ['10.0.0.0/24'] },
        manual: { addresses: ['10.0.9.0/24'], autoAssign: false },
      }),
    );
    assert.equal(ok(a.ensure(req('a'))).assignment.pool, 'lan');
    assert.equal(ok(a.ensure(req('b', { pool: 'manual' }))).assignment.pool, 'manual');
    assert.equal(fail(a.ensure(req('c', { pool: 'nope' }))), 'pool nope does not exist');
  });
  it('autoAssign: false pools are never used automatically', () => {
    const a = new Allocator(pools({ manual: { addresses: ['10.0.9.0/24'], autoAssign: false } }));
    assert.equal(
      fail(a.ensure(req('a'))),
      'no IPAddressPool with autoAssign serves default/a (1 pools checked)',
    );
  });
  it('serviceAllocation pools by priority (lower first, 0 last), then the others', () => {
    const a = new Allocator(
      pools({
        aa: { addresses: ['10.0.1.0/32'] },
        p0: { addresses: ['10.0.2.0/32'], serviceAllocation: { namespaces: ['default'] } },
        p5: { addresses: ['10.0.3.0/32'], serviceAllocation: { priority: 5, namespaces: ['default'] } },
        p1: { addresses: ['10.0.4.0/32'], serviceAllocation: { priority: 1, namespaces: ['default'] } },
      }),
    );
    const order = ['a', 'b', 'c', 'd'].map((n) => ok(a.ensure(req(n))).assignment.pool);
    assert.deepEqual(order, ['p1', 'p5', 'p0', 'aa']);
  });
  it('negative priorities (accepted, as in MetalLB) go before positive ones; 0 still last', () => {
    // MetalLB (internal/allocator/allocator.go: sortPools) accepts them but does not define their order.
    const a = new Allocator(
      pools({
        p0: { addresses: ['10.0.2.0/32'], serviceAllocation: { namespaces: ['default'] } },
        p1: { addresses: ['10.0.4.0/32'], serviceAllocation: { priority: 1, namespaces: ['default'] } },
        m3: { addresses: ['10.0.5.0/32'], serviceAllocation: { priority: -3, namespaces: ['default'] } },
        m1: { addresses: ['10.0.6.0/32'], serviceAllocation: { priority: -1, namespaces: ['default'] } },
      }),
    );
    const order = ['a', 'b', 'c', 'd'].map((n) => ok(a.ensure(req(n))).assignment.pool);
    assert.deepEqual(order, ['m3', 'm1', 'p1', 'p0']);
  });
  it('a restricted pool never serves a non-matching Service', () => {
    const a = new Allocator(
      pools({
        team: {
          addresses: ['10.0.0.0/30'],
          serviceAllocation: {
            namespaceSelectors: [{ matchLabels: { team: 'a' } }],
            serviceSelectors: [{ matchLabels: { expose: 'yes' } }],
          },
        },
      }),
    );
    assert.equal(
      fail(a.ensure(req('x', { namespaceLabels: { team: 'b' }, labels: { expose: 'yes' } }))),
      'no IPAddressPool with autoAssign serves default/x (1 pools checked)',
    );
    assert.equal(
      fail(a.ensure(req('y', { namespaceLabels: { team: 'a' } }))),
      'no IPAddressPool with autoAssign serves default/y (1 pools checked)',
    );
    assert.equal(
      fail(a.ensure(req('z', { pool: 'team' }))),
      "pool team's serviceAllocation does not select default/z",
    );
    assert.equal(
      fail(a.ensure(req('w', { requestedIPs: ['10.0.0.1'] }))),
      '10.0.0.1 is in pool team, whose serviceAllocation does not select default/w',
    );
    assert.equal(
      ok(a.ensure(req('ok', { namespaceLabels: { team: 'a' }, labels: { expose: 'yes' } }))).assignment.pool,
      'team',
    );
  });
  it('moves a Service when its namespace labels no longer match the pool, with the reason', () => {
    const a = new Allocator(
      pools({
        team: {
          addresses: ['10.0.0.0/30'],
          serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { team: 'a' } }] },
        },
        any: { addresses: ['10.1.0.0/30'] },
      }),
    );
    assert.equal(ok(a.ensure(req('x', { namespaceLabels: { team: 'a' } }))).assignment.pool, 'team');
    assert.equal(ok(a.ensure(req('x', { namespaceLabels: { team: 'a' } }))).changed, false);
    const r = ok(a.ensure(req('x', { namespaceLabels: { team: 'b' } })));
    assert.deepEqual(r.cleared, {
      ips: ['10.0.0.0'],
      reason: "pool team's serviceAllocation no longer selects default/x",
    });
    assert.equal(r.assignment.pool, 'any');
  });
});

describe('allocator: sharing', () => {
  const a = () => new Allocator(pools({ lan: { addresses: ['10.0.0.1-10.0.0.3'] } }));
  it('Services with the same key and disjoint ports share the lowest shareable IP', () => {
    const al = a();
    ok(al.ensure(req('first')));
    const x = ok(al.ensure(req('x', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 80 }] })));
    const y = ok(al.ensure(req('y', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 443 }] })));
    assert.deepEqual(x.assignment.ips, ['10.0.0.2']);
    assert.deepEqual(y.assignment.ips, ['10.0.0.2']);
    assert.deepEqual(al.usersOf('10.0.0.2').sort(), ['default/x', 'default/y']);
    assert.equal(al.stats()[0]?.assigned[4], 2n, 'a shared IP counts once');
  });
  it('same port and protocol → a different IP, or a precise error for a requested one', () => {
    const al = a();
    ok(al.ensure(req('web', { namespace: 'shop', sharingKey: 'k', requestedIPs: ['10.0.0.1'] })));
    assert.deepEqual(ok(al.ensure(req('y', { sharingKey: 'k' }))).assignment.ips, ['10.0.0.2']);
    assert.equal(
      fail(al.ensure(req('z', { sharingKey: 'k', requestedIPs: ['10.0.0.1'] }))),
      '10.0.0.1 is used by shop/web on TCP/80',
    );
    ok(
      al.ensure(
        req('udp', { sharingKey: 'k', requestedIPs: ['10.0.0.1'], ports: [{ protocol: 'UDP', port: 80 }] }),
      ),
    );
  });
  it('different keys do not share', () => {
    const al = a();
    ok(al.ensure(req('x', { sharingKey: 'k1', requestedIPs: ['10.0.0.1'] })));
    assert.equal(
      fail(
        al.ensure(
          req('y', { sharingKey: 'k2', requestedIPs: ['10.0.0.1'], ports: [{ protocol: 'TCP', port: 81 }] }),
        ),
      ),
      '10.0.0.1 is used by default/x with allow-shared-ip "k1", not "k2"',
    );
  });
  it('ETP Local shares only with Local and identical selectors', () => {
    const al = a();
    ok(
      al.ensure(req('x', { sharingKey: 'k', etpLocal: true, selector: 'app=a', requestedIPs: ['10.0.0.1'] })),
    );
    const p81 = [{ protocol: 'TCP', port: 81 }];
    assert.equal(
      fail(al.ensure(req('c', { sharingKey: 'k', etpLocal: false, ports: p81, requestedIPs: ['10.0.0.1'] }))),
      '10.0.0.1 is used by default/x with externalTrafficPolicy Local; Local and Cluster Services never share an IP',
    );
    assert.equal(
      fail(
        al.ensure(
          req('d', {
            sharingKey: 'k',
            etpLocal: true,
            selector: 'app=b',
            ports: p81,
            requestedIPs: ['10.0.0.1'],
          }),
        ),
      ),
      '10.0.0.1 is used by default/x with externalTrafficPolicy Local and a different selector; Local Services share only with identical selectors',
    );
    ok(
      al.ensure(
        req('e', {
          sharingKey: 'k',
          etpLocal: true,
          selector: 'app=a',
          ports: p81,
          requestedIPs: ['10.0.0.1'],
        }),
      ),
    );
  });
  it('a port change that now collides moves the Service, with the reason', () => {
    const al = a();
    ok(al.ensure(req('x', { sharingKey: 'k' })));
    ok(al.ensure(req('y', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 81 }] })));
    const r = ok(al.ensure(req('y', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 80 }] })));
    assert.deepEqual(r.cleared, { ips: ['10.0.0.1'], reason: '10.0.0.1 is used by default/x on TCP/80' });
    assert.deepEqual(r.assignment.ips, ['10.0.0.2']);
  });
  it('releasing one sharer keeps the IP for the other', () => {
    const al = a();
    ok(al.ensure(req('x', { sharingKey: 'k' })));
    ok(al.ensure(req('y', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 81 }] })));
    al.release('default/x');
    assert.deepEqual(al.usersOf('10.0.0.1'), ['default/y']);
    assert.deepEqual(ok(al.ensure(req('z'))).assignment.ips, ['10.0.0.2']);
  });
});

describe('allocator: dual-stack', () => {
  it('takes both families from one pool', () => {
    const a = new Allocator(
      pools({ v4: { addresses: ['10.0.0.0/30'] }, ds: { addresses: ['10.1.0.0/30', 'fc00::/126'] } }),
    );
    const r = ok(a.ensure(req('a', { families: [6, 4], policy: 'RequireDualStack' })));
    assert.deepEqual(r.assignment, { key: 'default/a', pool: 'ds', ips: ['10.1.0.0', 'fc00::'] });
  });
  it('RequireDualStack fails clearly without a pool holding both', () => {
    const a = new Allocator(pools({ v4: { addresses: ['10.0.0.0/30'] }, v6: { addresses: ['fc00::/126'] } }));
    assert.equal(
      fail(a.ensure(req('a', { families: [4, 6], policy: 'RequireDualStack' }))),
      'no pool holds both IPv4 and IPv6 addresses for RequireDualStack Service default/a',
    );
  });
  it('PreferDualStack falls back to one family and adds the other later', () => {
    const a = new Allocator(pools({ ds: { addresses: ['10.0.0.1/32', 'fc00::1/128'] } }));
    ok(a.ensure(req('hog', { families: [6] })));
    const r = ok(a.ensure(req('a', { families: [4, 6], policy: 'PreferDualStack' })));
    assert.deepEqual(r.assignment.ips, ['10.0.0.1']);
    a.release('default/hog');
    const later = ok(a.ensure(req('a', { families: [4, 6], policy: 'PreferDualStack' })));
    assert.equal(later.changed, true);
    assert.equal(later.cleared, undefined, 'the IPv4 address is kept');
    assert.deepEqual(later.assignment.ips, ['10.0.0.1', 'fc00::1']);
  });
});

describe('allocator: pool changes', () => {
  it('deleting a pool releases its assignments with the reason', () => {
    const a = new Allocator(
      pools({ lan: { addresses: ['10.0.0.0/30'] }, other: { addresses: ['10.1.0.0/30'] } }),
    );
    ok(a.ensure(req('a', { pool: 'lan' })));
    ok(a.ensure(req('b', { pool: 'other' })));
    const dropped = a.setPools(pools({ other: { addresses: ['10.1.0.0/30'] } }));
    assert.deepEqual(
      [...dropped],
      [
        [
          'default/a',
          { ips: ['10.0.0.0'], reason: '10.0.0.0 is no longer in any pool (pool lan was deleted or shrunk)' },
        ],
      ],
    );
    assert.equal(a.assignment('default/a'), undefined);
    assert.deepEqual(a.assignment('default/b')?.ips, ['10.1.0.0']);
    assert.equal(a.stats()[0]?.assigned[4], 1n);
  });
  it('shrinking a pool releases only the addresses outside it and never hands them out again', () => {
    const a = new Allocator(pools({ lan: { addresses: ['10.0.0.1-10.0.0.4'] } }));
    for (const n of ['a', 'b', 'c', 'd']) ok(a.ensure(req(n)));
    const dropped = a.setPools(pools({ lan: { addresses: ['10.0.0.1-10.0.0.2'] } }));
    assert.deepEqual([...dropped.keys()].sort(), ['default/c', 'default/d']);
    assert.deepEqual(a.stats()[0]?.assigned[4], 2n);
    assert.equal(fail(a.ensure(req('e'))), 'pool lan is exhausted: 2 of 2 in use');
  });
  it('renaming a pool keeps the addresses', () => {
    const a = new Allocator(pools({ old: { addresses: ['10.0.0.0/30'] } }));
    ok(a.ensure(req('a')));
    assert.equal(a.setPools(pools({ renamed: { addresses: ['10.0.0.0/30'] } })).size, 0);
    assert.deepEqual(a.assignment('default/a'), { key: 'default/a', pool: 'renamed', ips: ['10.0.0.0'] });
  });
});

describe('controller metrics', () => {
  it('metallb_allocator_services_allocated_total{pool}: Services per pool, shared addresses counted per Service', async () => {
    const { ControllerMetrics } = await import('../../../controller/metrics.js');
    const al = new Allocator(
      pools({
        lan: { addresses: ['10.0.0.1-10.0.0.3'] },
        spare: { addresses: ['10.0.1.0/30'], autoAssign: false },
      }),
    );
    ok(al.ensure(req('x', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 80 }] })));
    ok(al.ensure(req('y', { sharingKey: 'k', ports: [{ protocol: 'TCP', port: 443 }] })));
    ok(al.ensure(req('z')));
    const m = new ControllerMetrics({ defaultMetrics: false });
    m.setPoolStats(al.stats());
    const text = await m.registry.metrics();
    assert.match(text, /^metallb_allocator_services_allocated_total\{pool="lan"\} 3$/m);
    assert.match(text, /^metallb_allocator_addresses_in_use_total\{pool="lan"\} 2$/m);
    assert.match(text, /^metallb_allocator_services_allocated_total\{pool="spare"\} 0$/m);
    m.setPoolStats(al.stats().filter((s) => s.pool !== 'spare'));
    assert.doesNotMatch(
      await m.registry.metrics(),
      /services_allocated_total\{pool="spare"\}/,
      'a deleted pool loses its series',
    );
  });
});
