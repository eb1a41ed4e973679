// `npm run bench -- fuzz [--iterations=N] [--seed=S]`: the long BGP decoder fuzz run (default
// 1,000,000 inputs). Crashers are written to test/fixtures/bgp/crashers/crasher-*.json.
import { writeFileSync } from 'node:fs';
import { fuzz } from '../test/support/fuzz-bgp.js';
import { repoPath } from '../test/support/repo.js';

function flag(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : fallback;
}

export async function run(args: string[]): Promise<void> {
  const iterations = flag(args, 'iterations', 1_000_000);
  const seed = flag(args, 'seed', 20261121);
  const batch = 100_000;
  let total = { inputs: 0, decoded: 0, rejected: 0, crashes: 0, elapsedMs: 0, slowestMs: 0 };
  for (let done = 0, i = 0; done < iterations; done += batch, i++) {
    const s = fuzz({ iterations: Math.min(batch, iterations - done), seed: seed + i });
    for (const c of s.crashes) {
      const name = `crasher-${seed + i}-${c.hex.slice(0, 12)}-${total.crashes}.json`;
      writeFileSync(
        repoPath('test', 'fixtures', 'bgp', 'crashers', name),
        JSON.stringify({ session: c.session, expect: 'rejected', note: c.error, hex: c.hex }, null, 2) + '\n',
      );
    }
    total = {
      inputs: total.inputs + s.inputs,
      decoded: total.decoded + s.decoded,
      rejected: total.rejected + s.rejected,
      crashes: total.crashes + s.crashes.length,
      elapsedMs: total.elapsedMs + s.elapsedMs,
      slowestMs: Math.max(total.slowestMs, s.slowestMs),
    };
    console.log(`  … ${total.inputs} inputs, ${total.crashes} crashes`);
  }
  console.log(`fuzz: ${total.inputs} inputs (seed ${seed}) in ${(total.elapsedMs / 1000).toFixed(1)} s`);
  console.log(
    `  ${Math.round(total.inputs / (total.elapsedMs / 1000))} inputs/s; decoded ${total.decoded}, rejected ${total.rejected}`,
  );
  console.log(`  crashes (non-BgpMessageError, re-encode failure or mismatch): ${total.crashes}`);
  console.log(`  slowest single input: ${total.slowestMs.toFixed(1)} ms`);
  if (total.crashes > 0) process.exitCode = 1;
}
