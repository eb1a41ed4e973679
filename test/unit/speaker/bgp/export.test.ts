// Route export table: every BGPAdvertisement field, through config/'s parser from metallb.io objects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../../config/parse.js';
import type { Config, CRObject } from '../../../../config/types.js';
import { LabelSelector } from '../../../../config/selector.js';
import {
  aggregate,
  exportRoutes,
  peersForNode,
  poolOf,
  type ExportService,
} from '../../../../speaker/bgp/export.js';

const NS = 'metallb-system';
const obj = (
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  labels?: Record<string, string>,
): CRObject => ({
  apiVersion: 'metallb.io/v1beta1',
  kind,
  metadata: { name, namespace: NS, ...(labels ? { labels } : {}) },
  spec,
});

function config(input: {
  pools?: CRObject[];
  advs?: CRObject[];
  peers?: CRObject[];
  communities?: CRObject[];
}): Config {
  const r = parseConfig({
    ipAddressPools: input.pools ?? [
      obj('IPAddressPool', 'pool-a', { addresses: ['192.0.2.0/24', '2001:db8:a::/64'] }, { tier: 'gold' }),
      obj('IPAddressPool', 'pool-b', { addresses: ['198.51.100.0/24'] }, { tier: 'silver' }),
    ],
    bgpAdvertisements: input.advs ?? [],
    bgpPeers: input.peers ?? [
      obj('BGPPeer', 'ebgp', { myASN: 64513, peerASN: 64512, peerAddress: '10.0.0.1' }),
      obj('BGPPeer', 'ibgp', { myASN: 64513, peerASN: 64513, peerAddress: '10.0.0.2' }),
    ],
    communities: input.communities ?? [],
  });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.config;
}

const node = { name: 'node-1', labels: { 'kubernetes.io/hostname': 'node-1', zone: 'a' } };
const svc = (ips: string[], extra: Partial<ExportService> = {}): ExportService => ({
  namespace: 'default',
  name: 'web',
  labels: { app: 'web' },
  ips,
  eligible: true,
  ...extra,
});
const prefixes = (r: ReturnType<typeof exportRoutes>, peer: string): string[] =>
  (r.routes.get(peer) ?? []).map((x) => x.prefix);

