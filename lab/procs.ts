// The lab's processes by host and name, so they can be killed, stopped and started again by hand
// (`npm run lab -- kill node-1 speaker`) and by tests (`lab.kill('node-1', 'speaker')`).
import { LabError } from './errors.js';
import type { ManagedProcess } from './process.js';

export interface ProcSpec {
  host: string;
  name: string;
  /** Starts the process and resolves once it is ready (the lab waits on a real condition). */
  start: () => Promise<ManagedProcess | undefined>;
  /** Custom stop (e.g. the control plane's own). Default: SIGTERM then SIGKILL. */
  stop?: () => Promise<void>;
  /** Whether it is running, when not tracked by a ManagedProcess of ours. */
  running?: () => boolean;
}

export interface ProcInfo {
  host: string;
  name: string;
  pid?: number;
  running: boolean;
}

interface Entry {
  spec: ProcSpec;
  proc?: ManagedProcess;
}

export class ProcessTable {
  private readonly entries = new Map<string, Entry>();

  private static key(host: string, name: string): string {
    return `${host}/${name}`;
  }

  private entry(host: string, name: string): Entry {
    const e = this.entries.get(ProcessTable.key(host, name));
    if (!e) {
      const names = [...this.entries.keys()].filter((k) => k.startsWith(`${host}/`));
      throw new LabError(`${host}/${name}`, `no such process (on ${host}: ${names.join(', ') || 'none'})`);
    }
    return e;
  }

  has(host: string, name: string): boolean {
    return this.entries.has(ProcessTable.key(host, name));
  }

  /** Registers and starts a process. */
  async add(spec: ProcSpec): Promise<ManagedProcess | undefined> {
    const key = ProcessTable.key(spec.host, spec.name);
    if (this.entries.has(key)) throw new LabError(key, 'already registered');
    const entry: Entry = { spec };
    this.entries.set(key, entry);
    entry.proc = await spec.start();
    return entry.proc;
  }

  /** Registers a process that is already running under someone else's control (etcd, kube-apiserver). */
  register(spec: ProcSpec): void {
    this.entries.set(ProcessTable.key(spec.host, spec.name), { spec });
  }

  get(host: string, name: string): ManagedProcess | undefined {
    return this.entry(host, name).proc;
  }

  isRunning(host: string, name: string): boolean {
    const e = this.entry(host, name);
    return e.spec.running ? e.spec.running() : (e.proc?.running ?? false);
  }

  /** Starts it again if it is not running; a no-op when it runs. */
  async start(host: string, name: string): Promise<void> {
    const e = this.entry(host, name);
    if (this.isRunning(host, name)) return;
    e.proc = await e.spec.start();
  }

  /** SIGTERM (then SIGKILL after 5 s) and wait. */
  async stop(host: string, name: string): Promise<void> {
    const e = this.entry(host, name);
    if (e.spec.stop) await e.spec.stop();
    else await e.proc?.stop();
  }

  /** SIGKILL and wait. */
  async kill(host: string, name: string): Promise<void> {
    const e = this.entry(host, name);
    if (e.spec.stop && !e.proc) await e.spec.stop();
    else await e.proc?.kill();
  }

  list(): ProcInfo[] {
    return [...this.entries.values()].map((e) => ({
      host: e.spec.host,
      name: e.spec.name,
      ...(e.proc?.pid !== undefined && e.proc.running ? { pid: e.proc.pid } : {}),
      running: e.spec.running ? e.spec.running() : (e.proc?.running ?? false),
    }));
  }

  /** Removes a process from the table after stopping it (a removed pod's server). */
  async remove(host: string, name: string): Promise<void> {
    await this.kill(host, name);
    this.entries.delete(ProcessTable.key(host, name));
  }

  /** Stops everything at once (SIGTERM, SIGKILL after 2 s). */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.entries.values()].reverse().map(async (e) => {
        try {
          if (e.spec.stop && !e.proc) await e.spec.stop();
          else await e.proc?.stop(2000);
        } catch {
          // keep stopping the rest
        }
      }),
    );
  }
}
