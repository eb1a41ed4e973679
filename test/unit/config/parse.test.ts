import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, summarizeErrors, poolServes } from '../../../config/parse.js';
import type { CRObject, ConfigInput } from '../../../config/types.js';
import { formatIP } from '../../../config/ip.js';

const NS = 'metallb-system';
function o(name: string, spec: Record<string, unknown>, labels?: Record<string, string>): CRObject {
  return { metadata: { name, namespace: NS, labels }, spec };
}
function errorsOf(input: ConfigInput): string[] {
  const r = parseConfig(input);
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors.map((e) => e.message);
}
function okConfig(input: ConfigInput) {
  const r = parseConfig(input);
  if (!r.ok) assert.fail(summarizeErrors(r.errors));
  return r.config;
}

describe('parseConfig: IPAddressPool', () => {
  it('builds pools with defaults, sizes and sorted ranges', () => {
    const c = okConfig({
      ipAddressPools: [o('lan', { addresses: ['10.0.0.0/24', 'fc00::/120', '10.0.1.1-10.0.1.10'] })],
    });
    const p = c.pools.get('lan');
    assert.ok(p);
    assert.equal(p.autoAssign, true);
    assert.equal(p.avoidBuggyIPs, false);
    assert.equal(p.size[4], 266n);
    assert.equal(p.size[6], 256n);
    assert.deepEqual(
      p.ranges.map((r) => formatIP(r.family, r.first)),
      ['10.0.0.0', '10.0.1.1', 'fc00::'],
    );
    assert.equal(p.serviceAllocation, undefined);
  });
  it('excludes .0/.255 from the size when avoidBuggyIPs', () => {
    const c = okConfig({ ipAddressPools: [o('lan', { addresses: ['10.0.0.0/23'], avoidBuggyIPs: true })] });
    assert.equal(c.pools.get('lan')?.size[4], 508n);
  });
  it('parses serviceAllocation', () => {
    const c = okConfig({
      ipAddressPools: [
        o('lan', {
          addresses: ['10.0.0.0/24'],
          serviceAllocation: {
            priority: 5,
            namespaces: ['a'],
            namespaceSelectors: [{ matchLabels: { team: 'x' } }],
            serviceSelectors: [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }],
          },
        }),
      ],
    });
    const p = c.pools.get('lan');
    assert.ok(p);
    assert.equal(p.serviceAllocation?.priority, 5);
    assert.equal(poolServes(p, 'a', {}, { tier: 'web' }), true, 'by namespace name and service selector');
    assert.equal(poolServes(p, 'b', { team: 'x' }, { tier: 'web' }), true, 'by namespace selector');
    assert.equal(poolServes(p, 'b', { team: 'y' }, { tier: 'web' }), false, 'namespace does not match');
    assert.equal(poolServes(p, 'a', {}, {}), false, 'service selector does not match (ANDed)');
  });
  it('the model is immutable', () => {
    const c = okConfig({ ipAddressPools: [o('lan', { addresses: ['10.0.0.0/24'] })] });
    assert.throws(() => (c.pools as Map<string, unknown>).set('x', {}), /immutable/);
    const p = c.pools.get('lan');
    assert.throws(() => {
      (p as { autoAssign: boolean }).autoAssign = false;
    }, TypeError);
  });
  it('reports malformed entries, overlaps and bad fields precisely', () => {
    assert.deepEqual(
      errorsOf({
        ipAddressPools: [o('lan', { addresses: ['10.0.0.0/24', '10.0.0.300/32', '1.2.3.4-1.2.3.1'] })],
      }),
      [
        'IPAddressPool metallb-system/lan: spec.addresses[1]: invalid CIDR "10.0.0.300/32"',
        'IPAddressPool metallb-system/lan: spec.addresses[2]: invalid range "1.2.3.4-1.2.3.1": first address is after the last',
      ],
    );
    assert.deepEqual(
      errorsOf({ ipAddressPools: [o('lan', { addresses: ['10.0.0.0/24', '10.0.0.128/25'] })] }),
      [
        'IPAddressPool metallb-system/lan: spec.addresses[1]: 10.0.0.128/25 overlaps with 10.0.0.0/24 in the same pool',
      ],
    );
    assert.deepEqual(
      errorsOf({
        ipAddressPools: [o('b', { addresses: ['fc00::/64'] }), o('a', { addresses: ['fc00::5-fc00::9'] })],
      }),
      [
        'IPAddressPool metallb-system/b: spec.addresses[0]: fc00::/64 overlaps with fc00::5-fc00::9 in pool a',
      ],
    );
    assert.deepEqual(errorsOf({ ipAddressPools: [o('lan', {})] }), [
      'IPAddressPool metallb-system/lan: spec.addresses: required: a pool needs at least one address range',
    ]);
    assert.deepEqual(
      errorsOf({ ipAddressPools: [o('lan', { addresses: ['10.0.0.0/24'], autoAssign: 'yes' })] }),
      ['IPAddressPool metallb-system/lan: spec.autoAssign: must be true or false, got "yes"'],
    );
    assert.deepEqual(
      errorsOf({
        ipAddressPools: [
          o('lan', {
            addresses: ['10.0.0.0/24'],
            serviceAllocation: {
              priority: 1.5,
              serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }],
            },
          }),
        ],
      }),
      [
        'IPAddressPool metallb-system/lan: spec.serviceAllocation.priority: must be an integer, got 1.5',
        'IPAddressPool metallb-system/lan: spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values: must be non-empty for operator In',
      ],
    );
  });
  it('reports duplicate names', () => {
    assert.deepEqual(
      errorsOf({
        ipAddressPools: [o('lan', { addresses: ['10.0.0.0/24'] }), o('lan', { addresses: ['10.1.0.0/24'] })],
      }),
      ['IPAddressPool metallb-system/lan: metadata.name: duplicate IPAddressPool name "lan"'],
    );
  });
  it('errors carry kind, namespace, name, field and reason', () => {
    const r = parseConfig({ ipAddressPools: [o('lan', { addresses: ['x'] })] });
    assert.equal(r.ok, false);
    if (!r.ok)
      assert.deepEqual(r.errors[0]?.toJSON(), {
        kind: 'IPAddressPool',
        namespace: NS,
        name: 'lan',
        field: 'spec.addresses[0]',
        reason: 'invalid address range "x": expected a CIDR or first-last range',
      });
  });
});

