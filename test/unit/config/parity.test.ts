// Parity of verdicts with MetalLB v0.16: one case per rule, each naming where MetalLB has the rule.
// A case is either refused (the exact errors, naming object and field) or accepted (the model it
// builds, and any warnings). docs/migration.md's table points at these cases by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, summarizeErrors } from '../../../config/parse.js';
import type { CRObject, Config, ConfigInput } from '../../../config/types.js';

const NS = 'metallb-system';

interface ParityCase {
  /** The rule, as docs/migration.md names it. */
  readonly rule: string;
  /** Where MetalLB has it (file: function), for the reader. */
  readonly metallb: string;
  readonly input: ConfigInput;
  readonly expect:
    | { readonly errors: readonly string[] }
    | {
        readonly ok: true;
        readonly warnings?: readonly string[];
        readonly check?: (c: Config) => void;
      };
}

function cr(name: string, spec: Record<string, unknown>, labels?: Record<string, string>): CRObject {
  return { metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec };
}

/** A BGPPeer spec with the required fields, overridden by `spec`. */
function peer(name: string, spec: Record<string, unknown> = {}): CRObject {
  return cr(name, { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.1', ...spec });
}

function runCases(cases: readonly ParityCase[]): void {
  for (const c of cases) {
    it(c.rule, () => {
      const r = parseConfig(c.input);
      if ('errors' in c.expect) {
        assert.equal(r.ok, false, `expected a refusal (MetalLB: ${c.metallb})`);
        if (!r.ok)
          assert.deepEqual(
            r.errors.map((e) => e.message),
            c.expect.errors,
          );
        return;
      }
      if (!r.ok) assert.fail(`expected acceptance (MetalLB: ${c.metallb}):\n${summarizeErrors(r.errors)}`);
      assert.deepEqual(
        r.warnings.map((w) => w.message),
        c.expect.warnings ?? [],
      );
      c.expect.check?.(r.config);
    });
  }
}

describe('parity: BGPPeer', () => {
  runCases([
    {
      rule: 'disableMP is a deprecated no-op with a warning, not dualStackAddressFamily',
      metallb:
        'internal/k8s/webhooks/webhookv1beta2/bgppeer_webhook.go: validatePeerCreate (warning); api/v1beta2/bgppeer_types.go: DisableMP deprecated',
      input: { bgpPeers: [peer('p', { disableMP: true })] },
      expect: {
        ok: true,
        warnings: [
          'BGPPeer metallb-system/p: spec.disableMP: deprecated and has no effect; use dualStackAddressFamily to carry both families',
        ],
        check: (c) => assert.equal(c.peers.get('p')?.dualStackAddressFamily, false),
      },
    },
  ]);
});

// Every selector list of the configuration, as an input holding `selectors` in that list.
const SELECTOR_LISTS: readonly {
  readonly where: string;
  readonly object: string;
  readonly field: string;
  readonly input: (selectors: unknown[]) => ConfigInput;
}[] = [
  {
    where: 'IPAddressPool serviceAllocation.namespaceSelectors',
    object: 'IPAddressPool metallb-system/p',
    field: 'spec.serviceAllocation.namespaceSelectors',
    input: (s) => ({
      ipAddressPools: [cr('p', { addresses: ['10.0.0.0/24'], serviceAllocation: { namespaceSelectors: s } })],
    }),
  },
  {
    where: 'IPAddressPool serviceAllocation.serviceSelectors',
    object: 'IPAddressPool metallb-system/p',
    field: 'spec.serviceAllocation.serviceSelectors',
    input: (s) => ({
      ipAddressPools: [cr('p', { addresses: ['10.0.0.0/24'], serviceAllocation: { serviceSelectors: s } })],
    }),
  },
  ...(['ipAddressPoolSelectors', 'nodeSelectors', 'serviceSelectors'] as const).flatMap((list) => [
    {
      where: `L2Advertisement ${list}`,
      object: 'L2Advertisement metallb-system/a',
      field: `spec.${list}`,
      input: (s: unknown[]): ConfigInput => ({ l2Advertisements: [cr('a', { [list]: s })] }),
    },
    {
      where: `BGPAdvertisement ${list}`,
      object: 'BGPAdvertisement metallb-system/a',
      field: `spec.${list}`,
      input: (s: unknown[]): ConfigInput => ({ bgpAdvertisements: [cr('a', { [list]: s })] }),
    },
  ]),
  {
    where: 'BGPPeer nodeSelectors',
    object: 'BGPPeer metallb-system/p',
    field: 'spec.nodeSelectors',
    input: (s) => ({ bgpPeers: [peer('p', { nodeSelectors: s })] }),
  },
];

const VALIDATE_DUP = 'internal/config/config.go: validateLabelSelectorDuplicate';
const VALIDATE_EXPR = 'internal/config/config.go: validateLabelSelectorMatchExpressions';

describe('parity: repeats in selector lists', () => {
  const zoneA = { matchLabels: { zone: 'a' } };
  const tierIn = (...values: string[]) => ({ key: 'tier', operator: 'In', values });
  runCases(
    SELECTOR_LISTS.flatMap((l): ParityCase[] => [
      {
        rule: `${l.where}: the same selector twice is refused`,
        metallb: VALIDATE_DUP,
        input: l.input([zoneA, { matchLabels: { zone: 'b' } }, { matchLabels: { zone: 'a' } }]),
        expect: { errors: [`${l.object}: ${l.field}[2]: duplicate of selector [0]`] },
      },
      {
        rule: `${l.where}: the same matchExpression twice in one selector is refused (values compared sorted)`,
        metallb: VALIDATE_EXPR,
        input: l.input([{ matchExpressions: [tierIn('web', 'db'), tierIn('db', 'web')] }]),
        expect: {
          errors: [
            `${l.object}: ${l.field}[0].matchExpressions[1]: duplicate of matchExpressions[0] in the same selector`,
          ],
        },
      },
      {
        rule: `${l.where}: a value twice in one matchExpression is refused`,
        metallb: VALIDATE_EXPR,
        input: l.input([{ matchExpressions: [tierIn('web', 'db', 'web')] }]),
        expect: { errors: [`${l.object}: ${l.field}[0].matchExpressions[0].values: duplicate value "web"`] },
      },
    ]),
  );
  runCases([
    {
      rule: 'selectors that differ only in the order of their matchExpressions are not repeats',
      metallb: `${VALIDATE_DUP} (compares LabelSelector.String(), expressions in order)`,
      input: {
        l2Advertisements: [
          cr('a', {
            nodeSelectors: [
              { matchExpressions: [tierIn('web'), { key: 'zone', operator: 'Exists' }] },
              { matchExpressions: [{ key: 'zone', operator: 'Exists' }, tierIn('web')] },
            ],
          }),
        ],
      },
      expect: { ok: true },
    },
    {
      rule: 'matchLabels {a: x} and matchExpressions [a In (x)] are not repeats',
      metallb: `${VALIDATE_DUP} (compares LabelSelector.String())`,
      input: {
        l2Advertisements: [
          cr('a', {
            nodeSelectors: [{ matchLabels: { tier: 'web' } }, { matchExpressions: [tierIn('web')] }],
          }),
        ],
      },
      expect: { ok: true },
    },
  ]);
});

describe('parity: names listed twice in one advertisement', () => {
  const pools = [cr('lan', { addresses: ['10.0.0.0/24'] })];
  runCases([
    {
      rule: 'L2Advertisement: the same pool named twice is refused',
      metallb: 'internal/config/config.go: l2AdvertisementFromCR, validateDuplicate(ipAddressPools)',
      input: { ipAddressPools: pools, l2Advertisements: [cr('a', { ipAddressPools: ['lan', 'lan'] })] },
      expect: {
        errors: [
          'L2Advertisement metallb-system/a: spec.ipAddressPools[1]: "lan" is listed twice (also spec.ipAddressPools[0])',
        ],
      },
    },
    {
      rule: 'BGPAdvertisement: the same pool named twice is refused',
      metallb: 'internal/config/config.go: bgpAdvertisementFromCR, validateDuplicate(ipAddressPools)',
      input: { ipAddressPools: pools, bgpAdvertisements: [cr('a', { ipAddressPools: ['lan', 'lan'] })] },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.ipAddressPools[1]: "lan" is listed twice (also spec.ipAddressPools[0])',
        ],
      },
    },
    {
      rule: 'BGPAdvertisement: the same peer named twice is refused',
      metallb: 'internal/config/config.go: bgpAdvertisementFromCR, validateDuplicate(peers)',
      input: {
        ipAddressPools: pools,
        bgpPeers: [peer('r1')],
        bgpAdvertisements: [cr('a', { peers: ['r1', 'r1'] })],
      },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.peers[1]: "r1" is listed twice (also spec.peers[0])',
        ],
      },
    },
    {
      rule: 'BGPAdvertisement: the same community string twice is refused',
      metallb: 'internal/config/config.go: bgpAdvertisementFromCR, validateDuplicate(communities)',
      input: { ipAddressPools: pools, bgpAdvertisements: [cr('a', { communities: ['65000:1', '65000:1'] })] },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.communities[1]: "65000:1" is listed twice (also spec.communities[0])',
        ],
      },
    },
    {
      rule: 'BGPAdvertisement: a community given as an alias and as its value is accepted, once',
      metallb: 'internal/config/config.go: bgpAdvertisementFromCR (Communities is a set keyed by value)',
      input: {
        ipAddressPools: pools,
        communities: [cr('c', { communities: [{ name: 'edge', value: '65000:1' }] })],
        bgpAdvertisements: [cr('a', { communities: ['edge', '65000:1'] })],
      },
      expect: {
        ok: true,
        check: (c) =>
          assert.deepEqual(c.bgpAdvertisements[0]?.communities, [
            { kind: 'standard', value: 65000 * 65536 + 1, text: '65000:1' },
          ]),
      },
    },
  ]);
});

