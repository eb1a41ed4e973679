// Bad configuration against a real apiserver and the controller (its own ServiceAccount): a table of
// invalid metallb.io CRs and Service annotations. Each is either refused by the apiserver (CRD schema)
// with a message naming the field, or accepted and then reported by the controller — a Warning
// InvalidConfiguration Event on the object and the `controller` ConfigurationState's errorSummary
// naming it — or, for a Service, an AllocationFailed Warning Event with the reason. Throughout, nothing
// else changes: a Service assigned before keeps its IP, and the last good configuration still
// allocates. Each invalid object is removed before the next case.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { waitFor } from '../../lab/process.js';
import { runController, type RunningController } from '../../controller/main.js';
import { repoPath } from '../support/repo.js';
import {
  applyManifest,
  create,
  get,
  ingressIPs,
  installCRDs,
  lbService,
  namespaceObj,
  pool,
  remove,
  tryCreate,
  waitForEvent,
  waitForIPs,
  type Obj,
} from './controller-helpers.js';

const NS = 'metallb-system';
const APP = 'cfg';

type Expect =
  /** The apiserver refuses it (schema); the message matches. */
  | { reject: RegExp }
  /** Accepted; the controller reports it: Warning Event + ConfigurationState, the note matches. */
  | { invalid: RegExp }
  /** A Service: AllocationFailed with a reason matching. */
  | { allocationFailed: RegExp }
  /** Accepted and valid, with a warning the controller logs naming the object (documented as such). */
  | { warned: RegExp };

interface Case {
  name: string;
  objects: Obj[];
  expect: Expect;
}

const cr = (kind: string, name: string, spec: Record<string, unknown>, version = 'v1beta1'): Obj => ({
  apiVersion: `metallb.io/${version}`,
  kind,
  metadata: { name, namespace: NS },
  spec,
});
const ipPool = (name: string, spec: Record<string, unknown>): Obj => cr('IPAddressPool', name, spec);
const l2 = (name: string, spec: Record<string, unknown>): Obj => cr('L2Advertisement', name, spec);
const bgpAdv = (name: string, spec: Record<string, unknown>): Obj => cr('BGPAdvertisement', name, spec);
const bgpPeer = (name: string, spec: Record<string, unknown>): Obj =>
  cr('BGPPeer', name, { myASN: 64513, peerASN: 64512, peerAddress: '10.1.1.1', ...spec }, 'v1beta2');
const bfd = (name: string, spec: Record<string, unknown>): Obj => cr('BFDProfile', name, spec);
const community = (name: string, communities: unknown[]): Obj => cr('Community', name, { communities });
const svc = (name: string, annotations: Record<string, string>, spec: Record<string, unknown> = {}): Obj =>
  lbService(APP, name, { annotations, spec });

