import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseConfig } from '../../../config/parse.js';
import { LabelSelector } from '../../../config/selector.js';
import type { Config } from '../../../config/types.js';
import {
  advertisementsFor,
  electOwner,
  electionOrder,
  poolOfService,
  selectedNodes,
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
    const c = config([{}, {}]);
    const sel = LabelSelector.parse({ matchLabels: { app: 'db' } });
    assert.ok(sel.ok);
    const m = new Map([['adv-1', [sel.selector]]]);
    assert.deepEqual(
      advertisementsFor(c, svc, m).map((a) => a.name),
      ['adv-0'],
    );
    assert.deepEqual(
      advertisementsFor(c, { ...svc, labels: { app: 'db' } }, m).map((a) => a.name),
      ['adv-0', 'adv-1'],
    );
  });
  // MetalLB: speaker/layer2_controller.go ShouldAnnounce, serviceHasSharedIP, adsHaveServiceSelectors
  it('a Service with allow-shared-ip is not announced when a covering advertisement has serviceSelectors', () => {
    const c = config([{}, {}]);
    const sel = LabelSelector.parse({ matchLabels: { app: 'db' } });
    assert.ok(sel.ok);
    const m = new Map([['adv-1', [sel.selector]]]);
    const db = { ...svc, labels: { app: 'db' } };
    assert.deepEqual(advertisementsFor(c, { ...db, allowSharedIP: true }, m), [], 'adv-1 selects it: none');
    assert.deepEqual(
      advertisementsFor(c, { ...svc, allowSharedIP: true }, m).map((a) => a.name),
      ['adv-0'],
      'adv-1 does not select it: the advertisement without selectors still covers it',
    );
    assert.deepEqual(
      advertisementsFor(c, { ...db, allowSharedIP: true }).map((a) => a.name),
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
