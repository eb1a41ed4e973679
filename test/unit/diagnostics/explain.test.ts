// bollard explain's pure part on hand-made snapshots: pool verdicts come from the allocator, node verdicts
// from eligibility + election, BGP from export's peer selection and the sessions' metrics.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explainService } from '../../../cli/explain/service.js';
import { explainNode, explainPool } from '../../../cli/explain/pool.js';
import { renderService } from '../../../cli/explain/render.js';
import { parsePrometheusText, type Sample } from '../../../cli/explain/prom.js';
import {
  ExplainError,
  type ServiceObject,
  type Snapshot,
  type SpeakerScrape,
} from '../../../cli/explain/types.js';
import type { CRObject } from '../../../config/types.js';
import { electOwner } from '../../../speaker/layer2/election.js';

const NS = 'metallb-system';
const cr = (kind: string, name: string, spec: Record<string, unknown>): CRObject => ({
  apiVersion: 'metallb.io/v1beta1',
  kind,
  metadata: { name, namespace: NS },
  spec,
});

function svc(
  ns: string,
  name: string,
  opts: {
    ips?: string[];
    ann?: Record<string, string>;
    etp?: 'Local';
    labels?: Record<string, string>;
    created?: string;
  } = {},
): ServiceObject {
  return {
    metadata: {
      name,
      namespace: ns,
      labels: opts.labels ?? {},
      annotations: opts.ann ?? {},
      creationTimestamp: opts.created ?? '2026-01-01T00:00:00Z',
    },
    spec: {
      type: 'LoadBalancer',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [{ protocol: 'TCP', port: 80 }],
      selector: { app: name },
      ...(opts.etp ? { externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 } : {}),
    },
    status: { loadBalancer: { ingress: (opts.ips ?? []).map((ip) => ({ ip })) } },
  };
}

const node = (name: string, labels: Record<string, string> = {}) => ({
  metadata: { name, labels },
  status: {
    addresses: [{ type: 'InternalIP', address: `10.0.0.${name.slice(-1)}` }],
    conditions: [{ type: 'Ready', status: 'True' }],
  },
});

function speaker(nodeName: string, lines: string[]): SpeakerScrape {
  return {
    endpoint: `10.0.0.${nodeName.slice(-1)}:7472`,
    node: nodeName,
    reachable: true,
    samples: parsePrometheusText([`bollard_speaker_info{node="${nodeName}"} 1`, ...lines].join('\n')),
  };
}

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  const nodes = ['n1', 'n2', 'n3'];
  const alive = nodes.map((m) => `bollard_speaker_member_alive{member="${m}"} 1`);
  return {
    namespace: NS,
    lbClass: '',
    services: [],
    namespaceLabels: new Map([['app', {}]]),
    nodes: nodes.map((n) => node(n)),
    endpointSlices: [],
    config: {
      ipAddressPools: [cr('IPAddressPool', 'lan', { addresses: ['192.0.2.10-192.0.2.11'] })],
      l2Advertisements: [cr('L2Advertisement', 'lan', { ipAddressPools: ['lan'] })],
      bgpAdvertisements: [],
    },
    l2Statuses: [],
    bgpStatuses: [],
    configStates: [{ metadata: { name: 'controller' }, status: { result: 'Valid' } }],
    events: [],
    speakers: nodes.map((n) => speaker(n, alive)),
    ...over,
  };
}

const slice = (svcName: string, nodes: string[]) => ({
  metadata: { namespace: 'app', labels: { 'kubernetes.io/service-name': svcName } },
  endpoints: nodes.map((n) => ({ nodeName: n, conditions: { ready: true } })),
});