describe('parity: BGPAdvertisement aggregation', () => {
  const pools = [cr('lan', { addresses: ['10.0.0.0/24', 'fc00::/64'] })];
  const web = [{ matchLabels: { app: 'web' } }];
  runCases([
    {
      rule: 'serviceSelectors with a non-default aggregationLength are refused',
      metallb:
        'internal/config/config.go: bgpAdvertisementFromCR; api/v1beta1/bgpadvertisement_types.go: CEL rule',
      input: {
        ipAddressPools: pools,
        bgpAdvertisements: [cr('a', { serviceSelectors: web, aggregationLength: 24 })],
      },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.aggregationLength: 24 is not allowed with serviceSelectors: only the default 32 (no aggregation)',
        ],
      },
    },
    {
      rule: 'serviceSelectors with a non-default aggregationLengthV6 are refused',
      metallb:
        'internal/config/config.go: bgpAdvertisementFromCR; api/v1beta1/bgpadvertisement_types.go: CEL rule',
      input: {
        ipAddressPools: pools,
        bgpAdvertisements: [cr('a', { serviceSelectors: web, aggregationLengthV6: 64 })],
      },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.aggregationLengthV6: 64 is not allowed with serviceSelectors: only the default 128 (no aggregation)',
        ],
      },
    },
    {
      rule: 'serviceSelectors with the default aggregation lengths written out are accepted',
      metallb: 'internal/config/config.go: bgpAdvertisementFromCR (32 and 128 are allowed)',
      input: {
        ipAddressPools: pools,
        bgpAdvertisements: [
          cr('a', { serviceSelectors: web, aggregationLength: 32, aggregationLengthV6: 128 }),
        ],
      },
      expect: { ok: true },
    },
  ]);
});

