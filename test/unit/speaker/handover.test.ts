// Layer 2 handover (speaker/layer2/handover.ts and its use): "leaving" carried by membership, the
// election without leaving nodes, the deferred exclusion label, the handover decision for a VIP
// (answer with the next owner's MAC until its claim is seen or the bound), and the controller on fake
// packet sockets: SIGTERM hands the VIP over and shutdown() ends when the next owner announces it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../config/parse.js';
import type { Config } from '../../../config/types.js';
import type { KubeClient } from '../../../k8s/client.js';
import { makeLogger } from '../../../k8s/logger.js';
import type { InterfaceInfo } from '../../../net/interfaces.js';
import { decodeEthernet } from '../../../proto/ethernet.js';
import { arpFrame, arpRequest, decodeArp, gratuitousArpRequest } from '../../../proto/arp.js';
import { EXCLUDE_LB_LABEL, eligibleNodes, type NodeFacts } from '../../../speaker/eligibility.js';
import { Layer2Controller } from '../../../speaker/layer2/controller.js';
import { decideLayer2 } from '../../../speaker/layer2/decide.js';
import { electionOrder, electOwner } from '../../../speaker/layer2/election.js';
import {
  deferredExclusions,
  Handovers,
  LEAVING_FACT,
  leavingOf,
  leavingPeers,
  summarize,
} from '../../../speaker/layer2/handover.js';
import { layer2Facts } from '../../../speaker/layer2/prober.js';
import type { FrameSocket } from '../../../speaker/layer2/responder.js';
import { Membership } from '../../../speaker/membership/core.js';
import { decodeDatagram, encodeDatagram } from '../../../speaker/membership/wire.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import type { MembershipView, PassInput, ServiceFacts } from '../../../speaker/protocol.js';
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

const web: ServiceFacts = {
  key: 'ns/web',
  namespace: 'ns',
  name: 'web',
  labels: {},
  ips: ['192.0.2.10'],
  externalTrafficPolicy: 'Cluster',
};
const NODES = ['n1', 'n2', 'n3'];
const nodeFacts = (labels: Record<string, Record<string, string>> = {}): NodeFacts[] =>
  NODES.map((name) => ({ name, labels: labels[name] ?? {}, networkUnavailable: false, alive: true }));

describe('leaving through membership', () => {
  it("a speaker's leaving flag reaches a peer in the health message setHealth sends at once (authenticated)", () => {
    const key = Buffer.from('k'.repeat(32));
    const a = new Membership('n1', 1000);
    const b = new Membership('n2', 1000);
    a.setPeers(['n2'], 1000);
    b.setPeers(['n1'], 1000);
    const facts = new Set(layer2Facts(['02:00:00:00:00:01'], new Map(), true));
    const out = a.setHealth(facts);
    assert.equal(out.length, 1);
    const o = out[0] as (typeof out)[number];
    const wire = encodeDatagram({ e: { from: 'n1', to: 'n2', tb: 0, b: 1, c: 1 }, m: o.msg }, key);
    // a datagram under another key is rejected: nobody else can say a speaker is leaving
    assert.equal(decodeDatagram(wire, Buffer.from('x'.repeat(32))).ok, false);
    const d = decodeDatagram(wire, key);
    assert.ok(d.ok && 'm' in d.d);
    const step = b.onMessage(d.d.m, 1001);
    assert.deepEqual(step.healthChanged, ['n1']);
    assert.equal(leavingOf(b.healthOf('n1')), true);
    assert.deepEqual([...leavingPeers('n2', b.liveNodes(), (n) => b.healthOf(n))], ['n1']);
    // leaving is not dead: n1 is still live (it keeps answering while it hands over)
    assert.ok(b.liveNodes().has('n1'));
    // and it can be taken back (the label removed)
    const back = a.setHealth(new Set(layer2Facts(['02:00:00:00:00:01'], new Map(), false)));
    b.onMessage((back[0] as (typeof back)[number]).msg, 1002);
    assert.equal(leavingOf(b.healthOf('n1')), false);
  });

  it('layer2Facts carries the flag beside the MACs', () => {
    assert.deepEqual(layer2Facts(['m'], new Map(), true), [LEAVING_FACT, 'bollard.io/mac=m']);
    assert.deepEqual(layer2Facts(['m'], new Map()), ['bollard.io/mac=m']);
  });
});

