// Child processes the lab and the tests start: logged to a file, killed with their parent
// (PR_SET_PDEATHSIG through setpriv, so an interrupted test leaves nothing running), and
// stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  type WriteStream,
} from 'node:fs';
import { dirname } from 'node:path';

export class ProcessError extends Error {
  constructor(
    readonly processName: string,
    readonly reason: string,
  ) {
    super(`${processName}: ${reason}`);
    this.name = 'ProcessError';
  }
}

export interface SpawnOptions {
  /** Name used in errors and logs. */
  name: string;
  /** Where stdout and stderr go (appended). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the child when this process dies (default true). */
  dieWithParent?: boolean;
  /**
   * A cgroup's `cgroup.procs` (or one per hierarchy, for cgroup v1): the child joins before it runs
   * anything (lab/memory-cgroup.ts, lab/node-cgroups.ts).
   */
  cgroupProcs?: string | readonly string[];
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running child process. */
export class ManagedProcess {
  readonly exited: Promise<ExitStatus>;
  private exitStatus: ExitStatus | undefined;
  private readonly log: WriteStream;
  /** Resolves once everything the child wrote is in its log file. */
  private readonly logFlushed: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    log: WriteStream,
    /** Where its stdout and stderr go. */
    readonly logFile: string,
  ) {
    this.log = log;
    this.logFlushed = new Promise((resolve) => {
      log.once('finish', () => resolve());
      log.once('error', () => resolve());
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
      child.once('error', () => {
        this.exitStatus ??= { code: null, signal: null };
        resolve(this.exitStatus);
      });
    });
    // The log ends once the child's stdout and stderr have closed ('close'), not at 'exit': output
    // still buffered in the pipes at exit would be written after the end and throw in the test.
    let ended = false;
    const endLog = (): void => {
      if (ended) return;
      ended = true;
      this.log.end();
    };
    child.once('close', endLog);
    child.once('error', endLog);
  }

  static start(command: string, args: readonly string[], opts: SpawnOptions): ManagedProcess {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    const log = createWriteStream(opts.logFile, { flags: 'a' });
    const guarded =
      opts.dieWithParent === false
        ? [command, ...args]
        : ['setpriv', '--pdeathsig', 'SIGKILL', '--', command, ...args];
    // the shell joins the cgroup and then becomes the command (same pid), so nothing runs outside it
    const procs = opts.cgroupProcs === undefined ? [] : [opts.cgroupProcs].flat();
    const wrapped =
      procs.length > 0
        ? [
            'sh',
            '-c',
            'IFS=:; for f in $0; do echo $$ > "$f" || exit 1; done; unset IFS; exec "$@"',
            procs.join(':'),
            ...guarded,
          ]
        : guarded;
    const [cmd, ...rest] = wrapped;
    const child = spawn(cmd as string, rest, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    track(child);
    return new ManagedProcess(opts.name, child, log, opts.logFile);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** Sends a signal without waiting. */
  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  async stop(graceMs = 5000): Promise<ExitStatus> {
    if (!this.running) return this.exitStatus as ExitStatus;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL and wait. */
  async kill(): Promise<ExitStatus> {
    if (!this.running) return this.exitStatus as ExitStatus;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /**
   * Rejects if the process exits before `ready` resolves; the error carries the end of its log (read once
   * the log has everything the process wrote).
   */
  async whileRunning<T>(ready: Promise<T>): Promise<T> {
    const died = this.exited.then(async (s) => {
      // (bounded: a child that left its pipes to a grandchild never closes them)
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([this.logFlushed, new Promise((r) => (bound = setTimeout(r, 2000)))]);
      clearTimeout(bound);
      throw new ProcessError(
        this.name,
        `exited early (code ${s.code}, signal ${s.signal}); the end of its log ${this.logFile}:\n${this.logTail()}`,
      );
    });
    return Promise.race([ready, died]);
  }

  /** The last `bytes` of its log file ('' if it cannot be read). */
  logTail(bytes = 2000): string {
    try {
      const fd = openSync(this.logFile, 'r');
      try {
        const size = fstatSync(fd).size;
        const len = Math.min(size, bytes);
        const buf = Buffer.alloc(len);
        readSync(fd, buf, 0, len, size - len);
        return buf.toString('utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return '';
    }
  }
}

// Every child still running when this process exits gets SIGKILL (belt and braces with pdeathsig).
const live = new Set<ChildProcess>();
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}
process.once('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Whether a process with this pid exists (it may belong to another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves after `ms` (for polling loops that have no event to await). */
export async function delay(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new ProcessError(what, `not ready after ${timeoutMs} ms${why}`);
    }
    await delay(intervalMs);
  }
}
