// BGP figures, in network namespaces with a real BIRD:
//  1. scale: N VIPs (default 10,000) announced by one speaker: time from Established (speaker's log)
//     to all N in BIRD's RIB (birdc polled every 10 ms), UPDATEs sent, speaker CPU and RSS.
//  2. failover as a client behind the router sees it: the VIP is announced by two nodes (ECMP, BFD
//     300 ms x 3, hold 9 s); the client pings it every 10 ms; the node carrying the client's flow
//     fails. Outage = the longest gap between replies. Kinds: node failure (link down: speaker and
//     data plane gone, no FIN), speaker SIGKILL, speaker SIGTERM (Cease) — for the last two the
//     route's removal from the router's FIB is timed too (ip -ts monitor route). A no-fault run
//     measures the probe's own noise on the machine.
// Usage: npm run bench -- bgp [--vips N] [--runs N]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, type Host } from '../lab/netns.js';
import { delay, waitFor, type ManagedProcess } from '../lab/process.js';
import { peer, startBird, startSpeaker, type StandaloneConfig } from '../test/e2e/bgp-routers.js';

function arg(args: string[], name: string, def: number): number {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return def;
  const v = args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : def;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

function logLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** utime+stime of a process in ms (from /proc), and its RSS in MiB. */
function procUsage(pid: number): { cpuMs: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpuMs: (ticks * 1000) / 100, rssMiB: Number(rss ?? 0) / 1024 };
}

