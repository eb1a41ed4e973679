// A fake clock for the timer-driven cores (proto/clock.ts Clock): time moves only when
// a test calls advance(), which runs every timer due by then, in order.
import type { Clock, TimerHandle } from '../../proto/clock.js';

export class FakeClock implements Clock {
  private t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.push({ at: this.t + Math.max(0, ms), fn, id });
    return { id } as unknown as TimerHandle;
  }
  clearTimer(h: TimerHandle): void {
    const id = (h as unknown as { id: number }).id;
    this.timers = this.timers.filter((x) => x.id !== id);
  }
  /** Runs every timer due within `ms`, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}
