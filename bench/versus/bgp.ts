// `npm run bench -- versus --parts=bgp`: each system's speakers in BGP mode (MetalLB native, its
// BGPPeer/BGPAdvertisement CRs; Bollard the same CRs) against the lab's BIRD, on identical processes
// labs (2 nodes, router BIRD):
//  - per speaker, RSS and CPU with 0, 1,000 and 10,000 Services (taken in = BIRD holds all N routes from
//    every speaker), and how long after the last Service got its IP BIRD held them all;
//  - node-1's speaker SIGTERM'd with all N announced: time to the GRACEFUL_SHUTDOWN re-announce in BIRD
//    (Bollard drains --drain-time, the chart's 5 s, first; MetalLB has no drain) and to BIRD holding no
//    route from it; then started again (Bollard with --drain-time=0): session Established → all N
//    routes in BIRD; then SIGTERM'd again: the withdraw without a drain.
// Both systems' speakers take their IPs from the same controller (Bollard's, by default): MetalLB's
// controller assigns 17–20 Services/s under its client's rate limit, which would make the 10,000 step
// 10 min per MetalLB round and says nothing about the speakers (`--bgp-controller=own` for its own).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { delay, waitFor, type ManagedProcess } from '../../lab/process.js';
import type { MetalLBBinaries } from '../../lab/metallb.js';
import { Lab } from '../../lab/lab.js';
import { birdConfig, birdProtocolName, routerPeers } from '../../lab/routers.js';
import { DEFAULT_DRAIN_MS } from '../../speaker/bgp/drain.js';
import {
  NS,
  POOL,
  Client,
  createCR,
  createServiceWithEndpoint,
  cpuSeconds,
  diff,
  fmtCounts,
  isBackground,
  mean,
  median,
  rssMiB,
  settle,
  speakersReady,
  startSystemInLab,
  sumWrites,
  type Row,
  type SystemName,
} from './lab.js';

export interface BgpRun {
  /** Per size: mean over the nodes' speakers. */
  rssMiB: Record<number, number>;
  anonMiB: Record<number, number>;
  /** CPU seconds per speaker (mean) from the previous size to this one (0: from start to idle). */
  cpuS: Record<number, number>;
  writesPerService: Record<number, number>;
  /** The last Service got its IP → BIRD holds all N routes from every speaker (ms; 0 if before). */
  intoBirdMs: Record<number, number>;
  /** The largest size, where the SIGTERM/restart figures were taken. */
  n?: number;
  /** SIGTERM → BIRD holds node-1's N routes marked GRACEFUL_SHUTDOWN (Bollard only). */
  gshutMs?: number;
  /** SIGTERM → BIRD holds no route from node-1, with the speaker's default drain (Bollard 5 s). */
  withdrawMs?: number;
  /** The same with Bollard's --drain-time=0 (MetalLB: a second SIGTERM, as it has no drain). */
  withdrawNoDrainMs?: number;
  /** The speaker started again with the N Services there: BIRD session Established → all N routes. */
  establishedToAllMs?: number;
}

async function birdc(lab: Lab, args: string[]): Promise<string> {
  const r = await lab.exec('router', 'birdc', args, 30_000);
  return r.stdout;
}

/** Routes BIRD holds from one protocol (optionally those matching a `where` filter). */
async function birdCount(lab: Lab, proto: string, where?: string): Promise<number> {
  const out = await birdc(lab, [
    'show',
    'route',
    ...(where ? ['where', where] : []),
    'protocol',
    proto,
    'count',
  ]);
  return Number(/(\d+) of \d+ routes/.exec(out)?.[1] ?? /(\d+) routes/.exec(out)?.[1] ?? 0);
}

async function established(lab: Lab, proto: string): Promise<boolean> {
  return (await birdc(lab, ['show', 'protocols', proto])).includes('Established');
}

const GSHUT = '(65535,0) ~ bgp_community';

/**
 * The lab's BIRD takes only its small BGP pool; here it takes the bench's pool (up to /32s) and keeps
 * the routes in its RIB only (kernel export off: the router's FIB is not what is measured).
 */
