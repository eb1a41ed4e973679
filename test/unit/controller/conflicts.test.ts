// The pure cores of implementation conflicts: who else owns status.loadBalancer, how Bollard answers a
// foreign writer (a growing delay, never a loop; clears after a quiet period), which workloads are
// another LoadBalancer implementation, the condition's text, and the Service-condition diff.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTROLLER_FIELD_MANAGER,
  EventBudget,
  ForeignWriters,
  REASON_FOREIGN_STATUS_WRITER,
  REASON_OTHER_LOAD_BALANCER,
  describeOthers,
  foreignStatusManagers,
  implementationCondition,
  implementationOf,
  otherImplementations,
  type WorkloadFacts,
} from '../../../controller/conflicts.js';
import { ConditionsInFlight, nextCondition } from '../../../k8s/service-conditions.js';
import { controllerService } from '../../../k8s/projection.js';

const policy = { rewrite: { initialMs: 1000, maxMs: 8000 }, quietMs: 10_000 };

describe('foreignStatusManagers', () => {
  it('names the managers other than Bollard that own status.loadBalancer; nameless entries are not counted', () => {
    assert.deepEqual(
      foreignStatusManagers([
        { manager: CONTROLLER_FIELD_MANAGER },
        { manager: 'k3s' },
        { manager: '' },
        { manager: 'k3s' },
      ]),
      ['k3s'],
    );
    assert.deepEqual(foreignStatusManagers(undefined), []);
  });

  it('the controller projection keeps only the names of the other managers owning status.loadBalancer', () => {
    const svc = {
      metadata: {
        name: 'web',
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration': '{}',
          'metallb.io/address-pool': 'a',
        },
        managedFields: [
          { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': { 'f:type': {} } } },
          {
            manager: 'other-lb',
            operation: 'Update',
            subresource: 'status',
            time: '2026-12-03T14:00:00Z',
            fieldsV1: { 'f:status': { 'f:loadBalancer': { 'f:ingress': {} } } },
          },
          { manager: 'cond-writer', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': {} } } },
          {
            manager: CONTROLLER_FIELD_MANAGER,
            subresource: 'status',
            fieldsV1: { 'f:status': { 'f:loadBalancer': { 'f:ingress': {} } } },
          },
        ],
      },
    };
    const out = controllerService(svc);
    assert.deepEqual(out.metadata.managedFields, [{ manager: 'other-lb' }]);
    assert.deepEqual(out.metadata.annotations, { 'metallb.io/address-pool': 'a' });
  });
});

describe('ForeignWriters', () => {
  it('rewrites at once, then only after a growing delay; a writer fighting at every turn gets no loop', () => {
    const fw = new ForeignWriters(policy);
    let now = 0;
    const writes: number[] = [];
    // the other writer answers each of Bollard's writes 10 ms later, and the reconciler sees every change
    for (let i = 0; i < 200; i++) {
      const v = fw.foreign('ns/web', ['other-lb'], ['192.0.2.9'], now);
      if (v.kind === 'rewrite') writes.push(now);
      else assert.equal(v.kind, 'wait');
      now += 10 + (v.kind === 'wait' ? v.retryInMs : 0);
    }
    const gaps = writes.slice(1).map((t, i) => t - (writes[i] ?? 0));
    assert.ok(
      gaps.every((g) => g >= 1000),
      `gaps ${gaps.join(',')}`,
    );
    assert.ok(
      gaps.slice(3).every((g) => g >= 8000),
      'the delay reaches its cap',
    );
    assert.equal(fw.conflict('ns/web')?.rewrites, writes.length);
    assert.deepEqual(fw.conflict('ns/web')?.managers, ['other-lb']);
  });

  it('clears once Bollard status held for the quiet period after the last foreign write', () => {
    const fw = new ForeignWriters(policy);
    assert.equal(fw.foreign('ns/web', ['x'], ['192.0.2.9'], 0).kind, 'rewrite');
    assert.deepEqual(fw.holds('ns/web', 4000), { kind: 'holding', clearInMs: 6000 });
    assert.ok(fw.conflict('ns/web'));
    assert.deepEqual(fw.holds('ns/web', 10_000), { kind: 'none' });
    assert.equal(fw.conflict('ns/web'), undefined);
    assert.equal(fw.count, 0);
    // a new conflict starts with an immediate rewrite again
    assert.equal(fw.foreign('ns/web', ['x'], ['192.0.2.9'], 20_000).kind, 'rewrite');
    assert.deepEqual(fw.holds('other/svc', 0), { kind: 'none' });
  });
});

const w = (o: Partial<WorkloadFacts> & { name: string }): WorkloadFacts => ({
  kind: 'DaemonSet',
  namespace: 'kube-system',
  labels: {},
  images: [],
  ...o,
});

describe('other implementations', () => {
  it('recognises k3s ServiceLB, kube-vip and MetalLB, and never Bollard itself', () => {
    assert.equal(implementationOf(w({ name: 'svclb-web-4b1c2d' })), 'k3s ServiceLB');
    assert.equal(
      implementationOf(w({ name: 'lb', labels: { 'svccontroller.k3s.cattle.io/svcname': 'web' } })),
      'k3s ServiceLB',
    );
    assert.equal(implementationOf(w({ name: 'kube-vip-ds' })), 'kube-vip');
    assert.equal(
      implementationOf(
        w({
          kind: 'Deployment',
          name: 'lb-cp',
          images: ['ghcr.io/kube-vip/kube-vip-cloud-provider:v0.0.10'],
        }),
      ),
      'kube-vip',
    );
    assert.equal(implementationOf(w({ name: 'speaker', labels: { app: 'metallb' } })), 'MetalLB');
    assert.equal(
      implementationOf(
        w({ kind: 'Deployment', name: 'controller', images: ['quay.io/metallb/controller:v0.14.8'] }),
      ),
      'MetalLB',
    );
    // MetalLB's controller scaled to zero (a migration's step 2) runs nothing
    assert.equal(
      implementationOf(
        w({ kind: 'Deployment', name: 'controller', labels: { app: 'metallb' }, replicas: 0 }),
      ),
      undefined,
    );
    // Bollard's own speaker and controller (MetalLB-compatible, but not another implementation)
    assert.equal(
      implementationOf(
        w({
          name: 'speaker',
          labels: { 'app.kubernetes.io/name': 'bollard', app: 'metallb' },
          images: ['bollard/bollard:0.1.0'],
        }),
      ),
      undefined,
    );
    assert.equal(
      implementationOf(w({ name: 'coredns', kind: 'Deployment', images: ['coredns/coredns:1.11'] })),
      undefined,
    );
  });

  it('lists them sorted and describes them briefly', () => {
    const others = otherImplementations([
      w({ name: 'svclb-b' }),
      w({ name: 'kube-vip-ds' }),
      w({ name: 'svclb-a' }),
      w({ name: 'coredns', kind: 'Deployment' }),
    ]);
    assert.deepEqual(others, [
      { implementation: 'k3s ServiceLB', object: 'DaemonSet kube-system/svclb-a' },
      { implementation: 'k3s ServiceLB', object: 'DaemonSet kube-system/svclb-b' },
      { implementation: 'kube-vip', object: 'DaemonSet kube-system/kube-vip-ds' },
    ]);
    assert.equal(
      describeOthers(others),
      'k3s ServiceLB (DaemonSet kube-system/svclb-a, +1 more), kube-vip (DaemonSet kube-system/kube-vip-ds)',
    );
  });
});

describe('implementationCondition', () => {
  const others = [{ implementation: 'kube-vip', object: 'DaemonSet kube-system/kube-vip-ds' }];
  it('a foreign writer wins the reason; another implementation is named in the message', () => {
    const c = implementationCondition({ managers: ['k3s'], ips: ['10.0.0.5'], rewrites: 1 }, others);
    assert.equal(c?.reason, REASON_FOREIGN_STATUS_WRITER);
    assert.match(c?.message ?? '', /rewritten by k3s \(to 10\.0\.0\.5\).*kube-vip/);
    assert.equal(implementationCondition(undefined, others)?.reason, REASON_OTHER_LOAD_BALANCER);
    assert.equal(implementationCondition(undefined, []), undefined);
  });
});

describe('nextCondition', () => {
  const clear = { reason: 'NoConflict', message: 'fine' };
  const want = { status: 'True' as const, reason: 'R', message: 'm' };
  it('writes only on a change; keeps lastTransitionTime while the status stays', () => {
    const first = nextCondition('t', undefined, want, Date.UTC(2026, 11, 3, 14, 0, 0), 3, clear);
    assert.equal(first.raised, true);
    assert.equal(first.write?.lastTransitionTime, '2026-12-03T14:00:00Z');
    assert.equal(first.write?.observedGeneration, 3);
    assert.equal(nextCondition('t', first.write, want, 5000, 3, clear).write, undefined);
    const reworded = nextCondition('t', first.write, { ...want, message: 'm2' }, 5000, 3, clear);
    assert.equal(reworded.raised, false);
    assert.equal(reworded.write?.lastTransitionTime, '2026-12-03T14:00:00Z');
  });
  it('no wish: a True condition turns False, none stays none (no write for Services that are fine)', () => {
    const served = { type: 't', status: 'True' as const, reason: 'R', message: 'm', lastTransitionTime: 'x' };
    const c = nextCondition('t', served, undefined, 0, undefined, clear);
    assert.equal(c.cleared, true);
    assert.equal(c.write?.status, 'False');
    assert.equal(c.write?.reason, 'NoConflict');
    assert.equal(nextCondition('t', undefined, undefined, 0, undefined, clear).write, undefined);
    assert.equal(nextCondition('t', c.write, undefined, 0, undefined, clear).write, undefined);
  });
});

describe('EventBudget', () => {
  it('gives at most its limit per transition', () => {
    const b = new EventBudget(2);
    assert.deepEqual([b.take(), b.take(), b.take()], [true, true, false]);
    b.reset();
    assert.equal(b.take(), true);
  });
});

describe('ConditionsInFlight', () => {
  const c = (status: 'True' | 'False', reason: string) => ({
    type: 't',
    status,
    reason,
    message: 'm',
    lastTransitionTime: '2026-12-03T14:00:00Z',
  });
  it('a write not yet in the cache is not written again; the cache catching up ends it', () => {
    const f = new ConditionsInFlight();
    assert.equal(f.needed('ns/a', 'u1', undefined, c('True', 'R')), true);
    f.wrote('ns/a', 'u1', c('True', 'R'));
    // a pass before the watch brought it back: same wish, stale cache
    assert.equal(f.needed('ns/a', 'u1', undefined, c('True', 'R')), false);
    // a different wish is written
    assert.equal(f.needed('ns/a', 'u1', undefined, c('True', 'Other')), true);
    // a re-created Service (another uid) owes nothing to the old one's write
    assert.equal(f.needed('ns/a', 'u2', undefined, c('True', 'R')), true);
    // the cache shows it: nothing pending any more
    assert.equal(f.needed('ns/a', 'u1', c('True', 'R'), c('False', 'NoConflict')), true);
    assert.equal(f.needed('ns/a', 'u1', undefined, c('True', 'R')), true);
  });
  it('retain drops keys the writer no longer writes', () => {
    const f = new ConditionsInFlight();
    f.wrote('ns/a', undefined, c('True', 'R'));
    f.retain(new Set(['ns/b']));
    assert.equal(f.needed('ns/a', undefined, undefined, c('True', 'R')), true);
  });
});
