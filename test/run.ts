// `npm test`: installs what the machine lacks, then runs every tier with node's test runner.
//   npm test                         all tiers: unit, integration (real kube-apiserver), e2e (netns),
//                                    cluster (Bollard's image on real kubelet nodes, installed by Helm/kustomize)
//   npm test -- --tier unit          one tier (repeatable)
//   npm test -- test/unit/proto      the test files under a path (source or dist path)
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { repoRoot } from '../lab/repo.js';
import { ensureToolchain } from '../lab/toolchain.js';
import { removeStaleNetns } from '../lab/netns.js';
import { removeStaleControlPlanes } from '../lab/controlplane.js';
import { describeError, ensureImages } from '../lab/image/index.js';

const TIERS = ['unit', 'integration', 'e2e', 'cluster'] as const;
type Tier = (typeof TIERS)[number];

function say(line: string): void {
  process.stdout.write(`[npm test] ${line}\n`);
}

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

async function main(): Promise<void> {
  const root = repoRoot();
  const dist = join(root, 'dist', 'test');
  const args = process.argv.slice(2);
  const tiers: Tier[] = [];
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--tier') {
      const t = args[++i] as Tier;
      if (!TIERS.includes(t)) throw new Error(`unknown tier ${t}; tiers: ${TIERS.join(', ')}`);
      tiers.push(t);
    } else
      paths.push(
        a
          .replace(/^dist\//, '')
          .replace(/\.ts$/, '.js')
          .replace(/^test\//, ''),
      );
  }
  const chosenTiers = tiers.length > 0 ? tiers : [...TIERS];
  let files = chosenTiers.flatMap((t) => testFiles(join(dist, t)));
  if (paths.length > 0) {
    files = files.filter((f) => paths.some((p) => relative(dist, f).startsWith(p)));
  }
  if (files.length === 0) {
    say('no test files matched');
    process.exitCode = 1;
    return;
  }

  const needsMachine = files.some((f) => !relative(dist, f).startsWith('unit'));
  if (needsMachine) {
    if (process.getuid?.() !== 0) {
      say('integration and end-to-end tests need root (network namespaces, iptables); run as root');
      process.exitCode = 1;
      return;
    }
    say('checking the machine: Debian packages and the Kubernetes binaries (built once from lab/build/)');
    ensureToolchain((line) => say(line));
    if (files.some((f) => relative(dist, f).startsWith('cluster'))) {
      say("the cluster tier runs Bollard's image: building the images unless the cache has them (lab/image)");
      const images = await ensureImages((line) => say(line));
      if (!images.ok) throw new Error(`images: ${describeError(images.error)}`);
    }
    const stale = [...(await removeStaleNetns()), ...removeStaleControlPlanes()];
    if (stale.length > 0) say(`removed leftovers of a crashed run: ${stale.join(', ')}`);
  }

  say(`running ${files.length} test files (${chosenTiers.join(', ')})`);
  const child = spawn(
    process.execPath,
    [
      '--test',
      '--test-reporter=spec',
      '--test-concurrency=1',
      '--test-timeout=600000',
      '--enable-source-maps',
      ...files,
    ],
    { stdio: 'inherit', cwd: root },
  );
  const code: number = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
  process.exitCode = code;
}

main().catch((err: unknown) => {
  say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
