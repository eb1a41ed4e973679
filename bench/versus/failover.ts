// `npm run bench -- versus --parts=failover`: layer 2 failover as a client sees it, each system on an
// identical processes lab (3 nodes, no router), its own controller and speakers, one L2Advertisement and
// one Service (an EndpointSlice with a ready endpoint). Every node holds the VIP on lo (arp_ignore=1, so
// only the speaker's replies say where it is); the client pings the VIP every 10 ms (`ping -D -i 0.01`)
// and watches its neighbour entry (`ip -ts monitor neigh`), as bench/l2.ts does for Bollard alone:
//  - owner's speaker SIGKILL → the client's entry names another node;
//  - owner's link down (at the bridge) → the first answered ping, and the entry moved.
// `--failover-trials=N` of each kind per system and round (default 10); after each, the owner's
// speaker or link comes back and the trial waits until the client's entry names it again.
import { join } from 'node:path';
import { delay, waitFor, type ManagedProcess } from '../../lab/process.js';
import type { MetalLBBinaries } from '../../lab/metallb.js';
import { Lab } from '../../lab/lab.js';
import { neighEvents, pct, pingReplies } from '../l2.js';
import {
  NS,
  Client,
  createCR,
  createServiceWithEndpoint,
  speakersReady,
  startSystemInLab,
  type Row,
  type SystemName,
} from './lab.js';

export interface FailoverRun {
  /** SIGKILL → client's entry moved (ms), one per trial. */
  killMs: number[];
  /** Link down → first answered ping (ms). */
  linkOutageMs: number[];
  /** Link down → client's entry moved (ms). */
  linkEntryMs: number[];
}