async function configureBird(lab: Lab): Promise<void> {
  const topo = lab.topology;
  const conf = birdConfig({ ...topo, bgpPool: { ...topo.bgpPool, acceptV4: POOL } }).replace(
    /protocol kernel kernel4 \{ ipv4 \{ import none; export all; \};/,
    'protocol kernel kernel4 { ipv4 { import none; export none; };',
  );
  writeFileSync(join(lab.dir, 'hosts', 'router', 'bird.conf'), conf);
  const out = await birdc(lab, ['configure']);
  if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new Error(`birdc configure: ${out}`);
}

export async function bgpRound(
  sys: SystemName,
  bins: MetalLBBinaries,
  sizes: number[],
  nodeCount: number,
  controllerOf: SystemName | 'own',
  say: (l: string) => void,
): Promise<BgpRun> {
  const lab = await Lab.start({
    nodes: nodeCount,
    router: 'bird',
    ipv6: false,
    components: false,
    kubeProxy: false,
  });
  const procs: ManagedProcess[] = [];
  const out: BgpRun = { rssMiB: {}, anonMiB: {}, cpuS: {}, writesPerService: {}, intoBirdMs: {} };
  let inLab: Awaited<ReturnType<typeof startSystemInLab>> | undefined;
  try {
    await configureBird(lab);
    const c = new Client(lab.cp);
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
    inLab = await startSystemInLab(lab, sys, bins, {
      ...(controllerOf !== 'own' ? { controller: controllerOf } : {}),
      drainMs: DEFAULT_DRAIN_MS,
    });
    const { controller, speakers } = inLab;
    procs.push(controller);
    await speakersReady(lab, sys, speakers);
    const topo = lab.topology;
    const nodes = topo.nodes;
    const protos = routerPeers(topo)
      .filter((p) => p.family === 'ipv4')
      .map(birdProtocolName);
    await createCR(c, 'IPAddressPool', 'v1beta1', 'ipaddresspools', { addresses: [POOL] });
    await createCR(c, 'BGPPeer', 'v1beta2', 'bgppeers', {
      myASN: topo.nodes[0]?.asn,
      peerASN: topo.router.asn,
      peerAddress: topo.router.ipv4.ip,
    });
    await createCR(c, 'BGPAdvertisement', 'v1beta1', 'bgpadvertisements', { ipAddressPools: ['bench'] });
    await waitFor(
      'every speaker Established with BIRD',
      async () =>
        (await Promise.all(protos.map((p) => established(lab, p)))).every(Boolean) ? true : undefined,
      120_000,
      250,
    );
    const pids = speakers.map((p) => p.pid as number);
    let cpu = pids.map(() => 0);
    const ns = 'bench';
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: ns } });
    let made = 0;
    for (const n of [0, ...sizes]) {
      const m0 = await settle(c, say);
      c.own.clear();
      await c.each(n - made, (j) =>
        createServiceWithEndpoint(c, ns, made + j, nodes[(made + j) % nodes.length] as (typeof nodes)[0]),
      );
      const added = n - made;
      made = n;
      const assignedAt = await controller.whileRunning(
        waitFor(
          `${n} Services with IPs`,
          async () => ((await c.countServices(ns)).withIP === n ? Date.now() : undefined),
          60 * 60_000,
          250,
        ),
      );
      const inBirdAt = await waitFor(
        `${n} routes in BIRD from every speaker`,
        async () =>
          (await Promise.all(protos.map((p) => birdCount(lab, p)))).every((k) => k >= n)
            ? Date.now()
            : undefined,
        20 * 60_000,
        50,
      );
      out.intoBirdMs[n] = Math.max(0, inBirdAt - assignedAt);
      const m1 = await settle(c, say, 3000);
      if (n > 0) {
        const d = diff(m1, m0, c.own);
        out.writesPerService[n] = sumWrites(d, isBackground) / added;
        say(`#   ${sys} BGP, controller + speakers, writes per Service added: ${fmtCounts(d, added, true)}`);
      }
      const now = pids.map(cpuSeconds);
      out.rssMiB[n] = mean(pids.map((p) => rssMiB(p)));
      out.anonMiB[n] = mean(pids.map((p) => rssMiB(p, 'RssAnon')));
      out.cpuS[n] = mean(now.map((x, k) => x - (cpu[k] as number)));
      cpu = now;
      say(
        `# ${sys} speakers (BGP, ${nodes.length} nodes), ${n} Services: RSS ${pids.map((p) => rssMiB(p).toFixed(0)).join(', ')} MiB (anonymous ${pids.map((p) => rssMiB(p, 'RssAnon').toFixed(0)).join(', ')}); CPU ${out.cpuS[n].toFixed(1)} s each (mean) since the previous step; all in BIRD ${out.intoBirdMs[n]} ms after the last IP`,
      );
    }
    // SIGTERM / restart / SIGTERM on node-1's speaker, with all N announced
    const n = made;
    if (n === 0) return out;
    out.n = n;
    const proto = protos[0] as string;
    const sigterm = async (): Promise<{ gshutMs?: number; withdrawMs: number }> => {
      const p = inLab?.speakers[0] as ManagedProcess;
      const t0 = Date.now();
      p.signal('SIGTERM');
      let gshutMs: number | undefined;
      const withdrawMs = await waitFor(
        `node-1's routes gone from BIRD`,
        async () => {
          if (sys === 'Bollard' && gshutMs === undefined && (await birdCount(lab, proto, GSHUT)) >= n)
            gshutMs = Date.now() - t0;
          return (await birdCount(lab, proto)) === 0 ? Date.now() - t0 : undefined;
        },
        120_000,
        10,
      );
      const exited = await Promise.race([p.exited, delay(30_000).then(() => undefined)]);
      if (!exited) await p.kill();
      return { ...(gshutMs !== undefined ? { gshutMs } : {}), withdrawMs };
    };
    const first = await sigterm();
    out.withdrawMs = first.withdrawMs;
    if (first.gshutMs !== undefined) out.gshutMs = first.gshutMs;
    say(
      `# ${sys} SIGTERM with ${n} routes: ${first.gshutMs !== undefined ? `GSHUT in BIRD after ${first.gshutMs} ms, ` : ''}withdrawn after ${first.withdrawMs} ms`,
    );
    const again = inLab.restartSpeaker(0, { drainMs: 0 });
    const estAt = await again.whileRunning(
      waitFor(
        `node-1 Established again`,
        async () => ((await established(lab, proto)) ? Date.now() : undefined),
        120_000,
        10,
      ),
    );
    const allAt = await again.whileRunning(
      waitFor(
        `${n} routes from node-1 in BIRD`,
        async () => ((await birdCount(lab, proto)) >= n ? Date.now() : undefined),
        20 * 60_000,
        10,
      ),
    );
    out.establishedToAllMs = allAt - estAt;
    const second = await sigterm();
    out.withdrawNoDrainMs = second.withdrawMs;
    say(
      `# ${sys} restarted${sys === 'Bollard' ? ' with --drain-time=0' : ''}: Established → ${n} routes in BIRD ${out.establishedToAllMs} ms; SIGTERM → withdrawn ${second.withdrawMs} ms`,
    );
  } catch (err) {
    say(`# ! ${sys} BGP part stopped: ${(err as Error).message}`);
  } finally {
    for (const p of [...(inLab?.speakers ?? []), ...procs].reverse()) await p.stop();
    await lab.stop();
  }
  return out;
}

