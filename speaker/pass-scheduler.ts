// When the speaker's decision passes run, and over which Services (timers injected, no I/O).
//
// A request names the Services that changed ("ns/name"), or none = everything may have changed
// (membership, Nodes, configuration, the periodic pass). Requests coalesce into one pass. A pass over
// everything runs at once; a pass over changed Services only waits until the last pass's duration
// has gone by since it ended, so Service churn takes at most about half of the CPU and the event
// loop stays free for ARP, NDP, membership and BGP. A failover asks for the Services a lost node
// owned first (`requestFirst`): they are decided at once, before the pass over everything that
// follows, which at thousands of Services takes far longer.

import type { Clock, TimerHandle } from '../proto/clock.js';

export type PassScope = ReadonlySet<string> | 'all';

export interface PassSchedulerOptions {
  /** One pass over `scope`; false = nothing could be decided yet (e.g. no configuration): redo all later. */
  run: (scope: PassScope) => boolean;
  /** After each pass that ran: its scope and duration. */
  onPass?: (scope: PassScope, ms: number) => void;
  /** Times passes and runs the wait between them. */
  clock: Clock;
  /** Runs `fn` as soon as the current work is done (default: a timer of 0 ms; the speaker passes setImmediate). */
  soon?: (fn: () => void) => void;
}

export class PassScheduler {
  private dirty: Set<string> | 'all' = 'all';
  /** Services to decide before anything else (requestFirst), if any. */
  private first: Set<string> | undefined;
  private queued: 'now' | 'later' | undefined;
  private timer: TimerHandle | undefined;
  private lastEnd = Number.NEGATIVE_INFINITY;
  private lastMs = 0;
  private stopped = false;

  private readonly soon: (fn: () => void) => void;

  constructor(private readonly o: PassSchedulerOptions) {
    this.soon =
      o.soon ??
      ((fn) => {
        o.clock.setTimer(fn, 0);
      });
  }

  /** Cancels the wait for a pass over changed Services, if one is armed. */
  private cancel(): void {
    if (this.timer !== undefined) this.o.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** Asks for a pass: `keys` = only these Services changed; none = everything may have. */
  request(keys?: Iterable<string>): void {
    if (this.stopped) return;
    if (keys === undefined) this.dirty = 'all';
    else if (this.dirty !== 'all') for (const k of keys) this.dirty.add(k);
    if (this.queued === 'now') return;
    const wait = this.dirty === 'all' ? 0 : Math.max(0, this.lastEnd + this.lastMs - this.o.clock.now());
    if (this.queued === 'later' && wait > 0) return;
    this.cancel();
    if (wait > 0) {
      this.queued = 'later';
      this.timer = this.o.clock.setTimer(this.fire, wait);
    } else {
      this.queued = 'now';
      this.soon(this.fire);
    }
  }

  /**
   * Asks for a pass over `keys` ahead of any other: it runs at once, and what else is due (a pass
   * over everything, changed Services) runs after it as `request` would have run it.
   */
  requestFirst(keys: Iterable<string>): void {
    if (this.stopped) return;
    this.first ??= new Set();
    for (const k of keys) this.first.add(k);
    if (this.first.size === 0) {
      this.first = undefined;
      return;
    }
    if (this.queued === 'now') return;
    this.cancel();
    this.queued = 'now';
    this.soon(this.fire);
  }

  /** Duration of the last pass, ms. */
  get lastDurationMs(): number {
    return this.lastMs;
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
  }

  private readonly fire = (): void => {
    this.queued = undefined;
    this.timer = undefined;
    if (this.stopped) return;
    const first = this.first;
    this.first = undefined;
    if (first) {
      // the failover's Services now; what else is due (everything, or changed Services) after it
      if (!this.runPass(first)) {
        this.dirty = 'all';
        return;
      }
      if (this.dirty === 'all') {
        this.queued = 'now';
        this.soon(this.fire);
      } else {
        for (const k of first) this.dirty.delete(k);
        if (this.dirty.size > 0) this.request([]);
      }
      return;
    }
    const scope = this.dirty;
    this.dirty = new Set();
    if (!this.runPass(scope)) this.dirty = 'all';
  };

  /** Runs one pass; true when it ran (and its duration counts for the next wait). */
  private runPass(scope: PassScope): boolean {
    const started = this.o.clock.now();
    let ran = false;
    try {
      ran = this.o.run(scope);
    } finally {
      if (ran) {
        this.lastEnd = this.o.clock.now();
        this.lastMs = this.lastEnd - started;
        this.o.onPass?.(scope, this.lastMs);
      }
    }
    return ran;
  }
}
