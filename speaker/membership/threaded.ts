// The membership agent on its own thread (worker.ts), behind the same interface as the agent.
//
// The main thread keeps a mirror of what the speaker reads synchronously (the live set, members'
// health results, the metrics snapshot), updated by the worker's messages. setPeers and setHealth
// change the mirror at once as the agent would (new peers start alive), so a pass that runs before
// the worker has answered sees what the in-thread agent would have shown. If the thread dies it is
// started again with the same key, peers and health.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  emptyCounters,
  type AgentEvents,
  type AgentOptions,
  type MembershipHandle,
  type MembershipSnapshot,
} from './agent.js';
import type { Change } from './messages.js';
import type { FromWorker, ToWorker, WorkerInit } from './thread-protocol.js';

const toError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export interface ThreadedOptions extends Omit<AgentOptions, 'now'> {
  /** Snapshot period while nothing changes, ms (default 1000). */
  snapshotMs?: number;
  /** Delay before a dead thread is started again, ms (default 1000). */
  restartMs?: number;
}

const EMPTY_SNAPSHOT: MembershipSnapshot = {
  counters: emptyCounters(),
  stats: { probes: 0, indirectProbes: 0, suspected: 0, declaredDead: 0, refuted: 0 },
  members: [],
};

export class ThreadedMembership extends EventEmitter<AgentEvents> implements MembershipHandle {
  private worker: Worker | undefined;
  private key: Uint8Array;
  private peers = new Map<string, string>();
  private gen = 0;
  private live: Set<string>;
  private readonly health = new Map<string, ReadonlySet<string>>();
  private ownHealth: ReadonlySet<string> = new Set();
  private snap: MembershipSnapshot = EMPTY_SNAPSHOT;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ThreadedOptions) {
    super();
    this.key = opts.key;
    this.live = new Set([opts.self]);
  }

  async start(): Promise<void> {
    const init: WorkerInit = {
      self: this.opts.self,
      port: this.opts.port,
      key: this.key,
      snapshotMs: this.opts.snapshotMs ?? 1000,
      ...(this.opts.bindAddress ? { bindAddress: this.opts.bindAddress } : {}),
      ...(this.opts.options ? { options: this.opts.options } : {}),
      ...(this.opts.tickMs ? { tickMs: this.opts.tickMs } : {}),
    };
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    this.worker = w;
    await new Promise<void>((resolve, reject) => {
      const early = (m: FromWorker): void => {
        if (m.t === 'started') {
          w.off('message', early);
          w.off('exit', exited);
          resolve();
        } else if (m.t === 'start-failed') {
          w.off('message', early);
          w.off('exit', exited);
          this.terminate(w);
          reject(new Error(m.message));
        }
      };
      const exited = (code: number): void =>
        reject(new Error(`membership thread exited (${code}) while starting`));
      w.on('message', early);
      w.once('exit', exited);
    });
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (err) => this.opts.onError?.(err));
    w.once('exit', (code) => {
      if (this.stopped || this.worker !== w) return;
      this.worker = undefined;
      this.opts.onError?.(new Error(`membership thread exited (${code}); starting it again`));
      this.restartTimer = setTimeout(() => this.restartLater(), this.opts.restartMs ?? 1000);
    });
    // a restarted thread gets back what the speaker had told the old one
    if (this.peers.size > 0) this.post({ t: 'peers', gen: ++this.gen, peers: [...this.peers] });
    if (this.ownHealth.size > 0) this.post({ t: 'health', healthy: [...this.ownHealth] });
  }

  /** Failures go to onError, as the thread's own errors do. */
  private terminate(w: Worker): void {
    w.terminate().then(undefined, (err: unknown) => this.opts.onError?.(toError(err)));
  }

  private restartLater(): void {
    this.restart().then(undefined, (err: unknown) => this.opts.onError?.(toError(err)));
  }

  private async restart(): Promise<void> {
    this.restartTimer = undefined;
    if (this.stopped) return;
    try {
      await this.start();
    } catch (err) {
      this.opts.onError?.(err as Error);
      this.restartTimer = setTimeout(() => this.restartLater(), this.opts.restartMs ?? 1000);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.worker) this.terminate(this.worker);
    this.worker = undefined;
  }

  setKey(key: Uint8Array): void {
    this.key = key;
    this.post({ t: 'key', key });
  }

  setPeers(peers: ReadonlyMap<string, string>): void {
    const next = new Map([...peers].filter(([n]) => n !== this.opts.self));
    // the agent's rule, at once: new peers start alive, missing ones are removed
    const changes: Change[] = [];
    for (const n of next.keys())
      if (!this.peers.has(n)) {
        this.live.add(n);
        changes.push({ node: n, from: 'unknown', to: 'alive' });
      }
    for (const n of this.peers.keys())
      if (!next.has(n)) {
        changes.push({ node: n, from: this.live.has(n) ? 'alive' : 'dead', to: 'removed' });
        this.live.delete(n);
        this.health.delete(n);
      }
    this.peers = next;
    this.post({ t: 'peers', gen: ++this.gen, peers: [...next] });
    if (changes.length > 0) this.emit('change', changes);
  }

  setHealth(healthy: ReadonlySet<string>): void {
    this.ownHealth = new Set(healthy);
    this.post({ t: 'health', healthy: [...healthy] });
    this.emit('health', [this.opts.self]);
  }

  liveNodes(): Set<string> {
    return new Set(this.live);
  }

  healthOf(node: string): ReadonlySet<string> | undefined {
    return node === this.opts.self ? this.ownHealth : this.health.get(node);
  }

  snapshot(): MembershipSnapshot {
    return this.snap;
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'change': {
        // a reply from before our last setPeers would undo what setPeers just did: the next one is due
        if (m.gen !== this.gen) return;
        const next = new Set(m.live);
        next.add(this.opts.self);
        const same = next.size === this.live.size && [...next].every((n) => this.live.has(n));
        this.live = next;
        if (m.changes.length > 0 || !same) this.emit('change', m.changes);
        break;
      }
      case 'health':
        for (const [n, keys] of m.health) if (n !== this.opts.self) this.health.set(n, new Set(keys));
        if (m.nodes.some((n) => n !== this.opts.self)) this.emit('health', m.nodes);
        break;
      case 'snapshot':
        this.snap = m.snapshot;
        this.emit('snapshot', m.snapshot);
        break;
      case 'error':
        this.opts.onError?.(new Error(m.message));
        break;
      default:
        break;
    }
  }
}