async function scale(dir: string, vips: number): Promise<void> {
  const lan = await Lan.create();
  let speaker: { proc: ManagedProcess; log: string } | undefined;
  let bird: Awaited<ReturnType<typeof startBird>> | undefined;
  try {
    const r = await lan.addHost('router', { ipv4: '10.81.0.1/24' });
    const node = await lan.addHost('node', { ipv4: '10.81.0.11/24' });
    bird = await startBird(
      r,
      join(dir, 'scale-bird'),
      'router id 10.81.0.1;\nprotocol device {}\nprotocol bgp node {\n  local 10.81.0.1 as 64512;\n  neighbor 10.81.0.11 as 64513;\n  connect retry time 1;\n  ipv4 { import all; export none; };\n}\n',
    );
    const routes = Array.from({ length: vips }, (_, i) => ({
      prefix: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`,
      communities: [((64512 << 16) | 100) >>> 0],
      largeCommunities: [],
    }));
    const cfg: StandaloneConfig = {
      nodeName: 'node',
      nodeIPv4: '10.81.0.11',
      peers: [peer({ name: 'bird', peerAddress: '10.81.0.1', myASN: 64513, peerASN: 64512 })],
      routes: { bird: routes },
    };
    const t0 = Date.now();
    speaker = await startSpeaker(node, join(dir, 'scale-node'), cfg);
    const pid = speaker.proc.pid!;
    const log = speaker.log;
    let allAt = 0;
    await waitFor(
      `${vips} routes in BIRD`,
      async () => {
        const out = await bird!.cli(['show', 'route', 'count']);
        const n = Number(/(\d+) of \d+ routes/.exec(out)?.[1] ?? /(\d+) routes/.exec(out)?.[1] ?? 0);
        if (n >= vips) {
          allAt = Date.now();
          return true;
        }
        return undefined;
      },
      120_000,
      10,
    );
    const est = logLines(log).find((l) => l.msg === 'BGP session established');
    const estAt = typeof est?.time === 'number' ? est.time : t0;
    const usage = procUsage(pid);
    speaker.proc.signal('SIGUSR1');
    const status = await waitFor(
      'status line',
      () => logLines(log).find((l) => l.msg === 'status'),
      5000,
      20,
    );
    const peers = status.peers as { counters?: { updatesSent?: number } }[];
    console.log(`VIPs announced:                       ${vips}`);
    console.log(`Established -> all in BIRD's RIB:     ${fmt(allAt - estAt)}`);
    console.log(
      `UPDATE messages sent:                 ${peers[0]?.counters?.updatesSent ?? '?'} (incl. End-of-RIB; extended messages negotiated)`,
    );
    console.log(`speaker CPU (start to all announced): ${fmt(usage.cpuMs)}`);
    console.log(`speaker RSS:                          ${usage.rssMiB.toFixed(1)} MiB`);
  } finally {
    await speaker?.proc.stop(2000);
    await bird?.stop();
    await lan.destroy();
  }
}

async function failover(dir: string, runs: number): Promise<void> {
  const lan = await Lan.create();
  const speakers = new Map<string, ManagedProcess>();
  let bird: Awaited<ReturnType<typeof startBird>> | undefined;
  let monitor: ManagedProcess | undefined;
  const VIP = '192.0.2.80';
  const nodes = [
    { name: 'node-a', ip: '10.82.0.11' },
    { name: 'node-b', ip: '10.82.0.12' },
  ];
  try {
    const r = await lan.addHost('router', { ipv4: '10.82.0.1/24' });
    await r.addAddress('10.83.0.1/24');
    const client = await lan.addHost('client', { ipv4: '10.83.0.100/24' });
    await client.addRoute(`${VIP}/32`, '10.83.0.1');
    await r.sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // The client shares the LAN: no ICMP redirects, or it would bypass the router (and its ECMP).
    for (const k of ['all', 'default', 'eth0'])
      await r.sh('sysctl', ['-qw', `net.ipv4.conf.${k}.send_redirects=0`]);
    for (const k of ['all', 'default', 'eth0'])
      await client.sh('sysctl', ['-qw', `net.ipv4.conf.${k}.accept_redirects=0`]);
    for (const n of nodes) {
      const h = await lan.addHost(n.name, { ipv4: `${n.ip}/24` });
      await h.sh('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
      await h.addRoute('10.83.0.0/24', '10.82.0.1');
    }
    bird = await startBird(
      r,
      join(dir, 'fo-bird'),
      [
        'router id 10.82.0.1;',
        'protocol device { scan time 5; }',
        'protocol kernel { ipv4 { import none; export all; }; merge paths on; }',
        'protocol bfd { interface "eth0" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }',
        ...nodes.flatMap((n) => [
          `protocol bgp ${n.name.replace('-', '_')} {`,
          `  local 10.82.0.1 as 64512; neighbor ${n.ip} as 64513; bfd on; hold time 9;`,
          '  connect retry time 1; error wait time 1, 2;',
          '  ipv4 { import all; export none; };',
          '}',
        ]),
        '',
      ].join('\n'),
    );
    const monLog = join(dir, 'fo-monitor.log');
    monitor = r.spawn('ip', ['-ts', 'monitor', 'route'], { name: 'monitor', logFile: monLog });
    const cfg = (n: { name: string; ip: string }): StandaloneConfig => ({
      nodeName: n.name,
      nodeIPv4: n.ip,
      peers: [
        peer({
          name: 'bird',
          peerAddress: '10.82.0.1',
          myASN: 64513,
          peerASN: 64512,
          holdTimeMs: 9000,
          keepaliveTimeMs: 3000,
          bfd: {
            receiveIntervalMs: 300,
            transmitIntervalMs: 300,
            detectMultiplier: 3,
            passiveMode: false,
            minimumTtl: 254,
          },
        }),
      ],
      routes: { bird: [{ prefix: `${VIP}/32`, communities: [], largeCommunities: [] }] },
    });
    let seq = 0;
    const startNode = async (n: { name: string; ip: string }): Promise<void> => {
      speakers.get(n.name)?.signal('SIGKILL');
      const s = await startSpeaker(lan.host(n.name), join(dir, 'fo-nodes'), cfg(n), `${n.name}-${seq++}`);
      speakers.set(n.name, s.proc);
    };
    for (const n of nodes) await startNode(n);
    const ecmp = async (): Promise<boolean> => {
      const out = await r.sh('ip', ['route', 'show', `${VIP}/32`]);
      return nodes.every((n) => out.includes(`via ${n.ip}`));
    };
    const bfdUp = async (): Promise<boolean> =>
      ((await bird!.cli(['show', 'bfd', 'sessions'])).match(/ Up /g) ?? []).length >= 2;
    const ready = (): Promise<true> =>
      waitFor(
        'ECMP via both nodes with BFD up',
        async () => ((await ecmp()) && (await bfdUp()) ? true : undefined),
        60_000,
        50,
      );
    const echoes = async (h: Host): Promise<number> =>
      Number(/IcmpInEchos\s+(\d+)/.exec(await h.sh('nstat', ['-az', 'IcmpInEchos']))?.[1] ?? 0);
    /** The node that receives the client's ping flow. */
    const carrier = async (): Promise<{ name: string; ip: string }> => {
      const before = await Promise.all(nodes.map((n) => echoes(lan.host(n.name))));
      await client.exec('ping', ['-c', '5', '-i', '0.01', '-W', '1', VIP]);
      const afterC = await Promise.all(nodes.map((n) => echoes(lan.host(n.name))));
      const i = afterC.findIndex((a, k) => a - before[k]! >= 4);
      return nodes[i >= 0 ? i : 0]!;
    };
    /** Pings every 10 ms for `ms`; resolves with the longest gap between replies (ms). */
    const probe = async (ms: number, during: () => Promise<void>): Promise<number> => {
      const count = Math.round(ms / 10);
      const p = client.exec(
        'ping',
        ['-D', '-n', '-i', '0.01', '-W', '1', '-c', String(count), VIP],
        ms + 10_000,
      );
      await delay(500);
      await during();
      const out = (await p).stdout;
      if (process.env.BOLLARD_BENCH_VERBOSE)
        console.log(
          `  ping: ${out
            .split('\n')
            .filter((l) => /packets|rtt/.test(l))
            .join(' | ')}`,
        );
      const times = [...out.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=/gm)].map((m) => Number(m[1]) * 1000);
      // A flow that never comes back counts until the end of the probe.
      const end = (times[0] ?? 0) + ms;
      let gap = times.length === 0 ? ms : Math.max(0, end - times[times.length - 1]! - 10);
      for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]! - 10);
      return Math.max(0, gap);
    };
    const routeGoneAfter = async (since: number, via: string): Promise<number | undefined> => {
      try {
        return await waitFor(
          'path removed',
          () => {
            for (const l of readFileSync(monLog, 'utf8').split('\n')) {
              const m = /^\[(\S+)\] (.*)/.exec(l);
              if (!m) continue;
              const at = Date.parse(`${m[1]!.slice(0, 23)}Z`);
              if (at < since - 5) continue;
              if (m[2]!.includes(VIP) && (m[2]!.startsWith('Deleted') || !m[2]!.includes(via)))
                return at - since;
            }
            return undefined;
          },
          5000,
          10,
        );
      } catch {
        return undefined;
      }
    };

    const results: Record<string, { outage: number[]; routeGone: number[] }> = {
      'no fault (probe noise baseline)': { outage: [], routeGone: [] },
      'node failure (link down), BFD 300 ms x 3': { outage: [], routeGone: [] },
      'speaker SIGKILL': { outage: [], routeGone: [] },
      'speaker SIGTERM': { outage: [], routeGone: [] },
    };
    for (let i = 0; i < runs; i++) {
      for (const kind of Object.keys(results)) {
        await ready();
        const victim = await carrier();
        const host = lan.host(victim.name);
        let t0 = 0;
        const outage = await probe(3500, async () => {
          t0 = Date.now();
          if (kind.startsWith('no fault')) return;
          if (kind.startsWith('node failure')) await host.link('down');
          else speakers.get(victim.name)!.signal(kind.endsWith('SIGKILL') ? 'SIGKILL' : 'SIGTERM');
        });
        const gone = kind.startsWith('no fault') ? undefined : await routeGoneAfter(t0, victim.ip);
        results[kind]!.outage.push(outage);
        if (process.env.BOLLARD_BENCH_VERBOSE)
          console.log(
            `  run ${i} ${kind}: victim ${victim.name} outage ${fmt(outage)} path removed ${gone ?? '-'} ms`,
          );
        if (gone !== undefined) results[kind]!.routeGone.push(gone);
        if (kind.startsWith('no fault')) continue;
        if (kind.startsWith('node failure')) await host.link('up');
        await startNode(victim);
      }
    }
    console.log(
      `failover, ${runs} runs each (client pings the VIP every 10 ms; outage = longest reply gap):`,
    );
    for (const [kind, r2] of Object.entries(results)) {
      const o = r2.outage;
      const g = r2.routeGone;
      console.log(
        `  ${kind.padEnd(42)} outage p50 ${fmt(pct(o, 50))}  p99 ${fmt(pct(o, 99))}  max ${fmt(Math.max(...o))}` +
          (g.length > 0
            ? `   path removed from router FIB: p50 ${fmt(pct(g, 50))}  p99 ${fmt(pct(g, 99))}`
            : ''),
      );
    }
  } finally {
    for (const s of speakers.values()) await s.stop(1000);
    await monitor?.stop(1000);
    await bird?.stop();
    await lan.destroy();
  }
}

export async function run(args: string[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bench-bgp-'));
  try {
    if (!args.includes('--no-scale')) await scale(dir, arg(args, 'vips', 10_000));
    await failover(dir, arg(args, 'runs', 20));
  } finally {
    if (!process.env.BOLLARD_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}
