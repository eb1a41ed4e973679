// Hosts as network namespaces on a bridge that lives in a namespace of its own: nothing here touches
// the machine's own network namespace, so no packet of a test can leave the lab.
// Every name carries a per-run prefix `bollard-<pid>-<tag>-`, so two runs never collide and a later
// run can find and remove what a crashed run left (the pid in the name is dead).
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ManagedProcess, pidAlive, waitFor, type SpawnOptions } from './process.js';

const execFileP = promisify(execFile);
export const NETNS_PREFIX = 'bollard-';

export class NetnsError extends Error {
  constructor(
    readonly target: string,
    readonly reason: string,
  ) {
    super(`${target}: ${reason}`);
    this.name = 'NetnsError';
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command in the machine's namespace (ip, sysctl…); throws NetnsError on failure unless `allowFail`. */
export async function run(cmd: string, args: readonly string[], allowFail = false): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    const result = {
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
      code: typeof e.code === 'number' ? e.code : 1,
    };
    if (allowFail) return result;
    throw new NetnsError(`${cmd} ${args.join(' ')}`, result.stderr.trim() || `exit ${result.code}`);
  }
}

function ipIn(ns: string, ...args: string[]): Promise<ExecResult> {
  return run('ip', ['-n', ns, ...args]);
}

export function listNetns(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Kills every process in `ns` and deletes it. */
export async function deleteNetns(ns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns], true);
  for (const p of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await run('ip', ['netns', 'delete', ns], true);
}

/** Removes namespaces left by runs whose process is gone (`bollard-<pid>-…` with a dead pid). */
export async function removeStaleNetns(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of listNetns()) {
    const m = /^bollard-(\d+)-/.exec(ns);
    if (!m || pidAlive(Number(m[1]))) continue;
    await deleteNetns(ns);
    removed.push(ns);
  }
  return removed;
}

export interface HostAddress {
  /** e.g. '10.0.0.11/24' */
  ipv4?: string;
  /** e.g. 'fd00::11/64' */
  ipv6?: string;
  /** e.g. '02:00:00:00:00:11'; default: derived from the host's index */
  mac?: string;
}

/** A host: a network namespace with `eth0` on the LAN bridge. */
export class Host {
  constructor(
    readonly name: string,
    readonly ns: string,
    readonly ifname: string,
    readonly mac: string,
    readonly ipv4: string | undefined,
    readonly ipv6: string | undefined,
    /** The bridge port (in the bridge's namespace) this host is plugged into. */
    readonly bridgePort: string,
    private readonly lan: Lan,
  ) {}

  /** IPv4 address without the prefix length. */
  get ip4(): string | undefined {
    return this.ipv4?.split('/')[0];
  }

  get ip6(): string | undefined {
    return this.ipv6?.split('/')[0];
  }

  /** Runs a command inside the host; resolves with its output and exit code (never throws for a non-zero exit). */
  exec(cmd: string, args: readonly string[] = [], timeoutMs = 60_000): Promise<ExecResult> {
    return new Promise((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', this.ns, cmd, ...args],
        { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === 'number'
              ? (err as { code: number }).code
              : 1
            : 0;
          resolve({ stdout, stderr, code });
        },
      );
    });
  }

  /** Like exec, but throws NetnsError on a non-zero exit. */
  async sh(cmd: string, args: readonly string[] = [], timeoutMs = 60_000): Promise<string> {
    const r = await this.exec(cmd, args, timeoutMs);
    if (r.code !== 0)
      throw new NetnsError(`${this.name}: ${cmd} ${args.join(' ')}`, r.stderr.trim() || `exit ${r.code}`);
    return r.stdout;
  }

  /** Starts a long-running process inside the host. */
  spawn(cmd: string, args: readonly string[], opts: SpawnOptions): ManagedProcess {
    return ManagedProcess.start('ip', ['netns', 'exec', this.ns, cmd, ...args], opts);
  }

  /** Sets the host's LAN link down or up (at the bridge port, as if the cable were pulled). */
  async link(state: 'up' | 'down'): Promise<void> {
    await ipIn(this.lan.bridgeNs, 'link', 'set', this.bridgePort, state);
  }

  /** Adds an address to the host's LAN interface (e.g. a second subnet). */
  async addAddress(cidr: string): Promise<void> {
    await ipIn(this.ns, 'addr', 'add', cidr, 'dev', this.ifname, ...(cidr.includes(':') ? ['nodad'] : []));
  }

  async addRoute(dest: string, via: string): Promise<void> {
    await ipIn(this.ns, ...(dest.includes(':') ? ['-6'] : []), 'route', 'replace', dest, 'via', via);
  }
}

export interface Capture {
  file: string;
  /** Stops tcpdump and waits until the file is complete. */
  stop(): Promise<void>;
}

/** A LAN: a bridge `br0` inside its own namespace, with hosts attached by veth pairs. */
export class Lan {
  readonly hosts = new Map<string, Host>();
  private readonly extraNs: string[] = [];
  private destroyed = false;

