// Bollard's BGP speaker against real routers in network namespaces: BIRD (eBGP over IPv4 and over
// IPv6 transport), FRR (iBGP with a TCP MD5 password) and GoBGP (eBGP with MD5, 4-octet ASN). The
// VIPs' routes are read from each router's own RIB with the router's own CLI, with the communities,
// large communities and local preference the export asked for. A malformed message from another peer
// resets only that session. Route refresh is answered; dualStackAddressFamily carries IPv6 routes over
// the IPv4 session.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import {
  community,
  peer,
  ribRoute,
  sessionUp,
  startBird,
  startFrr,
  startGobgp,
  startSpeaker,
  type Router,
  type StandaloneConfig,
} from './bgp-routers.js';

const NODE_ASN = 64513;
const ROUTER_ASN = 64512;
const GOBGP_ASN = 4_200_000_001; // 4-octet

describe('BGP sessions with BIRD, FRR and GoBGP', { timeout: 180_000 }, () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bgp-e2e-'));
  let bird: Router;
  let frr: Router;
  let gobgp: Router;
  let speaker: { proc: ManagedProcess; log: string; reload(c: StandaloneConfig): void };
  let config: StandaloneConfig;

  before(async () => {
    lan = await Lan.create();
    const node = await lan.addHost('node', { ipv4: '10.77.0.11/24', ipv6: 'fd77::11/64' });
    const rb = await lan.addHost('r-bird', { ipv4: '10.77.0.1/24', ipv6: 'fd77::1/64' });
    const rf = await lan.addHost('r-frr', { ipv4: '10.77.0.2/24' });
    const rg = await lan.addHost('r-gobgp', { ipv4: '10.77.0.3/24' });
    await lan.addHost('evil', { ipv4: '10.77.0.66/24' });
    void node;
    bird = await startBird(
      rb,
      join(dir, 'bird'),
      [
        'router id 10.77.0.1;',
        'log stderr all;',
        'protocol device { scan time 5; }',
        'protocol bgp node_v4 {',
        `  local 10.77.0.1 as ${ROUTER_ASN};`,
        `  neighbor 10.77.0.11 as ${NODE_ASN};`,
        '  connect retry time 2; error wait time 1, 5;',
        '  ipv4 { import all; export none; };',
        '  ipv6 { import all; export none; };',
        '}',
        'protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
        'protocol bgp node_v6 {',
        `  local fd77::1 as ${ROUTER_ASN};`,
        `  neighbor fd77::11 as ${NODE_ASN};`,
        '  connect retry time 2; error wait time 1, 5;',
        '  ipv6 { import all; export none; };',
        '  bfd on;',
        '}',
        '',
      ].join('\n'),
    );
    frr = await startFrr(
      rf,
      join(dir, 'frr'),
      [
        'frr defaults traditional',
        'hostname r-frr',
        `router bgp ${NODE_ASN}`,
        ' bgp router-id 10.77.0.2',
        ' no bgp ebgp-requires-policy',
        ` neighbor 10.77.0.11 remote-as ${NODE_ASN}`,
        ' neighbor 10.77.0.11 password frr-md5-secret',
        ' neighbor 10.77.0.11 timers connect 2',
        ' address-family ipv4 unicast',
        '  neighbor 10.77.0.11 activate',
        ' exit-address-family',
        '',
      ].join('\n'),
    );
    gobgp = await startGobgp(
      rg,
      join(dir, 'gobgp'),
      [
        '[global.config]',
        `  as = ${ROUTER_ASN}`,
        '  router-id = "10.77.0.3"',
        '[[neighbors]]',
        '  [neighbors.config]',
        '    neighbor-address = "10.77.0.11"',
        `    peer-as = ${GOBGP_ASN}`,
        '    auth-password = "gobgp-md5-secret"',
        '  [neighbors.timers.config]',
        '    connect-retry = 2',
        '  [[neighbors.afi-safis]]',
        '    [neighbors.afi-safis.config]',
        '      afi-safi-name = "ipv4-unicast"',
        '',
      ].join('\n'),
    );
    config = {
      nodeName: 'node-1',
      nodeIPv4: '10.77.0.11',
      nodeIPv6: 'fd77::11',
      peers: [
        peer({ name: 'bird-v4', peerAddress: '10.77.0.1', myASN: NODE_ASN, peerASN: ROUTER_ASN }),
        peer({
          name: 'bird-v6',
          peerAddress: 'fd77::1',
          myASN: NODE_ASN,
          peerASN: ROUTER_ASN,
          bfd: {
            receiveIntervalMs: 100,
            transmitIntervalMs: 100,
            detectMultiplier: 3,
            passiveMode: false,
            minimumTtl: 254,
          },
        }),
        peer({
          name: 'frr-ibgp',
          peerAddress: '10.77.0.2',
          myASN: NODE_ASN,
          peerASN: NODE_ASN,
          password: 'frr-md5-secret',
        }),
        peer({
          name: 'gobgp',
          peerAddress: '10.77.0.3',
          myASN: GOBGP_ASN,
          peerASN: ROUTER_ASN,
          password: 'gobgp-md5-secret',
        }),
        peer({
          name: 'evil',
          peerAddress: '10.77.0.66',
          myASN: NODE_ASN,
          peerASN: 65066,
          connectTimeMs: 1000,
        }),
      ],
      routes: {
        'bird-v4': [
          {
            prefix: '192.0.2.10/32',
            communities: [community(64512, 100)],
            largeCommunities: [{ globalAdmin: 64513, localData1: 1, localData2: 2 }],
          },
          { prefix: '198.51.100.0/24', communities: [], largeCommunities: [] },
        ],
        'bird-v6': [
          { prefix: '2001:db8:77::10/128', communities: [community(64512, 600)], largeCommunities: [] },
        ],
        'frr-ibgp': [
          {
            prefix: '192.0.2.20/32',
            communities: [community(64513, 20)],
            largeCommunities: [{ globalAdmin: 1, localData1: 2, localData2: 3 }],
            localPref: 150,
          },
        ],
        gobgp: [
          {
            prefix: '192.0.2.30/32',
            communities: [community(65000, 30)],
            largeCommunities: [{ globalAdmin: GOBGP_ASN, localData1: 7, localData2: 8 }],
          },
        ],
        evil: [],
      },
    };
    speaker = await startSpeaker(lan.host('node'), join(dir, 'node'), config);
  });

  after(async () => {
    await speaker?.proc.stop(2000);
    for (const r of [bird, frr, gobgp]) await r?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('BIRD: eBGP over IPv4 is Established and holds the VIP with its communities and large communities', async () => {
    await waitFor(
      'bird v4 session',
      async () => ((await sessionUp(bird, '10.77.0.11', 'node_v4')) ? true : undefined),
      30_000,
      200,
    );
    const r = await waitFor('192.0.2.10/32 in BIRD', () => ribRoute(bird, '192.0.2.10/32'), 10_000, 100);
    assert.deepEqual(r.communities, ['64512:100']);
    assert.deepEqual(r.largeCommunities, ['64513:1:2']);
    assert.deepEqual(r.nextHops, ['10.77.0.11']);
    assert.deepEqual(r.asPath, [NODE_ASN]);
    assert.equal(r.localPref, 100, 'eBGP routes carry no LOCAL_PREF of ours (BIRD sets its default 100)');
    const agg = await ribRoute(bird, '198.51.100.0/24');
    assert.ok(agg, 'an aggregate is announced as its prefix');
  });

  it('BIRD: eBGP over IPv6 transport carries the IPv6 VIP (MP_REACH, global + link-local next hop)', async () => {
    await waitFor(
      'bird v6 session',
      async () => ((await sessionUp(bird, 'fd77::11', 'node_v6')) ? true : undefined),
      30_000,
      200,
    );
    const r = await waitFor(
      '2001:db8:77::10/128 in BIRD',
      () => ribRoute(bird, '2001:db8:77::10/128'),
      10_000,
      100,
    );
    assert.deepEqual(r.communities, ['64512:600']);
    assert.ok(r.nextHops.includes('fd77::11'), `next hops ${r.nextHops.join(',')}`);
    const v4only = await ribRoute(bird, '192.0.2.10/32');
    assert.ok(v4only, 'the IPv4 route is still there (from the IPv4 session)');
    const out = await bird.cli(['show', 'route', 'protocol', 'node_v6']);
    assert.doesNotMatch(
      out,
      /192\.0\.2\./,
      'no IPv4 routes over the IPv6 session without dualStackAddressFamily',
    );
  });

  it('BFD over IPv6 (RFC 5881: hop limit 255 sent and required) comes Up with BIRD', async () => {
    const out = await waitFor(
      'BFD session fd77::11 Up in BIRD',
      async () => {
        const o = await bird.cli(['show', 'bfd', 'sessions']);
        return /fd77::11\s+eth0\s+Up/.test(o) ? o : undefined;
      },
      15_000,
      100,
    );
    assert.match(out, /fd77::11/);
  });

  it('FRR: iBGP with a TCP MD5 password is Established and the VIP has the local preference', async () => {
    await waitFor(
      'frr session',
      async () => ((await sessionUp(frr, '10.77.0.11')) ? true : undefined),
      30_000,
      200,
    );
    const r = await waitFor('192.0.2.20/32 in FRR', () => ribRoute(frr, '192.0.2.20/32'), 10_000, 100);
    assert.equal(r.localPref, 150);
    assert.deepEqual(r.communities, ['64513:20']);
    assert.deepEqual(r.largeCommunities, ['1:2:3']);
    assert.deepEqual(r.asPath, [], 'iBGP: empty AS_PATH');
  });

  it('GoBGP: eBGP with MD5 and a 4-octet local ASN is Established and holds the VIP', async () => {
    await waitFor(
      'gobgp session',
      async () => ((await sessionUp(gobgp, '10.77.0.11')) ? true : undefined),
      30_000,
      200,
    );
    const r = await waitFor('192.0.2.30/32 in GoBGP', () => ribRoute(gobgp, '192.0.2.30/32'), 10_000, 100);
    assert.deepEqual(r.communities, ['65000:30']);
    assert.deepEqual(r.largeCommunities, [`${GOBGP_ASN}:7:8`]);
    assert.deepEqual(r.asPath, [GOBGP_ASN]);
  });

  it('a route change reaches the routers as an UPDATE diff; a removed route is withdrawn', async () => {
    const next: StandaloneConfig = {
      ...config,
      routes: {
        ...config.routes,
        'bird-v4': [{ prefix: '192.0.2.11/32', communities: [], largeCommunities: [] }],
      },
    };
    speaker.reload(next);
    await waitFor('192.0.2.11/32 in BIRD', () => ribRoute(bird, '192.0.2.11/32'), 10_000, 100);
    await waitFor(
      '192.0.2.10/32 withdrawn',
      async () => ((await ribRoute(bird, '192.0.2.10/32')) ? undefined : true),
      10_000,
      100,
    );
    assert.ok(await ribRoute(frr, '192.0.2.20/32'), 'other peers keep their routes');
    speaker.reload(config);
    await waitFor('192.0.2.10/32 back', () => ribRoute(bird, '192.0.2.10/32'), 10_000, 100);
  });

  it('a route refresh from BIRD is answered with our routes again', async () => {
    // BIRD keeps no copy of what it received (no `import table`), so `reload in` sends a
    // ROUTE-REFRESH and the routes must come again on the wire: its "Import updates: received"
    // counter for the session grows by at least the routes we announce to it.
    const received = async (): Promise<number> => {
      const out = await bird.cli(['show', 'protocols', 'all', 'node_v4']);
      return [...out.matchAll(/Import updates:\s+(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const ours = (config.routes['bird-v4'] ?? []).length;
    assert.ok(ours > 0);
    const before = await received();
    await bird.cli(['reload', 'in', 'node_v4']);
    const after = await waitFor(
      'our routes received again by BIRD',
      async () => {
        const n = await received();
        return n >= before + ours ? n : undefined;
      },
      30_000,
      50,
    );
    process.stdout.write(
      `# BIRD import updates received: ${before} -> ${after} (${ours} routes announced)\n`,
    );
    assert.ok(await ribRoute(bird, '192.0.2.10/32'));
    const statusLines = (): string[] =>
      readFileSync(speaker.log, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"msg":"status"'));
    const seen = statusLines().length;
    speaker.proc.signal('SIGUSR1');
    const status = await waitFor(
      'a new status line',
      () => {
        const l = statusLines();
        return l.length > seen
          ? (JSON.parse(l[l.length - 1]!) as {
              peers: { name: string; counters: { routeRefreshReceived: number } }[];
            })
          : undefined;
      },
      30_000,
      50,
    );
    assert.equal(status.peers.find((p) => p.name === 'bird-v4')?.counters.routeRefreshReceived, 1);
  });

  it('dualStackAddressFamily: IPv6 routes over the IPv4 session, with the node IPv6 address as next hop', async () => {
    const dual: StandaloneConfig = {
      ...config,
      peers: config.peers.map((p) => (p.name === 'bird-v4' ? { ...p, dualStack: true } : p)),
      routes: {
        ...config.routes,
        'bird-v4': [
          ...(config.routes['bird-v4'] ?? []),
          { prefix: '2001:db8:77::20/128', communities: [], largeCommunities: [] },
        ],
      },
    };
    speaker.reload(dual);
    const r = await waitFor(
      '2001:db8:77::20/128 in BIRD',
      () => ribRoute(bird, '2001:db8:77::20/128'),
      20_000,
      100,
    );
    assert.ok(r.nextHops.includes('fd77::11'), `next hops ${r.nextHops.join(',')}`);
    const out = await bird.cli(['show', 'route', 'protocol', 'node_v4']);
    assert.match(out, /2001:db8:77::20\/128/, 'learned over the IPv4 session (protocol node_v4)');
    assert.match(out, /192\.0\.2\.10\/32/, 'next to the IPv4 routes');
    speaker.reload(config);
    await waitFor(
      'back to IPv4 only',
      async () => ((await ribRoute(bird, '2001:db8:77::20/128')) ? undefined : true),
      20_000,
      100,
    );
    await waitFor(
      'bird v4 session',
      async () => ((await sessionUp(bird, '10.77.0.11', 'node_v4')) ? true : undefined),
      20_000,
      100,
    );
    await waitFor('192.0.2.10/32 back', () => ribRoute(bird, '192.0.2.10/32'), 10_000, 100);
  });

  it('a peer sending a malformed message gets a NOTIFICATION and only its session resets', async () => {
    const evil = lan.host('evil');
    const birdSince = (await bird.cli(['show', 'protocols', 'node_v4']))
      .split('\n')
      .find((l) => l.startsWith('node_v4'));
    // A fake peer: accepts our connection, answers OPEN + KEEPALIVE, then sends a message with a
    // broken marker, and reports the NOTIFICATION it gets back.
    const script = `
      const net = require('node:net');
      const hdr = (type, body) => { const b = Buffer.alloc(19 + body.length, 0xff); b.writeUInt16BE(19 + body.length, 16); b[18] = type; body.copy(b, 19); return b; };
      const open = Buffer.from([4, 0xfe, 0x2a, 0, 90, 10, 77, 0, 66, 0]);
      const srv = net.createServer((s) => {
        let buf = Buffer.alloc(0), sent = false;
        s.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 19) {
            const len = buf.readUInt16BE(16); if (buf.length < len) break;
            const type = buf[18]; const body = buf.subarray(19, len); buf = buf.subarray(len);
            if (type === 1 && !sent) { sent = true; s.write(hdr(1, open)); s.write(hdr(4, Buffer.alloc(0))); }
            else if (type === 4) { const bad = hdr(4, Buffer.alloc(0)); bad[3] = 0; s.write(bad); }
            else if (type === 3) { console.log('NOTIFICATION ' + body[0] + '/' + body[1]); process.exit(0); }
          }
        });
      });
      srv.listen(179, '10.77.0.66');
      // a watchdog, not a wait: it ends the script if the NOTIFICATION never comes
      setTimeout(() => { console.log('TIMEOUT'); process.exit(1); }, 60000);
    `;
    const r = await evil.exec(process.execPath, ['-e', script], 90_000);
    assert.match(r.stdout, /NOTIFICATION 1\/1/, `fake peer said: ${r.stdout} ${r.stderr}`);
    const after = (await bird.cli(['show', 'protocols', 'node_v4']))
      .split('\n')
      .find((l) => l.startsWith('node_v4'));
    assert.equal(after, birdSince, 'the BIRD session did not flap');
    assert.ok(await sessionUp(frr, '10.77.0.11'));
    assert.ok(speaker.proc.running, 'the speaker is still running');
    const log = readFileSync(speaker.log, 'utf8');
    assert.match(log, /malformed BGP message from peer/);
    assert.doesNotMatch(log, /frr-md5-secret|gobgp-md5-secret/, 'passwords are never logged');
  });
});
