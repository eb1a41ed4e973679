// The one clock type. Every timer-driven core takes a Clock, so tests run it on a fake one
// (test/support/fake-clock.ts) and the program on `monotonicClock`. Like proto/address.ts, every layer
// may import this module.

/** Injected time: `now` in ms and one-shot timers. */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(h: TimerHandle): void;
}

export interface TimerHandle {
  readonly __timer?: never;
}

function timers(now: () => number): Clock {
  return {
    now,
    setTimer: (fn, ms) => setTimeout(fn, Math.max(0, ms)) as unknown as TimerHandle,
    clearTimer: (h) => clearTimeout(h as unknown as NodeJS.Timeout),
  };
}

/** Monotonic milliseconds (performance.now): for intervals, deadlines and timers. */
export const monotonicClock: Clock = timers(() => performance.now());

/** Wall-clock milliseconds since the epoch (Date.now): for timestamps written to the API. */
export const wallClock: Clock = timers(() => Date.now());
