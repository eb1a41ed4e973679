// Helpers for the BGP end-to-end tests: real BIRD, FRR (bgpd, no zebra unless asked) and GoBGP in
// network namespace hosts, and the standalone Bollard BGP speaker (speaker/bgp/standalone) in a node
// host. Routes are always read from the router's own RIB (birdc / vtysh json / gobgp -j).
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Host } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import type { PeerSpec } from '../../speaker/bgp/speaker.js';
import type { ExportedRoute } from '../../speaker/bgp/types.js';

/** What the helpers need of a host: a netns Host, or a lab host. */
export type RouterHost = Pick<Host, 'name' | 'exec' | 'sh' | 'spawn'>;

export interface Router {
  readonly kind: 'bird' | 'frr' | 'gobgp';
  readonly host: RouterHost;
  readonly proc: ManagedProcess;
  /** Runs the router's CLI; resolves with stdout. */
  cli(args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

async function ready(proc: ManagedProcess, what: string, probe: () => Promise<boolean>): Promise<void> {
  await proc.whileRunning(waitFor(what, async () => ((await probe()) ? true : undefined), 30_000, 100));
}

export async function startBird(host: RouterHost, dir: string, config: string): Promise<Router> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'bird.conf');
  const sock = join(dir, 'bird.ctl');
  writeFileSync(conf, config);
  const proc = host.spawn('bird', ['-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], {
    name: `${host.name}/bird`,
    logFile: join(dir, 'bird.log'),
  });
  // birdc exits 1 for "Network not found": callers look at the text.
  const cli = async (args: readonly string[]): Promise<string> =>
    (await host.exec('birdc', ['-s', sock, ...args], 10_000)).stdout;
  await ready(
    proc,
    'bird',
    async () => (await host.exec('birdc', ['-s', sock, 'show', 'status'], 5000)).code === 0,
  );
  return { kind: 'bird', host, proc, cli, stop: async () => void (await proc.stop(3000)) };
}

function frrIds(): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', 'frr'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'frr'], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

export async function startFrr(host: RouterHost, dir: string, config: string): Promise<Router> {
  mkdirSync(dir, { recursive: true });
  const vty = join(dir, 'vty');
  mkdirSync(vty, { recursive: true });
  const { uid, gid } = frrIds();
  // bgpd drops to the frr user: it must be able to reach its files (mkdtemp makes 0700 folders).
  chmodSync(dirname(dir), 0o755);
  chownSync(vty, uid, gid);
  const conf = join(dir, 'bgpd.conf');
  writeFileSync(conf, config);
  chownSync(dir, uid, gid);
  chownSync(conf, uid, gid);
  const proc = host.spawn(
    '/usr/lib/frr/bgpd',
    ['-Z', '-f', conf, '-i', join(vty, 'bgpd.pid'), '--vty_socket', vty, '-A', '127.0.0.1', '-P', '0'],
    { name: `${host.name}/bgpd`, logFile: join(dir, 'bgpd.log') },
  );
  const cli = async (args: readonly string[]): Promise<string> =>
    host.sh('vtysh', ['--vty_socket', vty, ...args.flatMap((a) => ['-c', a])], 10_000);
  await ready(
    proc,
    'bgpd',
    async () => (await host.exec('vtysh', ['--vty_socket', vty, '-c', 'show bgp summary'], 5000)).code === 0,
  );
  return { kind: 'frr', host, proc, cli, stop: async () => void (await proc.stop(3000)) };
}

export async function startGobgp(host: RouterHost, dir: string, config: string): Promise<Router> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'gobgpd.toml');
  writeFileSync(conf, config);
  const proc = host.spawn(
    'gobgpd',
    ['-f', conf, '-t', 'toml', '--log-plain', '--api-hosts', '127.0.0.1:50051'],
    {
      name: `${host.name}/gobgpd`,
      logFile: join(dir, 'gobgpd.log'),
    },
  );
  const cli = async (args: readonly string[]): Promise<string> => host.sh('gobgp', [...args], 10_000);
  await ready(proc, 'gobgpd', async () => (await host.exec('gobgp', ['global'], 5000)).code === 0);
  return { kind: 'gobgp', host, proc, cli, stop: async () => void (await proc.stop(3000)) };
}

