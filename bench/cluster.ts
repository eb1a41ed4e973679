// `npm run bench -- cluster`: Bollard as users run it, measured on real kubelet nodes.
//   - the image: size and layers (from lab/image's cache);
//   - `helm install` lab up: time to a lab with every Bollard pod Ready and the demo VIPs assigned
//     (warm: images and binaries cached; cold is recorded by hand in docs/benchmarks.md);
//   - a speaker rolling upgrade (`helm upgrade` to a new image tag rolls the DaemonSet and the
//     Deployment): failed client requests and the longest gap, layer 2 from the client and BGP (ECMP
//     through the router) from behind it, a new connection every 10 ms;
//   - planned maintenance: the node serving a VIP labelled
//     node.kubernetes.io/exclude-from-external-load-balancers, then its speaker pod deleted (the
//     kubelet's SIGTERM), layer 2 (the owner) and BGP (one ECMP next hop): failed requests and the
//     longest gap, the same probers;
//   - the speaker's and controller's pod memory, read from their pod cgroups on the nodes.
// Flags: --rounds=N upgrade rounds (default 2), --maintenance-rounds=N exclusion rounds (default 1),
// --graceful-restart=1 sets enableGracefulRestart on the demo's BGPPeers first (the router keeps a
// restarting speaker's routes; the speaker does not mark them on SIGTERM).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tagImage } from '../lab/containerd.js';
import { METALLB_NAMESPACE } from '../lab/deploy.js';
import { ensureImages, packageVersion } from '../lab/image/index.js';
import { helmUpgrade, waitInstalled } from '../lab/install.js';
import { Lab, bollardSelector } from '../lab/lab.js';
import { startProber, type ProbeSummary } from '../lab/prober-run.js';
import { waitFor } from '../lab/process.js';
import { ensureToolchain } from '../lab/toolchain.js';
import { EXCLUDE_LB_LABEL } from '../speaker/eligibility.js';
import { listPods } from '../lab/workloads.js';

function flag(args: string[], name: string, dflt: number): number {
  const v = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  return v === undefined ? dflt : Number(v);
}

const MiB = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The pod's memory cgroup (v1) under its node's cgroup root: usage, working set, RSS, peak. */
function podMemory(
  lab: Lab,
  node: string,
  uid: string,
): { usage: number; workingSet: number; rss: number; peak: number } | undefined {
  const root = lab.nodeCgroupRoot(node);
  for (const qos of ['burstable', 'besteffort', '']) {
    const dir = join('/sys/fs/cgroup/memory', root, 'kubepods', qos, `pod${uid}`);
    if (!existsSync(dir)) continue;
    const num = (f: string): number => Number(readFileSync(join(dir, f), 'utf8').trim());
    const stat = new Map(
      readFileSync(join(dir, 'memory.stat'), 'utf8')
        .split('\n')
        .map((l) => l.split(' ') as [string, string]),
    );
    const usage = num('memory.usage_in_bytes');
    const inactive = Number(stat.get('total_inactive_file') ?? 0);
    return {
      usage,
      workingSet: usage - inactive,
      rss: Number(stat.get('total_rss') ?? 0),
      peak: num('memory.max_usage_in_bytes'),
    };
  }
  return undefined;
}

async function memoryTable(lab: Lab): Promise<void> {
  for (const component of ['speaker', 'controller'] as const) {
    const pods = await listPods(lab.client, METALLB_NAMESPACE, bollardSelector(component));
    for (const p of pods) {
      const obj = await lab.client.get<{ metadata?: { uid?: string } }>(
        `/api/v1/namespaces/${p.namespace}/pods/${p.name}`,
      );
      const m = obj.metadata?.uid ? podMemory(lab, p.node, obj.metadata.uid) : undefined;
      console.log(
        `  ${component.padEnd(10)} ${p.node.padEnd(7)} ${m ? `working set ${MiB(m.workingSet)}, RSS ${MiB(m.rss)}, peak ${MiB(m.peak)}` : 'no cgroup found'}`,
      );
    }
  }
}

