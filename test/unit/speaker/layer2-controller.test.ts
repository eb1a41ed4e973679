// The layer 2 protocol on one PassInput after another (fake packet sockets, a fake clock, a fake API
// client): which Services it owns, what it announces, the Events, ServiceL2Status writes and the
// failover hook (ownedBy).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../config/parse.js';
import type { Config } from '../../../config/types.js';
import type { KubeClient } from '../../../k8s/client.js';
import { makeLogger } from '../../../k8s/logger.js';
import type { InterfaceInfo } from '../../../net/interfaces.js';
import { Layer2Controller } from '../../../speaker/layer2/controller.js';
import type { FrameSocket } from '../../../speaker/layer2/responder.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import type { PassInput, ServiceFacts } from '../../../speaker/protocol.js';
import { FakeClock } from '../../support/fake-clock.js';

function config(): Config {
  const r = parseConfig({
    ipAddressPools: [
      {
        kind: 'IPAddressPool',
        metadata: { name: 'lan', namespace: 'metallb-system' },
        spec: { addresses: ['192.0.2.0/24'] },
      },
    ],
    l2Advertisements: [
      { kind: 'L2Advertisement', metadata: { name: 'l2', namespace: 'metallb-system' }, spec: {} },
    ],
  });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

const iface: InterfaceInfo = {
  name: 'eth0',
  index: 2,
  mac: '02:00:00:00:00:01',
  up: true,
  broadcast: true,
  noarp: false,
  ipv4: ['192.0.2.1'],
  ipv6: [],
  linkLocal6: [],
};

interface Call {
  verb: string;
  path: string;
}

/** A client that records writes; `written(n)` resolves once n writes were made. */
function fakeClient() {
  const calls: Call[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const record = (verb: string, path: string): void => {
    calls.push({ verb, path });
    for (const w of waiters.filter((x) => calls.length >= x.n)) w.resolve();
  };
  const client = {
    create: (path: string) => {
      record('create', path);
      return Promise.resolve({ metadata: { name: 'l2-abc' } });
    },
    patch: (path: string) => {
      record('patch', path);
      return Promise.resolve({});
    },
    delete: (path: string) => {
      record('delete', path);
      return Promise.resolve({});
    },
  } as unknown as KubeClient;
  const written = (n: number): Promise<void> =>
    new Promise((resolve) => (calls.length >= n ? resolve() : waiters.push({ n, resolve })));
  return { client, calls, written };
}

const web: ServiceFacts = {
  key: 'ns/web',
  namespace: 'ns',
  name: 'web',
  labels: {},
  ips: ['192.0.2.10'],
  externalTrafficPolicy: 'Cluster',
};

describe('Layer2Controller', () => {
  const cfg = config();
  const nodes = ['n1', 'n2'].map((name) => ({ name, labels: {}, networkUnavailable: false, alive: true }));
  const input = (over: Partial<PassInput>): PassInput => ({
    config: cfg,
    scope: 'all',
    services: new Map([[web.key, web]]),
    endpoints: () => [{ nodeName: 'n1' }, { nodeName: 'n2' }],
    nodes,
    nodeIPs: [],
    healthy: new Set(),
    membership: undefined,
    reannounce: false,
    ...over,
  });
  const controllers: Layer2Controller[] = [];
  after(async () => {
    for (const c of controllers) await c.stop();
  });
  const make = (self: string) => {
    const sockets: { sent: Uint8Array[] }[] = [];
    const events: { reason: string; note: string }[] = [];
    const api = fakeClient();
    const c = new Layer2Controller({
      client: api.client,
      namespace: 'metallb-system',
      node: self,
      log: makeLogger({ level: 'silent' }),
      metrics: new SpeakerMetrics(),
      recordEvent: (_ref, _type, reason, note) => events.push({ reason, note }),
      responder: {
        scan: () => [iface],
        rescanMs: 0,
        clock: new FakeClock(),
        openSocket: () => {
          const s: FrameSocket & { sent: Uint8Array[] } = {
            sent: [],
            send(f) {
              this.sent.push(f);
            },
            joinMulticast: () => undefined,
            leaveMulticast: () => undefined,
            close: () => undefined,
          };
          sockets.push(s);
          return s;
        },
      },
    });
    controllers.push(c);
    return { c, sockets, events, api };
  };

  it('exactly one of two nodes owns the Service; the owner announces it, writes its status, and is named by ownedBy', async () => {
    const a = make('n1');
    const b = make('n2');
    a.c.reconcile(input({}));
    b.c.reconcile(input({}));
    const owner = a.c.decisions().get('ns/web')?.owner;
    assert.ok(owner === 'n1' || owner === 'n2');
    assert.equal(b.c.decisions().get('ns/web')?.owner, owner, 'both decide the same owner');
    const [mine, theirs] = owner === 'n1' ? [a, b] : [b, a];
    assert.ok((mine.sockets[0]?.sent.length ?? 0) > 0, 'the owner sent gratuitous ARP');
    assert.equal(theirs.sockets[0]?.sent.length ?? 0, 0, 'the other node sent nothing');
    assert.deepEqual(
      mine.events.map((e) => e.reason),
      ['nodeAssigned'],
    );
    assert.deepEqual(theirs.events, []);
    await mine.api.written(2);
    assert.deepEqual(
      mine.api.calls.map((x) => x.verb),
      ['create', 'patch'],
    );
    assert.deepEqual(mine.c.ownedBy(new Set([owner])), ['ns/web']);
    assert.deepEqual(mine.c.ownedBy(new Set(['n3'])), []);
    assert.ok(mine.c.wantsHealth('ns/web'));

    // a pass over the changed Service only: it is gone
    mine.c.reconcile(input({ scope: new Set(['ns/web']), services: new Map() }));
    assert.equal(mine.c.decisions().size, 0);
    assert.deepEqual(mine.c.ownedBy(new Set([owner])), []);
  });

  it('a Service no node may announce gets one announceFailed Event, from the first live node by name', () => {
    const local: ServiceFacts = { ...web, externalTrafficPolicy: 'Local', healthCheckNodePort: 30000 };
    const a = make('n1');
    const b = make('n2');
    const pass = input({ services: new Map([[local.key, local]]), endpoints: () => [] });
    for (const x of [a, b]) {
      x.c.reconcile(pass);
      x.c.reconcile(pass);
    }
    assert.equal(a.c.decisions().get('ns/web')?.owner, undefined);
    assert.deepEqual(
      a.events.map((e) => e.reason),
      ['announceFailed'],
    );
    assert.match(a.events[0]?.note ?? '', /no node is eligible to announce 192\.0\.2\.10 in layer 2/);
    assert.deepEqual(b.events, []);
  });
});