describe('parity: BFD echo mode', () => {
  const pools = [cr('v4', { addresses: ['10.0.0.0/24'] }), cr('v6', { addresses: ['fc00::/64'] })];
  const bfdProfiles = [cr('echo', { echoMode: true }), cr('plain', {})];
  const VALIDATE_CONFIG = 'internal/config/validation.go: validateConfig, hasBFDEcho';
  runCases([
    {
      rule: 'BFD echo toward a peer that an advertisement of an IPv6 pool reaches (peers empty = all) is refused',
      metallb: VALIDATE_CONFIG,
      input: {
        ipAddressPools: pools,
        bfdProfiles,
        bgpPeers: [
          peer('r1', { bfdProfile: 'echo' }),
          peer('r2', { peerAddress: '10.0.0.2', bfdProfile: 'plain' }),
        ],
        bgpAdvertisements: [cr('all', { ipAddressPools: ['v6'] })],
      },
      expect: {
        errors: [
          'BGPPeer metallb-system/r1: spec.bfdProfile: BFDProfile "echo" has echoMode, but BGPAdvertisement all announces IPv6 pool v6 to this peer; echo mode is not allowed toward a peer that gets IPv6 routes',
        ],
      },
    },
    {
      rule: 'BFD echo toward a peer named by an advertisement of an IPv6 pool is refused',
      metallb: VALIDATE_CONFIG,
      input: {
        ipAddressPools: pools,
        bfdProfiles,
        bgpPeers: [peer('r1', { bfdProfile: 'echo' })],
        bgpAdvertisements: [cr('named', { peers: ['r1'] })],
      },
      expect: {
        errors: [
          'BGPPeer metallb-system/r1: spec.bfdProfile: BFDProfile "echo" has echoMode, but BGPAdvertisement named announces IPv6 pool v6 to this peer; echo mode is not allowed toward a peer that gets IPv6 routes',
        ],
      },
    },
    {
      rule: 'BFD echo toward a peer that gets only IPv4 routes is accepted',
      metallb: VALIDATE_CONFIG,
      input: {
        ipAddressPools: pools,
        bfdProfiles,
        bgpPeers: [peer('r1', { bfdProfile: 'echo' }), peer('r2', { peerAddress: '10.0.0.2' })],
        bgpAdvertisements: [
          cr('v4', { ipAddressPools: ['v4'] }),
          cr('v6', { ipAddressPools: ['v6'], peers: ['r2'] }),
        ],
      },
      expect: { ok: true },
    },
  ]);
});

describe('parity: two BGPPeers with one address on one node', () => {
  const SHARE = 'internal/config/validation.go: checkFRRPeersCompatible, PeerIdentifier, peersShareNode';
  const zone = (z: string) => [{ matchLabels: { zone: z } }];
  const nodes = [
    { name: 'n1', labels: { zone: 'a', rack: '1' } },
    { name: 'n2', labels: { zone: 'b', rack: '2' } },
  ];
  runCases([
    {
      rule: 'same address, node selectors that share a Node (resolved against the Nodes): refused',
      metallb: SHARE,
      input: {
        nodes,
        bgpPeers: [
          peer('a', { nodeSelectors: zone('a') }),
          peer('b', { nodeSelectors: [{ matchLabels: { rack: '1' } }] }),
        ],
      },
      expect: {
        errors: [
          'BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a has the same address 10.0.0.1 and both apply to node "n1"; a node has one session per address',
        ],
      },
    },
    {
      rule: 'same address, node selectors that share no Node: accepted',
      metallb: SHARE,
      input: {
        nodes,
        bgpPeers: [peer('a', { nodeSelectors: zone('a') }), peer('b', { nodeSelectors: zone('b') })],
      },
      expect: { ok: true },
    },
    {
      rule: 'same address, different ports: still one session per address on a node, refused',
      metallb: `${SHARE} (PeerIdentifier has no port)`,
      input: { nodes, bgpPeers: [peer('a'), peer('b', { peerPort: 1179 })] },
      expect: {
        errors: [
          'BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a has the same address 10.0.0.1 and both apply to node "n1"; a node has one session per address',
        ],
      },
    },
    {
      rule: 'same address in different VRFs: accepted',
      metallb: `${SHARE} (PeerIdentifier includes the VRF)`,
      input: { nodes, bgpPeers: [peer('a'), peer('b', { vrf: 'red' })] },
      expect: { ok: true },
    },
    {
      rule: 'same address with Nodes given but none yet: refused (MetalLB assumes they meet)',
      metallb: `${SHARE} (no nodes: true)`,
      input: {
        nodes: [],
        bgpPeers: [peer('a', { nodeSelectors: zone('a') }), peer('b', { nodeSelectors: zone('b') })],
      },
      expect: {
        errors: [
          'BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a has the same address 10.0.0.1 and both apply to any node (no Node exists yet); a node has one session per address',
        ],
      },
    },
    {
      rule: 'same address without the Nodes (controller): refused when one peer selects every node',
      metallb: SHARE,
      input: { bgpPeers: [peer('a'), peer('b', { nodeSelectors: zone('b') })] },
      expect: {
        errors: [
          'BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a has the same address 10.0.0.1 and both apply to every node; a node has one session per address',
        ],
      },
    },
    {
      rule: 'same address without the Nodes (controller): refused when both hold one selector',
      metallb: SHARE,
      input: {
        bgpPeers: [
          peer('a', { nodeSelectors: [...zone('a'), ...zone('c')] }),
          peer('b', { nodeSelectors: zone('c') }),
        ],
      },
      expect: {
        errors: [
          'BGPPeer metallb-system/b: spec.peerAddress: BGPPeer a has the same address 10.0.0.1 and both apply to the nodes matching "zone In (c)"; a node has one session per address',
        ],
      },
    },
    {
      rule: 'same address without the Nodes (controller): different selectors are left to the speakers, accepted',
      metallb: SHARE,
      input: { bgpPeers: [peer('a', { nodeSelectors: zone('a') }), peer('b', { nodeSelectors: zone('b') })] },
      expect: { ok: true },
    },
  ]);
});

