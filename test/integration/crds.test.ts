// Every metallb.io CRD installs into the real apiserver, becomes Established, accepts a valid example of
// its kind and rejects schema-invalid ones (OpenAPI types, bounds, enums, CEL rules).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { create, get, installCRDs, namespaceObj, tryCreate, type Obj } from './controller-helpers.js';
import { KubeClient } from '../../k8s/client.js';
import { configCondition, writeConfigurationState } from '../../k8s/status.js';

const NS = 'metallb-system';
const v1b1 = 'metallb.io/v1beta1';

function obj(kind: string, name: string, spec: Record<string, unknown>, apiVersion = v1b1): Obj {
  return { apiVersion, kind, metadata: { name, namespace: NS }, spec };
}

describe('metallb.io CRDs on a real apiserver', () => {
  let cp: ControlPlane;
  let names: string[] = [];
  before(async () => {
    cp = await startControlPlane();
    names = await installCRDs(cp);
    await create(cp, namespaceObj(NS));
  });
  after(async () => {
    await cp?.stop();
  });

  it('installs all nine CRDs and each becomes Established', () => {
    assert.deepEqual(names.sort(), [
      'bfdprofiles.metallb.io',
      'bgpadvertisements.metallb.io',
      'bgppeers.metallb.io',
      'communities.metallb.io',
      'configurationstates.metallb.io',
      'ipaddresspools.metallb.io',
      'l2advertisements.metallb.io',
      'servicebgpstatuses.metallb.io',
      'servicel2statuses.metallb.io',
    ]);
  });

  const valid: Obj[] = [
    obj('IPAddressPool', 'lan', {
      addresses: ['192.168.10.0/24', '192.168.11.10-192.168.11.20', 'fc00:1::/64'],
      serviceAllocation: {
        priority: 10,
        namespaces: ['shop'],
        namespaceSelectors: [{ matchLabels: { team: 'a' } }],
        serviceSelectors: [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] }],
      },
    }),
    obj('IPAddressPool', 'first', {
      addresses: ['192.168.12.0/24'],
      serviceAllocation: { priority: -5, namespaces: ['shop'] },
    }),
    obj('L2Advertisement', 'l2', {
      ipAddressPools: ['lan'],
      interfaces: ['eth0'],
      nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'node-1' } }],
    }),
    obj('BGPAdvertisement', 'bgp', {
      ipAddressPools: ['lan'],
      aggregationLength: 24,
      localPref: 100,
      communities: ['65535:65282', 'large:1:2:3', 'no-advertise'],
      peers: ['r1'],
    }),
    obj(
      'BGPPeer',
      'r1',
      {
        myASN: 64500,
        peerASN: 64501,
        peerAddress: '10.0.0.1',
        holdTime: '90s',
        keepaliveTime: '30s',
        connectTime: '5s',
        bfdProfile: 'fast',
        localASN: 4200000001,
      },
      'metallb.io/v1beta2',
    ),
    obj('BGPAdvertisement', 'bgp-selected', {
      serviceSelectors: [{ matchLabels: { app: 'web' } }],
      aggregationLength: 32,
      aggregationLengthV6: 128,
    }),
    obj('BFDProfile', 'fast', { receiveInterval: 100, transmitInterval: 100, detectMultiplier: 5 }),
    obj('Community', 'aliases', { communities: [{ name: 'no-advertise', value: '65535:65282' }] }),
    obj('ServiceL2Status', 'l2-abc', {}),
    obj('ServiceBGPStatus', 'bgp-abc', {}),
    obj('ConfigurationState', 'controller', { type: 'Controller' }),
  ];
  for (const o of valid) {
    it(`accepts a valid ${o.kind}`, async () => {
      const created = await create(cp, o);
      assert.equal(created.kind, o.kind);
    });
  }

  it('keeps L2Advertisement preferredNodeSelectors as written (not pruned)', async () => {
    const preferredNodeSelectors = [
      { weight: 100, preference: { matchLabels: { zone: 'primary' } } },
      { weight: 1, preference: { matchExpressions: [{ key: 'role', operator: 'Exists' }] } },
      { weight: 30, preference: {} },
    ];
    const created = await create(cp, obj('L2Advertisement', 'l2-preferred', { preferredNodeSelectors }));
    assert.deepEqual(
      (created.spec as Record<string, unknown>).preferredNodeSelectors,
      preferredNodeSelectors,
    );
  });

  it('applies the defaults (autoAssign, avoidBuggyIPs, aggregation lengths, BFD timers, peerPort)', async () => {
    const p = await get(cp, obj('IPAddressPool', 'lan', {}));
    assert.equal(p?.spec?.autoAssign, true);
    assert.equal(p?.spec?.avoidBuggyIPs, false);
    const b = await create(cp, obj('BGPAdvertisement', 'bgp-defaults', {}));
    assert.equal(b.spec?.aggregationLength, 32);
    assert.equal(b.spec?.aggregationLengthV6, 128);
    const f = await create(cp, obj('BFDProfile', 'bfd-defaults', {}));
    assert.deepEqual(
      [f.spec?.receiveInterval, f.spec?.transmitInterval, f.spec?.detectMultiplier, f.spec?.echoInterval],
      [300, 300, 3, 50],
    );
    const peer = await create(
      cp,
      obj(
        'BGPPeer',
        'r-defaults',
        { myASN: 64500, dynamicASN: 'external', peerAddress: '10.0.0.2' },
        'metallb.io/v1beta2',
      ),
    );
    assert.equal(peer.spec?.peerPort, 179);
  });

  it('accepts holdTime "0" (no keepalives, as MetalLB allows) and refuses a holdTime that is no duration', async () => {
    const zero = await create(
      cp,
      obj(
        'BGPPeer',
        'r-hold-zero',
        { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.4', holdTime: '0', keepaliveTime: '0' },
        'metallb.io/v1beta2',
      ),
    );
    assert.equal(zero.spec?.holdTime, '0');
    const bad = await tryCreate(
      cp,
      obj(
        'BGPPeer',
        'r-hold-bad',
        { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.5', holdTime: '00' },
        'metallb.io/v1beta2',
      ),
    );
    assert.equal(bad.status, 422, bad.body);
    assert.match(bad.body, /holdTime/);
  });

  it("accepts every form of Go's time.ParseDuration that MetalLB takes (sign, .5m, 90.s, μs, under 1s)", async () => {
    const forms = ['+90s', '.5m', '90.s', '90000000\u03bcs', '90000000\u00b5s', '500ms', '1h0m0.5s'];
    for (const [i, holdTime] of forms.entries()) {
      const made = await create(
        cp,
        obj(
          'BGPPeer',
          `r-hold-go-${i}`,
          { myASN: 64500, peerASN: 64501, peerAddress: `10.0.1.${i + 1}`, holdTime },
          'metallb.io/v1beta2',
        ),
      );
      assert.equal(made.spec?.holdTime, holdTime);
    }
  });

  it('serves BGPPeer v1beta1 too, stored as v1beta2 (conversion None)', async () => {
    await create(cp, obj('BGPPeer', 'old', { myASN: 64500, peerASN: 64500, peerAddress: '10.0.0.3' }, v1b1));
    const asV2 = await get(cp, obj('BGPPeer', 'old', {}, 'metallb.io/v1beta2'));
    assert.equal(asV2?.spec?.peerASN, 64500);
    assert.equal(asV2?.apiVersion, 'metallb.io/v1beta2');
  });

  it('writes ServiceL2Status and ConfigurationState status through the status subresource', async () => {
    const r = await cp.request(
      'PATCH',
      `/apis/metallb.io/v1beta1/namespaces/${NS}/configurationstates/controller/status`,
      { status: { result: 'Invalid', errorSummary: 'x' } },
      'application/merge-patch+json',
    );
    assert.equal(r.status, 200, r.body);
    const bad = await cp.request(
      'PATCH',
      `/apis/metallb.io/v1beta1/namespaces/${NS}/configurationstates/controller/status`,
      { status: { result: 'Maybe' } },
      'application/merge-patch+json',
    );
    assert.equal(bad.status, 422);
    const l2 = await cp.request(
      'PATCH',
      `/apis/metallb.io/v1beta1/namespaces/${NS}/servicel2statuses/l2-abc/status`,
      {
        status: {
          node: 'node-1',
          serviceName: 'web',
          serviceNamespace: 'shop',
          interfaces: [{ name: 'eth0' }],
        },
      },
      'application/merge-patch+json',
    );
    assert.equal(l2.status, 200, l2.body);
  });

  it("ConfigurationState: written with MetalLB's labels and condition; labels put back on an older object", async () => {
    const client = KubeClient.load(cp.adminKubeconfig);
    try {
      await writeConfigurationState(
        client,
        NS,
        'speaker-node-1',
        { type: 'Speaker', nodeName: 'node-1' },
        {
          result: 'Valid',
          errorSummary: '',
          conditions: [configCondition('configReconcilerValid', '')],
        },
      );
      const s = await get(cp, obj('ConfigurationState', 'speaker-node-1', {}));
      assert.deepEqual(s?.metadata.labels, {
        'metallb.io/component-type': 'speaker',
        'metallb.io/node-name': 'node-1',
      });
      const st = (s as { status?: { conditions?: { type: string; status: string; reason: string }[] } })
        .status;
      assert.deepEqual(
        st?.conditions?.map((c) => [c.type, c.status, c.reason]),
        [['configReconcilerValid', 'True', 'Reconciled']],
      );
      // `controller` was created above without labels (as an older version wrote it)
      await writeConfigurationState(
        client,
        NS,
        'controller',
        { type: 'Controller' },
        { result: 'Valid', errorSummary: '', conditions: [configCondition('poolReconcilerValid', '')] },
      );
      const c = await get(cp, obj('ConfigurationState', 'controller', {}));
      assert.deepEqual(c?.metadata.labels, { 'metallb.io/component-type': 'controller' });
    } finally {
      client.close();
    }
  });

  const invalid: [string, Obj, RegExp][] = [
    [
      'a pool without addresses',
      obj('IPAddressPool', 'bad1', { autoAssign: true }),
      /addresses: Required value/,
    ],
    [
      'a pool with a string autoAssign',
      obj('IPAddressPool', 'bad2', { addresses: ['10.0.0.0/24'], autoAssign: 'yes' }),
      /autoAssign/,
    ],
    [
      'a pool priority that is not an integer',
      obj('IPAddressPool', 'bad3', { addresses: ['10.0.0.0/24'], serviceAllocation: { priority: 1.5 } }),
      /priority/,
    ],
    [
      'an unknown selector operator',
      obj('IPAddressPool', 'bad4', {
        addresses: ['10.0.0.0/24'],
        serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Near' }] }] },
      }),
      /operator/,
    ],
    [
      'In without values',
      obj('IPAddressPool', 'bad5', {
        addresses: ['10.0.0.0/24'],
        serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In' }] }] },
      }),
      /values must be non-empty/,
    ],
    ['aggregationLength 33', obj('BGPAdvertisement', 'bad6', { aggregationLength: 33 }), /aggregationLength/],
    [
      'aggregationLength 0 (MetalLB: minimum 1)',
      obj('BGPAdvertisement', 'bad-agg0', { aggregationLength: 0 }),
      /aggregationLength/,
    ],
    [
      'serviceSelectors with a non-default aggregationLength (MetalLB CEL rule)',
      obj('BGPAdvertisement', 'bad-sel-agg', {
        aggregationLength: 24,
        serviceSelectors: [{ matchLabels: { app: 'web' } }],
      }),
      /serviceSelectors need the default aggregation lengths/,
    ],
    [
      'serviceSelectors with a non-default aggregationLengthV6 (MetalLB CEL rule)',
      obj('BGPAdvertisement', 'bad-sel-agg6', {
        aggregationLengthV6: 64,
        serviceSelectors: [{ matchLabels: { app: 'web' } }],
      }),
      /serviceSelectors need the default aggregation lengths/,
    ],
    [
      'peerASN and dynamicASN together',
      obj(
        'BGPPeer',
        'bad7',
        { myASN: 1, peerASN: 2, dynamicASN: 'internal', peerAddress: '10.0.0.1' },
        'metallb.io/v1beta2',
      ),
      /peerASN and dynamicASN are mutually exclusive/,
    ],
    [
      'neither peerASN nor dynamicASN',
      obj('BGPPeer', 'bad8', { myASN: 1, peerAddress: '10.0.0.1' }, 'metallb.io/v1beta2'),
      /one of peerASN and dynamicASN must be set/,
    ],
    [
      'password and passwordSecret together',
      obj(
        'BGPPeer',
        'bad9',
        { myASN: 1, peerASN: 2, peerAddress: '10.0.0.1', password: 'x', passwordSecret: { name: 's' } },
        'metallb.io/v1beta2',
      ),
      /password and passwordSecret are mutually exclusive/,
    ],
    [
      'an unknown dynamicASN',
      obj(
        'BGPPeer',
        'bad10',
        { myASN: 1, dynamicASN: 'sideways', peerAddress: '10.0.0.1' },
        'metallb.io/v1beta2',
      ),
      /dynamicASN/,
    ],
    [
      'an ASN above 2^32-1',
      obj(
        'BGPPeer',
        'bad11',
        { myASN: 4294967296, peerASN: 2, peerAddress: '10.0.0.1' },
        'metallb.io/v1beta2',
      ),
      /myASN/,
    ],
    [
      'a localASN of 0 (MetalLB: minimum 1)',
      obj(
        'BGPPeer',
        'bad-local-asn',
        { myASN: 1, peerASN: 2, peerAddress: '10.0.0.1', localASN: 0 },
        'metallb.io/v1beta2',
      ),
      /localASN/,
    ],
    [
      'connectTime 0s',
      obj(
        'BGPPeer',
        'bad12',
        { myASN: 1, peerASN: 2, peerAddress: '10.0.0.1', connectTime: '0s' },
        'metallb.io/v1beta2',
      ),
      /connect time should be between 1 seconds to 65535/,
    ],
    ['a BFD detectMultiplier of 1', obj('BFDProfile', 'bad13', { detectMultiplier: 1 }), /detectMultiplier/],
    [
      'a BFD receiveInterval of 70000',
      obj('BFDProfile', 'bad14', { receiveInterval: 70000 }),
      /receiveInterval/,
    ],
    [
      'a preferredNodeSelectors weight of 0',
      obj('L2Advertisement', 'bad-pref-1', { preferredNodeSelectors: [{ weight: 0, preference: {} }] }),
      /weight/,
    ],
    [
      'a preferredNodeSelectors weight of 101',
      obj('L2Advertisement', 'bad-pref-2', { preferredNodeSelectors: [{ weight: 101, preference: {} }] }),
      /weight/,
    ],
    [
      'a preferredNodeSelectors entry without preference',
      obj('L2Advertisement', 'bad-pref-3', { preferredNodeSelectors: [{ weight: 5 }] }),
      /preference: Required value/,
    ],
    [
      'a preferredNodeSelectors entry without weight',
      obj('L2Advertisement', 'bad-pref-4', { preferredNodeSelectors: [{ preference: {} }] }),
      /weight: Required value/,
    ],
    [
      'a preferredNodeSelectors preference with an unknown operator',
      obj('L2Advertisement', 'bad-pref-5', {
        preferredNodeSelectors: [
          { weight: 5, preference: { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } },
        ],
      }),
      /operator/,
    ],
    [
      'a preferredNodeSelectors preference with In and no values',
      obj('L2Advertisement', 'bad-pref-6', {
        preferredNodeSelectors: [
          { weight: 5, preference: { matchExpressions: [{ key: 'a', operator: 'In' }] } },
        ],
      }),
      /values must be non-empty/,
    ],
    [
      'a malformed community value',
      obj('Community', 'bad15', { communities: [{ name: 'x', value: 'one:two' }] }),
      /value/,
    ],
  ];
  for (const [what, o, why] of invalid) {
    it(`rejects ${what}`, async () => {
      const r = await tryCreate(cp, o);
      assert.equal(r.status, 422, r.body);
      assert.match(r.body, why);
    });
  }
});
