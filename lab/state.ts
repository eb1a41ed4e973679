// Where the CLI's lab lives (`.lab/` in the repository) and what it leaves behind for the next
// command: the supervisor's pid, the namespaces, the topology. `down` and a later `up` clean by it
// when the supervisor is gone.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNetns, listNetns, removeStaleNetns } from './netns.js';
import { repoPath } from './repo.js';
import { pidAlive } from './process.js';
import type { LabTopology } from './lab.js';

export function labDir(): string {
  return process.env.BOLLARD_LAB_DIR ?? repoPath('.lab');
}

export const paths = {
  state: () => join(labDir(), 'state.json'),
  control: () => join(labDir(), 'control.sock'),
  supervisorLog: () => join(labDir(), 'logs', 'supervisor.log'),
  pid: () => join(labDir(), 'supervisor.pid'),
};

export interface LabState {
  /** The supervisor's pid. */
  pid: number;
  /** Namespace prefix of this lab: `bollard-<pid>-lab-`. */
  prefix: string;
  phase: 'starting' | 'up' | 'failed';
  error?: string;
  options: { nodes: number; router: string; ipv6: boolean };
  startedAt: string;
  upMs?: number;
  topology?: LabTopology;
  /** Per host, a folder bind-mounted on /run for commands run there (the router's). */
  runDirs?: Record<string, string>;
}

export function readState(): LabState | undefined {
  try {
    return JSON.parse(readFileSync(paths.state(), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeState(s: LabState): void {
  writeFileSync(paths.state(), JSON.stringify(s, null, 2) + '\n');
}

/**
 * Removes what a lab left when its supervisor is gone (or after killing it): every namespace with its
 * prefix (and the processes in them), namespaces of dead runs, and the `.lab/` folder. Returns what it did.
 */
export async function cleanByState(): Promise<string[]> {
  const done: string[] = [];
  const state = readState();
  if (state && state.pid > 0 && pidAlive(state.pid) && state.pid !== process.pid) {
    try {
      process.kill(state.pid, 'SIGKILL');
      done.push(`killed supervisor ${state.pid}`);
    } catch {
      // gone
    }
  }
  if (state?.prefix) {
    for (const ns of listNetns().filter((n) => n.startsWith(state.prefix))) {
      await deleteNetns(ns);
      done.push(`deleted namespace ${ns}`);
    }
  }
  for (const ns of await removeStaleNetns()) done.push(`deleted stale namespace ${ns}`);
  if (existsSync(labDir())) {
    rmSync(labDir(), { recursive: true, force: true });
    done.push(`removed ${labDir()}`);
  }
  return done;
}