describe('the election without leaving nodes', () => {
  const owner = electOwner(NODES, '192.0.2.10') as string;
  const next = electionOrder(
    NODES.filter((n) => n !== owner),
    '192.0.2.10',
  )[0] as string;
  const decide = (leaving: string[], eligibleNodes = NODES) =>
    decideLayer2({
      self: 'n1',
      config: config(),
      services: [web],
      nodes: nodeFacts(),
      endpoints: () => eligibleNodes.map((n) => ({ nodeName: n })),
      health: () => true,
      unknownHealth: 'ineligible',
      leaving: new Set(leaving),
    }).get('ns/web');

  it('a leaving node is out of the election at once: the next in order owns the VIP', () => {
    const d = decide([owner]);
    assert.equal(d?.owner, next);
    assert.equal(d?.ineligible.get(owner), 'leaving');
    assert.equal(decide([])?.owner, owner);
  });

  it('a leaving node that is the only candidate keeps the VIP (nothing to hand over)', () => {
    const d = decide(NODES);
    assert.equal(d?.owner, owner);
  });
});

describe('the exclusion label on another node', () => {
  it('is honoured only once the node says leaving, dies, or the bound passes since it was first seen', () => {
    const firstSeen = new Map<string, number>();
    const nodes = nodeFacts({ n2: { [EXCLUDE_LB_LABEL]: '' } });
    const run = (now: number, leaving: string[] = [], live = NODES) =>
      deferredExclusions({
        self: 'n1',
        nodes,
        live: new Set(live),
        leaving: new Set(leaving),
        firstSeen,
        now,
        boundMs: 2000,
      });
    assert.deepEqual(run(100), { deferred: new Set(['n2']), until: 2100 });
    assert.deepEqual(run(900), { deferred: new Set(['n2']), until: 2100 });
    assert.deepEqual(run(1000, ['n2']).deferred, new Set());
    assert.deepEqual(run(1000, [], ['n1', 'n3']).deferred, new Set());
    assert.deepEqual(run(2100), { deferred: new Set(), until: undefined });
    // the label gone: forgotten, and seen anew later
    deferredExclusions({
      self: 'n1',
      nodes: nodeFacts(),
      live: new Set(NODES),
      leaving: new Set(),
      firstSeen,
      now: 3000,
    });
    assert.equal(firstSeen.size, 0);
    // our own label is never deferred (this node says leaving itself)
    const own = deferredExclusions({
      self: 'n2',
      nodes,
      live: new Set(NODES),
      leaving: new Set(),
      firstSeen: new Map(),
      now: 0,
    });
    assert.equal(own.deferred.size, 0);
  });

  it('eligibility ignores a deferred label', () => {
    const nodes = nodeFacts({ n2: { [EXCLUDE_LB_LABEL]: '' } });
    const r = (deferred: boolean) =>
      eligibleNodes({
        service: { externalTrafficPolicy: 'Cluster' },
        endpoints: [{ nodeName: 'n1' }],
        nodes: nodes.map((n) => (n.name === 'n2' ? { ...n, exclusionDeferred: deferred } : n)),
        selected: new Map(NODES.map((n) => [n, []])),
        health: () => true,
      });
    assert.equal(r(false).ineligible.get('n2'), 'excluded-by-label');
    assert.ok(r(true).eligible.has('n2'));
  });
});

describe('Handovers: answer with the next MAC until its claim is seen or the bound', () => {
  const entry = {
    ip: '192.0.2.10',
    service: 'ns/web',
    to: 'n2',
    macs: ['02:00:00:00:00:02'],
    interfaces: ['eth0'],
  };

  it("ends lingerMs after the next owner's claim, not on another MAC's", () => {
    const h = new Handovers(2000, 250);
    assert.equal(h.start(entry, 100), undefined);
    assert.equal(h.nextDeadline(), 2100);
    assert.equal(h.claim('192.0.2.10', '02:00:00:00:00:99', 150), false);
    assert.equal(h.claim('192.0.2.11', '02:00:00:00:00:02', 150), false);
    assert.equal(h.claim('192.0.2.10', '02:00:00:00:00:02', 180), true);
    assert.equal(h.claim('192.0.2.10', '02:00:00:00:00:02', 190), false, 'the first claim counts');
    assert.equal(h.nextDeadline(), 430);
    assert.deepEqual(h.expire(429), [], 'still answered with the next MAC while it lingers');
    assert.ok(h.has('192.0.2.10'));
    const d = h.expire(430);
    assert.equal(d[0]?.end, 'announced');
    assert.equal(h.size, 0);
    assert.deepEqual(summarize(d), [
      { service: 'ns/web', to: 'n2', ips: ['192.0.2.10'], end: 'announced', ms: 80 },
    ]);
  });

  it('ends at the bound when no claim comes', () => {
    const h = new Handovers(2000);
    h.start(entry, 100);
    assert.deepEqual(h.expire(2099), []);
    assert.equal(h.expire(2100)[0]?.end, 'bound');
    assert.equal(h.nextDeadline(), undefined);
  });

  it('a redirect to another next owner restarts it; regaining the VIP ends it', () => {
    const h = new Handovers(2000);
    h.start(entry, 100);
    assert.equal(h.start(entry, 500), undefined, 'the same handover keeps its start');
    assert.equal(h.nextDeadline(), 2100);
    assert.equal(h.start({ ...entry, to: 'n3', macs: ['02:00:00:00:00:03'] }, 600)?.end, 'cancelled');
    assert.equal(h.nextDeadline(), 2600);
    assert.equal(h.end('192.0.2.10', 'regained', 700)?.end, 'regained');
    assert.equal(h.size, 0);
  });
});