describe('route export', () => {
  it('announces each VIP as /32 and /128 to every peer by default', () => {
    const c = config({ advs: [obj('BGPAdvertisement', 'all', {})] });
    const r = exportRoutes(c, node, [svc(['192.0.2.10', '2001:db8:a::10'])]);
    assert.deepEqual(prefixes(r, 'ebgp'), ['192.0.2.10/32', '2001:db8:a::10/128']);
    assert.deepEqual(prefixes(r, 'ibgp'), ['192.0.2.10/32', '2001:db8:a::10/128']);
    assert.deepEqual(r.servicePeers.get('default/web'), ['ebgp', 'ibgp']);
  });

  it('no BGPAdvertisement, an ineligible Service or an IP outside every pool: nothing', () => {
    assert.deepEqual(prefixes(exportRoutes(config({}), node, [svc(['192.0.2.10'])]), 'ebgp'), []);
    const c = config({ advs: [obj('BGPAdvertisement', 'all', {})] });
    assert.deepEqual(prefixes(exportRoutes(c, node, [svc(['192.0.2.10'], { eligible: false })]), 'ebgp'), []);
    assert.deepEqual(prefixes(exportRoutes(c, node, [svc(['203.0.113.1'])]), 'ebgp'), []);
    assert.equal(exportRoutes(c, node, [svc(['192.0.2.10'], { eligible: false })]).servicePeers.size, 0);
  });

  it('aggregationLength / aggregationLengthV6 announce the covering prefix once', () => {
    const c = config({
      advs: [obj('BGPAdvertisement', 'agg', { aggregationLength: 24, aggregationLengthV6: 64 })],
    });
    const r = exportRoutes(c, node, [
      svc(['192.0.2.10', '2001:db8:a::10']),
      svc(['192.0.2.99'], { name: 'other' }),
    ]);
    assert.deepEqual(prefixes(r, 'ebgp'), ['192.0.2.0/24', '2001:db8:a::/64']);
  });

  it('localPref goes to iBGP peers only', () => {
    const c = config({ advs: [obj('BGPAdvertisement', 'lp', { localPref: 150 })] });
    const r = exportRoutes(c, node, [svc(['192.0.2.10'])]);
    assert.equal(r.routes.get('ibgp')?.[0]?.localPref, 150);
    assert.equal(r.routes.get('ebgp')?.[0]?.localPref, undefined);
  });

  it('communities: standard and large, literal and through Community aliases, merged across advertisements', () => {
    const c = config({
      communities: [
        obj('Community', 'aliases', {
          communities: [
            { name: 'no-advertise', value: '65535:65282' },
            { name: 'big', value: 'large:64513:1:2' },
          ],
        }),
      ],
      advs: [
        obj('BGPAdvertisement', 'one', { communities: ['64512:100', 'no-advertise'] }),
        obj('BGPAdvertisement', 'two', { communities: ['big', 'large:1:2:3', '64512:100'] }),
      ],
    });
    const r = exportRoutes(c, node, [svc(['192.0.2.10'])]);
    const route = r.routes.get('ebgp')?.[0];
    assert.deepEqual(route?.communities, [((64512 << 16) | 100) >>> 0, ((65535 << 16) | 65282) >>> 0]);
    assert.deepEqual(route?.largeCommunities, [
      { globalAdmin: 1, localData1: 2, localData2: 3 },
      { globalAdmin: 64513, localData1: 1, localData2: 2 },
    ]);
  });

  it('peers: only the named peers get the routes', () => {
    const c = config({ advs: [obj('BGPAdvertisement', 'to-ebgp', { peers: ['ebgp'] })] });
    const r = exportRoutes(c, node, [svc(['192.0.2.10'])]);
    assert.deepEqual(prefixes(r, 'ebgp'), ['192.0.2.10/32']);
    assert.deepEqual(prefixes(r, 'ibgp'), []);
    assert.ok(r.routes.has('ibgp'), 'every peer of the node has an entry (so its routes get withdrawn)');
  });

  it('nodeSelectors on the advertisement and on the peer', () => {
    const c = config({
      advs: [obj('BGPAdvertisement', 'zone-b', { nodeSelectors: [{ matchLabels: { zone: 'b' } }] })],
      peers: [
        obj('BGPPeer', 'ebgp', { myASN: 64513, peerASN: 64512, peerAddress: '10.0.0.1' }),
        obj('BGPPeer', 'only-b', {
          myASN: 64513,
          peerASN: 64512,
          peerAddress: '10.0.0.3',
          nodeSelectors: [{ matchLabels: { zone: 'b' } }],
        }),
      ],
    });
    assert.deepEqual(prefixes(exportRoutes(c, node, [svc(['192.0.2.10'])]), 'ebgp'), []);
    const nodeB = { name: 'node-2', labels: { zone: 'b' } };
    const r = exportRoutes(c, nodeB, [svc(['192.0.2.10'])]);
    assert.deepEqual(prefixes(r, 'ebgp'), ['192.0.2.10/32']);
    assert.deepEqual(prefixes(r, 'only-b'), ['192.0.2.10/32']);
    assert.deepEqual(
      peersForNode(c.peers, node).map((p) => p.name),
      ['ebgp'],
    );
    assert.equal(exportRoutes(c, node, []).routes.has('only-b'), false);
  });

  it('ipAddressPools and ipAddressPoolSelectors choose the pools', () => {
    const byName = config({ advs: [obj('BGPAdvertisement', 'b', { ipAddressPools: ['pool-b'] })] });
    const services = [svc(['192.0.2.10']), svc(['198.51.100.7'], { name: 'other' })];
    assert.deepEqual(prefixes(exportRoutes(byName, node, services), 'ebgp'), ['198.51.100.7/32']);
    const bySel = config({
      advs: [
        obj('BGPAdvertisement', 'gold', { ipAddressPoolSelectors: [{ matchLabels: { tier: 'gold' } }] }),
      ],
    });
    assert.deepEqual(prefixes(exportRoutes(bySel, node, services), 'ebgp'), ['192.0.2.10/32']);
  });

  it('different advertisements of one pool: one /32 to one peer, an aggregate to another', () => {
    const c = config({
      advs: [
        obj('BGPAdvertisement', 'host', { peers: ['ibgp'], localPref: 200 }),
        obj('BGPAdvertisement', 'agg', { peers: ['ebgp'], aggregationLength: 24, communities: ['64512:1'] }),
      ],
    });
    const r = exportRoutes(c, node, [svc(['192.0.2.10'])]);
    assert.deepEqual(r.routes.get('ibgp'), [
      { prefix: '192.0.2.10/32', communities: [], largeCommunities: [], localPref: 200 },
    ]);
    assert.deepEqual(r.routes.get('ebgp'), [
      { prefix: '192.0.2.0/24', communities: [((64512 << 16) | 1) >>> 0], largeCommunities: [] },
    ]);
  });

  it('serviceSelectors, when the model carries them, restrict the Services', () => {
    const base = config({ advs: [obj('BGPAdvertisement', 'all', {})] });
    const sel = LabelSelector.parse({ matchLabels: { app: 'db' } });
    assert.ok(sel.ok);
    const c = {
      ...base,
      bgpAdvertisements: base.bgpAdvertisements.map((a) => ({ ...a, serviceSelectors: [sel.selector] })),
    };
    const r = exportRoutes(c, node, [
      svc(['192.0.2.10']),
      svc(['192.0.2.11'], { name: 'db', labels: { app: 'db' } }),
    ]);
    assert.deepEqual(prefixes(r, 'ebgp'), ['192.0.2.11/32']);
    assert.deepEqual([...r.servicePeers.keys()], ['default/db']);
  });

  it('serviceSelectors written on the BGPAdvertisement reach the export through parseConfig', () => {
    const c = config({
      advs: [obj('BGPAdvertisement', 'db-only', { serviceSelectors: [{ matchLabels: { app: 'db' } }] })],
    });
    assert.equal(c.bgpAdvertisements[0]?.serviceSelectors.length, 1);
    const r = exportRoutes(c, node, [
      svc(['192.0.2.10']),
      svc(['192.0.2.11'], { name: 'db', labels: { app: 'db' } }),
    ]);
    assert.deepEqual(prefixes(r, 'ebgp'), ['192.0.2.11/32']);
  });

  it('the annotated pool is used when it holds the IP; otherwise the pool is found by address', () => {
    const c = config({});
    assert.equal(poolOf(c.pools, '192.0.2.10', 'pool-a'), 'pool-a');
    assert.equal(poolOf(c.pools, '192.0.2.10', 'pool-b'), 'pool-a');
    assert.equal(poolOf(c.pools, '198.51.100.1'), 'pool-b');
    assert.equal(poolOf(c.pools, 'not-an-ip'), undefined);
    assert.equal(aggregate('192.0.2.77', 26), '192.0.2.64/26');
    assert.equal(aggregate('2001:db8::1:2', 112), '2001:db8::1:0/112');
  });

  it('output is sorted and deterministic', () => {
    const c = config({ advs: [obj('BGPAdvertisement', 'all', {})] });
    const services = [
      svc(['192.0.2.200', '2001:db8:a::1']),
      svc(['192.0.2.3'], { name: 'b' }),
      svc(['192.0.2.30'], { name: 'c' }),
    ];
    const a = exportRoutes(c, node, services);
    const b = exportRoutes(c, node, [...services].reverse());
    assert.deepEqual(prefixes(a, 'ebgp'), [
      '192.0.2.3/32',
      '192.0.2.30/32',
      '192.0.2.200/32',
      '2001:db8:a::1/128',
    ]);
    assert.deepEqual(a.routes, b.routes);
  });
});