describe('explain service (pure)', () => {
  it('pending: exhausted pool, with the allocator’s own reason, and the other pools’ verdicts', () => {
    const s = snapshot({
      config: {
        ipAddressPools: [
          cr('IPAddressPool', 'lan', { addresses: ['192.0.2.10/32'] }),
          cr('IPAddressPool', 'manual', { addresses: ['192.0.2.20/32'], autoAssign: false }),
          cr('IPAddressPool', 'v6', { addresses: ['2001:db8::/126'] }),
        ],
        l2Advertisements: [],
        bgpAdvertisements: [],
      },
      services: [svc('app', 'a', { ips: ['192.0.2.10'] }), svc('app', 'b')],
    });
    const e = explainService(s, 'app/b');
    assert.equal(e.verdict, 'pending');
    assert.equal(
      e.allocation.reason,
      'no free address: pool lan is exhausted: 1 of 1 in use; pool v6 has no IPv4 addresses',
    );
    assert.deepEqual(
      e.pools.map((p) => [p.pool, p.verdict]),
      [
        ['lan', 'exhausted'],
        ['v6', 'wrong-family'],
        ['manual', 'auto-assign-off'],
      ],
    );
    assert.match(renderService(e), /EXTERNAL-IP pending: no free address/);
    // who holds the full pool, and what to do: the pool that is not auto-assigned has room
    assert.deepEqual(e.exhausted?.[0]?.holders, [
      { service: 'app/a', ips: ['192.0.2.10'], created: '2026-01-01T00:00:00Z' },
    ]);
    const text = renderService(e);
    assert.match(text, /pool lan is full; its addresses are held by:\n {4}app\/a {2}192\.0\.2\.10/);
    assert.match(text, /metallb\.io\/address-pool: manual/);
    assert.match(text, /add a range or CIDR to IPAddressPool lan's spec\.addresses/);
    assert.match(text, /allow-shared-ip/);
  });

  it('pending on a large full pool: the newest holders, and how many more', () => {
    const many = Array.from({ length: 16 }, (_, i) =>
      svc('app', `s${String(i).padStart(2, '0')}`, {
        ips: [`192.0.2.${i}`],
        created: `2026-01-01T00:00:${String(i).padStart(2, '0')}Z`,
      }),
    );
    const s = snapshot({
      config: {
        ipAddressPools: [cr('IPAddressPool', 'lan', { addresses: ['192.0.2.0/28'] })],
        l2Advertisements: [],
        bgpAdvertisements: [],
      },
      services: [...many, svc('app', 'late', { created: '2026-01-02T00:00:00Z' })],
    });
    const e = explainService(s, 'app/late');
    assert.equal(e.verdict, 'pending');
    const x = e.exhausted?.[0];
    assert.deepEqual(
      x?.holders.map((h) => h.service),
      ['app/s15', 'app/s14', 'app/s13', 'app/s12', 'app/s11'],
    );
    assert.equal(x?.more, 11);
    assert.doesNotMatch(x?.remedies.join('\n') ?? '', /address-pool/);
  });

  it('a Service the controller does not handle says why', () => {
    const other = svc('app', 'x');
    other.spec = { ...other.spec, loadBalancerClass: 'other.io/lb' };
    const e = explainService(snapshot({ services: [other] }), 'app/x');
    assert.equal(e.verdict, 'not-handled');
    assert.match(e.problems[0] ?? '', /loadBalancerClass "other\.io\/lb" is not the one Bollard handles/);
  });

  it('no IP yet although a pool is free: the controller is not doing its job', () => {
    const e = explainService(snapshot({ services: [svc('app', 'a')] }), 'app/a');
    assert.match(
      e.allocation.reason,
      /would give it 192\.0\.2\.10 from pool lan now: is the controller running/,
    );
  });

  it('layer 2: owner = election over eligible nodes; ETP Local without endpoints and failing health checks', () => {
    const s = snapshot({
      services: [svc('app', 'web', { ips: ['192.0.2.10'], etp: 'Local' })],
      endpointSlices: [slice('web', ['n1', 'n2'])],
      speakers: [
        speaker('n1', [
          'bollard_speaker_member_alive{member="n2"} 1',
          'bollard_speaker_healthcheck_ok{service="app/web",node="n1"} 1',
        ]),
        speaker('n2', [
          'bollard_speaker_member_alive{member="n1"} 1',
          'bollard_speaker_healthcheck_ok{service="app/web",node="n2"} 0',
        ]),
        speaker('n3', ['bollard_speaker_member_alive{member="n1"} 1']),
      ],
      l2Statuses: [{ status: { node: 'n1', serviceName: 'web', serviceNamespace: 'app' } }],
    });
    const e = explainService(s, 'app/web');
    const v = new Map(e.layer2?.nodes.map((n) => [n.node, n]));
    assert.equal(v.get('n1')?.eligible, true);
    assert.equal(v.get('n2')?.reason, 'health-check-failing');
    assert.equal(v.get('n3')?.reason, 'no-local-endpoint');
    assert.equal(e.layer2?.expectedOwner, 'n1');
    assert.deepEqual(e.layer2?.announcing, ['n1']);
    assert.equal(e.verdict, 'announced');
    assert.deepEqual(e.problems, []);
  });

  it('allow-shared-ip through an L2Advertisement with serviceSelectors: not announced, and explain says why', () => {
    const labels = { tier: 'web' };
    const ann = { 'metallb.io/allow-shared-ip': 'k' };
    const s = snapshot({
      services: [svc('app', 'web', { ips: ['192.0.2.10'], ann, labels })],
      endpointSlices: [slice('web', ['n1'])],
      config: {
        ipAddressPools: [cr('IPAddressPool', 'lan', { addresses: ['192.0.2.10-192.0.2.11'] })],
        l2Advertisements: [
          cr('L2Advertisement', 'web-only', {
            ipAddressPools: ['lan'],
            serviceSelectors: [{ matchLabels: labels }],
          }),
        ],
        bgpAdvertisements: [],
      },
    });
    const e = explainService(s, 'app/web');
    assert.equal(e.layer2, undefined);
    assert.ok(
      e.problems.some((p) => p.includes('allow-shared-ip') && p.includes('web-only')),
      e.problems.join('\n'),
    );
    // without the annotation the same advertisement announces it
    const plain = explainService(
      { ...s, services: [svc('app', 'web', { ips: ['192.0.2.10'], labels })] },
      'app/web',
    );
    assert.ok(plain.layer2);
    assert.ok(!plain.problems.some((p) => p.includes('allow-shared-ip')));
  });

  it('two nodes answering ARP is a problem, and so is an announcer the election does not pick', () => {
    const base = {
      services: [svc('app', 'web', { ips: ['192.0.2.10'] })],
      endpointSlices: [slice('web', ['n1'])],
    };
    const owner = electOwner(['n1', 'n2', 'n3'], '192.0.2.10') as string;
    const other = ['n1', 'n2', 'n3'].find((n) => n !== owner) as string;
    const two = explainService(
      snapshot({
        ...base,
        l2Statuses: [owner, other].map((n) => ({
          status: { node: n, serviceName: 'web', serviceNamespace: 'app' },
        })),
      }),
      'app/web',
    );
    assert.ok(
      two.problems.some((p) => /2 nodes announce 192\.0\.2\.10 in layer 2/.test(p)),
      two.problems.join('\n'),
    );
    const wrong = explainService(
      snapshot({
        ...base,
        l2Statuses: [{ status: { node: other, serviceName: 'web', serviceNamespace: 'app' } }],
      }),
      'app/web',
    );
    assert.ok(
      wrong.problems.some((p) => p.startsWith(`${other} announces, but the election picks ${owner}`)),
    );
  });

  it("layer 2 with preferredNodeSelectors: the elected node is the preferred one, and the hash's pick announcing is a problem", () => {
    const plain = electOwner(['n1', 'n2', 'n3'], '192.0.2.10') as string;
    const preferred = ['n1', 'n2', 'n3'].find((n) => n !== plain) as string;
    const s = (announcer: string): Snapshot =>
      snapshot({
        nodes: ['n1', 'n2', 'n3'].map((n) => node(n, n === preferred ? { tier: 'edge' } : {})),
        config: {
          ipAddressPools: [cr('IPAddressPool', 'lan', { addresses: ['192.0.2.10-192.0.2.11'] })],
          l2Advertisements: [
            cr('L2Advertisement', 'lan', {
              ipAddressPools: ['lan'],
              preferredNodeSelectors: [{ weight: 10, preference: { matchLabels: { tier: 'edge' } } }],
            }),
          ],
          bgpAdvertisements: [],
        },
        services: [svc('app', 'web', { ips: ['192.0.2.10'] })],
        endpointSlices: [slice('web', ['n1'])],
        l2Statuses: [{ status: { node: announcer, serviceName: 'web', serviceNamespace: 'app' } }],
      });
    const good = explainService(s(preferred), 'app/web');
    assert.equal(good.layer2?.expectedOwner, preferred);
    assert.deepEqual(good.problems, []);
    const bad = explainService(s(plain), 'app/web');
    assert.ok(
      bad.problems.some((p) => p.startsWith(`${plain} announces, but the election picks ${preferred}`)),
      bad.problems.join('\n'),
    );
  });

  it('BGP: which peers carry the route and which sessions are down', () => {
    const s = snapshot({
      config: {
        ipAddressPools: [cr('IPAddressPool', 'pub', { addresses: ['198.51.100.0/28'] })],
        l2Advertisements: [],
        bgpAdvertisements: [cr('BGPAdvertisement', 'pub', { ipAddressPools: ['pub'] })],
        bgpPeers: [
          {
            ...cr('BGPPeer', 'tor', { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.254' }),
            apiVersion: 'metallb.io/v1beta2',
          },
        ],
      },
      services: [svc('app', 'web', { ips: ['198.51.100.0'] })],
      endpointSlices: [slice('web', ['n1'])],
      speakers: [
        // MetalLB's labels: peer "<address>:<port>", vrf (a series without vrf counts as the default VRF).
        speaker('n1', ['metallb_bgp_session_up{peer="10.0.0.254:179",vrf="default"} 1']),
        speaker('n2', ['metallb_bgp_session_up{peer="10.0.0.254:179"} 0']),
        {
          endpoint: '10.0.0.3:7472',
          node: 'n3',
          reachable: false,
          error: 'ECONNREFUSED',
          samples: [] as Sample[],
        },
      ],
    });
    const e = explainService(s, 'app/web');
    const peers = new Map(e.bgp?.nodes.map((n) => [n.node, n.peers[0]]));
    assert.equal(peers.get('n1')?.carries, true);
    assert.equal(peers.get('n2')?.sessionUp, false);
    assert.match(
      peers.get('n2')?.detail ?? '',
      /session down \(metallb_bgp_session_up 0\) to 10\.0\.0\.254 AS 64501/,
    );
    assert.equal(peers.get('n3')?.sessionUp, undefined);
    assert.ok(e.problems.includes('n2: BGP session to tor is down'));
    assert.equal(e.verdict, 'announced');
  });

  it('an unknown Service is a typed error', () => {
    assert.throws(() => explainService(snapshot(), 'app/nope'), ExplainError);
  });
});

describe('explain pool and node (pure)', () => {
  it('pool: usage, holders, advertisements', () => {
    const e = explainPool(snapshot({ services: [svc('app', 'a', { ips: ['192.0.2.10'] })] }), 'lan');
    assert.deepEqual(e.usage, [{ family: 'IPv4', total: '2', inUse: '1', available: '1' }]);
    assert.deepEqual(e.holders, [{ service: 'app/a', ips: ['192.0.2.10'] }]);
    assert.deepEqual(e.advertisements, ['L2Advertisement lan']);
  });

  it('node: membership as the others see it, VIPs, health checks', () => {
    const s = snapshot({
      speakers: [
        speaker('n1', ['bollard_speaker_member_alive{member="n3"} 0']),
        speaker('n2', ['bollard_speaker_member_alive{member="n3"} 0']),
        { endpoint: '10.0.0.3:7472', node: 'n3', reachable: false, error: 'ECONNREFUSED', samples: [] },
      ],
    });
    const e = explainNode(s, 'n3');
    assert.equal(e.membership.alive, false);
    assert.match(e.membership.detail, /declared dead by n1, n2/);
    assert.ok(e.problems.some((p) => /unreachable \(ECONNREFUSED\)/.test(p)));
  });
});

describe('Prometheus text parsing', () => {
  it('reads labels with escapes and skips comments', () => {
    const s = parsePrometheusText(
      '# HELP x y\n# TYPE x gauge\nx{a="1",b="q\\"uote"} 2\ny 3.5\nz{a="n\\nl"} NaN\n',
    );
    assert.deepEqual(
      s.map((x) => [x.name, x.labels, x.value]),
      [
        ['x', { a: '1', b: 'q"uote' }, 2],
        ['y', {}, 3.5],
        ['z', { a: 'n\nl' }, NaN],
      ],
    );
  });
});
