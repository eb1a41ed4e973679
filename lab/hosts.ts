// A lab host as the lab sees it: a network namespace where commands and long-running processes run.
// A host may have a private /run (the router's), bind-mounted in the mount namespace `ip netns exec`
// makes, so daemons and their CLIs find their control sockets at the default paths (birdc, vtysh)
// while the files live under the lab's folder.
import { execFile } from 'node:child_process';
import { cgroupMountScript } from './memory-cgroup.js';
import { ManagedProcess, type SpawnOptions } from './process.js';
import { NetnsError, type ExecResult } from './netns.js';

const MOUNT_RUN = 'mount --bind "$1" /run && shift && exec "$@"';

export class LabHost {
  constructor(
    readonly name: string,
    readonly ns: string,
    /** A folder bind-mounted on /run for everything run in this host. */
    readonly runDir?: string,
  ) {}

  /** The full command line that runs `cmd args` inside this host (for exec from any process). */
  argv(cmd: string, args: readonly string[] = []): string[] {
    const mount = this.runDir ? ['sh', '-c', MOUNT_RUN, 'lab-run', this.runDir] : [];
    return ['ip', 'netns', 'exec', this.ns, ...mount, cmd, ...args];
  }

  /** Runs a command inside the host; never throws for a non-zero exit. */
  exec(cmd: string, args: readonly string[] = [], timeoutMs = 60_000): Promise<ExecResult> {
    const [first, ...rest] = this.argv(cmd, args);
    return new Promise((resolve) => {
      execFile(
        first as string,
        rest,
        { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const raw = (err as { code?: unknown } | null)?.code;
          resolve({ stdout, stderr, code: err ? (typeof raw === 'number' ? raw : 1) : 0 });
        },
      );
    });
  }

  /** Like exec, but throws NetnsError on a non-zero exit. */
  async sh(cmd: string, args: readonly string[] = [], timeoutMs = 60_000): Promise<string> {
    const r = await this.exec(cmd, args, timeoutMs);
    if (r.code !== 0) {
      throw new NetnsError(`${this.name}: ${cmd} ${args.join(' ')}`, r.stderr.trim() || `exit ${r.code}`);
    }
    return r.stdout;
  }

  /** Starts a long-running process inside the host (dies with this process). */
  spawn(cmd: string, args: readonly string[], opts: SpawnOptions): ManagedProcess {
    // in a memory cgroup: make it visible inside, so the process sees its limit as in a container
    const [first, ...rest] = opts.cgroupProcs
      ? this.argv('sh', ['-c', cgroupMountScript(), 'lab-cgroup', cmd, ...args])
      : this.argv(cmd, args);
    return ManagedProcess.start(first as string, rest, opts);
  }

  /**
   * Starts a long-running process in the host's network namespace only, sharing the machine's mount
   * namespace (`nsenter --net`): what a node's kubelet and containerd need, since the kubelet's volume
   * mounts must be the ones containerd bind-mounts into containers.
   */
  spawnNetOnly(cmd: string, args: readonly string[], opts: SpawnOptions): ManagedProcess {
    return ManagedProcess.start('nsenter', [`--net=/var/run/netns/${this.ns}`, '--', cmd, ...args], opts);
  }

  /** Sets sysctls inside the host (`net.ipv4.ip_forward=1` …). */
  async sysctl(settings: Record<string, string | number>): Promise<void> {
    const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    if (args.length > 0) await this.sh('sysctl', ['-qw', ...args]);
  }
}
