// Unnumbered BGP (BGPPeer.interface) against FRR's `neighbor IFACE interface`: no address is
// configured on either side for the session. FRR learns our link-local address from the Router
// Advertisements the speaker sends; the speaker learns FRR's from NDP / the neighbour table; the
// session runs between link-local addresses and carries the IPv4 VIP with an IPv6 next hop
// (RFC 8950), which FRR's zebra installs in the router's kernel as `via inet6 fe80::…`.
//  1. a netns pair: FRR (zebra + bgpd) and the standalone speaker; the router pings the VIP;
//  2. a netns pair with BIRD, which is given the node's link-local address (it cannot learn it);
//  3. the lab (one node, FRR): the real speaker with a BGPPeer `interface: eth0`, a Service, and
//     curl from the external host through the router.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, type Host } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import { peer, ribRoute, sessionUp, startBird, startSpeaker, type Router } from './bgp-routers.js';
import { startLab, type Lab } from '../support/lab.js';
import { METALLB_NAMESPACE } from '../../lab/deploy.js';
import * as probes from '../support/lab-probes.js';

const VIP = '198.51.100.7';

/** The IPv4 route to `vip` in a router's kernel: its IPv6 link-local next hop, if it is one. */
async function inet6NextHop(exec: () => Promise<string>): Promise<string | undefined> {
  return /via inet6 (fe80::[0-9a-f:]+)/.exec(await exec())?.[1];
}

/** An interface's link-local address. */
async function linkLocalOf(exec: () => Promise<string>): Promise<string> {
  const m = /inet6 (fe80::[0-9a-f:]+)\//.exec(await exec());
  assert.ok(m, 'the interface has a link-local address');
  return m[1]!;
}

interface BgpSummary {
  ipv4Unicast?: { peers?: Record<string, { state?: string; pfxRcd?: number }> };
}

/** FRR (zebra, for RAs and the kernel routes; bgpd) in `host`, with private sockets under `dir`. */
function startFrr(
  host: Host,
  dir: string,
  bgpd: string,
): { procs: ManagedProcess[]; vtysh(cmd: string): Promise<string> } {
  const uid = Number(spawnSync('id', ['-u', 'frr'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'frr'], { encoding: 'utf8' }).stdout.trim());
  mkdirSync(dir, { recursive: true });
  chmodSync(join(dir, '..'), 0o755);
  chownSync(dir, uid, gid);
  writeFileSync(join(dir, 'zebra.conf'), 'hostname router\n');
  writeFileSync(join(dir, 'bgpd.conf'), bgpd);
  for (const f of ['zebra.conf', 'bgpd.conf']) chownSync(join(dir, f), uid, gid);
  const common = ['--vty_socket', dir, '-z', join(dir, 'zserv.api')];
  const zebra = host.spawn(
    '/usr/lib/frr/zebra',
    ['-f', join(dir, 'zebra.conf'), '-i', join(dir, 'zebra.pid'), ...common],
    {
      name: `${host.name}/zebra`,
      logFile: join(dir, 'zebra.log'),
    },
  );
  const bgpdProc = host.spawn(
    '/usr/lib/frr/bgpd',
    ['-f', join(dir, 'bgpd.conf'), '-i', join(dir, 'bgpd.pid'), '-P', '0', ...common],
    { name: `${host.name}/bgpd`, logFile: join(dir, 'bgpd.log') },
  );
  return {
    procs: [bgpdProc, zebra],
    vtysh: (cmd) => host.sh('vtysh', ['--vty_socket', dir, '-c', cmd], 10_000),
  };
}

