// A work queue with per-key de-duplication and bounded concurrency: a key is never processed by two
// workers at once; a key added while it is being processed is processed again afterwards; failures are
// retried with per-key exponential backoff. One slow key never stalls the others.
import { backoffDelay } from '../k8s/backoff.js';
import { monotonicClock, type Clock, type TimerHandle } from '../proto/clock.js';

export interface WorkQueueOptions {
  concurrency: number;
  handler: (key: string) => Promise<void>;
  onError?: (key: string, err: Error, retryInMs: number) => void;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** The timers of delayed adds and retries (default monotonicClock). */
  clock?: Clock;
}

export class WorkQueue {
  private readonly order: string[] = [];
  private head = 0;
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, TimerHandle>();
  private active = 0;
  private running = false;
  private idleWaiters: (() => void)[] = [];

  private readonly clock: Clock;

  constructor(private readonly opts: WorkQueueOptions) {
    this.clock = opts.clock ?? monotonicClock;
  }

  /** Keys waiting (not counting those being processed). */
  get depth(): number {
    return this.queued.size;
  }

  get inFlight(): number {
    return this.active;
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops taking work and forgets everything queued (in-flight handlers finish on their own). */
  stop(): void {
    this.running = false;
    this.order.length = 0;
    this.head = 0;
    this.queued.clear();
    this.dirty.clear();
    this.failures.clear();
    for (const t of this.timers.values()) this.clock.clearTimer(t);
    this.timers.clear();
    this.notifyIdle();
  }

  add(key: string): void {
    if (!this.running) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.pump();
  }

  /** Adds the key after a delay (coalesces with a pending delayed add). */
  addAfter(key: string, ms: number): void {
    if (!this.running || this.timers.has(key)) return;
    this.timers.set(
      key,
      this.clock.setTimer(() => {
        this.timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  /** Resolves when nothing is queued or in flight (delayed retries not counted). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queued.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if (this.active === 0 && this.queued.size === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private pump(): void {
    while (this.running && this.active < this.opts.concurrency && this.head < this.order.length) {
      const key = this.order[this.head++] as string;
      if (this.head > 1024 && this.head * 2 > this.order.length) {
        this.order.splice(0, this.head);
        this.head = 0;
      }
      if (!this.queued.delete(key)) continue;
      this.active++;
      this.processing.add(key);
      this.work(key);
    }
    this.notifyIdle();
  }

  /** Runs the handler for one key; its outcome (success, or failure and retry) ends the key's turn. */
  private work(key: string): void {
    let run: Promise<void>;
    try {
      run = this.opts.handler(key);
    } catch (err) {
      run = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    run.then(
      () => this.done(key, undefined),
      (err: unknown) => this.done(key, err instanceof Error ? err : new Error(String(err))),
    );
  }

  private done(key: string, err: Error | undefined): void {
    try {
      if (!err) this.failures.delete(key);
      else {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const delay = backoffDelay(
          { initialMs: this.opts.backoffInitialMs ?? 100, maxMs: this.opts.backoffMaxMs ?? 30_000 },
          n,
        );
        this.opts.onError?.(key, err, delay);
        this.addAfter(key, delay);
      }
    } finally {
      this.active--;
      this.processing.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
