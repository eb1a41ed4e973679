// Bollard beside MetalLB on the same machine in the same run (issue 17): MetalLB's controller and
// speaker are built from the Go module proxy at the version pinned in lab/build/metallb
// (lab/metallb.ts), and both are measured on identical fresh control planes or labs, alternating A/B/A/B.
//   npm run bench -- versus [--quick] [--rounds=2] [--parts=controller,speaker,bgp,failover]
//     [--sizes=1000,10000] [--speaker-sizes=1000,10000] [--bgp-sizes=…] [--nodes=2]
//     [--failover-trials=10] [--bgp-controller=Bollard|own]
// Parts: controller (here), speaker (layer 2, here), bgp (bench/versus/bgp.ts), failover (layer 2,
// bench/versus/failover.ts); what they share is in bench/versus/lab.ts.
// Controller, per system and round: N Services created -> all assigned (Services/s, controller CPU
// seconds from /proc/<pid>/stat, peak RSS = VmHWM), the apiserver's requests per Service by verb and
// resource (from `apiserver_request_total`, minus the requests this bench made itself), and, at the
// first size, the writes per Service for a create, an update that changes nothing either controller
// reads (a new label), and a delete. One table of medians and ratios at the end.
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane } from '../lab/controlplane.js';
import { ManagedProcess, waitFor } from '../lab/process.js';
import { ensureMetalLB, type MetalLBBinaries } from '../lab/metallb.js';
import { Lab } from '../lab/lab.js';
import { chartNodeOptions } from '../lab/components.js';
import {
  NS,
  POOL,
  root,
  flag,
  type Counts,
  diff,
  sumWrites,
  isBackground,
  fmtCounts,
  Client,
  applyFile,
  freePort,
  cpuSeconds,
  peakRssMiB,
  settle,
  rssMiB,
  mean,
  startSystemInLab,
  speakersReady,
  median,
  type Row,
  printTable,
  type SystemName,
  createServiceWithEndpoint,
} from './versus/lab.js';
import { bgpRound, bgpRows, type BgpRun } from './versus/bgp.js';
import { failoverRound, failoverRows, type FailoverRun } from './versus/failover.js';

interface System {
  name: SystemName;
  version: string;
  /** CRDs, namespace, RBAC; returns the controller, started. */
  start(c: Client): Promise<ManagedProcess>;
}

function bollard(): System {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return {
    name: 'Bollard',
    version: pkg.version,
    async start(c) {
      const entry = join(root, 'dist', 'controller', 'cli-entry.js');
      if (!existsSync(entry)) throw new Error(`${entry} missing; run npx tsc -p .`);
      for (const f of readdirSync(join(root, 'deploy', 'crds')).filter((x) => x.startsWith('metallb.io_')))
        await applyFile(c, join(root, 'deploy', 'crds', f));
      await c.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
      await applyFile(c, join(root, 'deploy', 'rbac', 'controller.yaml'));
      const kubeconfig = await c.cp.kubeconfigFor(NS, 'controller');
      return ManagedProcess.start(
        process.execPath,
        [
          entry,
          '--kubeconfig',
          kubeconfig,
          '--namespace',
          NS,
          '--metrics-bind',
          '127.0.0.1:0',
          '--log-level',
          'warn',
        ],
        { name: 'bollard-controller', logFile: join(c.cp.dir, 'logs', 'bollard-controller.log') },
      );
    },
  };
}

function metallb(bins: MetalLBBinaries): System {
  return {
    name: 'MetalLB',
    version: bins.version,
    async start(c) {
      for (const f of bins.crds) await applyFile(c, f);
      await c.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
      // MetalLB runs with the admin kubeconfig (its RBAC is kustomize templates in its module);
      // webhooks off, as there is no Service in front of it here.
      return ManagedProcess.start(
        bins.controller,
        [
          `--namespace=${NS}`,
          '--webhook-mode=disabled',
          '--disable-cert-rotation',
          `--port=${await freePort()}`,
          '--log-level=warn',
        ],
        {
          name: 'metallb-controller',
          logFile: join(c.cp.dir, 'logs', 'metallb-controller.log'),
          env: { ...process.env, KUBECONFIG: c.cp.adminKubeconfig },
        },
      );
    },
  };
}