function line(what: string, s: ProbeSummary): string {
  return `  ${what.padEnd(8)} ${s.requests} requests, ${s.failures} failed, longest gap ${s.longestGapMs} ms${s.failures > 0 ? ` ${JSON.stringify(s.reasons)}` : ''}`;
}

/** The nodes announcing `vip` are exactly `nodes` (the client's neighbour entry, or the router's next hops). */
async function awaitAnnounced(
  lab: Lab,
  vip: string,
  want: (nodes: string[]) => boolean,
  what: string,
): Promise<string[]> {
  return waitFor(
    what,
    async () => {
      const n = (await lab.announcers(vip)).nodes;
      return want(n) ? n : undefined;
    },
    120_000,
    100,
  );
}

/**
 * One planned maintenance of `node` while `host` probes `vip`: the exclusion label, the VIP off the
 * node (and, for BGP, the drain over: no route from it at the router), its speaker pod deleted and back
 * Ready, the label removed. Returns the prober's summary for the whole of it.
 */
async function maintenance(
  lab: Lab,
  host: string,
  vip: string,
  node: string,
  bgp: boolean,
): Promise<{ sum: ProbeSummary; tookMs: number }> {
  const setLabel = (v: string | null): Promise<unknown> =>
    lab.client.patch(`/api/v1/nodes/${node}`, { metadata: { labels: { [EXCLUDE_LB_LABEL]: v } } });
  const prober = await startProber(lab.host(host), `http://${vip}/`, lab.logDir);
  const t = Date.now();
  let sum: ProbeSummary | undefined;
  try {
    await setLabel('');
    await awaitAnnounced(lab, vip, (n) => n.length > 0 && !n.includes(node), `${vip} off ${node}`);
    if (bgp) {
      const proto = `${node.replace(/-/g, '_')}_v4`;
      await waitFor(
        `${node}'s route withdrawn after the drain`,
        async () =>
          new RegExp(proto).test(
            (await lab.exec('router', 'birdc', ['show', 'route', 'for', vip, 'protocol', proto])).stdout,
          )
            ? undefined
            : true,
        60_000,
        100,
      );
    }
    await lab.stopProcess(node, 'speaker');
    await lab.startProcess(node, 'speaker');
    sum = await prober.stop();
  } finally {
    if (!sum) await prober.stop().catch(() => undefined);
    await setLabel(null);
  }
  return { sum, tookMs: Date.now() - t };
}