describe('parity: aggregation length on range pools', () => {
  const PER_POOL = 'internal/config/config.go: validateBGPAdvPerPool, lowestMask';
  // 10.2.0.1-10.2.0.6 summarises to 10.2.0.1/32, 10.2.0.2/31, 10.2.0.4/31, 10.2.0.6/32: shortest /31
  const range = [cr('r', { addresses: ['10.2.0.1-10.2.0.6', 'fc00::1-fc00::6'] })];
  runCases([
    {
      rule: 'range pool: an aggregationLength at the shortest prefix the range summarises to is accepted',
      metallb: PER_POOL,
      input: {
        ipAddressPools: range,
        bgpAdvertisements: [cr('a', { aggregationLength: 31, aggregationLengthV6: 127 })],
      },
      expect: {
        ok: true,
        check: (c) => assert.equal(c.bgpAdvertisements[0]?.aggregationLength, 31),
      },
    },
    {
      rule: 'range pool: an aggregationLength shorter than every prefix of the range is refused',
      metallb: PER_POOL,
      input: { ipAddressPools: range, bgpAdvertisements: [cr('a', { aggregationLength: 30 })] },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.aggregationLength: 30 is shorter than prefix /31 of pool r (10.2.0.1-10.2.0.6); the aggregate would announce addresses outside the pool',
        ],
      },
    },
    {
      rule: 'range pool: an aggregationLengthV6 shorter than every prefix of the range is refused',
      metallb: PER_POOL,
      input: { ipAddressPools: range, bgpAdvertisements: [cr('a', { aggregationLengthV6: 126 })] },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.aggregationLengthV6: 126 is shorter than prefix /127 of pool r (fc00::1-fc00::6); the aggregate would announce addresses outside the pool',
        ],
      },
    },
  ]);
});

