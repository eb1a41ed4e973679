// When the speaker's decision passes run, and over which Services (timers injected, no I/O).
//
// A request names the Services that changed ("ns/name"), or none = everything may have changed
// (membership, Nodes, configuration, the periodic pass). Requests coalesce into one pass. A pass over
// everything runs at once; a pass over changed Services only waits until the last pass's duration
// has gone by since it ended, so Service churn takes at most about half of the CPU and the event
// loop stays free for ARP, NDP, membership and BGP.

export type PassScope = ReadonlySet<string> | 'all';

export interface PassTimers {
  now(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  after(fn: () => void, ms: number): () => void;
  /** Runs `fn` as soon as the current work is done (setImmediate). */
  soon(fn: () => void): void;
}

export interface PassSchedulerOptions {
  /** One pass over `scope`; false = nothing could be decided yet (e.g. no configuration): redo all later. */
  run: (scope: PassScope) => boolean;
  /** After each pass that ran: its scope and duration. */
  onPass?: (scope: PassScope, ms: number) => void;
  timers: PassTimers;
}

export class PassScheduler {
  private dirty: Set<string> | 'all' = 'all';
  private queued: 'now' | 'later' | undefined;
  private cancel: (() => void) | undefined;
  private lastEnd = Number.NEGATIVE_INFINITY;
  private lastMs = 0;
  private stopped = false;

  constructor(private readonly o: PassSchedulerOptions) {}

  /** Asks for a pass: `keys` = only these Services changed; none = everything may have. */
  request(keys?: Iterable<string>): void {
    if (this.stopped) return;
    if (keys === undefined) this.dirty = 'all';
    else if (this.dirty !== 'all') for (const k of keys) this.dirty.add(k);
    if (this.queued === 'now') return;
    const wait = this.dirty === 'all' ? 0 : Math.max(0, this.lastEnd + this.lastMs - this.o.timers.now());
    if (this.queued === 'later' && wait > 0) return;
    this.cancel?.();
    this.cancel = undefined;
    if (wait > 0) {
      this.queued = 'later';
      this.cancel = this.o.timers.after(this.fire, wait);
    } else {
      this.queued = 'now';
      this.o.timers.soon(this.fire);
    }
  }

  /** Duration of the last pass, ms. */
  get lastDurationMs(): number {
    return this.lastMs;
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  private readonly fire = (): void => {
    this.queued = undefined;
    this.cancel = undefined;
    if (this.stopped) return;
    const scope = this.dirty;
    this.dirty = new Set();
    const started = this.o.timers.now();
    let ran = false;
    try {
      ran = this.o.run(scope);
    } finally {
      if (ran) {
        this.lastEnd = this.o.timers.now();
        this.lastMs = this.lastEnd - started;
        this.o.onPass?.(scope, this.lastMs);
      } else this.dirty = 'all';
    }
  };
}
