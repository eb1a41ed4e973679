// The lab's memory cgroups (lab/memory-cgroup.ts): a process started with `cgroupProcs` runs inside
// the cgroup from its first instruction, so Node sizes its heap from the limit as it does in a container
// with resources.limits.memory; the kernel reports its usage; the cgroup is removed afterwards.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryCgroup, removeStaleCgroups } from '../../lab/memory-cgroup.js';
import { ManagedProcess } from '../../lab/process.js';
import { LabHost } from '../../lab/hosts.js';
import { execFileSync } from 'node:child_process';

interface Seen {
  constrained: number;
  heapLimit: number;
  cgroup: string;
}

/** What a Node process sees of its memory (it holds 64 MiB meanwhile), started by `start`. */
async function whatItSees(start: (args: string[], logFile: string) => ManagedProcess): Promise<Seen> {
  const dir = mkdtempSync(join(tmpdir(), 'bollard-cg-test-'));
  try {
    const log = join(dir, 'out.log');
    const p = start(
      [
        '-e',
        "const v8 = require('node:v8'); const keep = Buffer.alloc(64 * 2 ** 20, 1);" +
          "console.log(JSON.stringify({ constrained: process.constrainedMemory(), heapLimit: v8.getHeapStatistics().heap_size_limit, cgroup: require('node:fs').readFileSync('/proc/self/cgroup', 'utf8'), kept: keep.length }));",
      ],
      log,
    );
    const status = await p.exited;
    assert.equal(status.code, 0, readFileSync(log, 'utf8'));
    return JSON.parse(readFileSync(log, 'utf8').trim().split('\n').pop() as string) as Seen;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('lab memory cgroups', () => {
  it('a process joins before it starts: Node sees the limit, the kernel counts its memory', async () => {
    const cg = MemoryCgroup.create(`${process.pid}-test-${Date.now()}`, 300);
    try {
      const out = await whatItSees((args, logFile) =>
        ManagedProcess.start(process.execPath, args, {
          name: 'cg-probe',
          logFile,
          cgroupProcs: cg.procsFile,
        }),
      );
      assert.equal(out.constrained, 300 * 2 ** 20);
      // Node 20 sizes the old space from the constrained memory: well under the 4 GiB it takes uncapped
      assert.ok(out.heapLimit < 300 * 2 ** 20, `heap limit ${out.heapLimit}`);
      assert.match(out.cgroup, new RegExp(cg.dir.split('/').pop() as string));
      const u = cg.usage();
      assert.equal(u.limitBytes, 300 * 2 ** 20);
      assert.ok(Number.isNaN(u.peakBytes) || u.peakBytes >= 64 * 2 ** 20, `peak ${u.peakBytes}`);
      assert.equal(u.oomKills, 0);
    } finally {
      cg.remove();
    }
    assert.equal(existsSync(cg.dir), false, 'removed');
  });

  it('inside a lab host (ip netns exec, a fresh /sys) the process still sees its limit, as in a container', async () => {
    const ns = `bollard-${process.pid}-cgtest`;
    const cg = MemoryCgroup.create(`${process.pid}-test-ns-${Date.now()}`, 512);
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const out = await whatItSees((args, logFile) =>
        new LabHost('cgtest', ns).spawn(process.execPath, args, {
          name: 'cg-ns-probe',
          logFile,
          cgroupProcs: cg.procsFile,
        }),
      );
      assert.equal(out.constrained, 512 * 2 ** 20);
      assert.ok(out.heapLimit < 512 * 2 ** 20, `heap limit ${out.heapLimit}`);
      assert.match(out.cgroup, new RegExp(cg.dir.split('/').pop() as string));
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
      cg.remove();
    }
  });

  it('a process over the limit is OOM-killed and counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bollard-cg-test-'));
    const cg = MemoryCgroup.create(`${process.pid}-test-oom-${Date.now()}`, 64);
    try {
      const p = ManagedProcess.start(
        process.execPath,
        ['-e', 'const a = []; for (;;) a.push(Buffer.alloc(8 * 2 ** 20, 1));'],
        { name: 'cg-oom', logFile: join(dir, 'out.log'), cgroupProcs: cg.procsFile },
      );
      const status = await p.exited;
      assert.equal(status.signal, 'SIGKILL');
      assert.equal(cg.usage().oomKills, 1);
    } finally {
      cg.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removes the empty cgroups of runs that are gone, and only those', () => {
    const gone = MemoryCgroup.create(`999999999-test`, 64);
    const mine = MemoryCgroup.create(`${process.pid}-test-live`, 64);
    try {
      const removed = removeStaleCgroups((pid) => pid === process.pid);
      assert.ok(removed.includes(gone.dir.split('/').pop() as string));
      assert.equal(existsSync(gone.dir), false);
      assert.equal(existsSync(mine.dir), true);
    } finally {
      gone.remove();
      mine.remove();
    }
  });
});