export async function failoverRound(
  sys: SystemName,
  bins: MetalLBBinaries,
  trials: number,
  say: (l: string) => void,
): Promise<FailoverRun> {
  const lab = await Lab.start({ nodes: 3, router: 'none', ipv6: false, components: false, kubeProxy: false });
  const out: FailoverRun = { killMs: [], linkOutageMs: [], linkEntryMs: [] };
  let inLab: Awaited<ReturnType<typeof startSystemInLab>> | undefined;
  const watchers: ManagedProcess[] = [];
  try {
    const topo = lab.topology;
    const c = new Client(lab.cp);
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
    inLab = await startSystemInLab(lab, sys, bins);
    const { controller, speakers } = inLab;
    await speakersReady(lab, sys, speakers);
    await createCR(c, 'IPAddressPool', 'v1beta1', 'ipaddresspools', {
      addresses: [topo.l2Pool.addresses[0]],
    });
    await createCR(c, 'L2Advertisement', 'v1beta1', 'l2advertisements', { ipAddressPools: ['bench'] });
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: 'bench' } });
    await createServiceWithEndpoint(c, 'bench', 0, topo.nodes[0] as (typeof topo.nodes)[0]);
    const vip = await controller.whileRunning(
      waitFor(
        'VIP',
        async () => {
          const r = await c.send(
            'GET',
            '/api/v1/namespaces/bench/services/s0',
            undefined,
            'GET',
            'services',
            [200],
          );
          const s = JSON.parse(r.body) as { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } };
          return s.status?.loadBalancer?.ingress?.[0]?.ip;
        },
        60_000,
        200,
      ),
    );
    for (const n of topo.nodes) {
      const h = lab.host(n.name);
      await h.sh('sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
      await h.sh('ip', ['addr', 'add', `${vip}/32`, 'dev', 'lo']);
    }
    const client = lab.host('client');
    const monLog = join(lab.dir, `failover-neigh-${sys}.log`);
    const pingLog = join(lab.dir, `failover-ping-${sys}.log`);
    watchers.push(client.spawn('ip', ['-ts', 'monitor', 'neigh'], { name: 'ip-monitor', logFile: monLog }));
    watchers.push(
      client.spawn('ping', ['-D', '-n', '-i', '0.01', '-W', '1', vip], { name: 'ping', logFile: pingLog }),
    );
    await waitFor('first ping reply', () => (pingReplies(pingLog).length > 0 ? true : undefined), 60_000, 20);
    const nodeOfMac = new Map(topo.nodes.map((n, i) => [n.mac.toLowerCase(), i]));
    /** The node whose MAC the client's entry for the VIP names now. */
    const ownerNow = async (): Promise<number> =>
      waitFor(
        'the client has an entry for the VIP',
        async () => {
          const r = await client.exec('ip', ['neigh', 'show', vip]);
          const mac = /lladdr ([0-9a-f:]{17})/.exec(r.stdout)?.[1];
          return mac !== undefined ? nodeOfMac.get(mac) : undefined;
        },
        30_000,
        50,
      );
    const movedFrom = (mac: string, since: number, timeoutMs: number): Promise<number> =>
      waitFor(
        'the client entry moved',
        () => neighEvents(monLog, vip).find((e) => e.at >= since && e.mac !== mac)?.at,
        timeoutMs,
        10,
      );
    const backTo = async (mac: string, since: number): Promise<void> => {
      // the owner normally takes the VIP back (both elect by a hash of the members); if not in 60 s
      // the next trial simply starts from the current owner
      await waitFor(
        'the entry back',
        () => neighEvents(monLog, vip).find((e) => e.at >= since && e.mac === mac)?.at,
        60_000,
        50,
      ).catch(() => undefined);
      await delay(2000);
    };
    const macOf = (i: number): string => (topo.nodes[i]?.mac ?? '').toLowerCase();
    for (let t = 0; t < trials; t++) {
      const o = await ownerNow();
      const t0 = Date.now();
      await (inLab.speakers[o] as ManagedProcess).kill();
      out.killMs.push((await movedFrom(macOf(o), t0, 60_000)) - t0);
      const back = Date.now();
      const p = inLab.restartSpeaker(o);
      await speakersReady(lab, sys, inLab.speakers);
      await p.whileRunning(backTo(macOf(o), back));
    }
    say(
      `# ${sys} layer 2, owner speaker SIGKILL → client entry moved: ${out.killMs.map((x) => x.toFixed(0)).join(', ')} ms`,
    );
    for (let t = 0; t < trials; t++) {
      const o = await ownerNow();
      const name = topo.nodes[o]?.name as string;
      const t0 = Date.now();
      await lab.link(name, 'down');
      const down = Date.now();
      out.linkEntryMs.push((await movedFrom(macOf(o), t0, 60_000)) - t0);
      const first = await waitFor(
        'a ping answered',
        () => pingReplies(pingLog).find((r) => r > down + 1),
        60_000,
        10,
      );
      out.linkOutageMs.push(first - t0);
      const back = Date.now();
      await lab.link(name, 'up');
      await backTo(macOf(o), back);
    }
    say(
      `# ${sys} layer 2, owner link down → first answered ping: ${out.linkOutageMs.map((x) => x.toFixed(0)).join(', ')} ms`,
    );
    say(
      `# ${sys} layer 2, owner link down → client entry moved: ${out.linkEntryMs.map((x) => x.toFixed(0)).join(', ')} ms`,
    );
  } catch (err) {
    say(`# ! ${sys} failover part stopped: ${(err as Error).message}`);
  } finally {
    for (const w of watchers) await w.stop(1000);
    for (const p of [...(inLab?.speakers ?? []), ...(inLab ? [inLab.controller] : [])]) await p.stop();
    await lab.stop();
  }
  return out;
}

export function failoverRows(results: Map<string, FailoverRun[]>): Row[] {
  const all = (name: string, f: (x: FailoverRun) => number[]): number[] =>
    (results.get(name) ?? []).flatMap(f);
  const rows: Row[] = [];
  const kinds: [string, (x: FailoverRun) => number[]][] = [
    ['owner speaker SIGKILL → client ARP entry moved', (x) => x.killMs],
    ['owner link down → first answered ping (every 10 ms)', (x) => x.linkOutageMs],
    ['owner link down → client ARP entry moved', (x) => x.linkEntryMs],
  ];
  for (const [what, f] of kinds) {
    const b = all('Bollard', f);
    const m = all('MetalLB', f);
    if (b.length === 0 && m.length === 0) continue;
    for (const p of [50, 99])
      rows.push({
        what: `layer 2 failover, ${what}: p${p}`,
        unit: `ms; trials ${b.length} / ${m.length}`,
        bollard: pct(b, p),
        metallb: pct(m, p),
        higherIsBetter: false,
      });
  }
  return rows;
}