// The good configuration every case runs against: pool `good` (10.90.0.0/24) and `good6` (fd00:90::/120).
const CASES: Case[] = [
  // IPAddressPool
  {
    name: 'pool: not an address',
    objects: [ipPool('p-notip', { addresses: ['banana'] })],
    expect: { invalid: /banana/ },
  },
  {
    name: 'pool: prefix /33',
    objects: [ipPool('p-33', { addresses: ['10.91.0.0/33'] })],
    expect: { invalid: /10\.91\.0\.0\/33/ },
  },
  {
    name: 'pool: reversed range',
    objects: [ipPool('p-rev', { addresses: ['10.91.0.10-10.91.0.5'] })],
    expect: { invalid: /10\.91\.0\.10-10\.91\.0\.5/ },
  },
  {
    name: 'pool: range across families',
    objects: [ipPool('p-mix', { addresses: ['10.91.0.1-fd00::1'] })],
    expect: { invalid: /10\.91\.0\.1-fd00::1/ },
  },
  {
    name: 'pool: IPv6 prefix /129',
    objects: [ipPool('p-129', { addresses: ['fd00:91::/129'] })],
    expect: { invalid: /fd00:91::\/129/ },
  },
  {
    name: 'pool: overlaps another pool',
    objects: [ipPool('p-overlap', { addresses: ['10.90.0.128/25'] })],
    expect: { invalid: /overlaps/ },
  },
  {
    name: 'pool: overlaps itself',
    objects: [ipPool('p-self', { addresses: ['10.92.0.0/24', '10.92.0.128/25'] })],
    expect: { invalid: /overlaps/ },
  },
  {
    name: 'pool: namespaceSelectors with a bad operator',
    objects: [
      ipPool('p-nsop', {
        addresses: ['10.93.0.0/24'],
        serviceAllocation: { namespaceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Bogus' }] }] },
      }),
    ],
    expect: { reject: /operator: Unsupported value: "Bogus"/ },
  },
  {
    name: 'pool: serviceSelectors with an invalid label key',
    objects: [
      ipPool('p-badkey', {
        addresses: ['10.93.1.0/24'],
        serviceAllocation: { serviceSelectors: [{ matchLabels: { 'bad key!': 'x' } }] },
      }),
    ],
    expect: { invalid: /bad key!/ },
  },
  {
    name: 'pool: In with no values',
    objects: [
      ipPool('p-novals', {
        addresses: ['10.93.2.0/24'],
        serviceAllocation: {
          serviceSelectors: [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }],
        },
      }),
    ],
    expect: { reject: /values must be non-empty/ },
  },
  // L2Advertisement
  {
    name: 'l2: unknown pool (a warning by design, docs/configuration.md)',
    objects: [l2('l2-nopool', { ipAddressPools: ['no-such-pool'] })],
    expect: { warned: /IPAddressPool "no-such-pool" does not exist/ },
  },
  {
    name: 'l2: nodeSelectors with a bad operator',
    objects: [l2('l2-nodeop', { nodeSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Nope' }] }] })],
    expect: { reject: /operator: Unsupported value: "Nope"/ },
  },
  {
    name: 'l2: pool selector with an invalid label value',
    objects: [l2('l2-sel', { ipAddressPoolSelectors: [{ matchLabels: { a: 'not a valid value!' } }] })],
    expect: { invalid: /not a valid value!/ },
  },
  {
    name: 'l2: serviceSelectors with an invalid key',
    objects: [l2('l2-svcsel', { serviceSelectors: [{ matchLabels: { '-x-': 'y' } }] })],
    expect: { invalid: /-x-/ },
  },
  // BGPAdvertisement
  {
    name: 'bgpadv: aggregationLength 33',
    objects: [bgpAdv('ba-33', { aggregationLength: 33 })],
    expect: { reject: /aggregationLength/ },
  },
  {
    name: 'bgpadv: aggregationLength shorter than the pool prefix',
    objects: [bgpAdv('ba-short', { ipAddressPools: ['good'], aggregationLength: 16 })],
    expect: { invalid: /aggregationLength/ },
  },
  {
    name: 'bgpadv: aggregationLengthV6 129',
    objects: [bgpAdv('ba-129', { aggregationLengthV6: 129 })],
    expect: { reject: /aggregationLengthV6/ },
  },
  {
    name: 'bgpadv: community not a:b',
    objects: [bgpAdv('ba-comm', { communities: ['notacommunity'] })],
    expect: { invalid: /notacommunity/ },
  },
  {
    name: 'bgpadv: community out of range',
    objects: [bgpAdv('ba-range', { communities: ['70000:1'] })],
    expect: { invalid: /70000:1/ },
  },
  {
    name: 'bgpadv: malformed large community',
    objects: [bgpAdv('ba-large', { communities: ['large:1:2'] })],
    expect: { invalid: /large:1:2/ },
  },
  {
    name: 'bgpadv: unknown pool (a warning by design)',
    objects: [bgpAdv('ba-nopool', { ipAddressPools: ['no-such-pool'] })],
    expect: { warned: /IPAddressPool "no-such-pool" does not exist/ },
  },
  {
    name: 'pool: avoidBuggyIPs not a boolean',
    objects: [ipPool('p-buggy', { addresses: ['10.94.0.0/24'], avoidBuggyIPs: 'yes' })],
    expect: { reject: /avoidBuggyIPs/ },
  },
  {
    name: 'bgpadv: unknown community alias',
    objects: [bgpAdv('ba-alias', { communities: ['no-such-alias'] })],
    expect: { invalid: /no-such-alias/ },
  },
  {
    name: 'bgpadv: two localPrefs for the same pool',
    objects: [
      bgpAdv('ba-lp1', { ipAddressPools: ['good'], localPref: 100 }),
      bgpAdv('ba-lp2', { ipAddressPools: ['good'], localPref: 200 }),
    ],
    expect: { invalid: /localPref/ },
  },
  // BGPPeer
  {
    name: 'peer: peerASN and dynamicASN',
    objects: [bgpPeer('pe-both', { dynamicASN: 'external' })],
    expect: { reject: /peerASN and dynamicASN are mutually exclusive/ },
  },
  {
    name: 'peer: neither peerASN nor dynamicASN',
    objects: [cr('BGPPeer', 'pe-none', { myASN: 64513, peerAddress: '10.1.1.2' }, 'v1beta2')],
    expect: { reject: /one of peerASN and dynamicASN must be set/ },
  },
  {
    name: 'peer: peerAddress not an IP',
    objects: [bgpPeer('pe-addr', { peerAddress: 'router.example' })],
    expect: { invalid: /router\.example/ },
  },
  {
    name: 'peer: holdTime 1s',
    objects: [bgpPeer('pe-hold', { peerAddress: '10.1.1.3', holdTime: '1s' })],
    expect: { invalid: /holdTime/ },
  },
  {
    name: 'peer: keepaliveTime above holdTime',
    objects: [bgpPeer('pe-ka', { peerAddress: '10.1.1.4', holdTime: '9s', keepaliveTime: '30s' })],
    expect: { invalid: /keepaliveTime/ },
  },
  {
    name: 'peer: holdTime not a duration',
    objects: [bgpPeer('pe-dur', { peerAddress: '10.1.1.5', holdTime: 'soon' })],
    expect: { reject: /spec\.holdTime: Invalid value: "soon"/ },
  },
  {
    name: 'peer: password and passwordSecret',
    objects: [bgpPeer('pe-pw', { peerAddress: '10.1.1.6', password: 'x', passwordSecret: { name: 's' } })],
    expect: { reject: /password and passwordSecret are mutually exclusive/ },
  },
  {
    name: 'peer: unknown bfdProfile',
    objects: [bgpPeer('pe-bfd', { peerAddress: '10.1.1.7', bfdProfile: 'no-such-profile' })],
    expect: { invalid: /no-such-profile/ },
  },
  {
    name: 'peer: ebgpMultiHop on iBGP',
    objects: [bgpPeer('pe-mh', { peerAddress: '10.1.1.8', peerASN: 64513, ebgpMultiHop: true })],
    expect: { invalid: /ebgpMultiHop/ },
  },
  {
    name: 'peer: an IPv6 routerID (accepted with a warning, as MetalLB accepts it)',
    objects: [bgpPeer('pe-rid', { peerAddress: '10.1.1.9', routerID: 'fd00::1' })],
    expect: { warned: /spec\.routerID: fd00::1 cannot be a BGP identifier/ },
  },
  {
    name: 'peer: routerID not an IP',
    objects: [bgpPeer('pe-rid-bad', { peerAddress: '10.1.1.13', routerID: 'router-1' })],
    expect: { invalid: /routerID/ },
  },
  {
    name: 'peer: sourceAddress not an IP',
    objects: [bgpPeer('pe-src', { peerAddress: '10.1.1.10', sourceAddress: 'eth0' })],
    expect: { invalid: /sourceAddress/ },
  },
  {
    name: 'peer: dynamicASN not internal|external',
    objects: [
      cr('BGPPeer', 'pe-dyn', { myASN: 64513, dynamicASN: 'sideways', peerAddress: '10.1.1.11' }, 'v1beta2'),
    ],
    expect: { reject: /dynamicASN/ },
  },
  {
    name: 'peer: two peers with one address',
    objects: [
      bgpPeer('pe-dup1', { peerAddress: '10.1.1.12' }),
      bgpPeer('pe-dup2', { peerAddress: '10.1.1.12' }),
    ],
    expect: { invalid: /10\.1\.1\.12/ },
  },
  // BFDProfile
  {
    name: 'bfd: receiveInterval 5 ms',
    objects: [bfd('bfd-rx', { receiveInterval: 5 })],
    expect: { reject: /receiveInterval/ },
  },
  {
    name: 'bfd: detectMultiplier 1',
    objects: [bfd('bfd-mult', { detectMultiplier: 1 })],
    expect: { reject: /detectMultiplier/ },
  },
  {
    name: 'bfd: minimumTtl 255',
    objects: [bfd('bfd-ttl', { minimumTtl: 255 })],
    expect: { reject: /minimumTtl/ },
  },
  // Community
  {
    name: 'community: value not a community',
    objects: [community('co-bad', [{ name: 'x', value: 'x:y' }])],
    expect: { reject: /spec\.communities\[0\]\.value: Invalid value: "x:y"/ },
  },
  {
    name: 'community: one alias twice',
    objects: [
      community('co-dup', [
        { name: 'a', value: '1:1' },
        { name: 'a', value: '1:2' },
      ]),
    ],
    expect: { invalid: /\ba\b/ },
  },
  // Service annotations
  {
    name: 'svc: loadBalancerIPs not an IP',
    objects: [svc('s-notip', { 'metallb.io/loadBalancerIPs': 'banana' })],
    expect: { allocationFailed: /banana/ },
  },
  {
    name: 'svc: three loadBalancerIPs',
    objects: [svc('s-three', { 'metallb.io/loadBalancerIPs': '10.90.0.50,10.90.0.51,fd00:90::5' })],
    expect: { allocationFailed: /.+/ },
  },
  {
    name: 'svc: two IPv4 loadBalancerIPs',
    objects: [svc('s-twov4', { 'metallb.io/loadBalancerIPs': '10.90.0.52,10.90.0.53' })],
    expect: { allocationFailed: /.+/ },
  },
  {
    name: 'svc: unknown address-pool',
    objects: [svc('s-nopool', { 'metallb.io/address-pool': 'no-such-pool' })],
    expect: { allocationFailed: /no-such-pool/ },
  },
  {
    name: 'svc: loadBalancerIPs and spec.loadBalancerIP',
    objects: [
      svc('s-both', { 'metallb.io/loadBalancerIPs': '10.90.0.54' }, { loadBalancerIP: '10.90.0.55' }),
    ],
    expect: { allocationFailed: /loadBalancerIP/ },
  },
  {
    name: 'svc: requested IP in no pool',
    objects: [svc('s-nowhere', { 'metallb.io/loadBalancerIPs': '192.0.2.77' })],
    expect: { allocationFailed: /192\.0\.2\.77/ },
  },
  {
    name: 'svc: requested IP outside the named pool',
    objects: [
      svc('s-otherpool', { 'metallb.io/loadBalancerIPs': '10.90.0.56', 'metallb.io/address-pool': 'good6' }),
    ],
    expect: { allocationFailed: /10\.90\.0\.56/ },
  },
  {
    name: 'svc: IPv6 IP for an IPv4 Service',
    objects: [svc('s-family', { 'metallb.io/loadBalancerIPs': 'fd00:90::9' })],
    expect: { allocationFailed: /fd00:90::9/ },
  },
  {
    name: 'svc: an IP already held by another Service (not shared)',
    objects: [svc('s-taken', { 'metallb.io/loadBalancerIPs': '10.90.0.0' })],
    expect: { allocationFailed: /10\.90\.0\.0/ },
  },
];

describe('bad configuration: a table of invalid CRs and annotations', { timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let ctl: RunningController | undefined;
  let sentinelIP: string[] = [];
  let logFile = '';

  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp);
    await create(cp, namespaceObj(NS));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'controller.yaml'));
    const kubeconfig = await cp.kubeconfigFor(NS, 'controller');
    mkdirSync(cp.logDir, { recursive: true });
    const logger = pino(
      { level: 'debug', formatters: { level: (l) => ({ level: l }) } },
      createWriteStream((logFile = join(cp.logDir, 'controller.log'))),
    );
    ctl = await runController({
      kubeconfig,
      namespace: NS,
      metricsBind: '127.0.0.1:0',
      logger,
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
    });
    await waitFor('leader', () => (ctl?.reconciler.isLeader ? true : undefined), 30_000);
    await create(cp, namespaceObj(APP));
    await create(cp, pool(NS, 'good', { addresses: ['10.90.0.0/24'] }));
    await create(cp, pool(NS, 'good6', { addresses: ['fd00:90::/120'] }));
    await create(cp, lbService(APP, 'sentinel'));
    sentinelIP = await waitForIPs(cp, APP, 'sentinel', 1, 30_000);
    assert.deepEqual(sentinelIP, ['10.90.0.0']);
    await stateIs('Valid');
  });

  after(async () => {
    await ctl?.stop();
    await cp?.stop();
  });

  const stateObj = {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'ConfigurationState',
    metadata: { name: 'controller', namespace: NS },
  };
  async function stateIs(result: string, summary?: RegExp): Promise<string> {
    return waitFor(
      `ConfigurationState ${result}`,
      async () => {
        const s = (await get(cp, stateObj))?.status as { result?: string; errorSummary?: string } | undefined;
        return s?.result === result && (!summary || summary.test(s.errorSummary ?? ''))
          ? (s.errorSummary ?? '')
          : undefined;
      },
      20_000,
      100,
    );
  }

  // Regression: the L2Advertisement CRD had no serviceSelectors, so the apiserver pruned MetalLB's
  // field and the advertisement silently covered every Service.
  it('L2Advertisement spec.serviceSelectors is stored as written (not pruned by the CRD schema)', async () => {
    const sel = [
      { matchLabels: { app: 'web' } },
      { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] },
    ];
    const o = l2('l2-keep-selectors', { ipAddressPools: ['good'], serviceSelectors: sel });
    await create(cp, o);
    try {
      assert.deepEqual((await get(cp, o))?.spec?.serviceSelectors, sel);
    } finally {
      await remove(cp, o);
    }
  });

  it('BGPAdvertisement spec.serviceSelectors is stored as written (not pruned by the CRD schema)', async () => {
    const sel = [{ matchLabels: { app: 'web' } }];
    const o = bgpAdv('bgp-keep-selectors', { ipAddressPools: ['good'], serviceSelectors: sel });
    await create(cp, o);
    try {
      assert.deepEqual((await get(cp, o))?.spec?.serviceSelectors, sel);
    } finally {
      await remove(cp, o);
    }
  });

  it(`has at least 40 cases`, () => {
    assert.ok(CASES.length >= 40, `${CASES.length} cases`);
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const made: Obj[] = [];
      try {
        for (const o of c.objects) {
          const r = await tryCreate(cp, o);
          if ('reject' in c.expect) {
            assert.ok(
              r.status >= 400 && r.status < 500,
              `expected the apiserver to refuse it, got ${r.status}`,
            );
            const msg = (JSON.parse(r.body) as { message?: string }).message ?? r.body;
            assert.match(msg, c.expect.reject);
            continue;
          }
          assert.ok(
            r.status === 201 || r.status === 200,
            `create ${o.kind} ${o.metadata.name}: ${r.status} ${r.body}`,
          );
          made.push(o);
        }
        if ('invalid' in c.expect) {
          const last = c.objects[c.objects.length - 1] as Obj;
          const onAny = await Promise.any(
            c.objects.map((o) =>
              waitForEvent(
                cp,
                NS,
                o.metadata.name,
                'InvalidConfiguration',
                c.expect && 'invalid' in c.expect ? c.expect.invalid : undefined,
                o.kind,
              ),
            ),
          );
          assert.equal(onAny.type, 'Warning');
          const summary = await stateIs('Invalid');
          assert.ok(
            c.objects.some((o) => summary.includes(`${o.kind} ${NS}/${o.metadata.name}`)),
            `errorSummary names ${last.kind} ${last.metadata.name}: ${summary}`,
          );
          assert.match(summary, c.expect.invalid);
        } else if ('warned' in c.expect) {
          const o = c.objects[0] as Obj;
          const re = c.expect.warned;
          await waitFor(
            `a warning about ${o.kind} ${o.metadata.name} in the controller's log`,
            () =>
              readFileSync(logFile, 'utf8')
                .split('\n')
                .filter((l) => l.startsWith('{'))
                .map((l) => JSON.parse(l) as { level?: string; msg?: string; object?: { name?: string } })
                .some((l) => l.level === 'warn' && l.object?.name === o.metadata.name && re.test(l.msg ?? ''))
                ? true
                : undefined,
            20_000,
            100,
          );
          await stateIs('Valid');
        } else if ('allocationFailed' in c.expect) {
          const o = c.objects[0] as Obj;
          const ev = await waitForEvent(
            cp,
            APP,
            o.metadata.name,
            'AllocationFailed',
            c.expect.allocationFailed,
          );
          assert.equal(ev.type, 'Warning');
          assert.deepEqual(ingressIPs(await get(cp, o)), [], `${o.metadata.name} got no IP`);
        }
        assert.deepEqual(
          ingressIPs(await get(cp, lbService(APP, 'sentinel'))),
          sentinelIP,
          'the sentinel kept its IP',
        );
      } finally {
        for (const o of made) await remove(cp, o);
      }
      if ('invalid' in c.expect) await stateIs('Valid');
    });
  }

  it('after all of it: the last good configuration still allocates and nothing moved', async () => {
    await create(cp, lbService(APP, 'after'));
    const ips = await waitForIPs(cp, APP, 'after', 1, 30_000);
    assert.notDeepEqual(ips, sentinelIP);
    assert.deepEqual(ingressIPs(await get(cp, lbService(APP, 'sentinel'))), sentinelIP);
  });
});
