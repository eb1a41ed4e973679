import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../config/parse.js';
import type { Config } from '../../../config/types.js';
import { announcementsOf, decideLayer2, type DecideInput } from '../../../speaker/layer2/decide.js';
import { electOwner, electionOrder } from '../../../speaker/layer2/election.js';
import type { NodeFacts } from '../../../speaker/eligibility.js';
import type { ServiceFacts } from '../../../speaker/protocol.js';

function config(preferredNodeSelectors?: unknown[]): Config {
  const r = parseConfig({
    ipAddressPools: [
      {
        metadata: { name: 'l2', namespace: 'metallb-system' },
        spec: { addresses: ['192.0.2.0/24', 'fd00:2::/120'] },
      },
      {
        metadata: { name: 'bgp-only', namespace: 'metallb-system' },
        spec: { addresses: ['198.51.100.0/24'] },
      },
    ],
    l2Advertisements: [
      {
        metadata: { name: 'l2', namespace: 'metallb-system' },
        spec: { ipAddressPools: ['l2'], ...(preferredNodeSelectors ? { preferredNodeSelectors } : {}) },
      },
    ],
  });
  if (!r.ok) throw new Error('bad config');
  return r.config;
}

const nodes: NodeFacts[] = ['n1', 'n2', 'n3'].map((name) => ({
  name,
  labels: {},
  networkUnavailable: false,
  alive: true,
}));
const svc = (over: Partial<ServiceFacts>): ServiceFacts => ({
  key: 'ns/web',
  namespace: 'ns',
  name: 'web',
  labels: {},
  ips: ['192.0.2.10', 'fd00:2::10'],
  externalTrafficPolicy: 'Cluster',
  ...over,
});

function input(over: Partial<DecideInput>): DecideInput {
  return {
    self: 'n1',
    config: config(),
    services: [svc({})],
    nodes,
    endpoints: () => [{ nodeName: 'n2' }],
    health: () => true,
    unknownHealth: 'ineligible',
    ...over,
  };
}

describe('decideLayer2', () => {
  it('every speaker computes the same owner, and the owner announces both families', () => {
    const owners = ['n1', 'n2', 'n3'].map((self) => decideLayer2(input({ self })).get('ns/web')?.owner);
    const expected = electOwner(['n1', 'n2', 'n3'], '192.0.2.10');
    assert.deepEqual(owners, [expected, expected, expected]);
    const ann = announcementsOf(expected as string, decideLayer2(input({ self: expected as string })));
    assert.deepEqual([...ann.keys()], ['192.0.2.10', 'fd00:2::10']);
    const other = ['n1', 'n2', 'n3'].find((n) => n !== expected) as string;
    assert.equal(announcementsOf(other, decideLayer2(input({ self: other }))).size, 0);
  });
  it('Services outside any L2-advertised pool are not layer 2 Services', () => {
    const d = decideLayer2(input({ services: [svc({ ips: ['198.51.100.1'] })] }));
    assert.equal(d.size, 0);
  });
  it('Local: the owner is the healthy node with the endpoint; none -> undefined owner', () => {
    const local = svc({ externalTrafficPolicy: 'Local', healthCheckNodePort: 30500 });
    assert.equal(decideLayer2(input({ services: [local] })).get('ns/web')?.owner, 'n2');
    const failing = decideLayer2(input({ services: [local], health: (n) => n !== 'n2' })).get('ns/web');
    assert.equal(failing?.owner, undefined);
    assert.equal(failing?.ineligible.get('n2'), 'health-check-failing');
  });
});

describe('decideLayer2 with preferredNodeSelectors', () => {
  // The node the hash order puts last for 192.0.2.10, labelled as preferred.
  const plain = electionOrder(['n1', 'n2', 'n3'], '192.0.2.10');
  const preferred = plain[2] as string;
  const labelled = nodes.map((n) => (n.name === preferred ? { ...n, labels: { tier: 'edge' } } : n));
  const cfg = config([{ weight: 50, preference: { matchLabels: { tier: 'edge' } } }]);
  const cases: { name: string; over: Partial<DecideInput>; owner: string | undefined }[] = [
    { name: 'the preferred node owns the Service on every speaker', over: {}, owner: preferred },
    {
      name: 'the preferred node is not alive: the normal election among the others',
      over: { nodes: labelled.map((n) => (n.name === preferred ? { ...n, alive: false } : n)) },
      owner: plain[0],
    },
    {
      name: 'externalTrafficPolicy Local, the preferred node has no endpoint: the node with one',
      over: {
        services: [svc({ externalTrafficPolicy: 'Local', healthCheckNodePort: 30500 })],
        endpoints: () => [{ nodeName: plain[1] as string }],
      },
      owner: plain[1],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      for (const self of ['n1', 'n2', 'n3'])
        assert.equal(
          decideLayer2(input({ self, config: cfg, nodes: labelled, ...c.over })).get('ns/web')?.owner,
          c.owner,
          self,
        );
    });
});
