// eBGP multihop through a second router hop: the node reaches BIRD on r2 only through r1. Without
// ebgpMultiHop our packets leave with TTL 1 and die at r1 (its ICMP time exceeded is the proof; the
// session does not come up); with it they leave with TTL 255 and the session is Established with the
// VIP in r2's RIB; multihop BFD (RFC 5883) comes Up across the hop.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host, Lan, run } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import {
  peer,
  ribRoute,
  sessionUp,
  startBird,
  startSpeaker,
  type Router,
  type StandaloneConfig,
} from './bgp-routers.js';
import { Sniffer } from '../support/sniff.js';

describe('eBGP multihop through a second router hop', { timeout: 120_000 }, () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bgp-mh-'));
  let bird: Router;
  let speaker: { proc: ManagedProcess; reload(c: StandaloneConfig): void } | undefined;
  let r2: Host;

  before(async () => {
    lan = await Lan.create();
    const node = await lan.addHost('node', { ipv4: '10.79.0.11/24' });
    const r1 = await lan.addHost('r1', { ipv4: '10.79.0.1/24' });
    const ns2 = await lan.addNamespace('r2');
    await run('ip', ['-n', r1.ns, 'link', 'add', 'mh0', 'type', 'veth', 'peer', 'name', 'mh1', 'netns', ns2]);
    await run('ip', ['-n', r1.ns, 'addr', 'add', '10.80.0.1/24', 'dev', 'mh0']);
    await run('ip', ['-n', r1.ns, 'link', 'set', 'mh0', 'up']);
    await run('ip', ['-n', ns2, 'addr', 'add', '10.80.0.2/24', 'dev', 'mh1']);
    await run('ip', ['-n', ns2, 'link', 'set', 'mh1', 'up']);
    await run('ip', ['-n', ns2, 'route', 'add', '10.79.0.0/24', 'via', '10.80.0.1']);
    await r1.sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await node.addRoute('10.80.0.0/24', '10.79.0.1');
    r2 = new Host('r2', ns2, 'mh1', '', '10.80.0.2/24', undefined, '', lan);
    assert.equal(
      (await node.exec('ping', ['-c1', '-W2', '10.80.0.2'])).code,
      0,
      'r2 is reachable through r1',
    );
    bird = await startBird(
      r2,
      join(dir, 'bird'),
      [
        'router id 10.80.0.2;',
        'log stderr all;',
        'protocol device { scan time 5; }',
        'protocol bfd { multihop { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
        'protocol bgp node {',
        '  local 10.80.0.2 as 64512;',
        '  neighbor 10.79.0.11 as 64513;',
        '  multihop;',
        '  bfd on;',
        '  connect retry time 1; error wait time 1, 2;',
        '  ipv4 { import all; export none; };',
        '}',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await speaker?.proc.stop(1000);
    await bird?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (multihop: boolean, bfd = false): StandaloneConfig => ({
    nodeName: 'node',
    nodeIPv4: '10.79.0.11',
    listenPort: 0, // dial only: BIRD's own connection (TTL 64) would otherwise bring the session up
    peers: [
      peer({
        name: 'r2',
        peerAddress: '10.80.0.2',
        myASN: 64513,
        peerASN: 64512,
        ebgpMultiHop: multihop,
        connectTimeMs: 1000,
        ...(bfd
          ? {
              bfd: {
                receiveIntervalMs: 100,
                transmitIntervalMs: 100,
                detectMultiplier: 3,
                passiveMode: false,
                minimumTtl: 254,
              },
            }
          : {}),
      }),
    ],
    routes: { r2: [{ prefix: '192.0.2.99/32', communities: [], largeCommunities: [] }] },
  });

  it('without ebgpMultiHop (TTL 1) the session does not come up', async () => {
    // The marker: r1 answers our SYN to r2 with ICMP time exceeded (it died at the first hop), and the
    // speaker dialled again from another port (so the first dial failed); the session is not up.
    const sniff = await Sniffer.start(
      lan.host('node'),
      'eth0',
      ['icmp or (tcp[tcpflags] & tcp-syn != 0 and dst host 10.80.0.2 and dst port 179)'],
      join(dir, 'node-eth0.tcpdump'),
    );
    try {
      speaker = await startSpeaker(lan.host('node'), join(dir, 'node'), config(false));
      await sniff.waitLines(
        'ICMP time exceeded from r1',
        /10\.79\.0\.1 > 10\.79\.0\.11: ICMP time exceeded/,
        (l) => l.length > 0,
      );
      await sniff.waitLines(
        'two dials to r2',
        /> 10\.80\.0\.2\.179: Flags \[S\]/,
        (l) => new Set(l.map((x) => /\.(\d+) >/.exec(x)?.[1])).size >= 2,
      );
    } finally {
      await sniff.stop();
    }
    assert.equal(await sessionUp(bird, '10.79.0.11', 'node'), false);
  });

  it('with ebgpMultiHop (TTL 255) it is Established and the VIP is in the far router RIB', async () => {
    speaker?.reload(config(true));
    await waitFor(
      'multihop session',
      async () => ((await sessionUp(bird, '10.79.0.11', 'node')) ? true : undefined),
      30_000,
      200,
    );
    const r = await waitFor('VIP in r2', () => ribRoute(bird, '192.0.2.99/32'), 10_000, 100);
    assert.deepEqual(r.asPath, [64513]);
  });

  it('multihop BFD (RFC 5883, port 4784, minimumTtl 254 across one hop) comes Up with BIRD', async () => {
    speaker?.reload(config(true, true));
    await waitFor(
      'multihop BFD Up in BIRD',
      async () =>
        /10\.79\.0\.11\s+\S+\s+Up/.test(await bird.cli(['show', 'bfd', 'sessions'])) ? true : undefined,
      20_000,
      100,
    );
    await waitFor(
      'session',
      async () => ((await sessionUp(bird, '10.79.0.11', 'node')) ? true : undefined),
      20_000,
      100,
    );
  });
});
