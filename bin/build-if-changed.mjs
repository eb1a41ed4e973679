#!/usr/bin/env node
// Compiles the tree (tsc -p .) only when a source changed since the last build, so `npm run lab -- …`
// and `npm run bench -- …` answer at once. Sources: every .ts/.mts file and tsconfig.json/package.json
// under the folders tsconfig includes; the stamp is dist/.build-stamp, written after a clean build.
// On type errors it says so and the command runs the last build (as `tsc || echo` did); with --strict
// (prepare, so `npm ci` fails on a type error) it fails instead.
import {
  existsSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
  mkdirSync,
  utimesSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const stamp = join(root, 'dist', '.build-stamp');
const args = process.argv.slice(2);
const tag = args.find((a) => !a.startsWith('--')) ?? 'build';
// --strict (npm ci's prepare): a type error fails the command instead of running the last build
const strict = args.includes('--strict');

function newest(dir, skip) {
  let t = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!skip.has(e.name)) t = Math.max(t, newest(p, skip));
    } else if (/\.(m?ts|json)$/.test(e.name)) {
      t = Math.max(t, statSync(p).mtimeMs);
    }
  }
  return t;
}

const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
const skip = new Set(['node_modules', 'dist', 'build', '.lab']);
let latest = Math.max(
  statSync(join(root, 'tsconfig.json')).mtimeMs,
  statSync(join(root, 'package.json')).mtimeMs,
);
for (const inc of tsconfig.include ?? []) latest = Math.max(latest, newest(join(root, inc), skip));
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (built >= latest) process.exit(0);

const started = Date.now();
const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], {
  stdio: 'inherit',
});
if (r.status === 0) {
  mkdirSync(dirname(stamp), { recursive: true });
  writeFileSync(stamp, `${new Date(started).toISOString()}\n`);
  // a source saved while tsc ran is newer than the stamp: the next command compiles again
  utimesSync(stamp, new Date(started), new Date(started));
  process.stderr.write(`[${tag}] compiled in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
} else if (strict) {
  process.exit(r.status ?? 1);
} else {
  process.stderr.write(`[${tag}] type errors above; running the last build\n`);
}
