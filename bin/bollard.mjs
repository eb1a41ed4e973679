#!/usr/bin/env node
// The `bollard` command. Runs the compiled CLI (built by `npm ci` / `npm run build`).
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('bollard: not built yet; run `npm run build` first\n');
  process.exit(1);
}
await import(main);