  private constructor(
    readonly prefix: string,
    readonly bridgeNs: string,
  ) {}

  /** Makes the bridge namespace. `tag` names the run (default random); the prefix is `bollard-<pid>-<tag>-`. */
  static async create(tag = randomBytes(3).toString('hex')): Promise<Lan> {
    await removeStaleNetns();
    const prefix = `${NETNS_PREFIX}${process.pid}-${tag}-`;
    const bridgeNs = `${prefix}lan`;
    await run('ip', ['netns', 'add', bridgeNs]);
    const lan = new Lan(prefix, bridgeNs);
    try {
      await ipIn(bridgeNs, 'link', 'set', 'lo', 'up');
      await ipIn(
        bridgeNs,
        'link',
        'add',
        'br0',
        'type',
        'bridge',
        'stp_state',
        '0',
        'forward_delay',
        '0',
        'mcast_snooping',
        '0',
      );
      await ipIn(bridgeNs, 'link', 'set', 'br0', 'up');
      // The bridge's own namespace keeps no IPv6 addresses of its own and forwards nothing through iptables.
      await run('ip', ['netns', 'exec', bridgeNs, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    } catch (err) {
      await lan.destroy();
      throw err;
    }
    return lan;
  }

  /** A namespace with this run's prefix that is not on the bridge (e.g. an external host behind a router). */
  async addNamespace(name: string): Promise<string> {
    const ns = `${this.prefix}${name}`;
    await run('ip', ['netns', 'add', ns]);
    this.extraNs.push(ns);
    await ipIn(ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** Adds a host on the bridge with `eth0` carrying the given addresses. */
  async addHost(name: string, addr: HostAddress): Promise<Host> {
    if (this.hosts.has(name)) throw new NetnsError(name, 'host exists');
    const ns = `${this.prefix}${name}`;
    const index = this.hosts.size + 1;
    const mac =
      addr.mac ??
      `02:b0:11:${((process.pid >> 8) & 0xff).toString(16).padStart(2, '0')}:${(process.pid & 0xff).toString(16).padStart(2, '0')}:${index.toString(16).padStart(2, '0')}`;
    const port = `p${index}-${name}`.slice(0, 15);
    await run('ip', ['netns', 'add', ns]);
    const host = new Host(name, ns, 'eth0', mac, addr.ipv4, addr.ipv6, port, this);
    this.hosts.set(name, host);
    await ipIn(ns, 'link', 'set', 'lo', 'up');
    await ipIn(this.bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ipIn(this.bridgeNs, 'link', 'set', port, 'master', 'br0');
    await ipIn(this.bridgeNs, 'link', 'set', port, 'up');
    await ipIn(ns, 'link', 'set', 'eth0', 'address', mac);
    if (addr.ipv4) await ipIn(ns, 'addr', 'add', addr.ipv4, 'dev', 'eth0');
    if (addr.ipv6) await ipIn(ns, 'addr', 'add', addr.ipv6, 'dev', 'eth0', 'nodad');
    await ipIn(ns, 'link', 'set', 'eth0', 'up');
    return host;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new NetnsError(name, 'no such host');
    return h;
  }

  /** Captures frames on the bridge with tcpdump into `file` (pcap). Resolves once tcpdump is listening. */
  async capture(file: string, filter: string[] = [], logFile = `${file}.log`): Promise<Capture> {
    rmSync(logFile, { force: true });
    const proc = ManagedProcess.start(
      'ip',
      [
        'netns',
        'exec',
        this.bridgeNs,
        'tcpdump',
        '-i',
        'br0',
        '--immediate-mode',
        '-U',
        '-n',
        '-Z',
        'root',
        '-w',
        file,
        ...filter,
      ],
      {
        name: 'tcpdump',
        logFile,
      },
    );
    await proc.whileRunning(
      waitFor(
        'tcpdump listening',
        () => {
          try {
            return readFileSync(logFile, 'utf8').includes('listening on') ? true : undefined;
          } catch {
            return undefined;
          }
        },
        10_000,
        50,
      ),
    );
    return {
      file,
      stop: async () => {
        // tcpdump reads its ring asynchronously: let it drain (file size steady for 200 ms) before SIGINT.
        let last = -1;
        let steadySince = Date.now();
        await waitFor(
          'tcpdump drained',
          () => {
            const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
            if (size !== last) {
              last = size;
              steadySince = Date.now();
              return undefined;
            }
            return Date.now() - steadySince >= 200 ? true : undefined;
          },
          10_000,
          50,
        );
        proc.signal('SIGINT');
        const t = setTimeout(() => proc.signal('SIGKILL'), 5000);
        await proc.exited;
        clearTimeout(t);
      },
    };
  }

  /** Kills every process in the lab's namespaces and deletes them. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [...[...this.hosts.values()].map((h) => h.ns), ...this.extraNs, this.bridgeNs])
      await deleteNetns(ns);
  }
}