function service(i: number): unknown {
  return {
    metadata: { name: `s${i}` },
    spec: {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      ports: [{ port: 80, protocol: 'TCP' }],
      selector: { app: `s${i}` },
    },
  };
}

interface ControllerRun {
  n: number;
  servicesPerS: number;
  cpuS: number;
  peakRssMiB: number;
  /** RSS once ready (the canary Service assigned), before the first create of the round. */
  idleRssMiB: number;
  requestsPerService: Counts;
  writes?: { create: Counts; update: Counts; delete: Counts };
}

async function controllerRound(
  sys: System,
  sizes: number[],
  say: (l: string) => void,
): Promise<ControllerRun[]> {
  const cp = await startControlPlane();
  const c = new Client(cp);
  let ctl: ManagedProcess | undefined;
  const out: ControllerRun[] = [];
  try {
    ctl = await sys.start(c);
    const proc = ctl;
    await proc.whileRunning(
      waitFor(
        'IPAddressPool accepted',
        async () => {
          const r = await cp.request('POST', `/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`, {
            apiVersion: 'metallb.io/v1beta1',
            kind: 'IPAddressPool',
            metadata: { name: 'bench' },
            spec: { addresses: [POOL] },
          });
          return r.status === 201 || r.status === 409 ? true : undefined;
        },
        60_000,
      ),
    );
    // Ready = a canary Service got its IP (both controllers have read the pool).
    await cp.ensure('/api/v1/namespaces', { metadata: { name: 'canary' } });
    await cp.ensure('/api/v1/namespaces/canary/services', service(0));
    await proc.whileRunning(
      waitFor(
        'canary IP',
        async () => ((await c.countServices('canary')).withIP === 1 ? true : undefined),
        120_000,
        200,
      ),
    );
    const pid = proc.pid as number;
    await settle(c, say);
    const idleRss = rssMiB(pid);
    say(`# ${sys.name} controller idle (canary assigned): RSS ${idleRss.toFixed(1)} MiB`);
    for (const [idx, n] of sizes.entries()) {
      const ns = `bench-${n}`;
      await cp.ensure('/api/v1/namespaces', { metadata: { name: ns } });
      const m0 = await settle(c, say);
      c.own.clear();
      const cpu0 = cpuSeconds(pid);
      const t0 = Date.now();
      await c.each(n, (i) =>
        c.send('POST', `/api/v1/namespaces/${ns}/services`, service(i), 'POST', 'services', [201, 409]),
      );
      await proc.whileRunning(
        waitFor(
          `${n} Services with IPs`,
          async () => ((await c.countServices(ns)).withIP === n ? true : undefined),
          60 * 60_000,
          250,
        ),
      );
      const s = (Date.now() - t0) / 1000;
      const m1 = await settle(c, say);
      const run: ControllerRun = {
        n,
        servicesPerS: n / s,
        cpuS: cpuSeconds(pid) - cpu0,
        peakRssMiB: peakRssMiB(pid),
        idleRssMiB: idleRss,
        requestsPerService: diff(m1, m0, c.own),
      };
      say(
        `# ${sys.name} ${n} Services: all assigned ${s.toFixed(1)} s after the first create = ${run.servicesPerS.toFixed(0)}/s; CPU ${run.cpuS.toFixed(1)} s; peak RSS ${run.peakRssMiB.toFixed(0)} MiB`,
      );
      say(`#   requests per Service: ${fmtCounts(run.requestsPerService, n, false)}`);
      if (idx === 0) {
        const create = run.requestsPerService;
        c.own.clear();
        await c.each(n, (i) =>
          c.send(
            'PATCH',
            `/api/v1/namespaces/${ns}/services/s${i}`,
            { metadata: { labels: { touched: 'yes' } } },
            'PATCH',
            'services',
            [200],
          ),
        );
        const m2 = await settle(c, say);
        const update = diff(m2, m1, c.own);
        c.own.clear();
        await c.each(n, (i) =>
          c.send(
            'DELETE',
            `/api/v1/namespaces/${ns}/services/s${i}`,
            undefined,
            'DELETE',
            'services',
            [200, 202, 404],
          ),
        );
        await proc.whileRunning(
          waitFor(
            'Services gone',
            async () => ((await c.countServices(ns)).total === 0 ? true : undefined),
            30 * 60_000,
            250,
          ),
        );
        const m3 = await settle(c, say);
        const del = diff(m3, m2, c.own);
        run.writes = { create, update, delete: del };
        for (const [what, counts] of Object.entries(run.writes))
          say(`#   ${sys.name} writes per Service, ${what}: ${fmtCounts(counts, n, true)}`);
      }
      out.push(run);
    }
  } catch (err) {
    // what was measured before the failure still counts
    say(`# ! ${sys.name} controller part stopped: ${(err as Error).message}`);
  } finally {
    await ctl?.stop();
    await cp.stop();
  }
  return out;
}

