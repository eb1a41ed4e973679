// `npm run bench -- cluster`: Bollard as users run it, measured on real kubelet nodes.
//   - the image: size and layers (from lab/image's cache);
//   - `helm install` lab up: time to a lab with every Bollard pod Ready and the demo VIPs assigned
//     (warm: images and binaries cached; cold is recorded by hand in docs/benchmarks.md);
//   - a speaker rolling upgrade (`helm upgrade` to a new image tag rolls the DaemonSet and the
//     Deployment): failed client requests and the longest gap, layer 2 from the client and BGP (ECMP
//     through the router) from behind it, a new connection every 10 ms;
//   - the speaker's and controller's pod memory, read from their pod cgroups on the nodes.
// Flags: --rounds=N upgrade rounds (default 2).
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

export async function run(args: string[]): Promise<void> {
  const rounds = flag(args, 'rounds', 2);
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
    console.log('pod memory after the upgrades:');
    await memoryTable(lab);
  } finally {
    await lab.stop();
  }
}
