// BGP on the lab (3 nodes, BIRD): the real controller assigns a VIP from the BGP pool, every node's
// speaker peers with the router. externalTrafficPolicy Cluster -> an ECMP route to all nodes in the
// router's kernel and the `external` host (behind the router) reaches a pod through the VIP;
// Local -> only nodes with a ready local endpoint, following the endpoints; ServiceBGPStatus objects;
// the apiserver going away changes nothing on the wire.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../support/lab.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { ribRoute, sessionUp, startBird, type Router } from './bgp-routers.js';
import * as probes from '../support/lab-probes.js';
import { LAB_SPEAKER_DRAIN_MS } from '../../lab/components.js';
import { EXCLUDE_LB_LABEL } from '../../speaker/eligibility.js';

interface BgpStatus {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { node?: string; serviceName?: string; serviceNamespace?: string; peers?: string[] };
}

describe('BGP on the lab (3 nodes, BIRD)', { timeout: 300_000 }, () => {
  let lab: Lab;
  const ALL = ['node-1', 'node-2', 'node-3'];

  const vipsOf = (ref: string): Promise<string[]> => probes.vipsOf(lab, ref);

  const routedVia = async (vip: string): Promise<string[]> => (await lab.announcers(vip)).nodes;

  async function waitRoutedVia(vip: string, nodes: string[], timeoutMs = 30_000): Promise<number> {
    const t0 = Date.now();
    await waitFor(
      `${vip} routed via ${nodes.join(',') || 'nobody'}`,
      async () =>
        JSON.stringify(await routedVia(vip)) === JSON.stringify([...nodes].sort()) ? true : undefined,
      timeoutMs,
      50,
    );
    return Date.now() - t0;
  }

  const curlFromExternal = (ip: string): Promise<boolean> => probes.httpOk(lab, 'external', ip);

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'bird' });
    await lab.apply(...metallbDemoObjects(lab.topology));
    const pool = { 'metallb.io/address-pool': lab.topology.bgpPool.name };
    await lab.addService({ namespace: 'bgp', name: 'web', annotations: pool });
    await lab.addService({
      namespace: 'bgp',
      name: 'local',
      annotations: pool,
      externalTrafficPolicy: 'Local',
    });
    await lab.addPod('bgp/web', 'node-1');
    await lab.addPod('bgp/web', 'node-2');
    await lab.addPod('bgp/local', 'node-1');
  });

  after(async () => {
    await lab?.stop();
  });

  it('Cluster: an ECMP route to every node, and the external host reaches the VIP through the router', async () => {
    const vips = await vipsOf('bgp/web');
    for (const vip of vips) {
      await waitRoutedVia(vip, ALL);
      assert.ok(
        await waitFor(
          `curl ${vip} from external`,
          async () => ((await curlFromExternal(vip)) ? true : undefined),
          15_000,
          200,
        ),
      );
    }
    const bird = await lab.exec('router', 'birdc', ['show', 'route', 'for', vips[0]!, 'all']);
    assert.match(bird.stdout, /BGP\.as_path: 64513/);
  });

  it('ServiceBGPStatus: one per node, with the peers it is announced to', async () => {
    const list = await waitFor(
      'ServiceBGPStatus for bgp/web on every node',
      async () => {
        const l = await lab.client.get<{ items: BgpStatus[] }>(
          '/apis/metallb.io/v1beta1/namespaces/metallb-system/servicebgpstatuses',
        );
        const mine = l.items.filter(
          (i) =>
            i.metadata?.labels?.['metallb.io/service-name'] === 'web' &&
            i.metadata?.labels?.['metallb.io/service-namespace'] === 'bgp',
        );
        return mine.length === 3 && mine.every((i) => (i.status?.peers?.length ?? 0) > 0) ? mine : undefined;
      },
      30_000,
      200,
    );
    assert.deepEqual(list.map((i) => i.status?.node).sort(), ALL);
    for (const i of list) {
      assert.match(i.metadata?.name ?? '', /^bgp-/);
      assert.equal(i.metadata?.labels?.['metallb.io/node'], i.status?.node);
      assert.equal(i.status?.serviceNamespace, 'bgp');
      assert.ok(i.status?.peers?.includes('lab-router-v4'));
    }
  });

  it("metrics: MetalLB's BGP metrics on each speaker's /metrics", async () => {
    const n = lab.topology.nodes[0]!;
    const text = (await lab.exec(n.name, 'curl', ['-sf', '-m', '2', `http://${n.ipv4.ip}:7472/metrics`]))
      .stdout;
    const bgpLines = text
      .split('\n')
      .filter((l) => l.startsWith('metallb_bgp') || l.startsWith('metallb_speaker_announced'));
    const has = (re: RegExp): void =>
      assert.ok(
        bgpLines.some((l) => re.test(l)),
        `${re} in:\n${bgpLines.join('\n')}`,
      );
    // MetalLB's labels: peer "<address>:<port>" (IPv6 without brackets) and vrf.
    const r = lab.topology.router;
    const v4 = `peer="${r.ipv4.ip}:179",vrf="default"`.replace(/\./g, '\\.');
    has(new RegExp(`^metallb_bgp_session_up\\{${v4}\\} 1$`));
    if (r.ipv6) has(new RegExp(`^metallb_bgp_session_up\\{peer="${r.ipv6.ip}:179",vrf="default"\\} 1$`));
    has(new RegExp(`^metallb_bgp_announced_prefixes_total\\{${v4}\\} [1-9]`));
    has(new RegExp(`^metallb_bgp_opens_sent\\{${v4}\\} [1-9]`));
    has(new RegExp(`^metallb_bgp_updates_total\\{${v4}\\} [1-9]`));
    has(
      /^metallb_speaker_announced\{(?=[^}]*service="bgp\/web")(?=[^}]*protocol="bgp")(?=[^}]*node="node-1")[^}]*\} 1$/,
    );
  });

  it('ServiceBGPStatus: one deleted or edited by someone is put back; a Service that goes loses its statuses and metric series', async () => {
    const path = '/apis/metallb.io/v1beta1/namespaces/metallb-system/servicebgpstatuses';
    const statusesOf = async (svc: string): Promise<BgpStatus[]> =>
      (await lab.client.get<{ items: BgpStatus[] }>(path)).items.filter(
        (i) =>
          i.metadata?.labels?.['metallb.io/service-name'] === svc &&
          i.metadata?.labels?.['metallb.io/service-namespace'] === 'bgp',
      );
    const onNode = async (svc: string, node: string): Promise<BgpStatus[]> =>
      (await statusesOf(svc)).filter((i) => i.metadata?.labels?.['metallb.io/node'] === node);
    const announcedSeries = async (svc: string): Promise<number> => {
      let n = 0;
      for (const node of lab.topology.nodes) {
        const text = (
          await lab.exec(node.name, 'curl', ['-sf', '-m', '2', `http://${node.ipv4.ip}:7472/metrics`])
        ).stdout;
        n += text
          .split('\n')
          .filter((l) => l.startsWith('metallb_speaker_announced{') && l.includes(`service="${svc}"`)).length;
      }
      return n;
    };

    // deleted: node-2's speaker creates a new one
    const [victim] = await onNode('web', 'node-2');
    assert.ok(victim?.metadata?.name);
    await lab.client.delete(`${path}/${victim.metadata.name}`);
    await waitFor(
      "node-2's status for bgp/web back",
      async () => {
        const l = await onNode('web', 'node-2');
        return l.length === 1 && l[0]?.metadata?.name !== victim.metadata?.name && l[0]?.status?.peers?.length
          ? true
          : undefined;
      },
      15_000,
      100,
    );
    // edited: node-3's speaker writes its peers back
    const [edited] = await onNode('web', 'node-3');
    assert.ok(edited?.metadata?.name);
    await lab.client.patch(`${path}/${edited.metadata.name}/status`, {
      status: { ...edited.status, peers: ['nobody'] },
    });
    await waitFor(
      "node-3's status for bgp/web repaired",
      async () => {
        const [o] = await onNode('web', 'node-3');
        return o?.status?.peers?.includes('lab-router-v4') && !o.status.peers.includes('nobody')
          ? true
          : undefined;
      },
      15_000,
      100,
    );

    // a Service that goes: its statuses on every node and its metallb_speaker_announced series go
    await lab.addService({
      namespace: 'bgp',
      name: 'brief',
      annotations: { 'metallb.io/address-pool': lab.topology.bgpPool.name },
    });
    await lab.addPod('bgp/brief', 'node-1');
    await waitFor(
      'bgp/brief announced by every node',
      async () =>
        (await statusesOf('brief')).length === 3 && (await announcedSeries('bgp/brief')) >= 3
          ? true
          : undefined,
      30_000,
      200,
    );
    await lab.client.delete('/api/v1/namespaces/bgp/services/brief');
    await waitFor(
      "bgp/brief's statuses and series gone",
      async () =>
        (await statusesOf('brief')).length === 0 && (await announcedSeries('bgp/brief')) === 0
          ? true
          : undefined,
      30_000,
      200,
    );
    // bgp/web untouched
    assert.equal((await statusesOf('web')).length, 3);
  });

  it('Local: only nodes with a ready local endpoint, following the endpoints', async () => {
    const [vip] = await vipsOf('bgp/local');
    assert.ok(vip);
    await waitRoutedVia(vip, ['node-1']);
    assert.ok(await curlFromExternal(vip));
    await lab.addPod('bgp/local', 'node-3');
    const added = await waitRoutedVia(vip, ['node-1', 'node-3']);
    process.stdout.write(`# Local: node-3 announced ${added} ms after its endpoint appeared\n`);
    await lab.removePods('bgp/local', 'node-1');
    const removed = await waitRoutedVia(vip, ['node-3']);
    process.stdout.write(`# Local: node-1 withdrawn ${removed} ms after its last endpoint went away\n`);
    assert.ok(await curlFromExternal(vip));
  });

  it('speaker SIGTERM on one node: GRACEFUL_SHUTDOWN first (path leaves the ECMP set), then Cease; back on restart', async () => {
    const [vip] = await vipsOf('bgp/web');
    assert.ok(vip);
    await waitRoutedVia(vip, ALL);
    const sawNotification = await probes.routerSawNotification(lab, 'node-3');
    const t0 = Date.now();
    const stopped = lab.stopProcess('node-3', 'speaker').then(() => Date.now() - t0);
    // The drain: node-3's route is still in BIRD's table, now carrying 65535:0, and BIRD's import filter
    // (lab/routers.ts) gave it LOCAL_PREF 0 — seen while the session still holds the route, so before
    // the withdraw.
    const marked = await waitFor(
      "node-3's route in BIRD with GRACEFUL_SHUTDOWN",
      async () => {
        const out = (
          await lab.exec('router', 'birdc', ['show', 'route', 'for', vip, 'protocol', 'node_3_v4', 'all'])
        ).stdout;
        return /BGP\.community:.*\(65535,0\)/.test(out) && /BGP\.local_pref: 0\b/.test(out) ? out : undefined;
      },
      15_000,
      20,
    );
    const markedMs = Date.now() - t0;
    assert.match(marked, /node_3_v4/);
    // the kernel's ECMP route loses node-3 (merge paths: best preference only) while node-3 still announces
    await waitRoutedVia(vip, ['node-1', 'node-2']);
    const leftMs = Date.now() - t0;
    // then the withdraw: the speaker's NOTIFICATION after the drain (BIRD logs what it received)
    assert.match(await sawNotification(), /Received: Administrative shutdown/);
    const exitMs = await stopped;
    process.stdout.write(
      `# speaker SIGTERM on node-3 -> GRACEFUL_SHUTDOWN seen by BIRD at ${markedMs} ms, path out of the ECMP route at ${leftMs} ms, Cease and exit at ${exitMs} ms (drain ${LAB_SPEAKER_DRAIN_MS} ms)\n`,
    );
    await lab.startProcess('node-3', 'speaker');
    await waitRoutedVia(vip, ALL);
  });

  it('exclude-from-external-load-balancers on a node: GRACEFUL_SHUTDOWN for the drain, then the withdraw (session stays up)', async () => {
    const [vip] = await vipsOf('bgp/web');
    assert.ok(vip);
    await waitRoutedVia(vip, ALL);
    const bird = async (): Promise<string> =>
      (await lab.exec('router', 'birdc', ['show', 'route', 'for', vip, 'protocol', 'node_2_v4', 'all']))
        .stdout;
    const t0 = Date.now();
    await lab.client.patch('/api/v1/nodes/node-2', { metadata: { labels: { [EXCLUDE_LB_LABEL]: '' } } });
    try {
      await waitFor(
        "node-2's route in BIRD with GRACEFUL_SHUTDOWN",
        async () => {
          const out = await bird();
          return /BGP\.community:.*\(65535,0\)/.test(out) && /BGP\.local_pref: 0\b/.test(out)
            ? true
            : undefined;
        },
        15_000,
        20,
      );
      const markedMs = Date.now() - t0;
      await waitRoutedVia(vip, ['node-1', 'node-3']);
      const leftMs = Date.now() - t0;
      // after the drain the route itself is withdrawn (an UPDATE): BIRD's table has none from node-2
      await waitFor(
        "node-2's route withdrawn",
        async () => (/node_2_v4/.test(await bird()) ? undefined : true),
        30_000,
        50,
      );
      const withdrawnMs = Date.now() - t0;
      // the session itself stays up: the node is excluded, not gone
      const proto = (await lab.exec('router', 'birdc', ['show', 'protocols', 'node_2_v4'])).stdout;
      assert.match(proto, /Established/);
      process.stdout.write(
        `# node-2 excluded -> GRACEFUL_SHUTDOWN seen by BIRD at ${markedMs} ms, out of the ECMP route at ${leftMs} ms, withdrawn at ${withdrawnMs} ms (drain ${LAB_SPEAKER_DRAIN_MS} ms)\n`,
      );
    } finally {
      await lab.client.patch('/api/v1/nodes/node-2', { metadata: { labels: { [EXCLUDE_LB_LABEL]: null } } });
    }
    await waitRoutedVia(vip, ALL);
  });

  it('passwordSecret: the speakers read the Secret and peer with TCP MD5 (a second BIRD with passwords)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bollard-bgp-lab-md5-'));
    let md5bird: Router | undefined;
    try {
      const clientIp = lab.topology.client.ipv4.ip;
      md5bird = await startBird(
        lab.host('client'),
        join(dir, 'bird'),
        [
          `router id ${clientIp};`,
          'protocol device {}',
          ...lab.topology.nodes.flatMap((n) => [
            `protocol bgp ${n.name.replace('-', '_')} {`,
            `  local ${clientIp} as 64600; neighbor ${n.ipv4.ip} as ${n.asn};`,
            '  password "lab-md5-from-secret";',
            '  connect retry time 1; error wait time 1, 2;',
            '  ipv4 { import all; export none; };',
            '}',
          ]),
          '',
        ].join('\n'),
      );
      await lab.apply(
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'bgp-password', namespace: 'metallb-system' }, // the name deploy/rbac allows
          type: 'kubernetes.io/basic-auth',
          stringData: { username: 'unused', password: 'lab-md5-from-secret' },
        },
        {
          apiVersion: 'metallb.io/v1beta2',
          kind: 'BGPPeer',
          metadata: { name: 'md5-peer', namespace: 'metallb-system' },
          spec: {
            myASN: lab.topology.nodes[0]!.asn,
            peerASN: 64600,
            peerAddress: clientIp,
            passwordSecret: { name: 'bgp-password' },
          },
        },
      );
      try {
        for (const n of lab.topology.nodes) {
          const proto = n.name.replace('-', '_');
          await waitFor(
            `MD5 session ${n.name}`,
            async () => ((await sessionUp(md5bird!, n.ipv4.ip, proto)) ? true : undefined),
            30_000,
            200,
          );
        }
      } catch (err) {
        const log = readFileSync(join(lab.topology.logDir, 'node-1-speaker.log'), 'utf8').split('\n');
        process.stdout.write(
          `# node-1 speaker log (BGP lines):\n${log
            .filter((l) => /BGP|bgp|Secret|md5/.test(l))
            .slice(-15)
            .join('\n')}\n`,
        );
        process.stdout.write(`# BIRD: ${await md5bird.cli(['show', 'protocols', 'all', 'node_1'])}\n`);
        throw err;
      }
      const [vip] = await vipsOf('bgp/web');
      const r = await waitFor('VIP in the MD5 BIRD', () => ribRoute(md5bird!, `${vip}/32`), 20_000, 200);
      assert.equal(r.nextHops.length, 3, `ECMP next hops: ${r.nextHops.join(',')}`);
      const logs = ALL.map((n) => readFileSync(join(lab.topology.logDir, `${n}-speaker.log`), 'utf8')).join(
        '',
      );
      assert.match(logs, /md5-peer/, 'the speaker logs name the peer');
      assert.doesNotMatch(logs, /lab-md5-from-secret/, 'the password is never logged');
    } finally {
      await md5bird?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the apiserver going away changes nothing on the wire: sessions and routes stay', async () => {
    const [vip] = await vipsOf('bgp/web');
    assert.ok(vip);
    await waitRoutedVia(vip, ALL);
    // BIRD's session lines (name, state, since): a session that flapped has a new "since"
    const sessions = async (): Promise<string[]> =>
      (await lab.exec('router', 'birdc', ['show', 'protocols'])).stdout
        .split('\n')
        .filter((l) => /^node_/.test(l))
        .map((l) => l.replace(/\s+/g, ' ').trim());
    const before = await sessions();
    assert.equal(before.filter((l) => l.includes('Established')).length, before.length, before.join('\n'));
    const lost = probes.speakersLostApiserver(lab, ALL);
    // the apiserver itself: stopping the forwarder only refuses new connections (socat's forked
    // children keep the open watches), so the speakers would never notice
    await lab.stopProcess('machine', 'kube-apiserver');
    try {
      // every speaker has seen the apiserver go, and has retried and failed once more: what the wire
      // shows from here is what speakers without their apiserver do
      await lost();
      assert.deepEqual(await routedVia(vip), ALL);
      assert.deepEqual(await sessions(), before, 'no session went down meanwhile');
      assert.ok(await curlFromExternal(vip));
    } finally {
      await lab.startProcess('machine', 'kube-apiserver');
    }
  });
});
