// The `bollard` command: the controller, the speaker, the lab and diagnostics under one roof.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { controllerCommand } from '../controller/cli-entry.js';
import { speakerCommand } from '../speaker/cli-entry.js';
import { explainCommand } from './explain/index.js';

/** The version in package.json, two folders above dist/cli/main.js: the repository's root, or /app in the image. */
function packageVersion(): string {
  try {
    const pkg = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * `bollard lab …`, loaded only when run: the image holds no lab/, so the controller and the speaker must not
 * import it. The specifier is not a literal so that the image's build compiles without lab/'s sources.
 */
function labCommand(): Command {
  return new Command('lab')
    .description(
      'a whole bare-metal cluster on this machine, from real parts (from a clone of the repository)',
    )
    .usage('<command> [options]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_options: unknown, cmd: Command) => {
      const specifier = new URL('../lab/cli.js', import.meta.url).href;
      const lab: unknown = await import(specifier).catch(() => undefined);
      const labProgram = (lab as { labProgram?: unknown } | undefined)?.labProgram;
      if (typeof labProgram !== 'function') {
        process.stderr.write(
          'bollard lab: the lab is not part of this installation; run it from a clone of the repository\n',
        );
        process.exitCode = 1;
        return;
      }
      await (labProgram as () => Command)().name('bollard lab').parseAsync(cmd.args, { from: 'user' });
    });
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
  program.addCommand(labCommand());
  return program;
}

await buildProgram().parseAsync(process.argv);