describe('parity: localPref on advertisements of one pool', () => {
  const COMPAT = 'internal/config/config.go: validateBGPAdvPerPool, BGPAdvertisementsHaveCompatibleLocalPref';
  const AGGR = 'internal/config/config.go: isAggrLengthDifferent';
  const v4 = [cr('lan', { addresses: ['10.0.0.0/24'] })];
  const dual = [cr('lan', { addresses: ['10.0.0.0/24', 'fc00::/64'] })];
  const nodes = [
    { name: 'n1', labels: { zone: 'a' } },
    { name: 'n2', labels: { zone: 'b' } },
  ];
  const zone = (z: string) => [{ matchLabels: { zone: z } }];
  const conflict = (b: string, lpB: string, a: string, lpA: string, where: string) =>
    `BGPAdvertisement metallb-system/${b}: spec.localPref: localPref ${lpB} conflicts with localPref ${lpA} of BGPAdvertisement ${a} for pool lan: both announce its routes, aggregated alike, to the same peers from ${where}`;
  runCases([
    {
      rule: 'localPref: different values, same pool, peers, aggregation and nodes are refused',
      metallb: COMPAT,
      input: {
        ipAddressPools: v4,
        bgpAdvertisements: [cr('a', { localPref: 100 }), cr('b', { localPref: 200 })],
      },
      expect: { errors: [conflict('b', '200', 'a', '100', 'every node')] },
    },
    {
      rule: 'localPref: an unset localPref is 0 and conflicts with a set one',
      metallb: `${COMPAT} (LocalPref uint32, unset = 0)`,
      input: { ipAddressPools: v4, bgpAdvertisements: [cr('a', {}), cr('b', { localPref: 200 })] },
      expect: { errors: [conflict('b', '200', 'a', 'unset (0)', 'every node')] },
    },
    {
      rule: 'localPref: advertisements that never share a Node (resolved against the Nodes) are accepted',
      metallb: COMPAT,
      input: {
        nodes,
        ipAddressPools: v4,
        bgpAdvertisements: [
          cr('a', { localPref: 100, nodeSelectors: zone('a') }),
          cr('b', { localPref: 200, nodeSelectors: zone('b') }),
        ],
      },
      expect: { ok: true },
    },
    {
      rule: 'localPref: advertisements whose node selectors meet on a Node are refused',
      metallb: COMPAT,
      input: {
        nodes,
        ipAddressPools: v4,
        bgpAdvertisements: [
          cr('a', { localPref: 100, nodeSelectors: zone('a') }),
          cr('b', {
            localPref: 200,
            nodeSelectors: [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }],
          }),
        ],
      },
      expect: { errors: [conflict('b', '200', 'a', '100', 'node "n1"')] },
    },
    {
      rule: 'localPref: without the Nodes, different node selectors are accepted (left to the speakers)',
      metallb: COMPAT,
      input: {
        ipAddressPools: v4,
        bgpAdvertisements: [
          cr('a', { localPref: 100, nodeSelectors: zone('a') }),
          cr('b', { localPref: 200, nodeSelectors: zone('b') }),
        ],
      },
      expect: { ok: true },
    },
    {
      rule: 'localPref: with Nodes given but none, advertisements share no node and are accepted',
      metallb: `${COMPAT} (Nodes empty: no common node)`,
      input: {
        nodes: [],
        ipAddressPools: v4,
        bgpAdvertisements: [cr('a', { localPref: 100 }), cr('b', { localPref: 200 })],
      },
      expect: { ok: true },
    },
    {
      rule: 'localPref: advertisements differing only in aggregationLengthV6 on an IPv4-only pool are refused',
      metallb: AGGR,
      input: {
        ipAddressPools: v4,
        bgpAdvertisements: [
          cr('a', { localPref: 100 }),
          cr('b', { localPref: 200, aggregationLengthV6: 64 }),
        ],
      },
      expect: { errors: [conflict('b', '200', 'a', '100', 'every node')] },
    },
    {
      rule: 'localPref: advertisements differing in aggregationLength on an IPv4-only pool are accepted',
      metallb: AGGR,
      input: {
        ipAddressPools: v4,
        bgpAdvertisements: [cr('a', { localPref: 100 }), cr('b', { localPref: 200, aggregationLength: 25 })],
      },
      expect: { ok: true },
    },
    {
      rule: 'localPref: on a dual-stack pool, a difference in one family only is refused',
      metallb: AGGR,
      input: {
        ipAddressPools: dual,
        bgpAdvertisements: [cr('a', { localPref: 100 }), cr('b', { localPref: 200, aggregationLength: 25 })],
      },
      expect: { errors: [conflict('b', '200', 'a', '100', 'every node')] },
    },
    {
      rule: 'localPref: on a dual-stack pool, differences in both families are accepted',
      metallb: AGGR,
      input: {
        ipAddressPools: dual,
        bgpAdvertisements: [
          cr('a', { localPref: 100 }),
          cr('b', { localPref: 200, aggregationLength: 25, aggregationLengthV6: 100 }),
        ],
      },
      expect: { ok: true },
    },
    {
      rule: 'localPref: advertisements with serviceSelectors are not checked',
      metallb: `${COMPAT} (skipped when either has ServiceSelectors)`,
      input: {
        ipAddressPools: v4,
        bgpAdvertisements: [
          cr('a', { localPref: 100 }),
          cr('b', { localPref: 200, serviceSelectors: [{ matchLabels: { app: 'web' } }] }),
        ],
      },
      expect: { ok: true },
    },
    {
      rule: 'localPref: advertisements to disjoint named peers are accepted',
      metallb: COMPAT,
      input: {
        ipAddressPools: v4,
        bgpPeers: [peer('r1'), peer('r2', { peerAddress: '10.0.0.2' })],
        bgpAdvertisements: [
          cr('a', { localPref: 100, peers: ['r1'] }),
          cr('b', { localPref: 200, peers: ['r2'] }),
        ],
      },
      expect: { ok: true },
    },
  ]);
});

describe('parity: BGPPeer routerID', () => {
  const PEER_FROM_CR = 'internal/config/config.go: peerFromCR (net.ParseIP, any family)';
  runCases([
    {
      rule: 'routerID: an IPv4 address is the BGP identifier',
      metallb: PEER_FROM_CR,
      input: { bgpPeers: [peer('p', { routerID: '192.0.2.7' })] },
      expect: { ok: true, check: (c) => assert.equal(c.peers.get('p')?.routerID, '192.0.2.7') },
    },
    {
      rule: 'routerID: an IPv6 address is accepted with a warning; the node router ID is used',
      metallb: PEER_FROM_CR,
      input: { bgpPeers: [peer('p', { routerID: 'fc00::7' })] },
      expect: {
        ok: true,
        warnings: [
          "BGPPeer metallb-system/p: spec.routerID: fc00::7 cannot be a BGP identifier (4 octets, an IPv4 address); the node's own router ID is used",
        ],
        check: (c) => assert.equal(c.peers.get('p')?.routerID, undefined),
      },
    },
    {
      rule: 'routerID: an IPv4-mapped IPv6 address is its IPv4 address',
      metallb: `${PEER_FROM_CR}; internal/bgp/native/messages.go: sendOpen (To4)`,
      input: { bgpPeers: [peer('p', { routerID: '::ffff:192.0.2.7' })] },
      expect: { ok: true, check: (c) => assert.equal(c.peers.get('p')?.routerID, '192.0.2.7') },
    },
    {
      rule: 'routerID: not an IP is refused',
      metallb: PEER_FROM_CR,
      input: { bgpPeers: [peer('p', { routerID: 'router-1' })] },
      expect: {
        errors: ['BGPPeer metallb-system/p: spec.routerID: invalid router ID "router-1": not an IP address'],
      },
    },
  ]);
});

