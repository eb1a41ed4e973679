// A memory cgroup for one lab process, as a container's resources.limits.memory: the kernel holds the
// process to the limit (and OOM-kills it above), and Node sizes its heap from it. cgroup v2 where the
// memory controller is there, else v1's memory hierarchy. The process joins before it runs anything
// (ManagedProcess's `cgroupProcs`), so Node sees the limit at start. Named bollard-<pid>-<tag>-<what>;
// a later lab removes the ones whose run is gone.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';

const V2_ROOT = '/sys/fs/cgroup';
const V1_ROOT = '/sys/fs/cgroup/memory';
const PREFIX = 'bollard-';

export interface MemoryUsage {
  limitBytes: number;
  currentBytes: number;
  /** Highest usage so far (v2 needs Linux ≥ 5.19 for memory.peak; NaN without it). */
  peakBytes: number;
  /** Processes the kernel killed for going over the limit. */
  oomKills: number;
}

function hierarchy(): { root: string; v2: boolean } | undefined {
  const controllers = join(V2_ROOT, 'cgroup.controllers');
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('memory'))
    return { root: V2_ROOT, v2: true };
  if (existsSync(join(V1_ROOT, 'memory.limit_in_bytes'))) return { root: V1_ROOT, v2: false };
  return undefined;
}

const readNumber = (file: string): number => {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return NaN;
  }
};

const oomKillsIn = (file: string): number => {
  try {
    return Number(/^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  } catch {
    return NaN;
  }
};

/**
 * A shell line that mounts the memory cgroup hierarchy at its usual place and then runs "$@". `ip netns
 * exec` gives its command a fresh /sys without /sys/fs/cgroup, where Node would find no limit (and size
 * its heap from the machine's memory); a container has it.
 */
export function cgroupMountScript(): string {
  const h = hierarchy();
  if (!h) return 'exec "$@"';
  return h.v2
    ? 'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$@"'
    : 'mount -t tmpfs cgroup /sys/fs/cgroup && mkdir -p /sys/fs/cgroup/memory && mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory && exec "$@"';
}

export class MemoryCgroup {
  private constructor(
    readonly dir: string,
    private readonly v2: boolean,
  ) {}

  /** Creates (or reuses) the cgroup `name` with a limit of `limitMiB`. */
  static create(name: string, limitMiB: number): MemoryCgroup {
    const h = hierarchy();
    if (!h) throw new LabError(name, 'no memory cgroup hierarchy (cgroup v2 memory controller or v1 memory)');
    const dir = join(h.root, `${PREFIX}${name}`);
    const bytes = String(Math.round(limitMiB * 2 ** 20));
    try {
      mkdirSync(dir, { recursive: true });
      if (h.v2) {
        writeFileSync(join(dir, 'memory.max'), bytes);
        if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
      } else {
        writeFileSync(join(dir, 'memory.limit_in_bytes'), bytes);
        // no swap either, as a container limit without swap accounting
        if (existsSync(join(dir, 'memory.memsw.limit_in_bytes')))
          writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), bytes);
      }
    } catch (err) {
      throw new LabError(name, `cannot make memory cgroup ${dir}: ${(err as Error).message}`);
    }
    return new MemoryCgroup(dir, h.v2);
  }

  /** The file a process writes its pid to, to join. */
  get procsFile(): string {
    return join(this.dir, 'cgroup.procs');
  }

  usage(): MemoryUsage {
    const f = (n: string): string => join(this.dir, n);
    return this.v2
      ? {
          limitBytes: readNumber(f('memory.max')),
          currentBytes: readNumber(f('memory.current')),
          peakBytes: readNumber(f('memory.peak')),
          oomKills: oomKillsIn(f('memory.events')),
        }
      : {
          limitBytes: readNumber(f('memory.limit_in_bytes')),
          currentBytes: readNumber(f('memory.usage_in_bytes')),
          peakBytes: readNumber(f('memory.max_usage_in_bytes')),
          oomKills: oomKillsIn(f('memory.oom_control')),
        };
  }

  /** Removes the cgroup once its processes are gone (a no-op while any is left). */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // busy or gone
    }
  }
}

/** Removes the empty lab cgroups of runs whose process is gone (bollard-<pid>-…). */
export function removeStaleCgroups(alive: (pid: number) => boolean): string[] {
  const h = hierarchy();
  if (!h) return [];
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(h.root).filter((n) => n.startsWith(PREFIX));
  } catch {
    return [];
  }
  for (const n of names) {
    const pid = Number(n.slice(PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
    try {
      rmdirSync(join(h.root, n));
      removed.push(n);
    } catch {
      // still has processes, or not ours to remove
    }
  }
  return removed;
}