describe('parseConfig: advertisements and communities', () => {
  const pools = [
    o('lan', { addresses: ['10.0.0.0/24', 'fc00::/64'] }, { zone: 'a' }),
    o('dmz', { addresses: ['10.1.0.0/24'] }, { zone: 'b' }),
  ];
  it('L2Advertisement selects pools by name and selector; none = all', () => {
    const c = okConfig({
      ipAddressPools: pools,
      l2Advertisements: [
        o('all', {}),
        o('by-name', { ipAddressPools: ['dmz'] }),
        o('by-label', { ipAddressPoolSelectors: [{ matchLabels: { zone: 'a' } }], interfaces: ['eth0'] }),
      ],
    });
    assert.deepEqual(
      c.l2Advertisements.map((a) => [a.name, a.pools]),
      [
        ['all', ['dmz', 'lan']],
        ['by-label', ['lan']],
        ['by-name', ['dmz']],
      ],
    );
  });
  it('an unknown pool name is a warning, not an error', () => {
    const r = parseConfig({
      ipAddressPools: pools,
      l2Advertisements: [o('x', { ipAddressPools: ['gone'] })],
    });
    assert.ok(r.ok);
    assert.deepEqual(
      r.warnings.map((w) => w.message),
      [
        'L2Advertisement metallb-system/x: spec.ipAddressPools[0]: IPAddressPool "gone" does not exist; it matches nothing',
      ],
    );
  });
  it('BGPAdvertisement defaults and communities (literal, large, alias)', () => {
    const c = okConfig({
      ipAddressPools: pools,
      communities: [o('aliases', { communities: [{ name: 'no-advertise', value: '65535:65282' }] })],
      bgpAdvertisements: [
        o('adv', { ipAddressPools: ['lan'], communities: ['1:2', 'large:1:2:3', 'no-advertise'] }),
      ],
    });
    const a = c.bgpAdvertisements[0];
    assert.equal(a?.aggregationLength, 32);
    assert.equal(a?.aggregationLengthV6, 128);
    assert.deepEqual(a?.communities, [
      { kind: 'standard', value: 65538, text: '1:2' },
      { kind: 'large', global: 1, local1: 2, local2: 3, text: 'large:1:2:3' },
      { kind: 'standard', value: 65535 * 65536 + 65282, text: '65535:65282' },
    ]);
  });
  it('rejects an aggregationLength shorter than the pool prefix', () => {
    assert.deepEqual(
      errorsOf({
        ipAddressPools: pools,
        bgpAdvertisements: [o('adv', { ipAddressPools: ['lan'], aggregationLength: 16 })],
      }),
      [
        'BGPAdvertisement metallb-system/adv: spec.aggregationLength: 16 is shorter than prefix /24 of pool lan (10.0.0.0/24); the aggregate would announce addresses outside the pool',
      ],
    );
    assert.deepEqual(
      errorsOf({
        ipAddressPools: pools,
        bgpAdvertisements: [o('adv', { ipAddressPools: ['lan'], aggregationLengthV6: 48 })],
      }),
      [
        'BGPAdvertisement metallb-system/adv: spec.aggregationLengthV6: 48 is shorter than prefix /64 of pool lan (fc00::/64); the aggregate would announce addresses outside the pool',
      ],
    );
    // a range summarised to /31../32 CIDRs cannot aggregate to /24 either
    assert.equal(
      errorsOf({
        ipAddressPools: [o('r', { addresses: ['10.2.0.1-10.2.0.3'] })],
        bgpAdvertisements: [o('adv', { aggregationLength: 24 })],
      }).length,
      1,
    );
  });
  it('rejects conflicting localPref for the same pool', () => {
    assert.deepEqual(
      errorsOf({
        ipAddressPools: pools,
        bgpAdvertisements: [
          o('a', { ipAddressPools: ['lan'], localPref: 100 }),
          o('b', { ipAddressPools: ['lan', 'dmz'], localPref: 200 }),
        ],
      }),
      [
        'BGPAdvertisement metallb-system/b: spec.localPref: localPref 200 conflicts with localPref 100 of BGPAdvertisement a for pool lan: both announce its routes, aggregated alike, to the same peers from every node',
      ],
    );
    okConfig({
      ipAddressPools: pools,
      bgpAdvertisements: [
        o('a', { ipAddressPools: ['lan'], localPref: 100 }),
        o('b', { ipAddressPools: ['dmz'], localPref: 200 }),
      ],
    });
  });
  it('rejects bad communities and unknown aliases', () => {
    assert.deepEqual(
      errorsOf({
        ipAddressPools: pools,
        bgpAdvertisements: [o('a', { communities: ['70000:1', 'large:1:2', 'nope'] })],
      }),
      [
        'BGPAdvertisement metallb-system/a: spec.communities[0]: invalid community "70000:1": want a:b with 16-bit values',
        'BGPAdvertisement metallb-system/a: spec.communities[1]: invalid large community "large:1:2": want large:a:b:c with 32-bit values',
        'BGPAdvertisement metallb-system/a: spec.communities[2]: "nope" is neither a community (a:b, large:a:b:c) nor a Community alias',
      ],
    );
    assert.deepEqual(
      errorsOf({
        communities: [
          o('c1', { communities: [{ name: 'x', value: '1:1' }] }),
          o('c2', {
            communities: [
              { name: 'x', value: '1:2' },
              { name: 'y', value: 'bad' },
            ],
          }),
        ],
      }),
      [
        'Community metallb-system/c2: spec.communities[0].name: duplicate community alias "x" (also defined in Community c1)',
        'Community metallb-system/c2: spec.communities[1].value: invalid community "bad": want a:b or large:a:b:c',
      ],
    );
  });
});

