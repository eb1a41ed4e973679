// Real bytes from real routers (BIRD, FRR, ExaBGP, GoBGP; see test/fixtures/bgp/README.md): every
// message decodes to what the router was configured to send and re-encodes byte-identically.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fromHex } from '../../../proto/bytes.js';
import {
  AS_TRANS,
  DEFAULT_SESSION,
  WellKnownCommunity,
  attributesToPropagate,
  decodeMessage,
  encodeMessage,
  endOfRibFamily,
  formatCommunity,
  formatExtendedCommunity,
  formatPrefix,
  mergeAs4Path,
  negotiateSession,
  openAsn,
  shutdownCommunication,
  splitMessages,
  type BgpMessage,
  type NotificationMessage,
  type OpenMessage,
  type PathAttribute,
  type SessionParams,
  type UpdateMessage,
} from '../../../proto/bgp/index.js';
import { repoPath } from '../../support/repo.js';

interface Fixture {
  scenario: string;
  connections: {
    client: { router: string };
    server: { router: string };
    messages: { from: string; hex: string }[];
  }[];
}

interface Decoded {
  from: string;
  bytes: Uint8Array;
  message: BgpMessage;
}

const dir = repoPath('test', 'fixtures', 'bgp');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

/** Decodes a connection's messages in order, switching to the negotiated session after both OPENs. */
function decodeConnection(c: Fixture['connections'][number]): Decoded[] {
  const opens = new Map<string, OpenMessage>();
  const sessions = new Map<string, SessionParams>();
  const out: Decoded[] = [];
  for (const m of c.messages) {
    const bytes = fromHex(m.hex);
    const s = sessions.get(m.from) ?? DEFAULT_SESSION;
    const d = decodeMessage(bytes, s);
    assert.deepEqual(d.problems, [], `${m.from}: ${m.hex}`);
    assert.deepEqual(encodeMessage(d.message, s), bytes, `re-encode of ${m.hex}`);
    out.push({ from: m.from, bytes, message: d.message });
    if (d.message.type === 'open') {
      opens.set(m.from, d.message);
      if (opens.size === 2) {
        const [[a, oa], [b, ob]] = [...opens.entries()] as [[string, OpenMessage], [string, OpenMessage]];
        // what `b` negotiates is what it decodes `a`'s messages with, and vice versa
        sessions.set(a, negotiateSession(ob, oa, { localAsn: openAsn(ob) }).receive);
        sessions.set(b, negotiateSession(oa, ob, { localAsn: openAsn(oa) }).receive);
      }
    }
  }
  return out;
}

const load = (name: string): Decoded[][] => {
  const f = JSON.parse(readFileSync(`${dir}/${name}`, 'utf8')) as Fixture;
  return f.connections.map(decodeConnection);
};

/** The IPv4 and IPv6 sessions of a two-session capture, told apart by their multiprotocol capabilities. */
function byFamily(conns: Decoded[][]): [Decoded[], Decoded[]] {
  const isV6 = (c: Decoded[]): boolean =>
    c.some(
      (m) =>
        m.message.type === 'open' &&
        m.message.capabilities.some((x) => x.type === 'multiprotocol' && x.afi === 2),
    );
  const v4 = conns.find((c) => !isV6(c));
  const v6 = conns.find(isV6);
  assert.ok(v4 && v6, 'an IPv4 and an IPv6 session');
  return [v4, v6];
}

const opensOf = (msgs: Decoded[], from: string): OpenMessage[] =>
  msgs.filter((m) => m.from === from && m.message.type === 'open').map((m) => m.message as OpenMessage);
const updatesOf = (msgs: Decoded[], from: string): UpdateMessage[] =>
  msgs.filter((m) => m.from === from && m.message.type === 'update').map((m) => m.message as UpdateMessage);
const attr = <T extends PathAttribute['type']>(
  u: UpdateMessage,
  t: T,
): Extract<PathAttribute, { type: T }> | undefined =>
  u.attributes.find((a) => a.type === t) as Extract<PathAttribute, { type: T }> | undefined;

/** The UPDATE announcing `prefix` (plain NLRI or MP_REACH_NLRI). */
function announcing(updates: UpdateMessage[], prefix: string): UpdateMessage {
  const u = updates.find(
    (x) =>
      x.nlri.some((p) => formatPrefix(p) === prefix) ||
      attr(x, 'mpReach')?.nlri.some((p) => formatPrefix(p) === prefix),
  );
  assert.ok(u, `an UPDATE announcing ${prefix}`);
  return u;
}

const communities = (u: UpdateMessage): string[] =>
  (attr(u, 'communities')?.communities ?? []).map(formatCommunity);
const asns = (u: UpdateMessage, t: 'asPath' | 'as4Path' = 'asPath'): number[] =>
  (attr(u, t)?.segments ?? []).flatMap((s) => s.asns);

