// A simulated clock and an in-memory datagram network for scale simulations (pure: no sockets, no
// timers; time moves only when `runUntil` pops the next event).
//
//  - EventQueue: a binary min-heap of callbacks by time; events at the same time run in the order
//    they were scheduled, so a run is deterministic for a given seed.
//  - SimNetwork: datagrams between named nodes with a latency drawn from a seeded random source, an
//    optional loss rate, and nodes that are down (a down node neither sends nor receives). It counts
//    datagrams and bytes per sender, so a simulation can report what each node puts on the wire.

export type Rand = () => number;

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
}

export class EventQueue {
  private readonly heap: Entry[] = [];
  private seq = 0;
  /** The simulated clock, ms: the time of the event being run (or of the last one run). */
  now: number;

  constructor(start = 0) {
    this.now = start;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs `fn` at `at` (never earlier than now). */
  at(at: number, fn: () => void): void {
    const e: Entry = { at: Math.max(at, this.now), seq: this.seq++, fn };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p] as Entry)) break;
      h[i] = h[p] as Entry;
      i = p;
    }
    h[i] = e;
  }

  /** Runs `fn` `ms` from now. */
  after(ms: number, fn: () => void): void {
    this.at(this.now + ms, fn);
  }

  /** Runs every event due up to and including `end`, in time order; the clock ends at `end`. */
  runUntil(end: number): number {
    let ran = 0;
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > end) break;
      this.pop();
      this.now = top.at;
      top.fn();
      ran++;
    }
    this.now = Math.max(this.now, end);
    return ran;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Entry;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r] as Entry, h[l] as Entry) ? r : l;
      if (!before(h[c] as Entry, last)) break;
      h[i] = h[c] as Entry;
      i = c;
    }
    h[i] = last;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export interface TrafficCount {
  datagrams: number;
  bytes: number;
}

export interface SimNetworkOptions {
  /** One-way latency range, ms (default 0.1–1). */
  latencyMs?: [number, number];
  /** Probability that a datagram is lost (default 0). */
  loss?: number;
  random: Rand;
}

export class SimNetwork {
  readonly down = new Set<string>();
  private readonly sent = new Map<string, TrafficCount>();
  private readonly handlers = new Map<string, (from: string, bytes: Uint8Array) => void>();
  dropped = 0;

  constructor(
    readonly clock: EventQueue,
    private readonly o: SimNetworkOptions,
  ) {}

  /** `name` receives datagrams with `handler` (replaces any earlier one). */
  attach(name: string, handler: (from: string, bytes: Uint8Array) => void): void {
    this.handlers.set(name, handler);
  }

  /** Sends one datagram; it arrives after the latency unless lost or an end is down (then or on arrival). */
  send(from: string, to: string, bytes: Uint8Array): void {
    if (this.down.has(from)) return;
    const c = this.sent.get(from) ?? { datagrams: 0, bytes: 0 };
    c.datagrams++;
    c.bytes += bytes.length;
    this.sent.set(from, c);
    if (this.o.loss && this.o.random() < this.o.loss) {
      this.dropped++;
      return;
    }
    const [lo, hi] = this.o.latencyMs ?? [0.1, 1];
    this.clock.after(lo + this.o.random() * (hi - lo), () => {
      const h = this.handlers.get(to);
      if (!h || this.down.has(to)) {
        this.dropped++;
        return;
      }
      h(from, bytes);
    });
  }

  /** What `name` has sent so far (datagrams that were lost count: they left the node). */
  sentBy(name: string): TrafficCount {
    return { ...(this.sent.get(name) ?? { datagrams: 0, bytes: 0 }) };
  }

  /** Forgets every count (e.g. after a warm-up). */
  resetCounts(): void {
    this.sent.clear();
    this.dropped = 0;
  }
}