describe('parseConfig: BGPPeer and BFDProfile', () => {
  const peer = (name: string, spec: Record<string, unknown>) =>
    o(name, { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.1', ...spec });
  it('derives hold and keepalive times', () => {
    const c = okConfig({
      bgpPeers: [
        peer('default', {}),
        peer('hold', { peerAddress: '10.0.0.2', holdTime: '30s' }),
        peer('ka', { peerAddress: '10.0.0.3', keepaliveTime: '20s' }),
        peer('zero', { peerAddress: '10.0.0.4', holdTime: '0s', keepaliveTime: '0s' }),
      ],
    });
    const t = (n: string) => [c.peers.get(n)?.holdTimeMs, c.peers.get(n)?.keepaliveTimeMs];
    assert.deepEqual(t('default'), [90000, 30000]);
    assert.deepEqual(t('hold'), [30000, 10000]);
    assert.deepEqual(t('ka'), [60000, 20000]);
    assert.deepEqual(t('zero'), [0, 0]);
    assert.equal(c.peers.get('default')?.peerPort, 179);
    assert.equal(c.peers.get('default')?.internal, false);
  });
  it('reports every peer error class', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ holdTime: '2s' }, 'spec.holdTime: 2s is invalid: must be 0 or at least 3s'],
      [
        { holdTime: '30s', keepaliveTime: '40s' },
        'spec.keepaliveTime: 40s is invalid: must not exceed holdTime 30s',
      ],
      [{ holdTime: 'soon' }, 'spec.holdTime: invalid duration "soon" (e.g. 90s, 1m30s)'],
      [{ dynamicASN: 'internal' }, 'spec.peerASN: peerASN and dynamicASN are mutually exclusive'],
      [{ peerASN: undefined }, 'spec.peerASN: one of peerASN and dynamicASN must be set'],
      [{ peerASN: 4294967296 }, 'spec.peerASN: 4294967296 is out of range [0, 4294967295]'],
      [
        { password: 'x', passwordSecret: { name: 's' } },
        'spec.password: password and passwordSecret are mutually exclusive',
      ],
      [
        { peerASN: 64500, ebgpMultiHop: true },
        'spec.ebgpMultiHop: ebgpMultiHop cannot be set on an iBGP session (peerASN = myASN)',
      ],
      [{ peerAddress: '10.0.0.999' }, 'spec.peerAddress: invalid IP address "10.0.0.999"'],
      [{ routerID: 'fc00::zz' }, 'spec.routerID: invalid router ID "fc00::zz": not an IP address'],
      [{ bfdProfile: 'missing' }, 'spec.bfdProfile: BFDProfile "missing" does not exist'],
      [{ connectTime: '1500ms' }, 'spec.connectTime: 1500ms is invalid: whole seconds between 1s and 65535s'],
      [{ peerPort: 0 }, 'spec.peerPort: 0 is out of range [1, 16384]'],
    ];
    for (const [spec, msg] of cases) {
      assert.deepEqual(
        errorsOf({ bgpPeers: [peer('p', spec)] }),
        [`BGPPeer metallb-system/p: ${msg}`],
        JSON.stringify(spec),
      );
    }
  });
  it('dynamicASN internal makes an iBGP peer', () => {
    const c = okConfig({ bgpPeers: [peer('p', { peerASN: undefined, dynamicASN: 'internal' })] });
    assert.equal(c.peers.get('p')?.internal, true);
  });
  it('checks passwordSecret against the Secrets when given', () => {
    const s = (type: string, data: Record<string, string>) => ({
      metadata: { name: 'pw', namespace: NS },
      type,
      data,
    });
    assert.deepEqual(errorsOf({ bgpPeers: [peer('p', { passwordSecret: { name: 'pw' } })], secrets: [] }), [
      'BGPPeer metallb-system/p: spec.passwordSecret: Secret metallb-system/pw not found',
    ]);
    assert.deepEqual(
      errorsOf({
        bgpPeers: [peer('p', { passwordSecret: { name: 'pw' } })],
        secrets: [s('Opaque', { password: 'eA==' })],
      }),
      [
        'BGPPeer metallb-system/p: spec.passwordSecret: Secret metallb-system/pw has type Opaque, want kubernetes.io/basic-auth',
      ],
    );
    okConfig({
      bgpPeers: [peer('p', { passwordSecret: { name: 'pw' } })],
      secrets: [s('kubernetes.io/basic-auth', { password: 'eA==' })],
    });
    okConfig({ bgpPeers: [peer('p', { passwordSecret: { name: 'pw' } })] });
  });
  it('rejects duplicate peers', () => {
    assert.deepEqual(errorsOf({ bgpPeers: [peer('a', {}), peer('b', {})] }), [
      'BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a has the same address 10.0.0.1 and both apply to every node; a node has one session per address',
    ]);
  });
  it('BFD defaults and ranges', () => {
    const c = okConfig({ bfdProfiles: [o('f', {})] });
    const f = c.bfdProfiles.get('f');
    assert.deepEqual(
      [f?.receiveInterval, f?.transmitInterval, f?.detectMultiplier, f?.echoInterval, f?.minimumTtl],
      [300, 300, 3, 50, 254],
    );
    assert.deepEqual(
      errorsOf({ bfdProfiles: [o('f', { receiveInterval: 5, detectMultiplier: 256, minimumTtl: 0 })] }),
      [
        'BFDProfile metallb-system/f: spec.receiveInterval: 5 is out of range [10, 60000]',
        'BFDProfile metallb-system/f: spec.detectMultiplier: 256 is out of range [2, 255]',
        'BFDProfile metallb-system/f: spec.minimumTtl: 0 is out of range [1, 254]',
      ],
    );
  });
  it('collects errors across kinds at once', () => {
    const r = parseConfig({
      ipAddressPools: [o('p', { addresses: ['nope'] })],
      bfdProfiles: [o('f', { echoInterval: 1 })],
    });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(summarizeErrors(r.errors).split('\n').length, 2);
  });
});
