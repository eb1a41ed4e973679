import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  isOurs,
  olderFirst,
  serviceRequest,
  statusIPs,
  type ServiceLike,
} from '../../../controller/request.js';

function svc(extra: { annotations?: Record<string, string>; spec?: ServiceLike['spec'] } = {}): ServiceLike {
  return {
    metadata: { name: 'web', namespace: 'shop', annotations: extra.annotations },
    spec: {
      type: 'LoadBalancer',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ protocol: 'TCP', port: 80 }],
      selector: { b: '2', a: '1' },
      ...extra.spec,
    },
  };
}
function reason(s: ServiceLike): string {
  const r = serviceRequest(s, {});
  assert.equal(r.ok, false);
  return r.ok ? '' : r.reason;
}

describe('Service -> request', () => {
  it('reads families, ports, selector, sharing key and pool', () => {
    const r = serviceRequest(
      svc({
        annotations: { 'metallb.io/address-pool': 'lan', 'metallb.io/allow-shared-ip': 'k' },
        spec: {
          ipFamilies: ['IPv6', 'IPv4'],
          ipFamilyPolicy: 'PreferDualStack',
          externalTrafficPolicy: 'Local',
        },
      }),
      { team: 'a' },
    );
    assert.ok(r.ok);
    assert.deepEqual(r.request.families, [6, 4]);
    assert.equal(r.request.policy, 'PreferDualStack');
    assert.equal(r.request.pool, 'lan');
    assert.equal(r.request.sharingKey, 'k');
    assert.equal(r.request.etpLocal, true);
    assert.equal(r.request.selector, 'a=1,b=2');
    assert.deepEqual(r.request.namespaceLabels, { team: 'a' });
    assert.deepEqual(r.deprecated, []);
  });
  it('SingleStack keeps only the primary family', () => {
    const r = serviceRequest(
      svc({ spec: { ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'SingleStack' } }),
      {},
    );
    assert.ok(r.ok);
    assert.deepEqual(r.request.families, [6]);
  });
  it('requested IPs from the annotation (canonical, IPv4 first) or spec.loadBalancerIP', () => {
    const r = serviceRequest(
      svc({
        annotations: { 'metallb.io/loadBalancerIPs': 'FC00::0001, 10.0.0.5' },
        spec: { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' },
      }),
      {},
    );
    assert.ok(r.ok);
    assert.deepEqual(r.request.requestedIPs, ['10.0.0.5', 'fc00::1']);
    const s = serviceRequest(svc({ spec: { loadBalancerIP: '10.0.0.7' } }), {});
    assert.ok(s.ok);
    assert.deepEqual(s.request.requestedIPs, ['10.0.0.7']);
  });
  it('the metallb.io/ key wins over the deprecated one, whose use is reported', () => {
    const r = serviceRequest(
      svc({
        annotations: {
          'metallb.io/address-pool': 'new',
          'metallb.universe.tf/address-pool': 'old',
          'metallb.universe.tf/allow-shared-ip': 'k',
        },
      }),
      {},
    );
    assert.ok(r.ok);
    assert.equal(r.request.pool, 'new');
    assert.equal(r.request.sharingKey, 'k');
    assert.deepEqual(r.deprecated, [
      'metallb.universe.tf/address-pool',
      'metallb.universe.tf/allow-shared-ip',
    ]);
  });
  it('rejects bad requests with actionable reasons', () => {
    assert.equal(
      reason(
        svc({
          annotations: { 'metallb.io/loadBalancerIPs': '10.0.0.1' },
          spec: { loadBalancerIP: '10.0.0.2' },
        }),
      ),
      'spec.loadBalancerIP and the metallb.io/loadBalancerIPs annotation are both set; use only the annotation',
    );
    assert.equal(
      reason(
        svc({
          annotations: { 'metallb.io/loadBalancerIPs': '10.0.0.1,10.0.0.2' },
          spec: { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack' },
        }),
      ),
      'the requested IPs 10.0.0.1, 10.0.0.2 are of the same family; request at most one IPv4 and one IPv6',
    );
    assert.equal(
      reason(svc({ annotations: { 'metallb.io/loadBalancerIPs': '10.0.0.1,fc00::1,10.0.0.3' } })),
      'at most 2 IPs can be requested (one per family), got 3',
    );
    assert.equal(
      reason(svc({ annotations: { 'metallb.io/loadBalancerIPs': 'fc00::1' } })),
      'requested IP fc00::1 is IPv6 but the Service is IPv4-only',
    );
    assert.equal(
      reason(svc({ annotations: { 'metallb.io/loadBalancerIPs': 'nope' } })),
      'requested IP "nope" is not a valid IP address',
    );
    assert.equal(
      reason(svc({ spec: { ipFamilies: ['IPv4'], ipFamilyPolicy: 'RequireDualStack' } })),
      'ipFamilyPolicy RequireDualStack needs both IPv4 and IPv6, but the Service has only IPv4',
    );
    assert.equal(
      reason(
        svc({
          annotations: { 'metallb.io/loadBalancerIPs': '10.0.0.1' },
          spec: { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' },
        }),
      ),
      'ipFamilyPolicy RequireDualStack needs one IPv4 and one IPv6 address, but only 10.0.0.1 is requested',
    );
  });
  it('ours: type LoadBalancer and the matching class', () => {
    assert.equal(isOurs(svc(), undefined), true);
    assert.equal(isOurs(svc({ spec: { type: 'ClusterIP' } }), undefined), false);
    assert.equal(isOurs(svc({ spec: { loadBalancerClass: 'other' } }), undefined), false);
    assert.equal(isOurs(svc({ spec: { loadBalancerClass: 'bollard' } }), 'bollard'), true);
    assert.equal(isOurs(svc(), 'bollard'), false);
  });
  it('status IPs are canonical and unique', () => {
    const s = svc();
    s.status = {
      loadBalancer: {
        ingress: [{ ip: 'FC00::1' }, { ip: '10.0.0.1' }, { hostname: 'x' }, { ip: 'fc00::1' }],
      },
    };
    assert.deepEqual(statusIPs(s), ['fc00::1', '10.0.0.1']);
  });
});

describe('olderFirst (who keeps a contested address on a rebuild)', () => {
  const made = (ns: string, name: string, creationTimestamp?: string): ServiceLike => ({
    metadata: { name, namespace: ns, ...(creationTimestamp ? { creationTimestamp } : {}) },
    spec: { type: 'LoadBalancer' },
  });
  it('the older Service first, whatever its name; within one second, by namespace/name', () => {
    const cases: [ServiceLike, ServiceLike, number, string][] = [
      [
        made('r1', 'z', '2026-01-01T10:00:00Z'),
        made('r1', 'a', '2026-01-01T10:00:01Z'),
        -1,
        'older, later name',
      ],
      [
        made('r1', 'a', '2026-01-01T10:00:01Z'),
        made('r1', 'z', '2026-01-01T10:00:00Z'),
        1,
        'younger, earlier name',
      ],
      [
        made('r1', 'd', '2026-01-01T10:00:00Z'),
        made('r1', 'e', '2026-01-01T10:00:00Z'),
        -1,
        'same second: by name',
      ],
      [
        made('b', 'x', '2026-01-01T10:00:00Z'),
        made('a', 'x', '2026-01-01T10:00:00Z'),
        1,
        'same second: namespace first',
      ],
      [
        made('r1', 'd', '2026-01-01T10:00:00Z'),
        made('r1', 'd', '2026-01-01T10:00:00Z'),
        0,
        'the same Service',
      ],
      [made('r1', 'n'), made('r1', 'o', '2026-01-01T10:00:00Z'), -1, 'no timestamp sorts first'],
    ];
    for (const [a, b, want, why] of cases) assert.equal(olderFirst(a, b), want, why);
  });
});