describe('parity: IPAddressPool serviceAllocation.priority', () => {
  runCases([
    {
      rule: 'serviceAllocation.priority: a negative integer is accepted',
      metallb: 'api/v1beta1/ipaddresspool_types.go: ServiceAllocation.Priority (a Go int, no bounds)',
      input: {
        ipAddressPools: [cr('p', { addresses: ['10.0.0.0/24'], serviceAllocation: { priority: -7 } })],
      },
      expect: { ok: true, check: (c) => assert.equal(c.pools.get('p')?.serviceAllocation?.priority, -7) },
    },
  ]);
});

describe('parity: BGPPeer holdTime', () => {
  runCases([
    {
      rule: 'holdTime "0" is accepted (no keepalives; keepaliveTime becomes 0)',
      metallb: 'internal/config/config.go: parseTimers (0 or at least 3s)',
      input: { bgpPeers: [peer('p', { holdTime: '0' })] },
      expect: {
        ok: true,
        check: (c) =>
          assert.deepEqual([c.peers.get('p')?.holdTimeMs, c.peers.get('p')?.keepaliveTimeMs], [0, 0]),
      },
    },
    ...(
      [
        ['500ms', 0, 0],
        ['3.5s', 3000, 1000],
        ['+90s', 90_000, 30_000],
        ['.5m', 30_000, 10_000],
        ['90.s', 90_000, 30_000],
        ['90000000\u03bcs', 90_000, 30_000],
        ['90000000\u00b5s', 90_000, 30_000],
        ['1h0m0.5s', 3_600_000, 1_200_000],
      ] as const
    ).map(([holdTime, hold, keepalive]) => ({
      rule: `holdTime "${holdTime}" is accepted and runs as ${hold / 1000}s (whole seconds, as FRR gets it)`,
      metallb:
        'internal/config/config.go: parseTimers (time.ParseDuration; rounded to seconds: 0 or at least 3s)',
      input: { bgpPeers: [peer('p', { holdTime })] },
      expect: {
        ok: true as const,
        check: (c: Config) =>
          assert.deepEqual(
            [c.peers.get('p')?.holdTimeMs, c.peers.get('p')?.keepaliveTimeMs],
            [hold, keepalive],
          ),
      },
    })),
    {
      rule: 'holdTime "2.5s" is refused (2s after rounding)',
      metallb: 'internal/config/config.go: parseTimers',
      input: { bgpPeers: [peer('p', { holdTime: '2.5s' })] },
      expect: {
        errors: ['BGPPeer metallb-system/p: spec.holdTime: 2.5s is invalid: must be 0 or at least 3s'],
      },
    },
    {
      rule: 'holdTime "-5s" is refused',
      metallb: 'internal/config/config.go: parseTimers',
      input: { bgpPeers: [peer('p', { holdTime: '-5s' })] },
      expect: {
        errors: ['BGPPeer metallb-system/p: spec.holdTime: -5s is invalid: must be 0 or at least 3s'],
      },
    },
    {
      rule: 'holdTime "90" (no unit) is refused, as time.ParseDuration refuses it',
      metallb: 'metav1.Duration: time.ParseDuration',
      input: { bgpPeers: [peer('p', { holdTime: '90' })] },
      expect: {
        errors: ['BGPPeer metallb-system/p: spec.holdTime: invalid duration "90" (e.g. 90s, 1m30s)'],
      },
    },
  ]);
});

describe('parity: community values', () => {
  const NEW = 'internal/bgp/community/community.go: New (strconv.ParseUint, base 10)';
  runCases([
    {
      rule: 'communities: values with leading zeros are accepted (standard and large, literal and alias)',
      metallb: NEW,
      input: {
        ipAddressPools: [cr('lan', { addresses: ['10.0.0.0/24'] })],
        communities: [cr('c', { communities: [{ name: 'padded', value: '065000:0001' }] })],
        bgpAdvertisements: [cr('a', { communities: ['00100:007', 'large:01:002:0003', 'padded'] })],
      },
      expect: {
        ok: true,
        check: (c) =>
          assert.deepEqual(c.bgpAdvertisements[0]?.communities, [
            { kind: 'standard', value: 100 * 65536 + 7, text: '100:7' },
            { kind: 'large', global: 1, local1: 2, local2: 3, text: 'large:1:2:3' },
            { kind: 'standard', value: 65000 * 65536 + 1, text: '65000:1' },
          ]),
      },
    },
    {
      rule: 'communities: a value beyond 16 bits is refused, leading zeros or not',
      metallb: NEW,
      input: {
        ipAddressPools: [cr('lan', { addresses: ['10.0.0.0/24'] })],
        bgpAdvertisements: [cr('a', { communities: ['000065536:1'] })],
      },
      expect: {
        errors: [
          'BGPAdvertisement metallb-system/a: spec.communities[0]: invalid community "000065536:1": want a:b with 16-bit values',
        ],
      },
    },
  ]);
});