describe('BGP fixtures from real routers', () => {
  it('finds the capture files and a healthy number of messages in them', () => {
    assert.ok(files.length >= 4, `fixture files: ${files.join(', ')}`);
    let n = 0;
    for (const f of files) {
      const fx = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as Fixture;
      for (const c of fx.connections) n += c.messages.length;
    }
    assert.ok(n > 40, `${n} messages`);
  });

  it('frames the concatenated stream of each connection back into its messages', () => {
    for (const f of files) {
      const fx = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as Fixture;
      for (const c of fx.connections) {
        const hex = c.messages
          .filter((m) => m.from === c.client.router)
          .map((m) => m.hex)
          .join('');
        const { messages, rest } = splitMessages(fromHex(hex), {
          ...DEFAULT_SESSION,
          extendedMessages: true,
        });
        assert.equal(messages.length, c.messages.filter((m) => m.from === c.client.router).length);
        assert.equal(rest.length, 0);
      }
    }
  });

  it('BIRD <-> GoBGP: OPENs, attributes, End-of-RIB, withdrawals and the RFC 9003 shutdown message', () => {
    const [v4, v6] = byFamily(load('bird-gobgp.json'));
    const bird = opensOf(v4, 'bird')[0]!;
    assert.equal(openAsn(bird), 65001);
    assert.equal(bird.bgpId, '10.0.0.2');
    assert.equal(bird.holdTime, 90);
    const types = bird.capabilities.map((c) => c.type);
    for (const t of [
      'multiprotocol',
      'routeRefresh',
      'enhancedRouteRefresh',
      'gracefulRestart',
      'fourOctetAs',
    ] as const) {
      assert.ok(types.includes(t), t);
    }
    const gobgp = opensOf(v4, 'gobgpd')[0]!;
    assert.equal(openAsn(gobgp), 65000);
    assert.equal(gobgp.bgpId, '10.0.0.1');
    assert.ok(gobgp.capabilities.some((c) => c.type === 'fqdn'));
    assert.ok(gobgp.capabilities.some((c) => c.type === 'extendedNextHop'));

    const fromBird = updatesOf(v4, 'bird');
    const u = announcing(fromBird, '198.51.100.0/24');
    assert.deepEqual(asns(u), [65001]);
    assert.equal(attr(u, 'nextHop')?.nextHop, '10.0.0.2');
    assert.equal(attr(u, 'med')?.med, 50);
    assert.deepEqual(communities(u), ['65001:100', 'no-export']);
    assert.deepEqual(attr(u, 'largeCommunities')?.communities, [
      { globalAdmin: 65001, localData1: 1, localData2: 2 },
    ]);
    const plainRoute = announcing(fromBird, '198.51.101.0/24');
    assert.equal(attr(plainRoute, 'med'), undefined);
    assert.ok(fromBird.some((x) => endOfRibFamily(x)?.afi === 1));

    const fromGobgp = updatesOf(v4, 'gobgpd');
    const g = announcing(fromGobgp, '203.0.113.0/24');
    assert.equal(attr(g, 'med')?.med, 10);
    assert.deepEqual(communities(g), ['65000:1']);
    assert.ok(fromGobgp.some((x) => x.withdrawn.some((p) => formatPrefix(p) === '203.0.113.0/24')));

    const n = v4.find((m) => m.from === 'bird' && m.message.type === 'notification')!
      .message as NotificationMessage;
    assert.equal(n.code, 6);
    assert.equal(n.subcode, 2);
    assert.equal(shutdownCommunication(n), 'bollard fixture capture');

    // IPv6 session: MP_REACH_NLRI with a global and a link-local next hop, End-of-RIB as empty MP_UNREACH.
    const six = announcing(updatesOf(v6, 'bird'), '2001:db8:100::/48');
    const reach = attr(six, 'mpReach')!;
    assert.equal(reach.nextHop.global, 'fd00::2');
    assert.match(reach.nextHop.linkLocal ?? '', /^fe80::/);
    assert.deepEqual(communities(six), ['65001:600']);
    assert.ok(updatesOf(v6, 'bird').some((x) => endOfRibFamily(x)?.afi === 2));
    assert.ok(
      updatesOf(v6, 'gobgpd').some((x) =>
        attr(x, 'mpUnreach')?.withdrawn.some((p) => formatPrefix(p) === '2001:db8:f00::/48'),
      ),
    );
  });

  it('FRR <-> GoBGP: hostname, graceful restart, ADD-PATH capability, route-map attributes, Cease', () => {
    const [v4, v6] = byFamily(load('frr-gobgp.json'));
    const frr = opensOf(v4, 'frr')[0]!;
    assert.equal(openAsn(frr), 65002);
    assert.equal(frr.bgpId, '10.0.0.2');
    assert.equal(frr.holdTime, 180);
    const fqdn = frr.capabilities.find((c) => c.type === 'fqdn');
    assert.deepEqual(fqdn, { type: 'fqdn', hostname: 'frr-fixture', domain: '' });
    const gr = frr.capabilities.find((c) => c.type === 'gracefulRestart');
    assert.ok(gr && gr.type === 'gracefulRestart' && gr.restartTime === 120 && gr.notification);
    assert.ok(frr.capabilities.some((c) => c.type === 'addPath'));
    assert.ok(frr.capabilities.some((c) => c.type === 'extendedMessage'));
    assert.ok(frr.capabilitiesPerParameter && frr.capabilitiesPerParameter.every((n) => n === 1));

    const u = announcing(updatesOf(v4, 'frr'), '198.51.100.0/24');
    assert.deepEqual(asns(u), [65002, 65002, 65002]);
    assert.equal(attr(u, 'med')?.med, 77);
    assert.deepEqual(communities(u), ['65002:100', '65002:200']);
    assert.deepEqual(attr(u, 'extendedCommunities')?.communities.map(formatExtendedCommunity), [
      'rt:65002:7',
    ]);
    assert.deepEqual(attr(u, 'largeCommunities')?.communities, [
      { globalAdmin: 65002, localData1: 1, localData2: 2 },
    ]);
    assert.ok(announcing(updatesOf(v4, 'frr'), '198.51.102.0/25'));

    const six = announcing(updatesOf(v6, 'frr'), '2001:db8:200::/48');
    assert.equal(attr(six, 'med')?.med, 66);
    assert.deepEqual(communities(six), ['65002:600', 'blackhole']);
    assert.equal(attr(six, 'mpReach')?.nextHop.global, 'fd00::2');
    assert.ok(v4.some((m) => m.from === 'frr' && m.message.type === 'notification' && m.message.code === 6));
  });

  it('ExaBGP <-> GoBGP: 4-octet ASN, AS_SET, AGGREGATOR, ATOMIC_AGGREGATE, extended/large communities, unknown attribute', () => {
    const [c] = load('exabgp-gobgp.json') as [Decoded[]];
    const exa = opensOf(c, 'exabgp')[0]!;
    assert.equal(exa.myAs, AS_TRANS);
    assert.equal(openAsn(exa), 4200000001);
    const gr = exa.capabilities.find((x) => x.type === 'gracefulRestart');
    assert.ok(gr && gr.type === 'gracefulRestart' && gr.restartTime === 120);

    const u = announcing(updatesOf(c, 'exabgp'), '198.51.100.0/24');
    assert.equal(attr(u, 'origin')?.origin, 'egp');
    assert.deepEqual(attr(u, 'asPath')?.segments, [
      { type: 'sequence', asns: [4200000001, 65010] },
      { type: 'set', asns: [65020, 65030] },
    ]);
    assert.equal(attr(u, 'med')?.med, 5);
    assert.ok(attr(u, 'atomicAggregate'));
    assert.deepEqual(attr(u, 'aggregator'), { type: 'aggregator', asn: 65010, address: '10.0.0.9' });
    assert.deepEqual(communities(u), ['65000:1', 'no-export']);
    assert.deepEqual(attr(u, 'extendedCommunities')?.communities.map(formatExtendedCommunity), [
      'rt:65000:42',
    ]);
    assert.deepEqual(attr(u, 'largeCommunities')?.communities, [
      { globalAdmin: 4200000001, localData1: 7, localData2: 8 },
    ]);
    const unknown = attr(u, 'unknown')!;
    assert.equal(unknown.code, 241);
    assert.equal(unknown.flags, 0xc0);
    assert.deepEqual(unknown.value, Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    // passed on with the Partial bit set (RFC 4271 §5)
    const passed = attributesToPropagate(u.attributes).find((a) => a.type === 'unknown');
    assert.equal(passed?.type === 'unknown' && passed.flags, 0xe0);

    const six = announcing(updatesOf(c, 'exabgp'), '2001:db8:300::/48');
    assert.equal(attr(six, 'mpReach')?.nextHop.global, 'fd00::2');
    assert.deepEqual(attr(six, 'communities')?.communities, [WellKnownCommunity.BLACKHOLE]);
  });

  it('ExaBGP (2-octet only) <-> GoBGP: AS_TRANS with AS4_PATH and AS4_AGGREGATOR, merged per RFC 6793', () => {
    const [c] = load('exabgp-2octet-gobgp.json') as [Decoded[]];
    const exa = opensOf(c, 'exabgp')[0]!;
    assert.equal(exa.myAs, 65040);
    assert.ok(!exa.capabilities.some((x) => x.type === 'fourOctetAs'));
    const u = announcing(updatesOf(c, 'exabgp'), '198.51.100.0/24');
    assert.deepEqual(asns(u), [65040, AS_TRANS, 65050]);
    assert.deepEqual(asns(u, 'as4Path'), [65040, 4200000002, 65050]);
    assert.deepEqual(
      mergeAs4Path(attr(u, 'asPath')!.segments, attr(u, 'as4Path')!.segments).flatMap((s) => s.asns),
      [65040, 4200000002, 65050],
    );
    assert.equal(attr(u, 'aggregator')?.asn, AS_TRANS);
    assert.equal(attr(u, 'as4Aggregator')?.asn, 4200000003);
    const g = announcing(updatesOf(c, 'gobgpd'), '203.0.113.0/24');
    assert.deepEqual(asns(g), [65000, AS_TRANS, 65009]);
    assert.deepEqual(asns(g, 'as4Path'), [65000, 4200000009, 65009]);
  });
});
