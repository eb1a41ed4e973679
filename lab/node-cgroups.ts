// The cgroup tree of one real lab node: what a machine's root cgroup is to a real kubelet. Its kubelet
// (cgroupfs driver) puts the pods under it (`<root>/kubepods…`) and its containerd, with every shim it
// starts, runs in `<root>/runtime`, so one node's pods never meet another's in a cgroup and removing a
// node kills everything it ran. On cgroup v1 (this machine: v1 controllers plus a unified hierarchy)
// the same relative path is made in every v1 hierarchy, as the kubelet expects.
// Named bollard-<pid>-<tag>-<node>: a later run removes the trees of runs whose process is gone.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { delay } from './process.js';

const ROOT = '/sys/fs/cgroup';
const PREFIX = 'bollard-';

/** The v1 hierarchies mounted here (cpu, memory, pids…), by their folder under /sys/fs/cgroup. */
export function v1Hierarchies(): string[] {
  let names: string[];
  try {
    names = readdirSync(ROOT);
  } catch {
    return [];
  }
  return names.filter((n) => n !== 'unified' && existsSync(join(ROOT, n, 'tasks')));
}

/** Whether this machine runs cgroup v2 alone (unified at /sys/fs/cgroup). */
export function cgroupV2Only(): boolean {
  return existsSync(join(ROOT, 'cgroup.controllers'));
}

function hierarchyRoots(): string[] {
  return cgroupV2Only() ? [ROOT] : v1Hierarchies().map((h) => join(ROOT, h));
}

/** Where runc may also have made a container's cgroup: the v1 hierarchies and, in hybrid mode, the unified one. */
function removalRoots(): string[] {
  const unified = join(ROOT, 'unified');
  return [
    ...hierarchyRoots(),
    ...(!cgroupV2Only() && existsSync(join(unified, 'cgroup.procs')) ? [unified] : []),
  ];
}

/** cpuset's cpus and mems must be set before a task joins (v1): copy the parent's. */
function initCpuset(dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const file = join(dir, f);
    if (!existsSync(file) || readFileSync(file, 'utf8').trim() !== '') continue;
    writeFileSync(file, readFileSync(join(dir, '..', f), 'utf8').trim());
  }
}

function mkdirCg(root: string, rel: string): void {
  let dir = root;
  for (const part of rel.split('/').filter(Boolean)) {
    dir = join(dir, part);
    if (!existsSync(dir)) mkdirSync(dir);
    if (root.endsWith('/cpuset')) initCpuset(dir);
  }
}

export class NodeCgroups {
  private constructor(
    /** Relative path of the node's root, e.g. `/bollard-123-ab12-node-1` (the kubelet's cgroupRoot). */
    readonly root: string,
  ) {}

  static create(name: string): NodeCgroups {
    const rel = `/${PREFIX}${name}`;
    const roots = hierarchyRoots();
    if (roots.length === 0) throw new LabError(name, 'no cgroup hierarchy under /sys/fs/cgroup');
    try {
      for (const r of roots) {
        mkdirCg(r, rel);
        mkdirCg(r, `${rel}/runtime`);
      }
      if (cgroupV2Only()) enableV2Controllers(join(ROOT, rel));
    } catch (err) {
      throw new LabError(name, `cannot make the node's cgroups ${rel}: ${(err as Error).message}`);
    }
    return new NodeCgroups(rel);
  }

  /** The `cgroup.procs` files a process writes its pid to, to run in `<root>/runtime` everywhere. */
  get runtimeProcs(): string[] {
    return hierarchyRoots().map((r) => join(r, this.root, 'runtime', 'cgroup.procs'));
  }

  get runtimeCgroup(): string {
    return `${this.root}/runtime`;
  }

  /** Kills every process in the tree and removes it. Resolves when it is gone (or after `timeoutMs`). */
  async remove(timeoutMs = 20_000): Promise<void> {
    await removeTree(this.root, timeoutMs);
  }
}

function enableV2Controllers(dir: string): void {
  const available = readFileSync(join(ROOT, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  const want = available.filter((c) => ['cpu', 'cpuset', 'memory', 'pids', 'io'].includes(c));
  const line = want.map((c) => `+${c}`).join(' ');
  if (line) writeFileSync(join(dir, 'cgroup.subtree_control'), line);
}

function pidsUnder(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string): void => {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) out.push(Number(p));
      for (const e of readdirSync(d)) {
        const sub = join(d, e);
        if (statSync(sub).isDirectory()) walk(sub);
      }
    } catch {
      // gone while walking
    }
  };
  walk(dir);
  return out;
}

function rmdirDeep(dir: string): boolean {
  if (!existsSync(dir)) return true;
  let ok = true;
  try {
    for (const e of readdirSync(dir)) {
      const sub = join(dir, e);
      if (statSync(sub).isDirectory()) ok = rmdirDeep(sub) && ok;
    }
    rmdirSync(dir);
  } catch {
    return false;
  }
  return ok;
}

async function removeTree(rel: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let left = 0;
    for (const r of removalRoots()) {
      const dir = join(r, rel);
      if (!existsSync(dir)) continue;
      for (const pid of pidsUnder(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (!rmdirDeep(dir)) left++;
    }
    if (left === 0) return;
    if (Date.now() > deadline)
      throw new LabError(rel, 'cgroup tree still busy after its processes were killed');
    await delay(100);
  }
}

/** Removes the node cgroup trees of runs whose process is gone (bollard-<pid>-…-node-N with runtime/). */
export async function removeStaleNodeCgroups(alive: (pid: number) => boolean): Promise<string[]> {
  const removed: string[] = [];
  const seen = new Set<string>();
  for (const r of removalRoots()) {
    let names: string[] = [];
    try {
      names = readdirSync(r).filter((n) => /^bollard-\d+-[^-]+-node-\d+$/.test(n));
    } catch {
      continue;
    }
    for (const n of names) {
      const pid = Number(n.slice(PREFIX.length).split('-')[0]);
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid) || seen.has(n)) continue;
      seen.add(n);
      await removeTree(`/${n}`, 10_000).catch(() => undefined);
      removed.push(n);
    }
  }
  return removed;
}