describe('exportRoutes with a memo of each Service', () => {
  it('gives what a fresh export gives, pass after pass, when some Services change', () => {
    const c = config({
      advs: [
        // (aggregated in both of pool-a's families: otherwise the two localPrefs conflict, as in MetalLB)
        obj('BGPAdvertisement', 'agg', {
          ipAddressPools: ['pool-a'],
          aggregationLength: 30,
          aggregationLengthV6: 120,
          communities: ['65000:1'],
        }),
        obj('BGPAdvertisement', 'host', { ipAddressPools: ['pool-a', 'pool-b'], localPref: 50 }),
      ],
    });
    const memo = new WeakMap();
    let services = Array.from({ length: 40 }, (_, i) =>
      svc([i % 2 ? `192.0.2.${i}` : `198.51.100.${i}`], { name: `s${i}`, eligible: i % 5 !== 0 }),
    );
    for (let pass = 0; pass < 5; pass++) {
      assert.deepEqual(exportRoutes(c, node, services, memo), exportRoutes(c, node, services));
      // change a few Services as a speaker would: new objects for those, the same objects for the rest
      services = services.map((s, i) =>
        i % 7 === pass ? { ...s, eligible: !s.eligible, ips: [`192.0.2.${100 + i}`] } : s,
      );
    }
  });
});