describe('Layer2Controller handover on fake packet sockets', () => {
  const cfg = config();
  const owner = electOwner(NODES, '192.0.2.10') as string;
  const next = electionOrder(
    NODES.filter((n) => n !== owner),
    '192.0.2.10',
  )[0] as string;
  const macOf = (n: string): string => `02:00:00:00:00:0${n.slice(1)}`;
  const CLIENT = '02:00:00:00:00:aa';
  const controllers: Layer2Controller[] = [];
  after(async () => {
    for (const c of controllers) await c.stop();
  });

  /** The owner's controller, its socket, and a membership view where every node is live with its MAC. */
  const make = (self = owner) => {
    const clock = new FakeClock();
    let passes = 0;
    const sockets: { sent: Uint8Array[]; deliver: (f: Uint8Array) => void }[] = [];
    const iface: InterfaceInfo = {
      name: 'eth0',
      index: 2,
      mac: macOf(self),
      up: true,
      broadcast: true,
      noarp: false,
      ipv4: ['192.0.2.1'],
      ipv6: [],
      linkLocal6: [],
    };
    const facts = new Map<string, Set<string>>(
      NODES.map((n) => [n, new Set(layer2Facts([macOf(n)], new Map()))]),
    );
    const membership: MembershipView = { live: new Set(NODES), healthOf: (n) => facts.get(n) };
    const client = {
      create: () => Promise.resolve({ metadata: { name: 'l2-abc' } }),
      patch: () => Promise.resolve({}),
      delete: () => Promise.resolve({}),
    } as unknown as KubeClient;
    let factsChanged = 0;
    const c = new Layer2Controller({
      client,
      namespace: 'metallb-system',
      node: self,
      log: makeLogger({ level: 'silent' }),
      metrics: new SpeakerMetrics(),
      recordEvent: () => undefined,
      requestPass: () => passes++,
      onFactsChange: () => factsChanged++,
      responder: {
        scan: () => [iface],
        rescanMs: 0,
        clock,
        openSocket: (_i, onFrame) => {
          const sent: Uint8Array[] = [];
          const s: FrameSocket & { sent: Uint8Array[]; deliver: (f: Uint8Array) => void } = {
            sent,
            deliver: (f) => onFrame(Buffer.from(f), 0),
            send: (f) => sent.push(f),
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
    const pass = (over: Partial<PassInput> = {}): void =>
      c.reconcile({
        config: cfg,
        scope: 'all',
        services: new Map([[web.key, web]]),
        endpoints: () => NODES.map((n) => ({ nodeName: n })),
        nodes: nodeFacts(),
        nodeIPs: [],
        healthy: new Set(),
        membership,
        reannounce: false,
        ...over,
      });
    /** Asks who has the VIP; the ARP sender MACs of the answers. */
    const ask = (): string[] => {
      const s = sockets[0] as (typeof sockets)[number];
      const before = s.sent.length;
      s.deliver(arpFrame(arpRequest(CLIENT, '192.0.2.200', '192.0.2.10'), CLIENT));
      return s.sent
        .slice(before)
        .map((f) => decodeEthernet(f))
        .filter((e) => e.etherType === 0x0806)
        .map((e) => decodeArp(e.payload))
        .filter((a) => a.operation === 'reply')
        .map((a) => a.senderMac);
    };
    const garpFromNext = (): void =>
      (sockets[0] as (typeof sockets)[number]).deliver(
        arpFrame(gratuitousArpRequest(macOf(next), '192.0.2.10'), macOf(next)),
      );
    const setFacts = (node: string, f: readonly string[]): void => {
      facts.set(node, new Set(f));
    };
    return {
      c,
      clock,
      pass,
      ask,
      garpFromNext,
      setFacts,
      passes: () => passes,
      factsChanged: () => factsChanged,
    };
  };

  it("SIGTERM: the owner answers with the next owner's MAC, says leaving after that, and shutdown ends when the next owner announces", async () => {
    const t = make();
    t.pass();
    assert.deepEqual(t.ask(), [macOf(owner)]);
    let done = false;
    const shut = t.c.shutdown().then(() => (done = true));
    assert.equal(t.passes(), 1, 'shutdown asked for a pass');
    assert.ok(!t.c.facts().includes(LEAVING_FACT), 'not leaving before the pass switched the responder');
    t.pass();
    assert.equal(t.c.decisions().get('ns/web')?.owner, next);
    assert.deepEqual(t.ask(), [macOf(next)], "answered with the next owner's MAC, Ethernet source ours");
    assert.ok(t.c.facts().includes(LEAVING_FACT));
    assert.equal(t.factsChanged(), 1);
    await Promise.resolve();
    assert.equal(done, false, 'shutdown waits for the next owner');
    t.garpFromNext();
    assert.deepEqual(t.ask(), [macOf(next)], 'still answered with the next MAC just after its announcement');
    t.clock.advance(250);
    await shut;
    assert.deepEqual(t.ask(), [], 'no answer once the next owner announced');
  });

  it('SIGTERM: without a claim from the next owner the handover ends at the bound', async () => {
    const t = make();
    t.pass();
    const shut = t.c.shutdown();
    t.pass();
    assert.deepEqual(t.ask(), [macOf(next)]);
    t.clock.advance(2000);
    await shut;
    assert.deepEqual(t.ask(), []);
  });

  it('without membership SIGTERM changes nothing (the responder answers until stop)', async () => {
    const t = make();
    t.pass({ membership: undefined });
    await t.c.shutdown();
    assert.equal(t.passes(), 0);
    assert.deepEqual(t.ask(), [macOf(owner)]);
  });

  it('the exclusion label on the own Node: handed over the same way, and leaving is said', () => {
    const t = make();
    t.pass();
    t.pass({ nodes: nodeFacts({ [owner]: { [EXCLUDE_LB_LABEL]: '' } }) });
    assert.deepEqual(t.ask(), [macOf(next)]);
    assert.ok(t.c.facts().includes(LEAVING_FACT));
    t.garpFromNext();
    t.clock.advance(250);
    assert.deepEqual(t.ask(), []);
  });

  it("the label on the owner's Node, seen by the next owner: not taken until the owner says leaving, or 2 s", () => {
    const labelled = nodeFacts({ [owner]: { [EXCLUDE_LB_LABEL]: '' } });
    const t = make(next);
    t.pass();
    assert.equal(t.c.decisions().get('ns/web')?.owner, owner);
    t.pass({ nodes: labelled });
    assert.equal(t.c.decisions().get('ns/web')?.owner, owner, 'not on the label alone');
    assert.deepEqual(t.ask(), []);
    t.setFacts(owner, layer2Facts([macOf(owner)], new Map(), true));
    t.pass({ nodes: labelled });
    assert.equal(t.c.decisions().get('ns/web')?.owner, next, 'the owner said leaving: taken at once');
    assert.deepEqual(t.ask(), [macOf(next)]);

    // a wedged owner (never says leaving): a pass is asked for when the 2 s run out
    const w = make(next);
    w.pass();
    w.pass({ nodes: labelled });
    assert.equal(w.c.decisions().get('ns/web')?.owner, owner);
    const before = w.passes();
    w.clock.advance(2001);
    assert.equal(w.passes(), before + 1);
    w.pass({ nodes: labelled });
    assert.equal(w.c.decisions().get('ns/web')?.owner, next);
  });

  it('--membership=false: the label on the owner counts at once, as before', () => {
    const t = make(next);
    t.pass({ membership: undefined, nodes: nodeFacts({ [owner]: { [EXCLUDE_LB_LABEL]: '' } }) });
    assert.equal(t.c.decisions().get('ns/web')?.owner, next);
  });
});
