// When to send gratuitous ARP / unsolicited NA for a VIP (MetalLB's schedule): at once when
// triggered, then every `intervalMs` (1.1 s) until `windowMs` (5 s) after the last trigger.
// Pure: the caller passes the clock and sends what `due(now)` returns.

export interface GratuitousOptions {
  intervalMs: number;
  windowMs: number;
}

export const DEFAULT_GRATUITOUS: GratuitousOptions = { intervalMs: 1100, windowMs: 5000 };

interface Entry {
  lastTrigger: number;
  nextAt: number;
}

export class GratuitousSchedule {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: GratuitousOptions = DEFAULT_GRATUITOUS) {}

  /** (Re)starts announcing `key` (e.g. "eth0|192.0.2.1"): due at once, then every interval until window after now. */
  trigger(key: string, now: number): void {
    this.entries.set(key, { lastTrigger: now, nextAt: now });
  }

  /** Stops announcing `key` (the VIP was lost). */
  cancel(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every key for which `pred` holds. */
  cancelWhere(pred: (key: string) => boolean): void {
    for (const k of [...this.entries.keys()]) if (pred(k)) this.entries.delete(k);
  }

  /** The keys to announce now; advances their schedule. */
  due(now: number): string[] {
    const out: string[] = [];
    for (const [k, e] of this.entries) {
      if (e.nextAt > now) continue;
      out.push(k);
      // Skip missed slots (a stalled loop) rather than bursting.
      let next = e.nextAt + this.opts.intervalMs;
      while (next <= now) next += this.opts.intervalMs;
      if (next > e.lastTrigger + this.opts.windowMs) this.entries.delete(k);
      else e.nextAt = next;
    }
    return out;
  }

  /** When `due` next has something (undefined: nothing scheduled). */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const e of this.entries.values()) if (min === undefined || e.nextAt < min) min = e.nextAt;
    return min;
  }

  get size(): number {
    return this.entries.size;
  }
}
