// A pass that runs every `intervalMs`, never two at once: a tick that comes while the last pass is
// still running is skipped (the next tick after it ends runs the next pass), so a slow apiserver does
// not pile passes up or let an older pass's writes land after a newer one's. A pass that fails is
// reported, and the next tick runs as usual.
import { monotonicClock, type Clock, type TimerHandle } from '../proto/clock.js';

export interface PeriodicOptions {
  readonly intervalMs: number;
  /** The ticks' timer (default monotonicClock). */
  readonly clock?: Clock;
  readonly pass: () => Promise<void>;
  readonly onError: (err: Error) => void;
}

export class Periodic {
  private timer: TimerHandle | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();
  /** Ticks skipped because a pass was still running (for tests and diagnostics). */
  skipped = 0;

  constructor(private readonly o: PeriodicOptions) {}

  private get clock(): Clock {
    return this.o.clock ?? monotonicClock;
  }

  start(): void {
    if (this.timer) return;
    this.arm();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** One tick every intervalMs: the next is set as each one fires. */
  private arm(): void {
    this.timer = this.clock.setTimer(() => {
      this.arm();
      this.tick();
    }, this.o.intervalMs);
  }

  /** Resolves once the pass under way (if any) has ended and its outcome was handled. */
  idle(): Promise<void> {
    return this.current;
  }

  private tick(): void {
    if (this.running) {
      this.skipped++;
      return;
    }
    this.running = true;
    let pass: Promise<void>;
    try {
      pass = this.o.pass();
    } catch (err) {
      pass = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.current = pass.then(
      () => {
        this.running = false;
      },
      (err: unknown) => {
        this.running = false;
        this.o.onError(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }
}