export async function run(args: string[]): Promise<void> {
  const rounds = flag(args, 'rounds', 2);
  const maintenanceRounds = flag(args, 'maintenance-rounds', 1);
  ensureToolchain(() => undefined);
  const images = await ensureImages(() => undefined);
  if (!images.ok) throw new Error(`images: ${images.error.step}: ${images.error.reason}`);
  const img = images.value.bollard;
  const size = img.layers.reduce((a, b) => a + b, 0);
  console.log(
    `image ${img.ref}: ${MiB(size)} uncompressed, ${img.layers.length} layers (${img.layers.map((l) => MiB(l)).join(', ')})`,
  );

  const t0 = Date.now();
  const lab = await Lab.start({ nodes: 3, router: 'bird', install: 'helm', demo: true });
  try {
    await waitFor(
      'demo VIPs',
      async () => {
        const svcs = (await lab.services()).filter((s) => s.namespace === 'demo');
        return svcs.length >= 2 && svcs.every((s) => s.vips.length >= 2) ? true : undefined;
      },
      60_000,
      200,
    );
    console.log(
      `lab up (helm install, warm caches), every pod Ready and the demo VIPs assigned: ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const l2 = (await lab.services()).find((s) => s.name === 'web')?.vips[0] ?? '';
    const bgp = (await lab.services()).find((s) => s.name === 'web-bgp')?.vips[0] ?? '';
    if (flag(args, 'graceful-restart', 0) === 1) {
      for (const p of ['lab-router-v4', 'lab-router-v6'])
        await lab.client.patch(`/apis/metallb.io/v1beta2/namespaces/${METALLB_NAMESPACE}/bgppeers/${p}`, {
          spec: { enableGracefulRestart: true },
        });
      // the sessions come back with the capability; BIRD then shows the peer's restart time
      await waitFor(
        'graceful restart negotiated with every node',
        async () => {
          for (const n of lab.topology.nodes) {
            const proto = `${n.name.replace(/-/g, '_')}_v4`;
            const out = (await lab.exec('router', 'birdc', ['show', 'protocols', 'all', proto])).stdout;
            if (!/Established/.test(out) || !/Restart time/.test(out)) return undefined;
          }
          return true;
        },
        120_000,
        500,
      );
      const all = lab.topology.nodes.map((n) => n.name).sort();
      await awaitAnnounced(lab, bgp, (n) => n.join(',') === all.join(','), `${bgp} via every node`);
      console.log('enableGracefulRestart set on the BGPPeers; graceful restart negotiated with every node');
    }

    console.log('pod memory, idle (cgroup v1 memory controller of each pod):');
    await memoryTable(lab);

    const version = packageVersion();
    for (let r = 1; r <= rounds; r++) {
      const tag = `${version}-bench${r}`;
      for (const n of lab.topology.nodes)
        await tagImage(lab.containerdSocket(n.name), img.ref, `docker.io/bollard/bollard:${tag}`, n.name);
      const pl2 = await startProber(lab.host('client'), `http://${l2}/`, lab.logDir);
      const pbgp = await startProber(lab.host('external'), `http://${bgp}/`, lab.logDir);
      const t = Date.now();
      await helmUpgrade({ kubeconfig: lab.kubeconfig, dir: lab.dir, set: { 'image.tag': tag } });
      await waitInstalled(lab.client);
      const took = Date.now() - t;
      const [a, b] = await Promise.all([pl2.stop(), pbgp.stop()]);
      console.log(
        `rolling upgrade ${r} (helm upgrade to ${tag}, rolled out in ${(took / 1000).toFixed(1)} s):`,
      );
      console.log(line('layer 2', a));
      console.log(line('BGP', b));
    }
    for (let r = 1; r <= maintenanceRounds; r++) {
      const owner = (await awaitAnnounced(lab, l2, (n) => n.length === 1, `${l2} has an owner`))[0] ?? '';
      const m2 = await maintenance(lab, 'client', l2, owner, false);
      console.log(
        `maintenance ${r}, layer 2 (${owner} labelled excluded, then its speaker pod deleted; ${(m2.tookMs / 1000).toFixed(1)} s):`,
      );
      console.log(line('layer 2', m2.sum));
      const all = lab.topology.nodes.map((n) => n.name).sort();
      await awaitAnnounced(lab, bgp, (n) => n.join(',') === all.join(','), `${bgp} via every node`);
      // the node the router sends the external host's connections to (it hashes on addresses only)
      const route = (
        await lab.exec('router', 'ip', [
          'route',
          'get',
          bgp,
          'from',
          lab.topology.external.ipv4.ip,
          'iif',
          'eth1',
        ])
      ).stdout;
      const hop = /via (\S+)/.exec(route)?.[1];
      const carrier = lab.topology.nodes.find((n) => n.ipv4.ip === hop)?.name ?? 'node-2';
      const mb = await maintenance(lab, 'external', bgp, carrier, true);
      console.log(
        `maintenance ${r}, BGP (${carrier}, the external host's next hop, labelled excluded, drain, then its speaker pod deleted; ${(mb.tookMs / 1000).toFixed(1)} s):`,
      );
      console.log(line('BGP', mb.sum));
      await awaitAnnounced(lab, bgp, (n) => n.join(',') === all.join(','), `${bgp} via every node again`);
    }
    console.log('pod memory after the upgrades:');
    await memoryTable(lab);
  } finally {
    await lab.stop();
  }
}