/** Is the session to `neighbor` (named `protocol` in BIRD) Established, as the router sees it? */
export async function sessionUp(r: Router, neighbor: string, protocol?: string): Promise<boolean> {
  switch (r.kind) {
    case 'bird': {
      const out = await r.cli(['show', 'protocols', protocol ?? '']);
      return /\bEstablished\b/.test(out);
    }
    case 'frr': {
      const out = JSON.parse(await r.cli([`show bgp neighbors ${neighbor} json`])) as Record<
        string,
        { bgpState?: string }
      >;
      return out[neighbor]?.bgpState === 'Established';
    }
    case 'gobgp': {
      const out = JSON.parse(await r.cli(['neighbor', neighbor, '-j'])) as {
        state?: { session_state?: number | string };
      };
      const s = out.state?.session_state;
      return s === 6 || s === 'established' || s === 'ESTABLISHED';
    }
  }
}

export interface RibRoute {
  prefix: string;
  nextHops: string[];
  communities: string[];
  largeCommunities: string[];
  localPref?: number;
  asPath: number[];
}

/** The router's RIB entry for `prefix` (undefined if absent): read with the router's own CLI. */
export async function ribRoute(r: Router, prefix: string): Promise<RibRoute | undefined> {
  switch (r.kind) {
    case 'bird': {
      const out = await r.cli(['show', 'route', 'for', prefix, 'all']);
      if (!out.includes(prefix.split('/')[0]!) || !/unicast|BGP\./.test(out)) return undefined;
      const hops = [...out.matchAll(/via (\S+) on/g)].map((m) => m[1]!);
      const comm = /BGP\.community: (.*)/.exec(out)?.[1] ?? '';
      const large = /BGP\.large_community: (.*)/.exec(out)?.[1] ?? '';
      const lp = /BGP\.local_pref: (\d+)/.exec(out)?.[1];
      const path = /BGP\.as_path:(.*)/.exec(out)?.[1] ?? '';
      return {
        prefix,
        nextHops: [...new Set(hops)],
        communities: [...comm.matchAll(/\((\d+),(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`),
        largeCommunities: [...large.matchAll(/\((\d+), (\d+), (\d+)\)/g)].map(
          (m) => `${m[1]}:${m[2]}:${m[3]}`,
        ),
        ...(lp ? { localPref: Number(lp) } : {}),
        asPath: path.trim() ? path.trim().split(/\s+/).map(Number) : [],
      };
    }
    case 'frr': {
      const fam = prefix.includes(':') ? 'ipv6' : 'ipv4';
      const out = JSON.parse(await r.cli([`show bgp ${fam} unicast ${prefix} json`])) as {
        prefix?: string;
        paths?: {
          nexthops?: { ip: string }[];
          community?: { string: string };
          largeCommunity?: { string: string };
          locPrf?: number;
          localpref?: number;
          aspath?: { string: string };
        }[];
      };
      if (!out.paths || out.paths.length === 0) return undefined;
      const p = out.paths;
      const lp = p[0]?.locPrf ?? p[0]?.localpref;
      return {
        prefix,
        nextHops: [...new Set(p.flatMap((x) => (x.nexthops ?? []).map((n) => n.ip)))],
        communities: (p[0]?.community?.string ?? '').split(' ').filter(Boolean),
        largeCommunities: (p[0]?.largeCommunity?.string ?? '').split(' ').filter(Boolean),
        ...(lp !== undefined ? { localPref: lp } : {}),
        asPath: (p[0]?.aspath?.string ?? '')
          .split(' ')
          .filter((x) => /^\d+$/.test(x))
          .map(Number),
      };
    }
    case 'gobgp': {
      const fam = prefix.includes(':') ? 'ipv6' : 'ipv4';
      const raw = await r.cli(['global', 'rib', '-a', fam, prefix, '-j']);
      const out = JSON.parse(raw || '{}') as Record<
        string,
        {
          nexthop?: string;
          attrs?: {
            type: number;
            communities?: number[];
            value?: unknown;
            as_paths?: { asns: number[] }[];
          }[];
        }[]
      >;
      const paths = Object.entries(out).find(([k]) => k === prefix)?.[1];
      if (!paths || paths.length === 0) return undefined;
      const attrs = paths[0]?.attrs ?? [];
      const comm = attrs.find((a) => a.type === 8)?.communities ?? [];
      type Large = {
        global_admin?: number;
        local_data1?: number;
        local_data2?: number;
        ASN?: number;
        LocalData1?: number;
        LocalData2?: number;
      };
      const large = (attrs.find((a) => a.type === 32)?.value ?? []) as Large[];
      const lp = attrs.find((a) => a.type === 5)?.value;
      const nh =
        attrs.find((a) => a.type === 3)?.value ??
        (attrs.find((a) => a.type === 14) as { nexthop?: string } | undefined)?.nexthop;
      return {
        prefix,
        nextHops: [
          ...new Set(paths.map((p) => p.nexthop ?? (typeof nh === 'string' ? nh : '')).filter(Boolean)),
        ],
        communities: comm.map((c) => `${c >>> 16}:${c & 0xffff}`),
        largeCommunities: large.map(
          (l) =>
            `${l.global_admin ?? l.ASN}:${l.local_data1 ?? l.LocalData1}:${l.local_data2 ?? l.LocalData2}`,
        ),
        ...(typeof lp === 'number' ? { localPref: lp } : {}),
        asPath: (attrs.find((a) => a.type === 2)?.as_paths ?? []).flatMap((s) => s.asns),
      };
    }
  }
}

export interface StandaloneConfig {
  nodeName: string;
  nodeIPv4?: string;
  nodeIPv6?: string;
  listenPort?: number;
  restarted?: boolean;
  preserveGracefulRestart?: boolean;
  peers: PeerSpec[];
  routes: Record<string, ExportedRoute[]>;
}

/** Starts the standalone Bollard BGP speaker in `host` with `config` (written to `dir`). */
export async function startSpeaker(
  host: Host,
  dir: string,
  config: StandaloneConfig,
  name = 'speaker',
): Promise<{ proc: ManagedProcess; file: string; log: string; reload(c: StandaloneConfig): void }> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  const log = join(dir, `${name}.log`);
  writeFileSync(file, JSON.stringify(config));
  const self = fileURLToPath(import.meta.url);
  const fromSource = self.endsWith('.ts');
  const entry = fileURLToPath(
    new URL(`../../speaker/bgp/standalone.${fromSource ? 'ts' : 'js'}`, import.meta.url),
  );
  const proc = host.spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), entry, file], {
    name: `${host.name}/${name}`,
    logFile: log,
  });
  await proc.whileRunning(
    waitFor(
      `${name} ready`,
      async () => {
        const { readFileSync } = await import('node:fs');
        return readFileSync(log, 'utf8').includes('"msg":"ready"') ? true : undefined;
      },
      20_000,
      50,
    ),
  );
  return {
    proc,
    file,
    log,
    reload: (c: StandaloneConfig) => {
      writeFileSync(file, JSON.stringify(c));
      proc.signal('SIGHUP');
    },
  };
}

/** A peer spec with Bollard's defaults (eBGP, 90 s hold) for tests. */
export function peer(
  p: Partial<PeerSpec> & Pick<PeerSpec, 'name' | 'peerAddress' | 'myASN' | 'peerASN'>,
): PeerSpec {
  return {
    peerPort: 179,
    holdTimeMs: 9000,
    keepaliveTimeMs: 3000,
    ebgpMultiHop: false,
    gracefulRestart: false,
    dualStack: false,
    ...p,
  };
}

export const community = (a: number, b: number): number => ((a << 16) | b) >>> 0;
