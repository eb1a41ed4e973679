// Runs one command of an image build. Its output goes to a log file (long steps) or is returned
// (short queries); a failure is a value that says which step failed and ends with the output's tail.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fail, ok, type Result } from './result.js';

export interface RunOptions {
  /** Names the step in errors, e.g. 'mmdebstrap (runtime base)'. */
  step: string;
  /** Append stdout and stderr here instead of returning stdout. */
  log?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run under `nice -n 10`: heavy steps leave the machine to its other users. */
  nice?: boolean;
}

const TAIL_LINES = 15;

/** Runs `cmd args…`; resolves to its stdout (empty when logged to a file), or to the failure. */
export function run(cmd: string, args: readonly string[], o: RunOptions): Promise<Result<string>> {
  const argv = o.nice ? ['nice', '-n', '10', cmd, ...args] : [cmd, ...args];
  return new Promise((resolve) => {
    if (o.log) mkdirSync(dirname(o.log), { recursive: true });
    const log = o.log ? createWriteStream(o.log, { flags: 'a' }) : undefined;
    log?.write(`$ ${argv.join(' ')}\n`);
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let tail = '';
    const keepTail = (chunk: Buffer): void => {
      tail = (tail + chunk.toString('utf8')).slice(-8192);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (log) log.write(chunk);
      else out.push(chunk);
      keepTail(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      log?.write(chunk);
      keepTail(chunk);
    });
    const finish = (r: Result<string>): void => {
      if (log) log.end(() => resolve(r));
      else resolve(r);
    };
    child.on('error', (err) => finish(fail(o.step, `${cmd}: ${err.message}`, o.log)));
    child.on('close', (code, signal) => {
      if (code === 0) return finish(ok(Buffer.concat(out).toString('utf8')));
      const lines = tail.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
      const how = signal ? `killed by ${signal}` : `exit ${code}`;
      finish(fail(o.step, `${cmd} ${how}${lines ? `:\n${lines}` : ''}`, o.log));
    });
  });
}
