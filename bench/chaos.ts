// Reliability figures: the long version of test/integration/reliability-controller and
// test/e2e/chaos-lab, plus a soak.
//   npm run bench -- chaos [--parts=controller,speakers,soak] [--services=1000] [--outage=60]
//                          [--flood=10] [--soak-services=10000] [--soak-minutes=10] [--soak-rate=50]
//                          [--soak-memory-limit=512] [--scale-services=10000] [--trials=3]
// controller: two controller processes on a real apiserver (audit log on); a burst of --services
//   Services with the leader SIGKILLed, the apiserver restarted, etcd restarted mid-burst; then the
//   apiserver stopped for --outage s. Printed: time to all assigned, takeover, Services that changed
//   IP, IPs held twice, status writes per Service, writes after the outage.
// speakers: the lab (3 nodes, BIRD): the apiserver stopped for --outage s with probes from client
//   (L2) and external (BGP); speaker SIGTERM/SIGKILL of the L2 owner (client's neighbour entry
//   rewritten, 3 trials each); a membership partition healed (bridge capture: the last reply from
//   the second owner after healing); forged membership packets; an ARP+NDP+malformed flood from the
//   client for --flood s (rate, arping answers during it, speaker RSS before/after).
// soak: the lab, --soak-services Services, then --soak-minutes of churn (create/delete/update at
//   --soak-rate/s); RSS and event-loop lag p99 of the controller and 3 speakers sampled every 15 s.
//   They run in memory cgroups of --soak-memory-limit MiB (deploy/base's limit; 0 = no limit).
// scale-failover (not in the default parts): --scale-services Services announced, then --trials
//   SIGKILLs of node-1's speaker; time until the client's entries for 10 of its VIPs move.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, type ControlPlane } from '../lab/controlplane.js';
import { delay, waitFor } from '../lab/process.js';
import { Lab } from '../lab/lab.js';
import { ensureToolchain } from '../lab/toolchain.js';
import { metallbDemoObjects } from '../lab/deploy.js';
import { SPEAKER_METRICS_PORT } from '../lab/lab.js';
import { electOwner } from '../speaker/layer2/election.js';
import { KubeClient } from '../k8s/client.js';
import { repoPath } from '../lab/repo.js';
import {
  StatusRecorder,
  auditWrites,
  burst,
  controllerEntry,
  leaseHolder,
  membershipPartition,
  metricValue,
  scrape,
  spawnController,
  statusWritesPerService,
  writeAuditPolicy,
  waitLeaderIdle,
  type ControllerProc,
} from '../test/support/chaos.js';
import type { FloodArgs, FloodResult } from '../test/support/frame-flood.js';
import { churn, soakPoolObjects, soakProblems } from '../test/support/soak.js';

const NS = 'metallb-system';

