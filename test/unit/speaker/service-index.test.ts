import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  EndpointIndex,
  serviceFactsOf,
  splitServiceKey,
  SERVICE_NAME_LABEL,
} from '../../../speaker/service-index.js';
import { ElectionHashes, electionOrder } from '../../../speaker/layer2/election.js';
import type { EndpointSliceObj, ServiceObj } from '../../../speaker/k8s-types.js';

const slice = (name: string, service: string | undefined, nodes: string[], ns = 'ns'): EndpointSliceObj => ({
  metadata: { namespace: ns, name, ...(service ? { labels: { [SERVICE_NAME_LABEL]: service } } : {}) },
  endpoints: nodes.map((nodeName) => ({ nodeName, conditions: { ready: true } })),
});

describe('serviceFactsOf', () => {
  const lb = (over: Partial<ServiceObj> = {}): ServiceObj => ({
    metadata: { namespace: 'ns', name: 'web', annotations: { 'metallb.io/ip-allocated-from-pool': 'p' } },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 },
    status: { loadBalancer: { ingress: [{ ip: 'fd00:0:0::1' }, { ip: 'not-an-ip' }, { hostname: 'x' }] } },
    ...over,
  });
  it('keeps LoadBalancer Services of our class with a VIP, canonical, with pool and policy', () => {
    assert.deepEqual(serviceFactsOf(lb(), ''), {
      key: 'ns/web',
      namespace: 'ns',
      name: 'web',
      labels: {},
      ips: ['fd00::1'],
      pool: 'p',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 31000,
    });
  });
  it('drops other types, other classes and Services without a VIP', () => {
    assert.equal(serviceFactsOf(lb({ spec: { type: 'ClusterIP' } }), ''), undefined);
    assert.equal(
      serviceFactsOf(lb({ spec: { type: 'LoadBalancer', loadBalancerClass: 'x' } }), ''),
      undefined,
    );
    assert.equal(serviceFactsOf(lb({ status: {} }), ''), undefined);
    assert.notEqual(
      serviceFactsOf(lb({ spec: { type: 'LoadBalancer', loadBalancerClass: 'x' } }), 'x'),
      undefined,
    );
  });
  it('marks allow-shared-ip (either spelling, any value) for the layer 2 rule', () => {
    for (const key of ['metallb.io/allow-shared-ip', 'metallb.universe.tf/allow-shared-ip'])
      assert.equal(
        serviceFactsOf(lb({ metadata: { namespace: 'ns', name: 'web', annotations: { [key]: '' } } }), '')
          ?.allowSharedIP,
        true,
        key,
      );
    assert.equal(serviceFactsOf(lb(), '')?.allowSharedIP, undefined);
  });
  it('splits keys at the first slash', () => {
    assert.deepEqual(splitServiceKey('ns/a/b'), ['ns', 'a/b']);
  });
});

describe('EndpointIndex', () => {
  it('groups slices by Service and reports which Services changed', () => {
    const ix = new EndpointIndex();
    assert.deepEqual(ix.set(slice('a-1', 'a', ['n1'])), ['ns/a']);
    assert.deepEqual(ix.set(slice('a-2', 'a', ['n2'])), ['ns/a']);
    assert.deepEqual(
      ix.of('ns/a').map((e) => e.nodeName),
      ['n1', 'n2'],
    );
    // a slice relabelled to another Service changes both
    assert.deepEqual(ix.set(slice('a-2', 'b', ['n3'])).sort(), ['ns/a', 'ns/b']);
    assert.deepEqual(
      ix.of('ns/a').map((e) => e.nodeName),
      ['n1'],
    );
    assert.deepEqual(ix.remove(slice('a-1', 'a', [])), ['ns/a']);
    assert.deepEqual(ix.of('ns/a'), []);
    assert.deepEqual(ix.remove(slice('gone', 'a', [])), []);
    assert.deepEqual(ix.set(slice('orphan', undefined, ['n1'])), []);
  });

  it('always equals grouping the current slices from scratch (random add/update/delete)', () => {
    const op = fc.record({
      del: fc.boolean(),
      name: fc.constantFrom('s1', 's2', 's3', 's4', 's5'),
      ns: fc.constantFrom('a', 'b'),
      service: fc.option(fc.constantFrom('x', 'y', 'z'), { nil: undefined }),
      nodes: fc.array(fc.constantFrom('n1', 'n2', 'n3'), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const ix = new EndpointIndex();
        const truth = new Map<string, EndpointSliceObj>();
        for (const o of ops) {
          const sl = slice(o.name, o.service, o.nodes, o.ns);
          const k = `${o.ns}/${o.name}`;
          if (o.del) {
            ix.remove(sl);
            truth.delete(k);
          } else {
            ix.set(sl);
            truth.set(k, sl);
          }
          // read after every step, so the per-Service memo is exercised too
          for (const ns of ['a', 'b'])
            for (const svc of ['x', 'y', 'z']) {
              const want = [...truth.values()]
                .filter(
                  (s) => s.metadata?.namespace === ns && s.metadata.labels?.[SERVICE_NAME_LABEL] === svc,
                )
                .flatMap((s) => (s.endpoints ?? []).map((e) => e.nodeName))
                .sort();
              const got = ix
                .of(`${ns}/${svc}`)
                .map((e) => e.nodeName)
                .sort();
              assert.deepEqual(got, want);
            }
        }
      }),
    );
  });
});

describe('ElectionHashes', () => {
  it('gives the same order as hashing every time, and forgets what two sweeps did not use', () => {
    const hashes = new ElectionHashes();
    const nodes = ['node-1', 'node-2', 'node-3', 'node-4'];
    for (let i = 0; i < 50; i++) {
      const ip = `192.0.2.${i}`;
      assert.deepEqual(electionOrder(nodes, ip, hashes), electionOrder(nodes, ip));
      assert.deepEqual(electionOrder(nodes, ip, hashes), electionOrder(nodes, ip));
    }
    assert.equal(hashes.size, 200);
    hashes.sweep();
    electionOrder(nodes, '192.0.2.1', hashes); // still in use
    hashes.sweep();
    assert.equal(hashes.size, 4);
    hashes.sweep();
    assert.equal(hashes.size, 0);
  });
});