describe('parity: BGPPeer ebgpMultiHop', () => {
  const PEER_FROM_CR = 'internal/config/config.go: peerFromCR (ASN == MyASN && EBGPMultiHop)';
  runCases([
    {
      rule: 'ebgpMultiHop with peerASN = myASN is refused',
      metallb: PEER_FROM_CR,
      input: { bgpPeers: [peer('p', { peerASN: 64500, ebgpMultiHop: true })] },
      expect: {
        errors: [
          'BGPPeer metallb-system/p: spec.ebgpMultiHop: ebgpMultiHop cannot be set on an iBGP session (peerASN = myASN)',
        ],
      },
    },
    {
      rule: 'ebgpMultiHop with dynamicASN: internal is accepted',
      metallb: PEER_FROM_CR,
      input: { bgpPeers: [peer('p', { peerASN: undefined, dynamicASN: 'internal', ebgpMultiHop: true })] },
      expect: { ok: true, check: (c) => assert.equal(c.peers.get('p')?.internal, true) },
    },
  ]);
});

describe('parity: BGPPeer localASN', () => {
  const PEER = 'api/v1beta2/bgppeer_types.go: LocalASN (1..2^32-1); internal/config/config.go: peerFromCR';
  runCases([
    {
      rule: 'localASN is parsed; the session is iBGP when peerASN equals it',
      metallb: PEER,
      input: {
        bgpPeers: [
          peer('ext', { localASN: 64600 }),
          peer('int', { peerAddress: '10.0.0.2', localASN: 64501 }),
        ],
      },
      expect: {
        ok: true,
        check: (c) => {
          assert.deepEqual([c.peers.get('ext')?.localASN, c.peers.get('ext')?.internal], [64600, false]);
          assert.deepEqual([c.peers.get('int')?.localASN, c.peers.get('int')?.internal], [64501, true]);
        },
      },
    },
    {
      rule: 'localASN beyond 32 bits is refused',
      metallb: PEER,
      input: { bgpPeers: [peer('p', { localASN: 4294967296 })] },
      expect: {
        errors: ['BGPPeer metallb-system/p: spec.localASN: 4294967296 is out of range [0, 4294967295]'],
      },
    },
  ]);
});

describe('parity: aggregationLength bounds', () => {
  runCases([
    {
      rule: 'aggregationLength 0 is refused (MetalLB CRD minimum 1)',
      metallb: 'api/v1beta1/bgpadvertisement_types.go: AggregationLength, Minimum=1',
      input: {
        ipAddressPools: [cr('all', { addresses: ['0.0.0.0/0'] })],
        bgpAdvertisements: [cr('a', { aggregationLength: 0 })],
      },
      expect: {
        errors: ['BGPAdvertisement metallb-system/a: spec.aggregationLength: 0 is out of range [1, 32]'],
      },
    },
  ]);
});

describe('parity: IPAddressPool addresses', () => {
  runCases([
    {
      rule: 'a bare address (no prefix length) is refused',
      metallb: 'internal/config/config.go: ParseCIDR (net.ParseCIDR)',
      input: { ipAddressPools: [cr('p', { addresses: ['10.0.0.7'] })] },
      expect: {
        errors: [
          'IPAddressPool metallb-system/p: spec.addresses[0]: invalid address range "10.0.0.7": a single address is written as a CIDR, 10.0.0.7/32',
        ],
      },
    },
  ]);
});

describe('parity: BGPPeer myASN', () => {
  runCases([
    {
      rule: 'myASN 0 is refused (a missing local AS)',
      metallb: 'internal/config/config.go: peerFromCR ("missing local ASN")',
      input: { bgpPeers: [peer('p', { myASN: 0 })] },
      expect: { errors: ['BGPPeer metallb-system/p: spec.myASN: required: 0 is not a local AS number'] },
    },
  ]);
});

