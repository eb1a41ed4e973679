// kube-proxy in IPVS mode without strictARP, on the layer 2 lab (2 nodes): kube-proxy binds every Service
// IP to its kube-ipvs0 device in each node, and with the kernel's default arp_ignore=0 every node then
// answers ARP for the VIP — seen from the client as a second MAC answering. The announcing speaker
// raises bollard.io/KubeProxyConflict (IPVSWithoutStrictARP) on the Service, a Warning Event,
// bollard_conflicts{kind="ipvs_without_strict_arp"} 1, and a line in `bollard explain service`; with
// strictARP's settings (arp_ignore=1, arp_announce=2) the conflict clears and only the owner answers.
//
// Where the kernel has IPVS, the lab runs kube-proxy with --proxy-mode=ipvs and the test awaits the VIP on
// its kube-ipvs0. Where it has none (CONFIG_IP_VS unset, as on the machine this was written on), the test
// makes the same kernel state by hand in every node: a kube-ipvs0 device (kube-proxy's is a dummy; a
// bridge without ports when the kernel has no dummy driver either), DOWN, holding the VIP as a /32, with
// the default ARP sysctls — and says so in a `# ` line. strictARP is applied as kube-proxy applies it
// (net.ipv4.conf.all.arp_ignore=1, arp_announce=2) in both cases.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor } from '../../lab/process.js';
import { ipvsAvailable } from '../../lab/kubeproxy.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { SPEAKER_METRICS_PORT } from '../../lab/components.js';
import * as probes from '../support/lab-probes.js';
import { explainKubeconfig, runExplain, type ServiceExplanation } from './explain-support.js';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe('kube-proxy IPVS without strictARP (layer 2 lab)', () => {
  let lab: Lab;
  const ipvs = ipvsAvailable();
  const ref = 'ipvs/web';

  before(async () => {
    lab = await startLab({ nodes: 2, router: 'none', ...(ipvs ? { kubeProxyMode: 'ipvs' as const } : {}) });
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({ namespace: 'ipvs', name: 'web' });
    await lab.addPod(ref, 'node-1');
  });
  after(async () => {
    await lab?.stop();
  });

  const condition = async (): Promise<Cond | undefined> => {
    const s = (await lab.service(ref)) as { status?: { conditions?: Cond[] } };
    return s.status?.conditions?.find((c) => c.type === 'bollard.io/KubeProxyConflict');
  };
  const gauge = async (node: string): Promise<number | undefined> => {
    const n = lab.topology.nodes.find((x) => x.name === node);
    const r = await lab.exec(node, 'curl', [
      '-sf',
      '-m',
      '2',
      `http://${n?.ipv4.ip}:${SPEAKER_METRICS_PORT}/metrics`,
    ]);
    const m = /^bollard_conflicts\{kind="ipvs_without_strict_arp"\} (\S+)$/m.exec(r.stdout);
    return m ? Number(m[1]) : undefined;
  };

  it('every node answers ARP for the VIP: conflict on the announced Service; strictARP clears it', async () => {
    const [vip] = await probes.vipsOf(lab, ref);
    assert.ok(vip);
    // the owner, before anything else answers for the VIP
    const owner = await waitFor(
      'the owner answers ARP',
      async () => {
        const macs = await probes.arpingMacs(lab, vip, 1, 1);
        return macs[0] ? probes.nodeOfMac(lab, macs[0]) : undefined;
      },
      30_000,
      200,
    );
    const other = lab.topology.nodes.map((n) => n.name).find((n) => n !== owner);
    assert.ok(other);

    let t0 = performance.now();
    if (ipvs) {
      for (const n of lab.topology.nodes)
        await waitFor(
          `${n.name}: kube-proxy put ${vip} on kube-ipvs0`,
          async () =>
            (await lab.exec(n.name, 'ip', ['-4', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout.includes(
              `${vip}/32`,
            )
              ? true
              : undefined,
          60_000,
          200,
        );
      console.log(
        '# kube-proxy --proxy-mode=ipvs (no --ipvs-strict-arp) put the VIP on kube-ipvs0 in every node',
      );
    } else {
      for (const n of lab.topology.nodes) {
        const dummy = await lab.exec(n.name, 'ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
        const kind = dummy.code === 0 ? 'dummy' : 'bridge';
        if (dummy.code !== 0)
          assert.equal(
            (await lab.exec(n.name, 'ip', ['link', 'add', 'kube-ipvs0', 'type', 'bridge'])).code,
            0,
          );
        assert.equal(
          (await lab.exec(n.name, 'ip', ['addr', 'add', `${vip}/32`, 'dev', 'kube-ipvs0'])).code,
          0,
        );
        if (n.name === owner) t0 = performance.now();
        if (n.name === owner)
          console.log(
            `# this kernel has no IPVS (/proc/net/ip_vs missing): the test made kube-proxy IPVS's kernel state by hand — a ${kind} kube-ipvs0 (DOWN) holding ${vip}/32 in every node, arp_ignore/arp_announce left at the kernel defaults`,
          );
      }
    }
    const raised = await waitFor(
      'KubeProxyConflict True',
      async () => {
        const c = await condition();
        return c?.status === 'True' ? c : undefined;
      },
      30_000,
      50,
    );
    console.log(
      `# KubeProxyConflict raised ${(performance.now() - t0).toFixed(0)} ms after the owner's kube-ipvs0 held the VIP`,
    );
    // the problem itself, from the client: the other node answers ARP for the VIP too
    const answering = await waitFor(
      `${other} answers ARP for ${vip}`,
      async () => {
        const nodes = (await probes.arpingMacs(lab, vip, 3, 0.5)).map((m) => probes.nodeOfMac(lab, m));
        return nodes.includes(other) ? nodes : undefined;
      },
      30_000,
      200,
    );
    console.log(`# ARP answers for ${vip} from the client: ${[...new Set(answering)].sort().join(', ')}`);

    assert.equal(raised.reason, 'IPVSWithoutStrictARP');
    assert.match(
      raised.message,
      new RegExp(`^node ${owner}: kube-proxy runs in IPVS mode without strictARP`),
    );
    assert.match(raised.message, /arp_ignore=0 arp_announce=0/);
    assert.equal(await gauge(owner), 1);
    const ev = await waitFor(
      'IPVSWithoutStrictARP Event',
      async () => {
        const list = await lab.client.get<{
          items: { reason?: string; type?: string; regarding?: { name?: string } }[];
        }>('/apis/events.k8s.io/v1/namespaces/ipvs/events');
        return list.items.find((e) => e.reason === 'IPVSWithoutStrictARP' && e.regarding?.name === 'web');
      },
      20_000,
    );
    assert.equal(ev.type, 'Warning');

    const kc = await explainKubeconfig(lab);
    const r = await runExplain<ServiceExplanation>(lab, other, kc, ['service', ref]);
    assert.match(r.text, /Conflicts:\n {2}✗ bollard\.io\/KubeProxyConflict=True IPVSWithoutStrictARP/);
    assert.ok(r.json.problems.some((p) => p.startsWith('IPVSWithoutStrictARP: ')));
    console.log(`# explain: ${r.text.split('\n').find((l) => l.includes('KubeProxyConflict')) ?? ''}`);

    // strictARP, as kube-proxy applies it
    const t1 = performance.now();
    for (const n of lab.topology.nodes)
      for (const [k, v] of [
        ['net.ipv4.conf.all.arp_ignore', '1'],
        ['net.ipv4.conf.all.arp_announce', '2'],
      ] as const)
        assert.equal((await lab.exec(n.name, 'sysctl', ['-w', `${k}=${v}`])).code, 0);
    const cleared = await waitFor(
      'KubeProxyConflict False',
      async () => {
        const c = await condition();
        return c?.status === 'False' ? c : undefined;
      },
      30_000,
      50,
    );
    console.log(
      `# KubeProxyConflict cleared ${(performance.now() - t1).toFixed(0)} ms after strictARP's sysctls`,
    );
    assert.equal(cleared.reason, 'NoConflict');
    assert.equal(await gauge(owner), 0);
    // only the owner answers now (three requests, three answers, all the owner's)
    const after3 = (await probes.arpingMacs(lab, vip, 3, 1)).map((m) => probes.nodeOfMac(lab, m));
    assert.ok(after3.length > 0);
    assert.deepEqual([...new Set(after3)], [owner]);
  });
});
