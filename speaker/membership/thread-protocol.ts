// Messages between the speaker's main thread and its membership thread (threaded.ts <-> worker.ts).
import type { Change } from './messages.js';
import type { AgentOptions, MembershipSnapshot } from './agent.js';

/** The agent's options that can cross to a thread (no functions), and the snapshot period. */
export interface WorkerInit extends Omit<AgentOptions, 'now' | 'onError'> {
  /** How often a snapshot (metrics) is sent while nothing changes, ms. */
  snapshotMs: number;
}

/** Main -> worker. `gen` numbers setPeers calls, so the main thread can tell replies from before one. */
export type ToWorker =
  | { t: 'key'; key: Uint8Array }
  | { t: 'peers'; gen: number; peers: [name: string, address: string][] }
  | { t: 'health'; healthy: string[] };

/** Worker -> main. */
export type FromWorker =
  | { t: 'started' }
  | { t: 'start-failed'; message: string }
  | { t: 'change'; gen: number; changes: Change[]; live: string[] }
  | { t: 'health'; nodes: string[]; health: [node: string, keys: string[]][] }
  | { t: 'snapshot'; snapshot: MembershipSnapshot }
  | { t: 'error'; message: string };
