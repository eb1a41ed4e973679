// BGPPeer.vrf binds the session's socket to that device (SO_BINDTODEVICE). This machine's kernel has
// no VRF (nor dummy) driver, so the device here is a plain interface: bound to a veth that does not
// lead to the router the session cannot come up (its SYNs are seen leaving through that veth, from a
// second dial too: the first failed); bound to eth0 (the LAN) it does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan } from '../../lab/netns.js';
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

describe('vrf: the session socket is bound to the device', { timeout: 120_000 }, () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bgp-vrf-'));
  let bird: Router;
  let speaker: { proc: ManagedProcess; log: string; reload(c: StandaloneConfig): void } | undefined;

  before(async () => {
    lan = await Lan.create();
    const node = await lan.addHost('node', { ipv4: '10.84.0.11/24' });
    const r = await lan.addHost('router', { ipv4: '10.84.0.1/24' });
    await node.sh('ip', ['link', 'add', 'side0', 'type', 'veth', 'peer', 'name', 'side1']);
    await node.sh('ip', ['addr', 'add', '10.85.0.1/24', 'dev', 'side0']);
    await node.sh('ip', ['link', 'set', 'side0', 'up']);
    await node.sh('ip', ['link', 'set', 'side1', 'up']);
    // side0 has a route to the LAN's prefix too (a worse metric, so only a socket bound to side0
    // takes it) and a neighbour entry for the router that points at side1: a SYN bound to side0
    // leaves through it, arrives at side1 and goes no further.
    await node.sh('ip', ['route', 'add', '10.84.0.0/24', 'dev', 'side0', 'metric', '1000']);
    const side1Mac = (await node.sh('cat', ['/sys/class/net/side1/address'])).trim();
    await node.sh('ip', [
      'neigh',
      'replace',
      '10.84.0.1',
      'lladdr',
      side1Mac,
      'dev',
      'side0',
      'nud',
      'permanent',
    ]);
    bird = await startBird(
      r,
      join(dir, 'bird'),
      [
        'router id 10.84.0.1;',
        'protocol device {}',
        'protocol bgp node {',
        '  local 10.84.0.1 as 64512; neighbor 10.84.0.11 as 64513;',
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

  const config = (vrf: string): StandaloneConfig => ({
    nodeName: 'node',
    nodeIPv4: '10.84.0.11',
    listenPort: 0, // dial only, so the router's own connection cannot bring the session up
    peers: [
      peer({ name: 'r', peerAddress: '10.84.0.1', myASN: 64513, peerASN: 64512, vrf, connectTimeMs: 1000 }),
    ],
    routes: { r: [{ prefix: '192.0.2.84/32', communities: [], largeCommunities: [] }] },
  });

  it('bound to a device that does not lead to the peer: no session', async () => {
    // The marker: the speaker's SYNs to the router leave through side0 (seen at its far end, side1),
    // from two source ports — a second dial, so the first one failed — and the session is not up.
    const sniff = await Sniffer.start(
      lan.host('node'),
      'side1',
      ['tcp[tcpflags] & tcp-syn != 0 and dst host 10.84.0.1 and dst port 179'],
      join(dir, 'side1.tcpdump'),
    );
    try {
      speaker = await startSpeaker(lan.host('node'), join(dir, 'node'), config('side0'));
      const syns = await sniff.waitLines(
        'two dials through side0',
        /> 10\.84\.0\.1\.179: Flags \[S\]/,
        (l) => new Set(l.map((x) => /\.(\d+) >/.exec(x)?.[1])).size >= 2,
      );
      process.stdout.write(`# SYNs through side0: ${syns.length}\n`);
    } finally {
      await sniff.stop();
    }
    assert.equal(await sessionUp(bird, '10.84.0.11', 'node'), false);
    assert.ok(speaker.proc.running);
  });

  it('bound to the device that leads to the peer: Established, the VIP in the RIB', async () => {
    speaker?.reload(config('eth0'));
    await waitFor(
      'session',
      async () => ((await sessionUp(bird, '10.84.0.11', 'node')) ? true : undefined),
      20_000,
      100,
    );
    assert.ok(await waitFor('VIP', () => ribRoute(bird, '192.0.2.84/32'), 10_000, 100));
    assert.doesNotMatch(readFileSync(speaker!.log, 'utf8'), /"level":"error"/);
  });
});