// ---- speakers: layer 2, in the lab (processes mode: nodes are network namespaces) ----

interface SpeakerRun {
  /** Mean over the nodes' speakers. */
  rssMiB: Record<number, number>;
  /** The part of RSS that is not file pages (the program's binary and libraries, shared page cache). */
  anonMiB: Record<number, number>;
  /** CPU seconds per speaker (mean) from the last size to this one (0: from start to ready). */
  cpuS: Record<number, number>;
  /** API writes per Service by the controller and all speakers together (leases and ClusterIPs aside). */
  writesPerService: Record<number, number>;
}

async function speakerRound(
  sys: SystemName,
  bins: MetalLBBinaries,
  sizes: number[],
  nodeCount: number,
  say: (l: string) => void,
): Promise<SpeakerRun> {
  const lab = await Lab.start({
    nodes: nodeCount,
    router: 'none',
    ipv6: false,
    components: false,
    kubeProxy: false,
  });
  const procs: ManagedProcess[] = [];
  const out: SpeakerRun = { rssMiB: {}, anonMiB: {}, cpuS: {}, writesPerService: {} };
  try {
    const c = new Client(lab.cp);
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
    const { controller, speakers } = await startSystemInLab(lab, sys, bins);
    procs.push(controller, ...speakers);
    const nodes = lab.topology.nodes;
    await speakersReady(lab, sys, speakers);
    await c.send(
      'POST',
      `/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`,
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: 'bench' },
        spec: { addresses: [POOL] },
      },
      'POST',
      'ipaddresspools.metallb.io',
      [201, 409],
    );
    await c.send(
      'POST',
      `/apis/metallb.io/v1beta1/namespaces/${NS}/l2advertisements`,
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'L2Advertisement',
        metadata: { name: 'bench' },
        spec: { ipAddressPools: ['bench'] },
      },
      'POST',
      'l2advertisements.metallb.io',
      [201, 409],
    );
    const pids = speakers.map((p) => p.pid as number);
    let cpu = pids.map(() => 0);
    const ns = 'bench';
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: ns } });
    let made = 0;
    for (const n of [0, ...sizes]) {
      const m0 = await settle(c, say);
      c.own.clear();
      // selector-less Services, each with an EndpointSlice naming one ready endpoint on a node
      await c.each(n - made, (j) =>
        createServiceWithEndpoint(c, ns, made + j, nodes[(made + j) % nodes.length] as (typeof nodes)[0]),
      );
      const added = n - made; // the Services this step created (per-Service figures divide by these)
      made = n;
      await controller.whileRunning(
        waitFor(
          `${n} Services with IPs`,
          async () => ((await c.countServices(ns)).withIP === n ? true : undefined),
          60 * 60_000,
          500,
        ),
      );
      // taken in: every Service has its ServiceL2Status (both speakers write one per announced Service)
      const l2 = await controller.whileRunning(
        waitFor(
          `${n} ServiceL2Status objects`,
          async () => {
            const r = await c.send(
              'GET',
              `/apis/metallb.io/v1beta1/namespaces/${NS}/servicel2statuses`,
              undefined,
              'LIST',
              'servicel2statuses.metallb.io',
              [200],
            );
            const items = (JSON.parse(r.body) as { items: unknown[] }).items.length;
            return items >= n ? items : undefined;
          },
          20 * 60_000,
          500,
        ),
      );
      const m1 = await settle(c, say, 3000);
      if (n > 0) {
        const d = diff(m1, m0, c.own);
        out.writesPerService[n] = sumWrites(d, isBackground) / added;
        say(`#   ${sys} controller + speakers, writes per Service added: ${fmtCounts(d, added, true)}`);
      }
      const now = pids.map(cpuSeconds);
      out.rssMiB[n] = mean(pids.map((p) => rssMiB(p)));
      out.anonMiB[n] = mean(pids.map((p) => rssMiB(p, 'RssAnon')));
      out.cpuS[n] = mean(now.map((x, k) => x - (cpu[k] as number)));
      cpu = now;
      say(
        `# ${sys} speakers (layer 2, ${nodes.length} nodes), ${n} Services: RSS ${pids.map((p) => rssMiB(p).toFixed(0)).join(', ')} MiB (anonymous ${pids.map((p) => rssMiB(p, 'RssAnon').toFixed(0)).join(', ')}); CPU ${out.cpuS[n].toFixed(1)} s each (mean) since the previous step; ${l2} ServiceL2Status`,
      );
    }
  } catch (err) {
    // what was measured before the failure still counts
    say(`# ! ${sys} speaker part stopped: ${(err as Error).message}`);
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await lab.stop();
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const sizes = flag(args, 'sizes', quick ? '1000' : '1000,10000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const rounds = Number(flag(args, 'rounds', '2'));
  const speakerSizes = flag(args, 'speaker-sizes', quick ? '1000' : '1000,10000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const nodeCount = Number(flag(args, 'nodes', '2'));
  const parts = flag(args, 'parts', 'controller,speaker,bgp,failover').split(',');
  const bgpSizes = flag(args, 'bgp-sizes', speakerSizes.join(','))
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const bgpController = flag(args, 'bgp-controller', 'Bollard');
  if (bgpController !== 'Bollard' && bgpController !== 'own')
    throw new Error(`--bgp-controller=${bgpController}: Bollard or own`);
  const failoverTrials = Number(flag(args, 'failover-trials', quick ? '5' : '10'));
  const say = (l: string): void => console.log(l);
  const bins = ensureMetalLB();
  const systems = [bollard(), metallb(bins)];
  say(
    `# Bollard ${systems[0]?.version} vs MetalLB ${bins.version} (native mode, built from the Go module proxy)`,
  );
  say(
    `# Bollard's speakers with the chart's NODE_OPTIONS=${JSON.stringify(chartNodeOptions('speaker'))}, its controller with ${JSON.stringify(chartNodeOptions('controller'))}`,
  );
  say(
    `# parts ${parts.join(', ')}; controller sizes ${sizes.join(', ')}; speaker sizes ${speakerSizes.join(', ')}; BGP sizes ${bgpSizes.join(', ')} (IPs from ${bgpController === 'own' ? "each system's own" : "Bollard's"} controller); ${failoverTrials} failover trials per kind; ${rounds} rounds, alternating ${systems.map((s) => s.name).join('/')}`,
  );
  const results = new Map<string, ControllerRun[][]>(systems.map((s) => [s.name, []]));
  const speakerResults = new Map<string, SpeakerRun[]>(systems.map((s) => [s.name, []]));
  const bgpResults = new Map<string, BgpRun[]>(systems.map((s) => [s.name, []]));
  const failoverResults = new Map<string, FailoverRun[]>(systems.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++)
    for (const sys of systems) {
      say(`# round ${r + 1}: ${sys.name}`);
      // a part that fails is reported and left out; the table shows what was measured
      if (parts.includes('controller'))
        await controllerRound(sys, sizes, say).then(
          (r) => results.get(sys.name)?.push(r),
          (err: Error) => say(`# ! ${sys.name} controller part failed: ${err.message}`),
        );
      if (parts.includes('speaker'))
        await speakerRound(sys.name, bins, speakerSizes, nodeCount, say).then(
          (r) => speakerResults.get(sys.name)?.push(r),
          (err: Error) => say(`# ! ${sys.name} speaker part failed: ${err.message}`),
        );
      if (parts.includes('bgp'))
        await bgpRound(sys.name, bins, bgpSizes, nodeCount, bgpController, say).then(
          (r) => bgpResults.get(sys.name)?.push(r),
          (err: Error) => say(`# ! ${sys.name} BGP part failed: ${err.message}`),
        );
      if (parts.includes('failover'))
        await failoverRound(sys.name, bins, failoverTrials, say).then(
          (r) => failoverResults.get(sys.name)?.push(r),
          (err: Error) => say(`# ! ${sys.name} failover part failed: ${err.message}`),
        );
    }
  const pick = (name: string, n: number, f: (x: ControllerRun) => number | undefined): number =>
    median(
      (results.get(name) ?? [])
        .map((rs) => rs.find((x) => x.n === n))
        .map((x) => (x ? f(x) : undefined))
        .filter((x): x is number => x !== undefined),
    );
  const rows: Row[] = [];
  const both = (
    what: string,
    unit: string,
    higher: boolean,
    f: (x: ControllerRun) => number | undefined,
    n: number,
  ): void => {
    rows.push({
      what,
      unit,
      bollard: pick('Bollard', n, f),
      metallb: pick('MetalLB', n, f),
      higherIsBetter: higher,
    });
  };
  if (parts.includes('controller') && sizes.length > 0)
    both(
      'controller idle (ready, canary assigned): RSS',
      'MiB',
      false,
      (x) => x.idleRssMiB,
      sizes[0] as number,
    );
  for (const n of parts.includes('controller') ? sizes : []) {
    const label = `controller, ${n.toLocaleString('en')} Services → all assigned`;
    both(`${label}: rate`, 'Services/s', true, (x) => x.servicesPerS, n);
    both(`${label}: CPU`, 's', false, (x) => x.cpuS, n);
    both(`${label}: peak RSS`, 'MiB', false, (x) => x.peakRssMiB, n);
    both(
      `${label}: API requests per Service`,
      'all verbs, leases and ClusterIP bookkeeping aside',
      false,
      (x) => {
        let t = 0;
        for (const [k, v] of x.requestsPerService) if (!isBackground(k)) t += v;
        return t / n;
      },
      n,
    );
    both(
      `${label}: API writes per Service`,
      'leases and ClusterIP bookkeeping aside',
      false,
      (x) => sumWrites(x.requestsPerService, isBackground) / n,
      n,
    );
  }
  for (const n of [0, ...speakerSizes]) {
    const sp = (name: string, f: (x: SpeakerRun) => number | undefined): number =>
      median((speakerResults.get(name) ?? []).map(f).filter((x): x is number => x !== undefined));
    if ((speakerResults.get('Bollard') ?? []).length === 0) break;
    const label = `speaker, layer 2, ${n.toLocaleString('en')} Services`;
    rows.push({
      what: `${label}: RSS per speaker`,
      unit: 'MiB',
      bollard: sp('Bollard', (x) => x.rssMiB[n]),
      metallb: sp('MetalLB', (x) => x.rssMiB[n]),
      higherIsBetter: false,
    });
    rows.push({
      what: `${label}: RSS per speaker, anonymous only`,
      unit: 'MiB, without the file pages of the program and its libraries',
      bollard: sp('Bollard', (x) => x.anonMiB[n]),
      metallb: sp('MetalLB', (x) => x.anonMiB[n]),
      higherIsBetter: false,
    });
    rows.push({
      what: `${label}: CPU per speaker ${n === 0 ? 'from start to idle' : 'to take them in'}`,
      unit: 's',
      bollard: sp('Bollard', (x) => x.cpuS[n]),
      metallb: sp('MetalLB', (x) => x.cpuS[n]),
      higherIsBetter: false,
    });
    if (n > 0)
      rows.push({
        what: `${label}: API writes per Service, controller + ${nodeCount} speakers`,
        unit: 'leases and ClusterIP bookkeeping aside',
        bollard: sp('Bollard', (x) => x.writesPerService[n]),
        metallb: sp('MetalLB', (x) => x.writesPerService[n]),
        higherIsBetter: false,
      });
  }
  const n0 = sizes[0] as number;
  for (const what of parts.includes('controller') ? (['create', 'update', 'delete'] as const) : []) {
    both(
      `writes per Service, ${what === 'update' ? 'no-op update (a new label)' : what}`,
      `${n0.toLocaleString('en')} Services, leases and ClusterIP bookkeeping aside`,
      false,
      (x) => (x.writes ? sumWrites(x.writes[what], isBackground) / n0 : undefined),
      n0,
    );
  }
  if (parts.includes('bgp')) rows.push(...bgpRows(bgpResults, bgpSizes, nodeCount));
  if (parts.includes('failover')) rows.push(...failoverRows(failoverResults));
  printTable(rows, say);
}