export function bgpRows(results: Map<string, BgpRun[]>, sizes: number[], nodeCount: number): Row[] {
  const sp = (name: string, f: (x: BgpRun) => number | undefined): number =>
    median((results.get(name) ?? []).map(f).filter((x): x is number => x !== undefined));
  const row = (what: string, unit: string, f: (x: BgpRun) => number | undefined): Row => ({
    what,
    unit,
    bollard: sp('Bollard', f),
    metallb: sp('MetalLB', f),
    higherIsBetter: false,
  });
  const rows: Row[] = [];
  if ((results.get('Bollard') ?? []).length === 0 && (results.get('MetalLB') ?? []).length === 0) return rows;
  for (const n of [0, ...sizes]) {
    const label = `speaker, BGP, ${n.toLocaleString('en')} Services`;
    rows.push(row(`${label}: RSS per speaker`, 'MiB', (x) => x.rssMiB[n]));
    rows.push(row(`${label}: RSS per speaker, anonymous only`, 'MiB', (x) => x.anonMiB[n]));
    rows.push(
      row(
        `${label}: CPU per speaker ${n === 0 ? 'from start to idle' : 'to take them in'}`,
        's',
        (x) => x.cpuS[n],
      ),
    );
    if (n > 0) {
      rows.push(
        row(
          `${label}: last IP assigned → all routes in BIRD from ${nodeCount} speakers`,
          'ms',
          (x) => x.intoBirdMs[n],
        ),
      );
      rows.push(
        row(
          `${label}: API writes per Service, controller + ${nodeCount} speakers`,
          'leases aside',
          (x) => x.writesPerService[n],
        ),
      );
    }
  }
  const n = Math.max(...sizes);
  const big = n.toLocaleString('en');
  rows.push(
    row(
      `BGP, ${big} routes: speaker restarted, session Established → all in BIRD`,
      'ms',
      (x) => x.establishedToAllMs,
    ),
  );
  rows.push(
    row(
      `BGP, ${big} routes: SIGTERM → GRACEFUL_SHUTDOWN re-announce in BIRD (MetalLB: none)`,
      'ms',
      (x) => x.gshutMs,
    ),
  );
  rows.push(
    row(
      `BGP, ${big} routes: SIGTERM → no route in BIRD (Bollard drains ${DEFAULT_DRAIN_MS / 1000} s first)`,
      'ms',
      (x) => x.withdrawMs,
    ),
  );
  rows.push(
    row(
      `BGP, ${big} routes: SIGTERM → no route in BIRD, Bollard --drain-time=0`,
      'ms',
      (x) => x.withdrawNoDrainMs,
    ),
  );
  return rows;
}
