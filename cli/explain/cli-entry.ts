// Standalone entry until `explain` is wired into cli/main.ts: node dist/cli/explain/cli-entry.js service NS/NAME
import { Command } from 'commander';
import { explainCommand } from './index.js';

const program = new Command('bollard').addCommand(explainCommand());
// `cli-entry.js service x` and `cli-entry.js explain service x` both work.
const args = process.argv.slice(2);
await program.parseAsync(args[0] === 'explain' ? args : ['explain', ...args], { from: 'user' });
