// The `bollard` command: the controller, the speaker, the lab and diagnostics under one roof.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { repoPath } from '../lab/repo.js';
import { controllerCommand } from '../controller/cli-entry.js';
import { speakerCommand } from '../speaker/cli-entry.js';
import { labProgram } from '../lab/cli.js';
import { explainCommand } from './explain/index.js';

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('bollard')
    .description('Bare-metal LoadBalancer for Kubernetes, compatible with MetalLB configuration')
    .version(packageVersion());
  program.addCommand(controllerCommand());
  program.addCommand(speakerCommand());
  program.addCommand(explainCommand());
  program.addCommand(labProgram());
  return program;
}

await buildProgram().parseAsync(process.argv);
