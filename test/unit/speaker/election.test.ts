import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseConfig } from '../../../config/parse.js';
import type { Config } from '../../../config/types.js';
import {
  advertisementsFor,
  electOwner,
  electionOrder,
  poolOfService,
  preferenceScores,
  selectedNodes,
  type NodeRef,
} from '../../../speaker/layer2/election.js';

/** MetalLB's order, computed independently: hex of sha256(node#ip), compared as strings. */
function expectedOwner(nodes: string[], ip: string): string {
  const keyed = nodes.map(
    (n) =>
      [
        createHash('sha256')
          .update(n + '#' + ip)
          .digest('hex'),
        n,
      ] as const,
  );
  keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return keyed[0]![1];
}

/** MetalLB's hash order of `nodes`, computed independently (hex strings compared). */
function hashOrder(nodes: readonly string[], ip: string): string[] {
  const rest = [...nodes];
  const out: string[] = [];
  while (rest.length > 0) {
    const first = expectedOwner(rest, ip);
    out.push(first);
    rest.splice(rest.indexOf(first), 1);
  }
  return out;
}

function config(l2: Array<Record<string, unknown>>): Config {
  const r = parseConfig({
    ipAddressPools: [
      {
        metadata: { name: 'lan', namespace: 'metallb-system', labels: { zone: 'a' } },
        spec: { addresses: ['192.0.2.0/24', 'fd00:2::/120'] },
      },
      { metadata: { name: 'other', namespace: 'metallb-system' }, spec: { addresses: ['198.51.100.0/24'] } },
    ],
    l2Advertisements: l2.map((spec, i) => ({
      metadata: { name: `adv-${i}`, namespace: 'metallb-system' },
      spec,
    })),
  });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

describe('layer 2 election', () => {
  const nodes = ['node-1', 'node-2', 'node-3', 'node-4', 'worker-a', 'worker-b'];
  it('orders candidates by sha256(node#ip) like MetalLB, for many IPs', () => {
    for (let i = 1; i < 200; i++) {
      const ip = `192.0.2.${i}`;
      assert.equal(electOwner(nodes, ip), expectedOwner(nodes, ip), ip);
    }
    assert.equal(electOwner(nodes, 'fd00:2::5'), expectedOwner(nodes, 'fd00:2::5'));
  });
  it('is independent of the order candidates are given in', () => {
    const ip = '192.0.2.77';
    assert.deepEqual(electionOrder([...nodes].reverse(), ip), electionOrder(nodes, ip));
  });
  it('spreads Services over nodes (no single node owns everything)', () => {
    const owners = new Set<string>();
    for (let i = 1; i < 50; i++) owners.add(electOwner(nodes, `192.0.2.${i}`) as string);
    assert.ok(owners.size >= 4, `only ${[...owners].join(',')}`);
  });
  it('the next candidate takes over when the owner leaves', () => {
    const ip = '192.0.2.10';
    const order = electionOrder(nodes, ip);
    assert.equal(
      electOwner(
        nodes.filter((n) => n !== order[0]),
        ip,
      ),
      order[1],
    );
  });
  it('no candidate, no owner', () => {
    assert.equal(electOwner([], '192.0.2.1'), undefined);
  });
});

describe('which advertisements and nodes cover a Service', () => {
  const svc = { namespace: 'default', labels: { app: 'web' }, ips: ['192.0.2.5'] };
  it('an advertisement without pools covers every pool; with pools only those', () => {
    const c = config([{}, { ipAddressPools: ['other'] }]);
    assert.deepEqual(
      advertisementsFor(c, svc).map((a) => a.name),
      ['adv-0'],
    );
  });
  it('finds the pool from the annotation, else from the address', () => {
    const c = config([{}]);
    assert.equal(poolOfService(c, { ...svc, pool: 'lan' }), 'lan');
    assert.equal(poolOfService(c, { ...svc, pool: 'gone' }), 'lan');
    assert.equal(poolOfService(c, { ...svc, ips: ['203.0.113.1'] }), undefined);
  });
  it('ipAddressPoolSelectors select by pool labels', () => {
    const c = config([
      { ipAddressPoolSelectors: [{ matchLabels: { zone: 'a' } }] },
      { ipAddressPoolSelectors: [{ matchLabels: { zone: 'b' } }] },
    ]);
    assert.deepEqual(
      advertisementsFor(c, svc).map((a) => a.name),
      ['adv-0'],
    );
  });
  it('serviceSelectors filter Services', () => {
    const c = config([{}, { serviceSelectors: [{ matchLabels: { app: 'db' } }] }]);
    assert.deepEqual(
      advertisementsFor(c, svc).map((a) => a.name),
      ['adv-0'],
    );
    assert.deepEqual(
      advertisementsFor(c, { ...svc, labels: { app: 'db' } }).map((a) => a.name),
      ['adv-0', 'adv-1'],
    );
  });
  // MetalLB: speaker/layer2_controller.go ShouldAnnounce, serviceHasSharedIP, adsHaveServiceSelectors
  it('a Service with allow-shared-ip is not announced when a covering advertisement has serviceSelectors', () => {
    const c = config([{}, { serviceSelectors: [{ matchLabels: { app: 'db' } }] }]);
    const db = { ...svc, labels: { app: 'db' } };
    assert.deepEqual(advertisementsFor(c, { ...db, allowSharedIP: true }), [], 'adv-1 selects it: none');
    assert.deepEqual(
      advertisementsFor(c, { ...svc, allowSharedIP: true }).map((a) => a.name),
      ['adv-0'],
      'adv-1 does not select it: the advertisement without selectors still covers it',
    );
    assert.deepEqual(
      advertisementsFor(config([{}, {}]), { ...db, allowSharedIP: true }).map((a) => a.name),
      ['adv-0', 'adv-1'],
      'no serviceSelectors anywhere: announced',
    );
  });
  it('nodeSelectors and interfaces: union of interfaces, empty means all', () => {
    const c = config([
      { nodeSelectors: [{ matchLabels: { rack: 'r1' } }], interfaces: ['eth1'] },
      { nodeSelectors: [{ matchLabels: { rack: 'r1' } }], interfaces: ['eth2'] },
      { nodeSelectors: [{ matchLabels: { rack: 'r2' } }] },
    ]);
    const advs = advertisementsFor(c, svc);
    const sel = selectedNodes(advs, [
      { name: 'n1', labels: { rack: 'r1' } },
      { name: 'n2', labels: { rack: 'r2' } },
      { name: 'n3', labels: {} },
    ]);
    assert.deepEqual(
      [...sel.entries()],
      [
        ['n1', ['eth1', 'eth2']],
        ['n2', []],
      ],
    );
  });
});

describe('layer 2 election with preferredNodeSelectors (MetalLB: sortL2Candidates)', () => {
  const candidates = ['edge-a', 'edge-b', 'worker-a', 'worker-b'];
  const ip = '10.20.30.1';
  const plain = hashOrder(candidates, ip);
  const last = plain[plain.length - 1] as string;
  const without = (xs: readonly string[], ...drop: string[]): string[] => xs.filter((x) => !drop.includes(x));
  const cases: {
    name: string;
    candidates: readonly string[];
    ip: string;
    scores: Record<string, number>;
    want: readonly string[];
  }[] = [
    { name: 'no scores: the hash order', candidates, ip, scores: {}, want: plain },
    {
      name: 'the only preferred node wins, whatever its hash (here the last in hash order)',
      candidates,
      ip,
      scores: { [last]: 1 },
      want: [last, ...without(plain, last)],
    },
    {
      name: 'the highest total weight wins; then lower totals; then the unscored in hash order',
      candidates,
      ip,
      scores: { 'worker-b': 50, 'edge-b': 100, 'worker-a': 99 },
      want: ['edge-b', 'worker-a', 'worker-b', 'edge-a'],
    },
    {
      name: 'equal totals are ordered by the hash, and come before the unscored (also in hash order)',
      candidates,
      ip,
      scores: { 'edge-a': 100, 'edge-b': 100 },
      want: [...hashOrder(['edge-a', 'edge-b'], ip), ...hashOrder(['worker-a', 'worker-b'], ip)],
    },
    {
      name: 'no preferred node is a candidate: the normal election',
      candidates: ['worker-a', 'worker-b'],
      ip,
      scores: { 'edge-a': 100, 'edge-b': 30 },
      want: hashOrder(['worker-a', 'worker-b'], ip),
    },
    // The two orders MetalLB's own unit test pins (speaker/layer2_controller_test.go, TestSortL2Candidates).
    {
      name: "MetalLB's case: no scores, node-a/b/c for 10.0.0.1",
      candidates: ['node-a', 'node-b', 'node-c'],
      ip: '10.0.0.1',
      scores: {},
      want: ['node-b', 'node-a', 'node-c'],
    },
    {
      name: "MetalLB's case: preferred group sorted by hash, unpreferred trail",
      candidates: ['edge-a', 'edge-b', 'worker-a'],
      ip: '10.20.30.1',
      scores: { 'edge-a': 100, 'edge-b': 100 },
      want: ['edge-b', 'edge-a', 'worker-a'],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const scores = new Map(Object.entries(c.scores));
      assert.deepEqual(electionOrder(c.candidates, c.ip, undefined, scores), c.want);
      assert.deepEqual(
        electionOrder([...c.candidates].reverse(), c.ip, undefined, scores),
        c.want,
        'input order',
      );
      assert.equal(electOwner(c.candidates, c.ip, undefined, scores), c.want[0]);
    });
});

describe('preference scores of the nodes (MetalLB: preferredNodeScores, preferredScoresFor)', () => {
  const nodes: NodeRef[] = [
    { name: 'edge-a', labels: { role: 'edge', zone: 'primary' } },
    { name: 'edge-b', labels: { role: 'edge', zone: 'secondary' } },
    { name: 'worker-a', labels: { role: 'worker', zone: 'primary' } },
    { name: 'worker-b', labels: { role: 'worker' } },
  ];
  const pref = (weight: number, matchLabels?: Record<string, string>): Record<string, unknown> => ({
    weight,
    preference: matchLabels ? { matchLabels } : {},
  });
  const cases: { name: string; advs: Array<Record<string, unknown>>; want: Record<string, number> }[] = [
    { name: 'no advertisement has preferences: no scores', advs: [{}, { nodeSelectors: [] }], want: {} },
    {
      name: 'one preference scores the nodes it matches',
      advs: [{ preferredNodeSelectors: [pref(100, { role: 'edge' })] }],
      want: { 'edge-a': 100, 'edge-b': 100 },
    },
    {
      name: 'the weights of every preference a node matches add up',
      advs: [{ preferredNodeSelectors: [pref(60, { zone: 'primary' }), pref(50, { role: 'edge' })] }],
      want: { 'edge-a': 110, 'edge-b': 50, 'worker-a': 60 },
    },
    {
      name: "nodes the advertisement's nodeSelectors leave out score nothing from it",
      advs: [
        {
          nodeSelectors: [{ matchLabels: { role: 'edge' } }],
          preferredNodeSelectors: [pref(100, { zone: 'primary' })],
        },
      ],
      want: { 'edge-a': 100 },
    },
    {
      name: 'an empty preference matches every selected node',
      advs: [{ preferredNodeSelectors: [pref(10)] }],
      want: { 'edge-a': 10, 'edge-b': 10, 'worker-a': 10, 'worker-b': 10 },
    },
    {
      name: 'a preference matching no node: no scores',
      advs: [{ preferredNodeSelectors: [pref(50, { role: 'gpu' })] }],
      want: {},
    },
    {
      name: 'scores add up across the advertisements covering the Service',
      advs: [
        { preferredNodeSelectors: [pref(70, { zone: 'primary' })] },
        { preferredNodeSelectors: [pref(30, { role: 'edge' })] },
        {},
      ],
      want: { 'edge-a': 100, 'edge-b': 30, 'worker-a': 70 },
    },
    {
      name: 'the same preference twice counts twice',
      advs: [{ preferredNodeSelectors: [pref(30, { role: 'worker' }), pref(30, { role: 'worker' })] }],
      want: { 'worker-a': 60, 'worker-b': 60 },
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const advs = advertisementsFor(config(c.advs), {
        namespace: 'default',
        labels: {},
        ips: ['192.0.2.5'],
      });
      assert.equal(advs.length, c.advs.length);
      assert.deepEqual(Object.fromEntries(preferenceScores(advs, nodes)), c.want);
    });
});
