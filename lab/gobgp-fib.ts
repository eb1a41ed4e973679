// GoBGP installs nothing in the kernel by itself, and its zebra client does not speak the zapi of the
// FRR this lab runs (8.4): so with `--router gobgp` the lab installs GoBGP's best paths in the router's
// kernel itself. It follows `gobgp monitor global rib` and, on every change, makes the kernel's
// `proto bgp` routes equal the RIB (ECMP: one nexthop per path).
import { join } from 'node:path';
import type { LabHost } from './hosts.js';
import type { ManagedProcess } from './process.js';

interface GobgpPath {
  nlri?: { prefix?: string };
  attrs?: { nexthop?: string; nexthops?: string[] }[];
  withdrawal?: boolean;
}

/** prefix -> nexthops, from `gobgp global rib -a <family> -j` output (pure). */
export function ribNexthops(json: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const text = json.trim();
  if (!text || text === 'null') return out;
  const rib = JSON.parse(text) as Record<string, GobgpPath[]>;
  for (const [prefix, paths] of Object.entries(rib)) {
    const hops = new Set<string>();
    for (const p of paths) {
      if (p.withdrawal) continue;
      for (const a of p.attrs ?? []) {
        if (a.nexthop) hops.add(a.nexthop);
        for (const n of a.nexthops ?? []) hops.add(n);
      }
    }
    if (hops.size > 0) out.set(prefix, [...hops].sort());
  }
  return out;
}

export class GobgpFib {
  private monitor: ManagedProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly router: LabHost,
    private readonly families: readonly ('ipv4' | 'ipv6')[],
    private readonly logDir: string,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Starts following the RIB; resolves after the first sync. */
  async start(): Promise<ManagedProcess> {
    this.stopped = false;
    this.monitor = this.router.spawn('gobgp', ['monitor', 'global', 'rib', '-j'], {
      name: 'router/gobgp-fib',
      logFile: join(this.logDir, 'router-gobgp-fib.log'),
    });
    this.monitor.child.stdout?.on('data', () => this.schedule());
    await this.sync();
    return this.monitor;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    // Coalesce a burst of updates (one per path) into one sync.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running.then(() => this.sync()).catch((err: unknown) => this.onError(err as Error));
    }, 50);
  }

  async sync(): Promise<void> {
    for (const fam of this.families) {
      const r = await this.router.exec('gobgp', ['global', 'rib', '-a', fam, '-j']);
      if (r.code !== 0) continue;
      const want = ribNexthops(r.stdout);
      const flag = fam === 'ipv6' ? '-6' : '-4';
      const have = await this.router.exec('ip', [flag, 'route', 'show', 'proto', 'bgp']);
      for (const line of have.stdout.split('\n')) {
        const prefix = line.split(' ')[0];
        if (!prefix) continue;
        const full = prefix.includes('/') ? prefix : `${prefix}/${fam === 'ipv6' ? 128 : 32}`;
        if (!want.has(full)) await this.router.exec('ip', [flag, 'route', 'del', prefix, 'proto', 'bgp']);
      }
      for (const [prefix, hops] of want) {
        await this.router.exec('ip', [
          flag,
          'route',
          'replace',
          prefix,
          'proto',
          'bgp',
          ...hops.flatMap((h) => ['nexthop', 'via', h]),
        ]);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.monitor?.stop(1000);
    await this.running.catch(() => undefined);
  }
}
