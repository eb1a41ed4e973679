// Mounts a real node leaves behind: the kubelet's volumes (tmpfs, projected tokens), containerd's
// overlay snapshots, sandbox /dev/shm and network namespace files. They live under the node's folder
// in the machine's mount namespace; removing the folder first unmounts them, deepest first.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo; octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  const base = dir.replace(/\/+$/, '');
  let info = '';
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === base || p.startsWith(`${base}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts everything at or below `dir` (lazily where busy). Returns what it could not unmount. */
export function unmountUnder(dir: string): string[] {
  const failed: string[] = [];
  for (let round = 0; round < 3; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return [];
    failed.length = 0;
    for (const p of points) {
      const r = spawnSync('umount', [p], { stdio: 'ignore' });
      if (r.status !== 0 && spawnSync('umount', ['-l', p], { stdio: 'ignore' }).status !== 0) failed.push(p);
    }
  }
  return mountsUnder(dir).length === 0 ? [] : failed;
}
