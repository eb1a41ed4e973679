// Layer 2 on the lab: the real controller assigns VIPs from an L2 pool, speakers (one per node, with the
// `speaker` ServiceAccount's token) answer ARP/NDP, kube-proxy carries the traffic to pods.
// Failover (speaker SIGKILL, link down) is seen by the client's neighbour table being rewritten by our
// gratuitous ARP while the client sends nothing; externalTrafficPolicy: Local follows the endpoints
// and kube-proxy's healthCheckNodePort; the apiserver going away changes nothing on the wire.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor, delay, type ManagedProcess } from '../../lab/process.js';
import { repoRoot } from '../support/repo.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { electOwner } from '../../speaker/layer2/election.js';
import { ApiError, KubeClient } from '../../k8s/client.js';
import * as probes from '../support/lab-probes.js';
import { metricValue } from '../support/chaos.js';

interface L2Status {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: {
    node?: string;
    serviceName?: string;
    serviceNamespace?: string;
    interfaces?: { name?: string }[];
    conditions?: { type: string; status: string }[];
  };
}

interface EventObj {
  reason?: string;
  note?: string;
  type?: string;
  regarding?: { name?: string };
}

describe('layer 2 speaker on the lab (3 nodes)', () => {
  let lab: Lab;
  const NODES = ['node-1', 'node-2', 'node-3'];
  const mac = (node: string): string =>
    (lab.topology.nodes.find((n) => n.name === node)?.mac ?? '').toLowerCase();
  const nodeOfMac = (m: string | undefined): string | undefined =>
    lab.topology.nodes.find((n) => n.mac.toLowerCase() === m)?.name;

  const vipsOf = (ref: string): Promise<string[]> => probes.vipsOf(lab, ref);

  const neighMac = (ip: string): Promise<string | undefined> => probes.neighMac(lab, ip);

  const arpingMacs = (ip: string, count = 3): Promise<string[]> => probes.arpingMacs(lab, ip, count);

  const curl = (ip: string): Promise<boolean> => probes.httpOk(lab, 'client', ip);

  /** Waits until exactly `node` answers ARP for `ip` (or nobody, for undefined), 3 arping rounds in a row. */
  async function answeredBy(ip: string, node: string | undefined, timeoutMs = 30_000): Promise<void> {
    let ok = 0;
    await waitFor(
      `${ip} answered by ${node ?? 'nobody'}`,
      async () => {
        const macs = [...new Set(await arpingMacs(ip, 2))];
        const good = node === undefined ? macs.length === 0 : macs.length === 1 && macs[0] === mac(node);
        ok = good ? ok + 1 : 0;
        return ok >= 3 ? true : undefined;
      },
      timeoutMs,
      50,
    );
  }

  async function l2Statuses(service: string): Promise<L2Status[]> {
    const list = await lab.client.get<{ items: L2Status[] }>(
      '/apis/metallb.io/v1beta1/namespaces/metallb-system/servicel2statuses',
    );
    return list.items.filter((i) => i.metadata?.labels?.['metallb.io/service-name'] === service);
  }

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'none' });
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({ namespace: 'l2', name: 'web' });
    await lab.addPod('l2/web', 'node-1');
    await lab.addPod('l2/web', 'node-2');
  });

  after(async () => {
    await lab?.stop();
  });

  let vips: string[] = [];
  let owner = '';

  it('the VIPs answer from exactly the elected node and curl reaches a pod through them (IPv4 and IPv6)', async () => {
    vips = await vipsOf('l2/web');
    assert.equal(vips.length, 2, `dual-stack VIPs: ${vips.join(',')}`);
    owner = electOwner(NODES, vips[0] as string) as string;
    await answeredBy(vips[0] as string, owner);
    for (const v of vips)
      assert.ok(await waitFor(`curl ${v}`, async () => ((await curl(v)) ? true : undefined), 30_000, 200));
    assert.equal(await neighMac(vips[1] as string), mac(owner), 'both families go with the first IP');
  });

  it('writes one ServiceL2Status for the owner with MetalLB labels and status, and a nodeAssigned Event', async () => {
    const st = await waitFor(
      'ServiceL2Status',
      async () => {
        const l = await l2Statuses('web');
        return l.length === 1 && l[0]?.status?.node ? l : undefined;
      },
      30_000,
      200,
    );
    const s = st[0] as L2Status;
    assert.match(s.metadata?.name ?? '', /^l2-/);
    assert.deepEqual(s.metadata?.labels, {
      'metallb.io/node': owner,
      'metallb.io/service-name': 'web',
      'metallb.io/service-namespace': 'l2',
    });
    // (plus, once the prober wrote them, the Service's bollard.io/* conditions: test/e2e/l2-verify.test.ts)
    const { conditions, ...rest } = s.status ?? {};
    assert.deepEqual(rest, {
      node: owner,
      serviceName: 'web',
      serviceNamespace: 'l2',
      interfaces: [{ name: 'eth0' }],
    });
    assert.ok(
      (conditions ?? []).every((c) => c.type.startsWith('bollard.io/')),
      JSON.stringify(conditions),
    );
    const evs = await lab.client.get<{ items: EventObj[] }>('/apis/events.k8s.io/v1/namespaces/l2/events');
    assert.ok(
      evs.items.some(
        (e) =>
          e.reason === 'nodeAssigned' &&
          e.regarding?.name === 'web' &&
          e.note === `announcing from node "${owner}" with protocol "layer2"`,
      ),
      JSON.stringify(evs.items.map((e) => [e.reason, e.note])),
    );
  });

  it("the speaker's ServiceAccount cannot change a Service or read other Secrets; it wrote its ConfigurationState", async () => {
    const kc = await lab.kubeconfigFor('metallb-system', 'speaker');
    const sa = KubeClient.fromFile(kc);
    try {
      const denied = async (p: Promise<unknown>): Promise<number> => {
        try {
          await p;
          return 200;
        } catch (err) {
          return err instanceof ApiError ? err.status : -1;
        }
      };
      // It may patch Service status (its own bollard.io/ conditions; RBAC cannot narrow that to fields),
      // but not the Service itself.
      assert.equal(
        await denied(sa.patch('/api/v1/namespaces/l2/services/web', { metadata: { labels: { x: 'y' } } })),
        403,
      );
      assert.equal(await denied(sa.get('/api/v1/namespaces/metallb-system/secrets')), 403);
      assert.equal(await denied(sa.get('/api/v1/namespaces/kube-system/secrets/anything')), 403);
      assert.equal(await denied(sa.get('/api/v1/namespaces/l2/services/web')), 200);
      assert.notEqual(await denied(sa.get('/api/v1/namespaces/metallb-system/secrets/memberlist')), 403);
    } finally {
      sa.close();
    }
    const cs = await waitFor(
      'ConfigurationState',
      async () => {
        const o = await lab.client
          .get<{ status?: { result?: string } }>(
            '/apis/metallb.io/v1beta1/namespaces/metallb-system/configurationstates/speaker-node-1',
          )
          .catch(() => undefined);
        return o?.status?.result ? o : undefined;
      },
      30_000,
      200,
    );
    assert.equal(cs.status?.result, 'Valid');
  });

  it('a bridge capture in steady state shows ARP replies for the VIP from exactly one MAC', async () => {
    const cap = await lab.net.lan.capture(join(lab.topology.logDir, 'l2-steady.pcap'), ['arp']);
    // ~8 s: the client re-resolves the VIP every second (flush + curl) and arpings it 5 times a second.
    const arping = lab.exec(
      'client',
      'arping',
      ['-c', '40', '-W', '0.2', '-I', 'eth0', vips[0] as string],
      20_000,
    );
    for (let i = 0; i < 8; i++) {
      await lab.exec('client', 'ip', ['neigh', 'flush', 'dev', 'eth0']);
      assert.ok(await curl(vips[0] as string));
      await delay(1000); // pacing: one re-resolution a second while arping runs
    }
    await arping;
    await cap.stop();
    const text = (await lab.exec('client', 'tcpdump', ['-r', cap.file, '-nn', '-e', 'arp'])).stdout;
    const repliers = new Set(
      [...text.matchAll(/^\S+ ([0-9a-f:]{17}) > .*Reply (\S+) is-at ([0-9a-f:]{17})/gm)]
        .filter((m) => m[2] === vips[0])
        .map((m) => m[3]),
    );
    assert.deepEqual([...repliers], [mac(owner)], text);
  });

  it("SIGKILL of the owner's speaker: the next node's gratuitous ARP rewrites the client's entry; traffic flows", async () => {
    const vip = vips[0] as string;
    assert.ok(await curl(vip));
    assert.equal(await neighMac(vip), mac(owner));
    const next = electOwner(
      NODES.filter((n) => n !== owner),
      vip,
    ) as string;
    const failoverPasses = async (): Promise<number> => {
      const ip = lab.topology.nodes.find((n) => n.name === next)?.ipv4.ip;
      const text = (await lab.exec(next, 'curl', ['-sf', '-m', '2', `http://${ip}:7472/metrics`])).stdout;
      return metricValue(text, 'bollard_speaker_reconcile_triggers_total', { trigger: 'failover' }) ?? 0;
    };
    const failoversBefore = await failoverPasses();
    const t0 = Date.now();
    await lab.kill(owner, 'speaker');
    // The client sends nothing while we wait: only an unsolicited announcement can change the entry.
    await waitFor(
      'entry rewritten',
      async () => (nodeOfMac(await neighMac(vip)) === next ? true : undefined),
      30_000,
      20,
    );
    process.stdout.write(`# speaker SIGKILL -> client entry rewritten in ${Date.now() - t0} ms\n`);
    // the next node decided the lost owner's Services in a pass of their own, ahead of the full pass
    assert.ok((await failoverPasses()) > failoversBefore, 'a failover pass on the next node');
    assert.ok(await curl(vip));
    await lab.startProcess(owner, 'speaker');
    await waitFor(
      'VIP back',
      async () => (nodeOfMac(await neighMac(vip)) === owner ? true : undefined),
      30_000,
      50,
    );
    await answeredBy(vip, owner);
  });

  it("the owner's link goes down: the next node takes over; when it comes back the VIP returns", async () => {
    const vip = vips[0] as string;
    assert.ok(await curl(vip));
    const next = electOwner(
      NODES.filter((n) => n !== owner),
      vip,
    ) as string;
    const t0 = Date.now();
    await lab.link(owner, 'down');
    try {
      await waitFor(
        'entry rewritten',
        async () => (nodeOfMac(await neighMac(vip)) === next ? true : undefined),
        30_000,
        20,
      );
      process.stdout.write(`# owner link down -> client entry rewritten in ${Date.now() - t0} ms\n`);
      assert.ok(await curl(vip));
      assert.ok(await curl(vips[1] as string));
    } finally {
      await lab.link(owner, 'up');
    }
    await waitFor(
      'VIP back',
      async () => (nodeOfMac(await neighMac(vip)) === owner ? true : undefined),
      30_000,
      50,
    );
    await answeredBy(vip, owner);
  });

  it('the owner disappears from the network entirely (cable out, its speaker and kube-proxy dead): the next node serves', async () => {
    const vip = vips[0] as string;
    assert.ok(await curl(vip));
    const next = electOwner(
      NODES.filter((n) => n !== owner),
      vip,
    ) as string;
    const t0 = Date.now();
    await lab.link(owner, 'down');
    await lab.kill(owner, 'speaker');
    await lab.kill(owner, 'kube-proxy');
    try {
      await waitFor(
        'entry rewritten',
        async () => (nodeOfMac(await neighMac(vip)) === next ? true : undefined),
        30_000,
        20,
      );
      process.stdout.write(`# owner removed -> client entry rewritten in ${Date.now() - t0} ms\n`);
      assert.ok(await curl(vip));
      await answeredBy(vip, next);
    } finally {
      await lab.link(owner, 'up');
      await lab.startProcess(owner, 'kube-proxy');
      await lab.startProcess(owner, 'speaker');
    }
    await waitFor(
      'VIP back',
      async () => (nodeOfMac(await neighMac(vip)) === owner ? true : undefined),
      30_000,
      50,
    );
    await answeredBy(vip, owner);
    assert.ok(
      await waitFor('curl after return', async () => ((await curl(vip)) ? true : undefined), 30_000, 200),
    );
  });

  it('the apiserver going away changes nothing on the wire: the VIP keeps answering from the same node', async () => {
    const vip = vips[0] as string;
    const lost = probes.speakersLostApiserver(lab, NODES);
    await lab.stopProcess('machine', 'kube-apiserver');
    try {
      // every speaker has seen the apiserver go (and failed to reach it once more): what the wire
      // shows from here is what speakers without their apiserver do
      await lost();
      const macs = [...new Set(await arpingMacs(vip, 3))];
      assert.deepEqual(macs, [mac(owner)]);
      assert.ok(await curl(vip));
    } finally {
      await lab.startProcess('machine', 'kube-apiserver');
    }
  });

  it('externalTrafficPolicy Local: the node with the endpoint answers; it follows the endpoint; a failing kube-proxy health check silences it', async () => {
    await lab.addService({
      namespace: 'l2',
      name: 'local',
      externalTrafficPolicy: 'Local',
      dualStack: false,
    });
    await lab.addPod('l2/local', 'node-2');
    const [vip] = await vipsOf('l2/local');
    assert.ok(vip);
    await answeredBy(vip, 'node-2');
    assert.ok(await waitFor('curl local', async () => ((await curl(vip)) ? true : undefined), 30_000, 200));

    // Move the endpoint to node-3.
    await lab.addPod('l2/local', 'node-3');
    await lab.removePods('l2/local', 'node-2');
    await answeredBy(vip, 'node-3');
    assert.ok(
      await waitFor('curl local on node-3', async () => ((await curl(vip)) ? true : undefined), 30_000, 200),
    );

    // node-3's kube-proxy stops: its healthCheckNodePort no longer answers, node-3 is not eligible,
    // no other node has a local endpoint -> nobody answers, and the Service gets a Warning.
    await lab.stopProcess('node-3', 'kube-proxy');
    try {
      await answeredBy(vip, undefined);
      await waitFor(
        'announceFailed Event',
        async () => {
          const evs = await lab.client.get<{ items: EventObj[] }>(
            '/apis/events.k8s.io/v1/namespaces/l2/events',
          );
          return evs.items.some(
            (e) => e.reason === 'announceFailed' && e.type === 'Warning' && e.regarding?.name === 'local',
          )
            ? true
            : undefined;
        },
        30_000,
        200,
      );
      // With an endpoint on node-1 too (its kube-proxy healthy), node-1 takes the VIP.
      await lab.addPod('l2/local', 'node-1');
      await answeredBy(vip, 'node-1');
    } finally {
      await lab.startProcess('node-3', 'kube-proxy');
    }
    // node-3 healthy again: back to the election between node-1 and node-3.
    await answeredBy(vip, electOwner(['node-1', 'node-3'], vip));
  });

  it('--membership=false: liveness comes from the Node Ready condition (a NotReady owner hands the VIP over)', async () => {
    const vip = vips[0] as string;
    for (const n of NODES) await lab.stopProcess(n, 'speaker');
    const kc = await lab.kubeconfigFor('metallb-system', 'speaker', { inNode: true });
    const procs: ManagedProcess[] = [];
    try {
      for (const n of lab.topology.nodes) {
        const args = [
          join(repoRoot(), 'dist', 'speaker', 'cli-entry.js'),
          '--kubeconfig',
          kc,
          '--node',
          n.name,
          '--namespace',
          'metallb-system',
        ];
        args.push('--metrics-bind', `${n.ipv4.ip}:7473`, '--membership=false');
        procs.push(
          lab.host(n.name).spawn(process.execPath, args, {
            name: `${n.name}/speaker-no-membership`,
            logFile: join(lab.topology.logDir, `${n.name}-speaker-no-membership.log`),
          }),
        );
      }
      await answeredBy(vip, owner, 30_000);
      const metrics = await lab.exec(owner, 'curl', [
        '-s',
        '-m',
        '2',
        `http://${lab.topology.nodes.find((n) => n.name === owner)?.ipv4.ip}:7473/metrics`,
      ]);
      assert.match(metrics.stdout, /^bollard_membership_packets_sent_total 0$/m, 'no membership traffic');
      const next = electOwner(
        NODES.filter((n) => n !== owner),
        vip,
      ) as string;
      await lab.setNodeReady(owner, false);
      try {
        await answeredBy(vip, next);
      } finally {
        await lab.setNodeReady(owner, true);
      }
      await answeredBy(vip, owner);
    } finally {
      for (const p of procs) await p.kill();
      for (const n of NODES) await lab.startProcess(n, 'speaker');
    }
  });
});