function num(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.slice(name.length + 3)) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}
function str(args: string[], name: string, dflt: string): string {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const say = (line: string): void => console.log(line);

// ------------------------------------------------------------------------------------------ controller

async function controllerChaos(n: number, outageS: number): Promise<void> {
  if (!existsSync(controllerEntry())) throw new Error(`${controllerEntry()} missing: npx tsc -p .`);
  const auditDir = mkdtempSync(join(tmpdir(), 'bollard-chaos-audit-'));
  const audit = writeAuditPolicy(auditDir, `system:serviceaccount:${NS}:controller`);
  const cp: ControlPlane = await startControlPlane({ apiserverArgs: audit.args });
  const ctls: ControllerProc[] = [];
  const admin = KubeClient.fromFile(cp.adminKubeconfig);
  const recorder = new StatusRecorder(cp.adminKubeconfig);
  try {
    const crds =
      (await import('../test/integration/controller-helpers.js')) as typeof import('../test/integration/controller-helpers.js');
    await crds.installCRDs(cp);
    await crds.create(cp, crds.namespaceObj(NS));
    await crds.applyManifest(cp, repoPath('deploy', 'rbac', 'controller.yaml'));
    const kubeconfig = await cp.kubeconfigFor(NS, 'controller');
    await crds.create(cp, crds.pool(NS, 'chaos', { addresses: ['10.80.0.0/16'] }));
    await recorder.start();
    const holder = (): Promise<string> => leaseHolder(cp, NS);
    ctls.push(await spawnController('a', kubeconfig, cp.logDir));
    await waitFor('a leads', async () => ((await holder()) === 'a' ? true : undefined), 60_000, 200);
    ctls.push(await spawnController('b', kubeconfig, cp.logDir));
    say(
      `two controller processes (lease 4 s, renew 3 s, retry 0.5 s); bursts of ${n} Services, 10 creations in flight`,
    );

    const allAssigned = async (ns: string, names: string[]): Promise<void> => {
      await waitFor(
        `all of ${ns} assigned`,
        () => (names.every((x) => recorder.ips(`${ns}/${x}`).length === 1) ? true : undefined),
        600_000,
        100,
      );
    };
    const report = (ns: string, names: string[], t0: number, extra: string): void => {
      const writes = statusWritesPerService(auditWrites(audit.log));
      const per = names.map((x) => writes.get(`${ns}/${x}`) ?? 0);
      const all = recorder.keys().flatMap((k) => recorder.ips(k));
      say(
        `- ${extra}: all ${n} assigned ${((Date.now() - t0) / 1000).toFixed(1)} s after the burst began; ` +
          `Services that changed IP: ${recorder.violations(`${ns}/`).length}; IPs held twice: ${all.length - new Set(all).size}; ` +
          `status writes per Service: min ${Math.min(...per)}, max ${Math.max(...per)}`,
      );
    };
    // 1. SIGKILL the leader a third into the burst
    {
      const ns = 'c1';
      await crds.create(cp, crds.namespaceObj(ns));
      let killedAt = 0;
      let killed = '';
      const t0 = Date.now();
      const names = await burst(admin, {
        namespace: ns,
        count: n,
        onCreated: async (done) => {
          if (done !== Math.floor(n / 3) || killed) return;
          killed = await holder();
          const c = ctls.find((x) => x.id === killed);
          await c?.proc.kill();
          killedAt = Date.now();
        },
      });
      const survivor = ctls.find((c) => c.id !== killed) as ControllerProc;
      await waitFor(
        'takeover',
        async () => ((await holder()) === survivor.id ? true : undefined),
        60_000,
        50,
      );
      const takeover = Date.now() - killedAt;
      await allAssigned(ns, names);
      report(ns, names, t0, `leader SIGKILLed at ${Math.floor(n / 3)} created (takeover ${takeover} ms)`);
      ctls.splice(
        ctls.findIndex((c) => c.id === killed),
        1,
      );
      ctls.push(await spawnController(`${killed}2`, kubeconfig, cp.logDir));
    }
    // 2., 3. apiserver and etcd restarts
    for (const [ns, what] of [
      ['c2', 'apiserver'],
      ['c3', 'etcd'],
    ] as const) {
      await crds.create(cp, crds.namespaceObj(ns));
      let downFor = 0;
      const t0 = Date.now();
      const names = await burst(admin, {
        namespace: ns,
        count: n,
        onHung: (name, ms) =>
          say(`  ! creating ${ns}/${name}: no answer after ${ms} ms (abandoned, retried)`),
        onProgress: (l) => process.stderr.write(`  [${ns}] ${l}\n`),
        onCreated: async (done) => {
          if (done !== Math.floor(n / 3)) return;
          const s = Date.now();
          if (what === 'apiserver') await cp.restartApiserver();
          else await cp.restartEtcd();
          downFor = Date.now() - s;
        },
      });
      await allAssigned(ns, names);
      report(
        ns,
        names,
        t0,
        `${what} restarted at ${Math.floor(n / 3)} created (${(downFor / 1000).toFixed(1)} s to come back)`,
      );
    }
    // 4. apiserver stopped for outageS
    {
      await cp.stopApiserver();
      await delay(outageS * 1000);
      await cp.startApiserver();
      const back = Date.now();
      await crds.create(cp, crds.namespaceObj('c4'));
      const fresh = await burst(admin, { namespace: 'c4', count: 1 });
      await allAssigned('c4', fresh);
      const firstIP = Date.now() - back;
      await waitLeaderIdle(cp, NS, ctls, 120_000);
      await delay(5000);
      const after = auditWrites(audit.log, back - 1000).filter((w) => !w.key.startsWith('c4/'));
      say(
        `- apiserver stopped ${outageS} s with ${3 * n} Services assigned: a new Service had its IP ${firstIP} ms after the apiserver was ready; ` +
          `writes to other Services after it returned: ${after.length}; Services that changed IP over the whole run: ${recorder.violations().length}`,
      );
    }
  } finally {
    await recorder.stop().catch(() => undefined);
    for (const c of ctls) await c.proc.kill();
    admin.close();
    await cp.stop();
    rmSync(auditDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------ lab helpers

function supportEntry(name: string): string[] {
  const self = fileURLToPath(import.meta.url);
  const fromSource = self.endsWith('.ts');
  const entry = fileURLToPath(
    new URL(`../test/support/${name}.${fromSource ? 'ts' : 'js'}`, import.meta.url),
  );
  return [...(fromSource ? ['--import', 'tsx'] : []), entry];
}

async function startBenchLab(opts: { kubeProxy?: boolean; memoryLimitMiB?: number } = {}): Promise<Lab> {
  ensureToolchain(() => undefined);
  const lab = await Lab.start({ nodes: 3, router: 'bird', demo: false, ...opts });
  await lab.apply(...metallbDemoObjects(lab.topology));
  return lab;
}

function labHelpers(lab: Lab) {
  const nodes = lab.topology.nodes.map((n) => n.name);
  const mac = (node: string): string =>
    (lab.topology.nodes.find((n) => n.name === node)?.mac ?? '').toLowerCase();
  const nodeOfMac = (m: string | undefined): string | undefined =>
    lab.topology.nodes.find((n) => n.mac.toLowerCase() === m)?.name;
  const nodeIp = (node: string): string => lab.topology.nodes.find((n) => n.name === node)?.ipv4.ip ?? '';
  const curl = async (host: string, ip: string, t = 3): Promise<boolean> => {
    const url = ip.includes(':') ? `http://[${ip}]/` : `http://${ip}/`;
    const r = await lab.exec(host, 'curl', [
      '-s',
      '-g',
      '-m',
      String(t),
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      url,
    ]);
    return r.stdout.trim() === '200';
  };
  const arpingMacs = async (ip: string, count = 1): Promise<string[]> => {
    const r = await lab.exec(
      'client',
      'arping',
      ['-c', String(count), '-w', String(count + 1), '-I', 'eth0', ip],
      (count + 5) * 1000,
    );
    return [
      ...new Set(
        [...r.stdout.matchAll(/bytes from ([0-9A-Fa-f:]{17}) \(|\[([0-9A-Fa-f:]{17})\]/g)].map((m) =>
          (m[1] ?? m[2] ?? '').toLowerCase(),
        ),
      ),
    ].sort();
  };
  const neighMac = async (ip: string): Promise<string | undefined> => {
    const r = await lab.exec('client', 'ip', ['neigh', 'show', ip]);
    return /lladdr ([0-9a-f:]{17})/.exec(r.stdout)?.[1];
  };
  const vipsOf = async (ref: string): Promise<string[]> =>
    waitFor(
      `${ref} VIPs`,
      async () => {
        const s = await lab.service(ref);
        const ips = (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
        return ips.length > 0 ? ips : undefined;
      },
      120_000,
      200,
    );
  const pidOf = (host: string, name: string): number =>
    lab.procs.list().find((x) => x.host === host && x.name === name)?.pid ?? 0;
  const rssMiB = (pid: number): number => {
    try {
      return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      return NaN;
    }
  };
  const speakerMetrics = async (node: string): Promise<string> =>
    (
      await lab.exec(node, 'curl', [
        '-sf',
        '-m',
        '3',
        `http://${nodeIp(node)}:${SPEAKER_METRICS_PORT}/metrics`,
      ])
    ).stdout;
  const controllerMetricsUrl = (): string => {
    const pid = pidOf('machine', 'controller');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return `http://127.0.0.1:${/(\d+)$/.exec(cmd[cmd.indexOf('--metrics-bind') + 1] ?? '')?.[1] ?? '0'}/metrics`;
  };
  return {
    nodes,
    mac,
    nodeOfMac,
    nodeIp,
    curl,
    arpingMacs,
    neighMac,
    vipsOf,
    pidOf,
    rssMiB,
    speakerMetrics,
    controllerMetricsUrl,
  };
}

// ------------------------------------------------------------------------------------------ speakers

async function speakerChaos(outageS: number, floodS: number): Promise<void> {
  const lab = await startBenchLab();
  const h = labHelpers(lab);
  try {
    await lab.addService({ namespace: 'chaos', name: 'web' });
    await lab.addService({
      namespace: 'chaos',
      name: 'web-bgp',
      annotations: { 'metallb.io/address-pool': lab.topology.bgpPool.name },
    });
    for (const n of h.nodes) {
      await lab.addPod('chaos/web', n);
      await lab.addPod('chaos/web-bgp', n);
    }
    const [l2vip = '', l2vip6 = ''] = await h.vipsOf('chaos/web');
    const [bgpvip = ''] = await h.vipsOf('chaos/web-bgp');
    const owner = electOwner(h.nodes, l2vip) as string;
    await waitFor(
      'owner answers',
      async () => ((await h.arpingMacs(l2vip)).join() === h.mac(owner) ? true : undefined),
      60_000,
      200,
    );
    await waitFor(
      'BGP VIP serves',
      async () => ((await h.curl('external', bgpvip)) ? true : undefined),
      60_000,
      200,
    );
    say(`lab: 3 nodes, BIRD; L2 VIPs ${l2vip}, ${l2vip6} (owner ${owner}); BGP VIP ${bgpvip}`);

    // apiserver outage with probes
    {
      const results: { what: string; ok: boolean }[] = [];
      let probing = true;
      const probe = async (host: string, ip: string): Promise<void> => {
        while (probing) {
          results.push({ what: `${host}->${ip}`, ok: await h.curl(host, ip, 3) });
          await delay(200);
        }
      };
      const loops = [probe('client', l2vip), probe('client', l2vip6), probe('external', bgpvip)];
      await lab.stopProcess('machine', 'kube-apiserver');
      await delay(outageS * 1000);
      await lab.startProcess('machine', 'kube-apiserver');
      await delay(3000);
      probing = false;
      await Promise.all(loops);
      const by = (w: string) => results.filter((r) => r.what === w);
      say(
        `- apiserver stopped ${outageS} s: ` +
          [`client->${l2vip}`, `client->${l2vip6}`, `external->${bgpvip}`]
            .map((w) => `${w} ${by(w).filter((r) => r.ok).length}/${by(w).length} probes answered`)
            .join('; '),
      );
    }

    // SIGTERM / SIGKILL failover, seen in the client's neighbour table (the client sends nothing)
    {
      const next = electOwner(
        h.nodes.filter((n) => n !== owner),
        l2vip,
      ) as string;
      for (const how of ['SIGTERM', 'SIGKILL'] as const) {
        const moved: number[] = [];
        const back: number[] = [];
        for (let t = 0; t < 3; t++) {
          await h.curl('client', l2vip);
          const t0 = Date.now();
          if (how === 'SIGTERM') await lab.stopProcess(owner, 'speaker');
          else await lab.kill(owner, 'speaker');
          await waitFor(
            'moved',
            async () => (h.nodeOfMac(await h.neighMac(l2vip)) === next ? true : undefined),
            30_000,
            20,
          );
          moved.push(Date.now() - t0);
          const t1 = Date.now();
          await lab.startProcess(owner, 'speaker');
          await waitFor(
            'back',
            async () => (h.nodeOfMac(await h.neighMac(l2vip)) === owner ? true : undefined),
            60_000,
            20,
          );
          back.push(Date.now() - t1);
          await delay(2000);
        }
        say(
          `- speaker ${how} of the owner: client entry moved to the next node in ${moved.join(', ')} ms; ` +
            `back to the owner ${back.join(', ')} ms after the restart began (process start included)`,
        );
      }
    }

    // partition and heal
    {
      const others = h.nodes.filter((n) => n !== owner);
      const peerIps = others.map((o) => h.nodeIp(o));
      const next = electOwner(others, l2vip) as string;
      const splitMs: number[] = [];
      const healMs: number[] = [];
      for (let t = 0; t < 3; t++) {
        const t0 = Date.now();
        await membershipPartition(lab.host(owner), peerIps, 'cut');
        await waitFor(
          'split',
          async () =>
            (await h.arpingMacs(l2vip, 2)).join() === [h.mac(owner), h.mac(next)].sort().join()
              ? true
              : undefined,
          60_000,
          50,
        );
        splitMs.push(Date.now() - t0);
        // continuous ARP requests for the VIP from the client while the bridge is captured
        const cap = await lab.net.lan.capture(join(lab.topology.logDir, `bench-heal-${t}.pcap`), ['arp']);
        const flood: FloodArgs = {
          ifname: 'eth0',
          seconds: 6,
          kinds: ['arp'],
          arpTargets: [l2vip],
          rate: 800,
        };
        const run = lab.exec(
          'client',
          process.execPath,
          [...supportEntry('frame-flood'), JSON.stringify(flood)],
          60_000,
        );
        await delay(1500);
        const healed = Date.now();
        await membershipPartition(lab.host(owner), peerIps, 'heal');
        await run;
        await cap.stop();
        const text = (await lab.exec('client', 'tcpdump', ['-tt', '-r', cap.file, '-nn', '-e', 'arp']))
          .stdout;
        const wrong = [
          ...text.matchAll(/^(\d+\.\d+) ([0-9a-f:]{17}) > .*Reply (\S+) is-at ([0-9a-f:]{17})/gm),
        ]
          .filter((m) => m[3] === l2vip && m[4] === h.mac(next))
          .map((m) => Number(m[1]) * 1000);
        const last = wrong.filter((x) => x >= healed).pop();
        healMs.push(last === undefined ? 0 : Math.round(last - healed));
        await delay(3000);
      }
      say(
        `- membership partition of the owner: two owners after ${splitMs.join(', ')} ms; after healing, the last ARP reply from the second owner came ${healMs.join(', ')} ms later (bridge capture, requests every ~10 ms)`,
      );
    }

    // forged membership packets
    {
      const target = h.nodes.find((n) => n !== owner) as string;
      const before =
        metricValue(await h.speakerMetrics(target), 'bollard_membership_bad_key_packets_dropped_total') ?? 0;
      const N = 10_000;
      const script = [
        "const d=require('node:dgram');const c=require('node:crypto');const s=d.createSocket('udp4');let i=0;",
        `const body=Buffer.from(JSON.stringify({t:'ping',from:'node-1',inc:99,hv:0,seq:1,upd:[]}));`,
        `const send=()=>{if(i>=${N})return s.close();for(let k=0;k<50&&i<${N};k++,i++)s.send(Buffer.concat([Buffer.from('BLM2'),c.randomBytes(32),body]),7946,'${h.nodeIp(target)}');setTimeout(send,5);};send();`,
      ].join('');
      const t0 = Date.now();
      await lab.exec('client', process.execPath, ['-e', script], 120_000);
      await delay(2000);
      const after =
        metricValue(await h.speakerMetrics(target), 'bollard_membership_bad_key_packets_dropped_total') ?? 0;
      const alive = metricValue(await h.speakerMetrics(target), 'bollard_membership_members_alive');
      say(
        `- forged membership packets: ${N} sent in ${Date.now() - t0 - 2000} ms, ${after - before} counted as bad-key drops; members alive afterwards: ${alive}`,
      );
    }

    // ARP/NDP/malformed flood
    {
      const pid = h.pidOf(owner, 'speaker');
      const rss0 = h.rssMiB(pid);
      const args: FloodArgs = {
        ifname: 'eth0',
        seconds: floodS,
        kinds: ['arp', 'ndp', 'malformed'],
        arpTargets: [l2vip],
        ndpTargets: [l2vip6],
      };
      const run = lab.exec(
        'client',
        process.execPath,
        [...supportEntry('frame-flood'), JSON.stringify(args)],
        (floodS + 60) * 1000,
      );
      await delay(500);
      const rtts: number[] = [];
      let asked = 0;
      let wrong = 0;
      const until = Date.now() + (floodS - 1.5) * 1000;
      while (Date.now() < until) {
        asked++;
        const r = await lab.exec('client', 'arping', ['-c', '1', '-w', '2', '-I', 'eth0', l2vip], 5000);
        const m =
          /([0-9A-Fa-f:]{17}).*?time=([\d.]+) (usec|msec)/.exec(r.stdout) ??
          /\[([0-9A-Fa-f:]{17})\]\s+([\d.]+)ms/.exec(r.stdout);
        if (m) {
          const ms = Number(m[2]) / (m[3] === 'usec' ? 1000 : 1);
          rtts.push(ms);
          if ((m[1] ?? '').toLowerCase() !== h.mac(owner)) wrong++;
        }
      }
      const out = await run;
      const res = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as FloodResult;
      const rssPeak = h.rssMiB(pid);
      await delay(5000);
      const rss1 = h.rssMiB(pid);
      const req = metricValue(await h.speakerMetrics(owner), 'metallb_layer2_requests_received');
      say(
        `- flood from the client (ARP + NDP requests + malformed frames, 1 in 8 requests for the VIP): ${res.sent} frames in ${res.seconds.toFixed(1)} s = ${res.perSecond}/s; ` +
          `real arpings answered during it ${rtts.length}/${asked} (p50 ${pct(rtts, 50).toFixed(2)} ms, p99 ${pct(rtts, 99).toFixed(2)} ms, wrong MAC ${wrong}); ` +
          `owner's RSS ${rss0.toFixed(1)} MiB before, ${rssPeak.toFixed(1)} at the end, ${rss1.toFixed(1)} 5 s later; requests counted ${req}; same process: ${h.pidOf(owner, 'speaker') === pid}`,
      );
    }
  } finally {
    await lab.stop();
  }
}

// ------------------------------------------------------------------------------------------ soak

/** The `q` quantile of a Prometheus histogram between two scrapes (upper bucket bound; +Inf = NaN). */
function histogramQuantile(
  before: string,
  after: string,
  name: string,
  labels: Record<string, string>,
  q: number,
): { quantile: number; count: number } {
  const buckets = (text: string): Map<string, number> => {
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = new RegExp(`^${name}_bucket\\{([^}]*)\\}\\s+(\\S+)`).exec(line);
      if (!m) continue;
      const lbl = m[1] ?? '';
      if (!Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) continue;
      const le = /le="([^"]+)"/.exec(lbl)?.[1];
      if (le) out.set(le, Number(m[2]));
    }
    return out;
  };
  const a = buckets(before);
  const b = buckets(after);
  const les = [...b.keys()].sort((x, y) => (x === '+Inf' ? 1 : y === '+Inf' ? -1 : Number(x) - Number(y)));
  const total = (b.get('+Inf') ?? 0) - (a.get('+Inf') ?? 0);
  for (const le of les) {
    if ((b.get(le) ?? 0) - (a.get(le) ?? 0) >= q * total) return { quantile: Number(le), count: total };
  }
  return { quantile: NaN, count: total };
}

/**
 * The soak's lab: no kube-proxy (three of them rewriting iptables for 10,000 Services on these same 2
 * cores would measure the machine, not Bollard; docs/benchmarks.md), the controller and the speakers
 * under the deploy manifests' memory limit (a memory cgroup each; 0 = none), a layer 2 pool large
 * enough, one backend pod per node (every Service has 3 ready endpoints, so every VIP is announced, one
 * speaker and one ServiceL2Status each, as in a cluster where the Services serve something), and
 * `total` Services in namespace `soak`, created 32 at a time.
 */
async function startSoakLab(total: number, memoryLimitMiB: number) {
  const lab = await startBenchLab({ kubeProxy: false, ...(memoryLimitMiB > 0 ? { memoryLimitMiB } : {}) });
  const h = labHelpers(lab);
  const admin = KubeClient.fromFile(lab.topology.kubeconfig);
  const selector = { app: 'soak' };
  const speakerTexts = async (): Promise<Map<string, string>> =>
    new Map(
      await Promise.all(h.nodes.map(async (n) => [n, await h.speakerMetrics(n).catch(() => '')] as const)),
    );
  const t0 = Date.now();
  try {
    await lab.apply(...soakPoolObjects(NS, '10.100.0.0/16'));
    await lab.pods.ensureNamespace('soak');
    for (const n of h.nodes) await lab.pods.add({ namespace: 'soak', node: n, labels: selector });
    await burst(admin, { namespace: 'soak', count: total, prefix: 'k', concurrency: 32, selector });
  } catch (err) {
    admin.close();
    await lab.stop();
    throw err;
  }
  return { lab, h, admin, selector, speakerTexts, t0, createdMs: Date.now() - t0 };
}

async function soak(total: number, minutes: number, rate: number, memoryLimitMiB: number): Promise<void> {
  const {
    lab,
    h,
    admin,
    selector,
    speakerTexts,
    t0,
    createdMs: created,
  } = await startSoakLab(total, memoryLimitMiB);
  try {
    interface SvcList {
      items: {
        metadata: { name: string };
        status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
      }[];
    }
    const listSoak = (): Promise<SvcList> => admin.get<SvcList>('/api/v1/namespaces/soak/services');
    await waitFor(
      'all soak Services assigned',
      async () =>
        (await listSoak()).items.filter((s) => (s.status?.loadBalancer?.ingress ?? []).length > 0).length >=
        total
          ? true
          : undefined,
      1_800_000,
      2000,
    );
    const assigned = Date.now() - t0;
    const converged = (): Promise<string | undefined> => soakProblems(admin, 'soak', speakerTexts);
    let lastWhy = '';
    /** ms until converged, or undefined (said) if it did not within 10 minutes. */
    const waitConverged = async (what: string): Promise<number | undefined> => {
      const t = Date.now();
      return await waitFor(
        what,
        async () => {
          const why = await converged();
          lastWhy = why ?? '';
          return why === undefined ? Date.now() - t : undefined;
        },
        600_000,
        2000,
      ).catch((err: Error) => {
        say(`soak: ${what}: NOT converged (${lastWhy}): ${err.message}`);
        return undefined;
      });
    };
    const secs = (ms: number | undefined, digits = 0): string =>
      ms === undefined ? 'never (see above)' : `${(ms / 1000).toFixed(digits)} s`;
    const annMs = await waitConverged('every Service announced once');
    say(
      `soak: ${total} Services (3 endpoints each) created in ${(created / 1000).toFixed(0)} s, all assigned after ${(assigned / 1000).toFixed(0)} s, ` +
        `every one announced by exactly one speaker: ${secs(annMs)} later`,
    );

    interface Sample {
      at: number;
      who: string;
      rssMiB: number;
      heapMiB: number;
      lagP99ms: number;
    }
    const samples: Sample[] = [];
    const sample = async (): Promise<void> => {
      const at = Math.round((Date.now() - t1) / 1000);
      const ctl = await scrape(h.controllerMetricsUrl());
      if (ctl)
        samples.push({
          at,
          who: 'controller',
          rssMiB: (metricValue(ctl, 'process_resident_memory_bytes') ?? NaN) / 2 ** 20,
          heapMiB: (metricValue(ctl, 'nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
          lagP99ms: (metricValue(ctl, 'nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
        });
      for (const n of h.nodes) {
        const m = await h.speakerMetrics(n).catch(() => '');
        samples.push({
          at,
          who: n,
          rssMiB:
            (metricValue(m, 'process_resident_memory_bytes') ?? h.rssMiB(h.pidOf(n, 'speaker')) * 2 ** 20) /
            2 ** 20,
          heapMiB: (metricValue(m, 'nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
          lagP99ms: (metricValue(m, 'nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
        });
      }
    };
    const passBefore = new Map<string, string>();
    for (const n of h.nodes) passBefore.set(n, await h.speakerMetrics(n).catch(() => ''));
    const t1 = Date.now();
    await sample();
    const result = await churn(admin, {
      namespace: 'soak',
      existing: Array.from({ length: total }, (_, i) => `k${i}`),
      floor: total / 2,
      selector,
      ratePerSecond: rate,
      seconds: minutes * 60,
      tick: {
        everyMs: 15_000,
        run: () => {
          sample().catch((err: unknown) => say(`soak: a sample failed: ${String(err)}`));
        },
      },
    });
    const { ops, errors, skipped, seconds: churnSeconds, latencies: opLatency } = result;
    if (skipped > 0) say(`soak: ${skipped} operations skipped (500 already in flight)`);
    await sample();
    const passAfter = new Map<string, string>();
    for (const n of h.nodes) passAfter.set(n, await h.speakerMetrics(n).catch(() => ''));
    const ok = ops - errors;
    say(
      `soak: ${minutes} min of churn, ${ops} operations at ${(ops / churnSeconds).toFixed(1)}/s ` +
        `(${ok} succeeded = ${(ok / churnSeconds).toFixed(1)}/s, ${errors} failed); API latency p50 ${pct(opLatency, 50).toFixed(0)} ms, p99 ${pct(opLatency, 99).toFixed(0)} ms; ` +
        `${(await listSoak()).items.length} Services at the end`,
    );
    const settleMs = await waitConverged('every Service announced once after the churn');
    say(
      `soak: after the churn, every Service had one VIP of its own and exactly one announcer: ${secs(settleMs, 1)} after the last operation`,
    );
    for (const who of ['controller', ...h.nodes]) {
      const s = samples.filter((x) => x.who === who);
      const first = s[0];
      const mid = s[Math.floor(s.length / 2)];
      const last = s[s.length - 1];
      const lags = s.map((x) => x.lagP99ms).filter((x) => Number.isFinite(x));
      let passes = '';
      if (who !== 'controller') {
        const b = passBefore.get(who) ?? '';
        const a = passAfter.get(who) ?? '';
        const name = 'bollard_speaker_reconcile_duration_seconds';
        const ch = histogramQuantile(b, a, name, { scope: 'changed' }, 0.99);
        const all = histogramQuantile(b, a, name, { scope: 'all' }, 0.99);
        const delta = (metric: string): number =>
          (metricValue(a, metric) ?? NaN) - (metricValue(b, metric) ?? NaN);
        passes =
          `; passes during the churn: ${ch.count} for changed Services (p99 ≤ ${(ch.quantile * 1000).toFixed(1)} ms), ${all.count} over all (p99 ≤ ${(all.quantile * 1000).toFixed(0)} ms); ` +
          `members it declared dead during the churn: ${delta('bollard_membership_failures_detected_total')}, suspected: ${delta('bollard_membership_suspicions_total')}`;
      }
      const mem = lab.memoryUsage(
        who === 'controller' ? 'machine' : who,
        who === 'controller' ? 'controller' : 'speaker',
      );
      const cgroup = mem
        ? `; memory cgroup: peak ${(mem.peakBytes / 2 ** 20).toFixed(0)} of ${(mem.limitBytes / 2 ** 20).toFixed(0)} MiB, OOM kills ${mem.oomKills}`
        : '';
      say(
        `- ${who}: RSS ${first?.rssMiB.toFixed(0)} / ${mid?.rssMiB.toFixed(0)} / ${last?.rssMiB.toFixed(0)} MiB, heap used ${first?.heapMiB.toFixed(0)} / ${mid?.heapMiB.toFixed(0)} / ${last?.heapMiB.toFixed(0)} MiB (start / middle / end); ` +
          `event-loop lag p99 over the samples: median ${pct(lags, 50).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms (${s.length} samples)${passes}${cgroup}`,
      );
    }
    admin.close();
  } finally {
    await lab.stop();
  }
}

// ------------------------------------------------------------------------------ failover at scale

/**
 * SIGKILL of a speaker while `total` Services are announced (one backend pod per node, so every VIP is
 * announced): how long until the client's neighbour entries for a sample of the VIPs it owned point
 * at another node. The failover figures above are with a handful of Services.
 */
async function scaleFailover(total: number, trials: number, memoryLimitMiB: number): Promise<void> {
  const { lab, h, admin, speakerTexts } = await startSoakLab(total, memoryLimitMiB);
  try {
    const announced = (): Promise<true> =>
      waitFor(
        'every Service announced once',
        async () => ((await soakProblems(admin, 'soak', speakerTexts)) === undefined ? true : undefined),
        900_000,
        2000,
      );
    await announced();
    // the client asks ARP for the pool's addresses itself (the pool is on its LAN, as a /16)
    await lab.exec('client', 'ip', ['route', 'replace', '10.100.0.0/16', 'dev', 'eth0']);
    const victim = h.nodes[0] as string;
    const victimMac = h.mac(victim);
    const results: { first: number; last: number; vips: number; orphaned: number }[] = [];
    for (let t = 0; t < trials; t++) {
      // the VIPs the victim announces, from its metallb_speaker_announced series
      const mine = [
        ...(await h.speakerMetrics(victim)).matchAll(
          /^metallb_speaker_announced\{[^}]*service="soak\/[^"]+"[^}]*ip="([0-9.]+)"[^}]*\} 1$/gm,
        ),
      ].map((m) => m[1] as string);
      const sample = mine.filter((_, i) => i % Math.max(1, Math.floor(mine.length / 10)) === 0).slice(0, 10);
      await Promise.all(sample.map((ip) => lab.exec('client', 'ping', ['-c1', '-W1', ip], 3000)));
      const neigh = async (): Promise<Map<string, string>> => {
        const out = (await lab.exec('client', 'ip', ['-4', 'neigh', 'show'])).stdout;
        return new Map(
          [...out.matchAll(/^(\S+) .*lladdr (\S+)/gm)].map((m) => [
            m[1] as string,
            (m[2] as string).toLowerCase(),
          ]),
        );
      };
      const before = await neigh();
      if (!sample.every((ip) => before.get(ip) === victimMac))
        say('- scale failover: some sampled entries did not point at the victim before the kill');
      const t0 = Date.now();
      await lab.kill(victim, 'speaker');
      let first = 0;
      await waitFor(
        'every sampled VIP moved',
        async () => {
          const n = await neigh();
          const moved = sample.filter((ip) => (n.get(ip) ?? victimMac) !== victimMac).length;
          if (moved > 0 && first === 0) first = Date.now() - t0;
          return moved === sample.length ? true : undefined;
        },
        60_000,
        20,
      );
      results.push({ first, last: Date.now() - t0, vips: sample.length, orphaned: mine.length });
      await lab.startProcess(victim, 'speaker');
      await announced();
      await delay(5000);
    }
    say(
      `- scale failover, ${total} Services, SIGKILL of ${victim}'s speaker (${results[0]?.orphaned ?? 0} VIPs announced by it): ` +
        results
          .map((r) => `first of ${r.vips} sampled entries moved after ${r.first} ms, all after ${r.last} ms`)
          .join('; '),
    );
    admin.close();
  } finally {
    await lab.stop();
  }
}

export async function run(args: string[]): Promise<void> {
  const parts = str(args, 'parts', 'controller,speakers,soak').split(',');
  const outage = num(args, 'outage', 60);
  if (parts.includes('controller')) {
    say('### controller');
    await controllerChaos(num(args, 'services', 1000), outage);
  }
  if (parts.includes('speakers')) {
    say('### speakers');
    await speakerChaos(outage, num(args, 'flood', 10));
  }
  if (parts.includes('scale-failover')) {
    say('### failover at scale');
    await scaleFailover(
      num(args, 'scale-services', 10_000),
      num(args, 'trials', 3),
      num(args, 'soak-memory-limit', 512),
    );
  }
  if (parts.includes('soak')) {
    say('### soak');
    await soak(
      num(args, 'soak-services', 10_000),
      num(args, 'soak-minutes', 10),
      num(args, 'soak-rate', 50),
      num(args, 'soak-memory-limit', 512),
    );
  }
}
