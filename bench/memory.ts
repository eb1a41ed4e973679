// `npm run bench -- memory [--sizes=1000,10000]`: what the speaker and the controller cost in memory before
// any work, and what each Service adds (issue 17, item 2). Every figure comes from a fresh plain `node` on
// the compiled modules: RSS after importing a module (median of 3), and heap bytes per Service held by the
// speaker's informers, projections and service index after a full GC (test/support/memory-probe.ts), with
// the informers' old transform (managedFields dropped, nothing else) and with the speaker's projections.
// --speaker: a real speaker process against a real kube-apiserver instead (bench/memory/speaker.ts).
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../lab/repo.js';
import type { ProbeResult } from '../test/support/memory-probe.js';
import { runSpeakerMemory, sizesOf } from './memory/speaker.js';

const MiB = 2 ** 20;

function importRss(specifier: string): number {
  const runs = [0, 1, 2].map(() => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(specifier)}); console.log(process.memoryUsage().rss)`,
      ],
      { cwd: repoPath(), encoding: 'utf8' },
    );
    return Number(out.trim().split('\n').pop());
  });
  return [...runs].sort((a, b) => a - b)[1] ?? NaN;
}

export async function run(args: string[]): Promise<void> {
  if (args.includes('--speaker')) return runSpeakerMemory(args);
  console.log(`node ${process.version}; RSS after import (median of 3, MiB):`);
  const dist = (...p: string[]) => pathToFileURL(repoPath('dist', ...p)).href;
  for (const [label, spec] of [
    ['bare node (node:fs)', 'node:fs'],
    ['@kubernetes/client-node', '@kubernetes/client-node'],
    ['pino', 'pino'],
    ['prom-client', 'prom-client'],
    ['yaml', 'yaml'],
    ['commander', 'commander'],
    ['k8s/client.js', dist('k8s', 'client.js')],
    ['k8s/informer.js', dist('k8s', 'informer.js')],
    ['speaker/cli-entry.js', dist('speaker', 'cli-entry.js')],
    ['controller/cli-entry.js', dist('controller', 'cli-entry.js')],
  ] as const)
    console.log(`  ${label.padEnd(28)} ${(importRss(spec) / MiB).toFixed(1)}`);
  console.log('speaker caches per Service (informers + service index, after GC):');
  const probe = repoPath('dist', 'test', 'support', 'memory-probe.js');
  for (const n of sizesOf(args, [1000, 10000]))
    for (const mode of ['before', 'after'] as const) {
      const r = JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', probe, String(n), mode], { encoding: 'utf8' }).trim(),
      ) as ProbeResult;
      console.log(
        `  ${String(n).padStart(6)} Services, ${mode === 'before' ? 'managedFields dropped only' : 'projections              '}: ` +
          `${Math.round(r.bytesPerService)} B/Service, heap ${(r.heapBytes / MiB).toFixed(1)} MiB, RSS ${(r.rssBytes / MiB).toFixed(1)} MiB`,
      );
    }
  await Promise.resolve();
}