describe('parity: L2Advertisement preferredNodeSelectors', () => {
  const pool = cr('p', { addresses: ['10.0.0.0/24'] });
  const l2 = (preferred: unknown): ConfigInput => ({
    ipAddressPools: [pool],
    l2Advertisements: [cr('a', { preferredNodeSelectors: preferred })],
  });
  const at = (i: number, rest: string, reason: string): string =>
    `L2Advertisement metallb-system/a: spec.preferredNodeSelectors[${i}]${rest}: ${reason}`;
  const CRD = 'config/crd/bases/metallb.io_l2advertisements.yaml (weight minimum 1, maximum 100; required)';
  runCases([
    {
      rule: 'preferredNodeSelectors: weights 1 and 100 with label selectors are accepted, in order',
      metallb: 'internal/config/config.go: l2AdvertisementFromCR, preferredNodeScores',
      input: l2([
        { weight: 1, preference: { matchLabels: { zone: 'a' } } },
        {
          weight: 100,
          preference: { matchExpressions: [{ key: 'role', operator: 'In', values: ['edge'] }] },
        },
      ]),
      expect: {
        ok: true,
        check: (c) => {
          const p = c.l2Advertisements[0]?.preferredNodeSelectors ?? [];
          assert.deepEqual(
            p.map((x) => [x.weight, x.preference.toString()]),
            [
              [1, 'zone In (a)'],
              [100, 'role In (edge)'],
            ],
          );
        },
      },
    },
    {
      rule: 'preferredNodeSelectors: an empty preference is accepted and matches every node',
      metallb:
        'api/v1beta1/l2advertisement_types.go: PreferredNodeSelector.Preference ("an empty selector matches every node")',
      input: l2([{ weight: 10, preference: {} }]),
      expect: {
        ok: true,
        check: (c) =>
          assert.equal(c.l2Advertisements[0]?.preferredNodeSelectors[0]?.preference.isEverything, true),
      },
    },
    {
      rule: 'preferredNodeSelectors: the same preference twice is accepted (not a repeat to refuse; the weights add up)',
      metallb:
        'internal/config/config.go: l2AdvertisementFromCR checks repeats in three selector lists, not this one',
      input: l2([
        { weight: 30, preference: { matchLabels: { zone: 'a' } } },
        { weight: 30, preference: { matchLabels: { zone: 'a' } } },
      ]),
      expect: {
        ok: true,
        check: (c) =>
          assert.deepEqual(
            c.l2Advertisements[0]?.preferredNodeSelectors.map((x) => x.weight),
            [30, 30],
          ),
      },
    },
    {
      rule: 'preferredNodeSelectors: a weight of 0 or 101 is refused',
      metallb: CRD,
      input: l2([
        { weight: 0, preference: {} },
        { weight: 101, preference: {} },
      ]),
      expect: {
        errors: [
          at(0, '.weight', '0 is out of range [1, 100]'),
          at(1, '.weight', '101 is out of range [1, 100]'),
        ],
      },
    },
    {
      rule: 'preferredNodeSelectors: a weight that is no integer, or none, is refused',
      metallb: CRD + '; Weight is an int32',
      input: l2([{ weight: 2.5, preference: {} }, { weight: '50', preference: {} }, { preference: {} }]),
      expect: {
        errors: [
          at(0, '.weight', 'must be an integer, got 2.5'),
          at(1, '.weight', 'must be an integer, got "50"'),
          at(2, '.weight', 'is required (1 to 100)'),
        ],
      },
    },
    {
      rule: 'preferredNodeSelectors: an entry without preference, or not an object, is refused',
      metallb: CRD,
      input: l2([{ weight: 5 }, 'zone=a']),
      expect: {
        errors: [
          at(0, '.preference', 'is required (a label selector; {} matches every node)'),
          at(1, '', 'must be an object with weight and preference'),
        ],
      },
    },
    {
      rule: 'preferredNodeSelectors: an invalid label selector is refused',
      metallb: 'internal/config/config.go: preferredNodeScores (metav1.LabelSelectorAsSelector)',
      input: l2([
        { weight: 5, preference: { matchExpressions: [{ key: 'x', operator: 'BadOperator' }] } },
        { weight: 5, preference: { matchExpressions: [{ key: 'x', operator: 'In' }] } },
        { weight: 5, preference: { matchLabels: { 'bad key!': 'v' } } },
      ]),
      expect: {
        errors: [
          at(
            0,
            '.preference.matchExpressions[0].operator',
            'unknown operator "BadOperator" (want In, NotIn, Exists or DoesNotExist)',
          ),
          at(1, '.preference.matchExpressions[0].values', 'must be non-empty for operator In'),
          at(2, '.preference.matchLabels[bad key!]', 'invalid label key "bad key!"'),
        ],
      },
    },
    {
      rule: 'preferredNodeSelectors: not a list is refused',
      metallb: CRD + ' (type: array)',
      input: l2({ weight: 5, preference: {} }),
      expect: {
        errors: [
          'L2Advertisement metallb-system/a: spec.preferredNodeSelectors: must be a list of {weight, preference}',
        ],
      },
    },
  ]);
});

describe('superset: accepted where MetalLB native refuses (FRR-mode features, done natively)', () => {
  runCases([
    {
      rule: 'peers on one node with different routerIDs, or different myASNs in one VRF, are accepted',
      metallb:
        'FRR mode: one FRR instance per node (its validation refuses these); native mode: independent sessions',
      input: {
        bgpPeers: [
          peer('a', { peerAddress: '10.0.0.1', routerID: '10.9.0.1' }),
          peer('b', { peerAddress: '10.0.0.2', routerID: '10.9.0.2' }),
          peer('c', { peerAddress: '10.0.0.3', myASN: 64510 }),
        ],
      },
      expect: {
        ok: true,
        check: (c) => {
          assert.deepEqual(
            ['a', 'b', 'c'].map((n) => [c.peers.get(n)?.routerID, c.peers.get(n)?.myASN]),
            [
              ['10.9.0.1', 64500],
              ['10.9.0.2', 64500],
              [undefined, 64510],
            ],
          );
        },
      },
    },
    {
      rule: 'BFD, VRF, keepaliveTime, connectTime, graceful restart, dualStackAddressFamily, dynamicASN and large communities are accepted',
      metallb: 'DiscardFRROnly refuses them in native mode; the FRR modes accept them',
      input: {
        ipAddressPools: [cr('pool', { addresses: ['10.1.0.0/28', 'fc00::/124'] })],
        bfdProfiles: [cr('bfd', { receiveInterval: 300 })],
        bgpPeers: [
          peer('p', {
            bfdProfile: 'bfd',
            vrf: 'red',
            keepaliveTime: '10s',
            connectTime: '5s',
            enableGracefulRestart: true,
            dualStackAddressFamily: true,
            peerASN: undefined,
            dynamicASN: 'external',
          }),
        ],
        bgpAdvertisements: [cr('adv', { ipAddressPools: ['pool'], communities: ['large:64500:1:2'] })],
      },
      expect: {
        ok: true,
        check: (c) => {
          const p = c.peers.get('p');
          assert.deepEqual(
            [p?.bfdProfile, p?.vrf, p?.keepaliveTimeMs, p?.connectTimeMs, p?.enableGracefulRestart],
            ['bfd', 'red', 10_000, 5000, true],
          );
          assert.deepEqual([p?.dualStackAddressFamily, p?.dynamicASN], [true, 'external']);
          assert.equal(c.bgpAdvertisements[0]?.communities[0]?.kind, 'large');
        },
      },
    },
  ]);
});
