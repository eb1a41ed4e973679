// `npm run bench [-- NAME…]`: runs benchmark modules bench/NAME.ts and prints their figures.
// Every module exports `run(args: string[]): Promise<void>` and prints its own figures.
// With no NAME, runs every module listed in DEFAULT (the long ones, like fuzz and chaos, only by name).
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

interface BenchModule {
  run(args: string[]): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js')
  .map((f) => f.slice(0, -3))
  .sort();
const LONG = new Set(['fuzz', 'chaos', 'soak', 'scale', 'cluster', 'versus']);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const names = argv.filter((a) => !a.startsWith('-'));
  const flags = argv.filter((a) => a.startsWith('-'));
  const chosen = names.length > 0 ? names : available.filter((n) => !LONG.has(n));
  console.log(
    `# bollard bench ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  for (const name of chosen) {
    if (!available.includes(name)) {
      console.error(`unknown benchmark ${name}; available: ${available.join(', ')}`);
      process.exitCode = 2;
      continue;
    }
    console.log(`\n## ${name}`);
    const mod = (await import(`./${name}.js`)) as BenchModule;
    await mod.run(flags);
  }
}

await main();