describe('unnumbered BGP with FRR in a netns pair', { timeout: 120_000 }, () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bgp-unnumbered-'));
  let frr: ReturnType<typeof startFrr> | undefined;
  let speaker: { proc: ManagedProcess } | undefined;
  let node: Host;
  let router: Host;

  before(async () => {
    lan = await Lan.create();
    // IPv4 on the LAN only for the test's own plumbing; the session uses none of it.
    node = await lan.addHost('node', { ipv4: '10.82.0.11/24' });
    router = await lan.addHost('router', { ipv4: '10.82.0.1/24' });
    await node.sh('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
    frr = startFrr(
      router,
      join(dir, 'frr'),
      [
        'frr defaults traditional',
        'hostname router',
        'router bgp 64500',
        ' bgp router-id 10.82.0.1',
        ' no bgp ebgp-requires-policy',
        ' no bgp default ipv4-unicast',
        ` neighbor ${router.ifname} interface remote-as external`,
        ` neighbor ${router.ifname} timers connect 2`,
        ' address-family ipv4 unicast',
        `  neighbor ${router.ifname} activate`,
        ' exit-address-family',
        '',
      ].join('\n'),
    );
    await waitFor(
      'FRR answers',
      async () =>
        (await router.exec('vtysh', ['--vty_socket', join(dir, 'frr'), '-c', 'show bgp summary'])).code === 0
          ? true
          : undefined,
      30_000,
      100,
    );
    speaker = await startSpeaker(node, join(dir, 'speaker'), {
      nodeName: 'node',
      nodeIPv4: '10.82.0.11',
      listenPort: 179,
      peers: [
        peer({ name: 'up', peerAddress: '', interface: node.ifname, myASN: 64513, peerASN: 'external' }),
      ],
      routes: { up: [{ prefix: `${VIP}/32`, communities: [], largeCommunities: [] }] },
    });
  });

  after(async () => {
    await speaker?.proc.stop(1000);
    for (const p of frr?.procs ?? []) await p.stop(3000);
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("FRR's interface neighbour is Established and the VIP is in the router's kernel via our link-local", async () => {
    assert.ok(frr);
    const f = frr;
    const state = await waitFor(
      'FRR session Established',
      async () => {
        const s = JSON.parse(await f.vtysh('show bgp summary json')) as BgpSummary;
        const p = s.ipv4Unicast?.peers?.[router.ifname];
        return p?.state === 'Established' && p.pfxRcd === 1 ? p : undefined;
      },
      60_000,
      200,
    );
    assert.equal(state.state, 'Established');
    const ll = await linkLocalOf(() =>
      node.sh('ip', ['-6', 'addr', 'show', 'dev', node.ifname, 'scope', 'link']),
    );
    const via = await waitFor(
      `${VIP} via inet6 in the router's kernel`,
      () => inet6NextHop(() => router.sh('ip', ['route', 'show', VIP])),
      30_000,
      100,
    );
    assert.equal(via, ll);
    // the router forwards to the VIP over the IPv6 next hop (the node answers from lo)
    assert.equal((await router.exec('ping', ['-c1', '-W2', VIP])).code, 0);
  });
});

describe(
  'unnumbered BGP with BIRD in a netns pair (the peer named by its link-local address)',
  { timeout: 120_000 },
  () => {
    let lan: Lan;
    const dir = mkdtempSync(join(tmpdir(), 'bollard-bgp-unnumbered-bird-'));
    let bird: Router | undefined;
    let speaker: { proc: ManagedProcess } | undefined;
    let node: Host;

    before(async () => {
      lan = await Lan.create();
      node = await lan.addHost('node', { ipv4: '10.83.0.11/24' });
      const router = await lan.addHost('router', { ipv4: '10.83.0.1/24' });
      // BIRD 2 has no RA-learned neighbours: it is given the node's link-local address, and learns
      // nothing else; the speaker finds BIRD's address from the NDP of BIRD's connection attempts.
      const nodeLl = await waitFor(
        "node's link-local address",
        async () =>
          /inet6 (fe80::[0-9a-f:]+)\/\d+ scope link(?! tentative)/.exec(
            await node.sh('ip', ['-6', 'addr', 'show', 'dev', node.ifname]),
          )?.[1],
        10_000,
        100,
      );
      bird = await startBird(
        router,
        join(dir, 'bird'),
        [
          'router id 10.83.0.1;',
          'protocol device { scan time 5; }',
          'protocol bgp node {',
          '  local as 64500;',
          `  neighbor ${nodeLl} as 64513;`,
          `  interface "${router.ifname}";`,
          '  direct;',
          '  connect retry time 2; error wait time 1, 2;',
          '  ipv4 { import all; export none; extended next hop on; };',
          '}',
          '',
        ].join('\n'),
      );
      speaker = await startSpeaker(node, join(dir, 'speaker'), {
        nodeName: 'node',
        nodeIPv4: '10.83.0.11',
        listenPort: 179,
        peers: [peer({ name: 'up', peerAddress: '', interface: node.ifname, myASN: 64513, peerASN: 64500 })],
        routes: { up: [{ prefix: `${VIP}/32`, communities: [], largeCommunities: [] }] },
      });
    });

    after(async () => {
      await speaker?.proc.stop(1000);
      await bird?.stop();
      await lan?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it('BIRD Established; the IPv4 VIP in its RIB via our link-local address (RFC 8950)', async () => {
      assert.ok(bird);
      const b = bird;
      await waitFor(
        'BIRD session Established',
        async () => ((await sessionUp(b, '', 'node')) ? true : undefined),
        60_000,
        200,
      );
      const ll = await linkLocalOf(() =>
        node.sh('ip', ['-6', 'addr', 'show', 'dev', node.ifname, 'scope', 'link']),
      );
      const r = await waitFor(`${VIP} in BIRD`, () => ribRoute(b, `${VIP}/32`), 30_000, 100);
      assert.deepEqual(r.nextHops, [ll]);
    });
  },
);

describe('unnumbered BGP on the lab with FRR', { timeout: 300_000 }, () => {
  let lab: Lab;

  /** The interface of a lab host that carries `ipv4`. */
  const ifaceWith = async (host: string, ipv4: string): Promise<string> => {
    const out = (await lab.exec(host, 'ip', ['-o', '-4', 'addr', 'show'])).stdout;
    const line = out.split('\n').find((l) => l.includes(` ${ipv4}/`));
    const name = line?.split(/\s+/)[1];
    assert.ok(name, `${host} has ${ipv4}`);
    return name.split('@')[0]!;
  };

  before(async () => {
    lab = await startLab({ nodes: 1, router: 'frr' });
    const t = lab.topology;
    const routerIf = await ifaceWith('router', t.router.ipv4.ip);
    const nodeIf = await ifaceWith('node-1', t.nodes[0]!.ipv4.ip);
    // FRR: an interface neighbour on its LAN interface, next to the lab's numbered ones (which stay
    // idle: no BGPPeer names them here).
    const r = await lab.exec('router', 'vtysh', [
      ...[
        'configure terminal',
        `router bgp ${t.router.asn}`,
        `neighbor ${routerIf} interface remote-as external`,
        `neighbor ${routerIf} timers connect 2`,
        'address-family ipv4 unicast',
        `neighbor ${routerIf} activate`,
        `neighbor ${routerIf} route-map LAB-IN-V4 in`,
        `neighbor ${routerIf} route-map LAB-OUT out`,
      ].flatMap((c) => ['-c', c]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const ns = METALLB_NAMESPACE;
    await lab.apply(
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: t.bgpPool.name, namespace: ns },
        spec: { addresses: t.bgpPool.addresses.filter((a) => !a.includes(':')), autoAssign: false },
      },
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'BGPAdvertisement',
        metadata: { name: t.bgpPool.name, namespace: ns },
        spec: { ipAddressPools: [t.bgpPool.name] },
      },
      {
        apiVersion: 'metallb.io/v1beta2',
        kind: 'BGPPeer',
        metadata: { name: 'lab-router-unnumbered', namespace: ns },
        spec: { myASN: t.nodes[0]!.asn, peerASN: t.router.asn, interface: nodeIf },
      },
    );
    await lab.addService({
      namespace: 'bgp',
      name: 'web',
      annotations: { 'metallb.io/address-pool': t.bgpPool.name },
    });
    await lab.addPod('bgp/web', 'node-1');
  });

  after(async () => {
    await lab?.stop();
  });

  it('FRR Established with the node, the VIP via inet6 in the router kernel, curl from external', async () => {
    const t = lab.topology;
    const routerIf = await ifaceWith('router', t.router.ipv4.ip);
    const nodeIf = await ifaceWith('node-1', t.nodes[0]!.ipv4.ip);
    await waitFor(
      'FRR session Established',
      async () => {
        const out = (await lab.exec('router', 'vtysh', ['-c', 'show bgp summary json'])).stdout;
        const p = (JSON.parse(out) as BgpSummary).ipv4Unicast?.peers?.[routerIf];
        return p?.state === 'Established' ? true : undefined;
      },
      90_000,
      200,
    );
    const vip = await waitFor(
      'VIP',
      async () => (await lab.service('bgp/web')).status?.loadBalancer?.ingress?.[0]?.ip,
      30_000,
      200,
    );
    const ll = await linkLocalOf(
      async () =>
        (await lab.exec('node-1', 'ip', ['-6', 'addr', 'show', 'dev', nodeIf, 'scope', 'link'])).stdout,
    );
    const global6 = t.nodes[0]!.ipv6?.ip;
    const via = await waitFor(
      `${vip} via inet6 in the router's kernel`,
      async () => {
        const out = (await lab.exec('router', 'ip', ['route', 'show', vip])).stdout;
        return /via inet6 ([0-9a-f:]+)/.exec(out)?.[1];
      },
      60_000,
      100,
    );
    process.stdout.write(`# router: ${vip} via inet6 ${via}\n`);
    assert.ok(via === ll || via === global6, `next hop ${via} is node-1's (${ll}, ${global6 ?? '-'})`);
    assert.ok(
      await waitFor(
        `curl ${vip}`,
        async () => ((await probes.httpOk(lab, 'external', vip)) ? true : undefined),
        30_000,
        200,
      ),
    );
  });
});
